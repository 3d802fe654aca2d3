package drift

// KolmogorovSF returns P(D_n ≥ x) for the two-sided one-sample
// Kolmogorov–Smirnov statistic D_n with n values (scipy.stats.kstwo.sf).
// It is the distribution the asymptotic two-sample test evaluates.
func KolmogorovSF(n int, x float64) float64 { return kolmogorovSF(n, x) }
