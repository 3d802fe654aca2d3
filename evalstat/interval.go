package evalstat

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Wilson returns the Wilson score interval for k successes in n trials at
// the normal quantile z (use Z95 for 95 %). It is undefined for n = 0.
func Wilson(k, n, z float64) (Interval, bool) {
	if n <= 0 || k < 0 || k > n {
		return Interval{}, false
	}
	p := k / n
	z2 := z * z
	den := 1 + z2/n
	centre := (p + z2/(2*n)) / den
	half := z / den * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return Interval{Lower: math.Max(0, centre-half), Upper: math.Min(1, centre+half)}, true
}

// ClopperPearson returns the exact (Clopper–Pearson) interval for k successes
// in n trials with two-sided level 1-alpha: the alpha/2 quantile of
// Beta(k, n-k+1) and the 1-alpha/2 quantile of Beta(k+1, n-k), with 0 and 1
// at the ends. It is undefined for n = 0.
func ClopperPearson(k, n, alpha float64) (Interval, bool) {
	if n <= 0 || k < 0 || k > n {
		return Interval{}, false
	}
	iv := Interval{Lower: 0, Upper: 1}
	if k > 0 {
		iv.Lower = distuv.Beta{Alpha: k, Beta: n - k + 1}.Quantile(alpha / 2)
	}
	if k < n {
		iv.Upper = distuv.Beta{Alpha: k + 1, Beta: n - k}.Quantile(1 - alpha/2)
	}
	return iv, true
}

// Percentile returns the q-th quantile (0 ≤ q ≤ 1) of sorted by linear
// interpolation between order statistics (numpy's default "linear" method).
// sorted must be ascending and non-empty.
func Percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	if lo >= n-1 {
		return sorted[n-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
