// Package evalstat computes the performance, calibration, clinical-utility and
// fairness statistics of a binary classifier's scores against 0/1 labels,
// overall and for groups of rows, with analytic and bootstrap confidence
// intervals. It knows nothing of medicine or of Ethos: it works on columns of
// labels, scores and group codes, reads them from CSV, and judges numeric
// acceptance criteria.
//
// Every definition follows docs/metrics.md. A value whose denominator is zero
// is reported as undefined with a reason (see [Value]) unless the caller asks
// for the zero_division=0 convention of scikit-learn and fairlearn.
//
// The work is columnar: scores are sorted once (a radix sort of their IEEE-754
// bits), and every group, the overall population and every bootstrap resample
// are evaluated by sweeps over that single order. For the bootstrap the rows
// are also kept stratum by stratum (cell-major, score order within each), so
// a resample's counts are drawn in place per stratum and swept sequentially.
// Bootstrap resamples are seeded one by one, so results are identical bit for
// bit for the same seed whatever the number of workers.
package evalstat
