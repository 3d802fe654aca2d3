// Package drift compares a reference sample with a monitoring window and
// detects changes in a stream. It is the statistics engine behind the
// deployment monitoring of Ethos (quality check QC-DEP-1), and knows
// nothing about medical imaging.
//
// Two-sample statistics:
//   - PSI, the population stability index, for numeric values binned at
//     reference quantiles and for categorical counts (PSI, PSICounts);
//   - the chi-square test of homogeneity (ChiSquare, Homogeneity), equal to
//     scipy.stats.chi2_contingency;
//   - the Jensen–Shannon divergence and distance (JensenShannon), equal to
//     scipy.spatial.distance.jensenshannon for the distance;
//   - the two-sample Kolmogorov–Smirnov test (KS), equal to
//     scipy.stats.ks_2samp with its default method 'auto';
//   - the Wasserstein-1 distance (Wasserstein), equal to
//     scipy.stats.wasserstein_distance;
//   - new-category detection (NewCategories).
//
// Sequential change detectors, as streaming state machines fed one value
// at a time: CUSUM (one- or two-sided, reference value k and decision
// interval h), Page–Hinkley (delta, lambda, alpha) and a Bernoulli CUSUM
// for yes/no events.
//
// Reference prepares a numeric reference once (sorted, PSI bins fixed) for
// many monitoring windows; CompareCategorical bundles the categorical
// statistics.
//
// Invalid input (an empty sample, NaN, a negative count, a bad parameter)
// is reported as an *Error that names the statistic, the argument and the
// index, and matches a sentinel (ErrEmpty, ErrNaN, ...) with errors.Is.
// Nothing panics and no allocation grows beyond the size of the input.
//
// The package imports only the standard library and gonum.
package drift
