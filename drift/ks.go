package drift

import "math"

// KS method names reported in KSResult.Method.
const (
	KSExact      = "exact"
	KSAsymptotic = "asymp"
)

// ksMaxExact is the largest sample size for which the exact p-value is
// computed (scipy's limit for method='auto').
const ksMaxExact = 10000

// KSResult is the outcome of a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	// Statistic is D = sup |F_ref(x) − F_cur(x)| of the two empirical
	// distribution functions. With the exact method it is rounded to the
	// lattice of attainable values, k / lcm(n1, n2), as scipy does.
	Statistic float64
	PValue    float64
	// Method is KSExact or KSAsymptotic.
	Method string
	// Location is the value at which the supremum is attained and Sign is
	// +1 when F_ref exceeds F_cur there, −1 otherwise.
	Location float64
	Sign     int
}

// KS runs the two-sided two-sample Kolmogorov–Smirnov test, as
// scipy.stats.ks_2samp(ref, cur) with its default method 'auto':
//
//   - when both samples have at most 10,000 values the p-value is exact:
//     the probability that a random interleaving of the two samples (a
//     lattice path from (0,0) to (n1,n2)) leaves the band where the
//     empirical distributions differ by less than D. Equal sizes use the
//     reflection formula 2 Σ (−1)^(k+1) C(2n, n−kh)/C(2n, n); unequal
//     sizes a dynamic programme over the band that carries, for each
//     lattice point, the fraction of paths to it that have already touched
//     the boundary (all numbers stay in [0, 1], nothing overflows, and
//     tiny p-values keep their relative precision);
//   - larger samples use the distribution of the one-sample statistic at
//     the effective size round(n1·n2/(n1+n2)) (see kolmogorovSF).
//
// Ties are allowed (the statistic is computed on the merged values; the
// p-value, like scipy's, assumes continuous data). NaN is an error;
// ±Inf are ordinary values. The inputs are not modified.
func KS(ref, cur []float64) (KSResult, error) {
	if err := checkSample("ks", "reference", ref, true); err != nil {
		return KSResult{}, err
	}
	if err := checkSample("ks", "current", cur, true); err != nil {
		return KSResult{}, err
	}
	a, b := sortPair(ref, cur)
	return ksSorted(a, b), nil
}

// KSSorted is KS for samples already sorted in increasing order (for
// example a reference kept sorted across monitoring windows). Unsorted
// input is an error.
func KSSorted(ref, cur []float64) (KSResult, error) {
	for _, s := range []struct {
		arg string
		x   []float64
	}{{"reference", ref}, {"current", cur}} {
		if err := checkSample("ks", s.arg, s.x, true); err != nil {
			return KSResult{}, err
		}
		for i := 1; i < len(s.x); i++ {
			if s.x[i] < s.x[i-1] {
				return KSResult{}, errf("ks", s.arg, i, ErrParam, "values are not sorted")
			}
		}
	}
	return ksSorted(ref, cur), nil
}

func ksSorted(a, b []float64) KSResult {
	n1, n2 := len(a), len(b)
	f1, f2 := float64(n1), float64(n2)
	// The extreme differences, recorded separately for values taken
	// from a and from b: scipy reports the first position of the
	// extreme in the concatenation of sorted a and sorted b.
	type ext struct {
		v   float64
		loc float64
		ok  bool
	}
	var maxA, maxB, minA, minB ext
	i, j := 0, 0
	for i < n1 || j < n2 {
		var v float64
		switch {
		case j >= n2 || (i < n1 && a[i] <= b[j]):
			v = a[i]
		default:
			v = b[j]
		}
		inA, inB := false, false
		for i < n1 && a[i] == v {
			i++
			inA = true
		}
		for j < n2 && b[j] == v {
			j++
			inB = true
		}
		d := float64(i)/f1 - float64(j)/f2
		if inA {
			if !maxA.ok || d > maxA.v {
				maxA = ext{d, v, true}
			}
			if !minA.ok || d < minA.v {
				minA = ext{d, v, true}
			}
		}
		if inB {
			if !maxB.ok || d > maxB.v {
				maxB = ext{d, v, true}
			}
			if !minB.ok || d < minB.v {
				minB = ext{d, v, true}
			}
		}
	}
	mx := maxA
	if !mx.ok || (maxB.ok && maxB.v > mx.v) {
		mx = maxB
	}
	mn := minA
	if !mn.ok || (minB.ok && minB.v < mn.v) {
		mn = minB
	}
	minS := math.Max(0, math.Min(1, -mn.v))
	res := KSResult{Statistic: mx.v, Location: mx.loc, Sign: 1}
	if minS > mx.v {
		res = KSResult{Statistic: minS, Location: mn.loc, Sign: -1}
	}

	if max(n1, n2) <= ksMaxExact {
		res.Method = KSExact
		g := gcd(n1, n2)
		lcm := float64(n1/g) * f2
		h := math.RoundToEven(res.Statistic * lcm)
		res.Statistic = h / lcm
		switch {
		case h == 0:
			res.PValue = 1
		case n1 == n2:
			res.PValue = ksSquareOutside(n1, int(h))
		default:
			res.PValue = ksOutside(n1, n2, g, int64(h))
		}
		res.PValue = clip01(res.PValue)
		return res
	}
	res.Method = KSAsymptotic
	m, n := math.Max(f1, f2), math.Min(f1, f2)
	en := m * n / (m + n)
	res.PValue = kolmogorovSF(int(math.RoundToEven(en)), res.Statistic)
	return res
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ksSquareOutside is P(D ≥ h/n) for two samples of size n: by the
// reflection principle 2 Σ_{k≥1} (−1)^(k+1) C(2n, n−kh) / C(2n, n).
// Each ratio of binomials is a product of h factors below 1 times the
// previous ratio, evaluated from the last term backwards (Horner) so the
// alternating sum does not cancel badly.
func ksSquareOutside(n, h int) float64 {
	// ratio_k = C(2n, n−kh)/C(2n, n) = Π_{j=0}^{kh−1} (n−j)/(n+j+1);
	// ratio_k / ratio_{k−1} = Π_{j=(k−1)h}^{kh−1} (n−j)/(n+j+1).
	p := 0.0
	for k := n / h; k >= 1; k-- {
		f := 1.0
		for j := (k - 1) * h; j < k*h; j++ {
			f *= float64(n-j) / float64(n+j+1)
		}
		p = f * (1 - p)
	}
	return 2 * p
}

// ksOutside is the probability that a uniformly random lattice path from
// (0,0) to (n1,n2) reaches |i·n2 − j·n1| ≥ h·g somewhere, that is the two
// empirical distribution functions differ by h/lcm(n1,n2) or more. For a
// point inside the band, u(i,j) is the fraction of the C(i+j, i) paths to
// it that have already touched the boundary:
// u(i,j) = (i·u(i−1,j) + j·u(i,j−1)) / (i+j), where a neighbour on or
// beyond the boundary counts 1. Only the band is visited, every number
// stays in [0, 1] and the sum has no cancellation, so even tiny p-values
// keep their relative precision.
func ksOutside(n1, n2, g int, h int64) float64 {
	bound := h * int64(g)
	N1, N2 := int64(n1), int64(n2)
	row := make([]float64, n2+1)
	band := func(i int64) (lo, hi int) {
		c := i * N2
		l := floorDiv(c-bound, N1) + 1
		u := ceilDiv(c+bound, N1) - 1
		return int(max(l, 0)), int(min(u, N2))
	}
	prevHi := -1
	for i := int64(0); i <= N1; i++ {
		lo, hi := band(i)
		fi := float64(i)
		for j := lo; j <= hi; j++ {
			if i == 0 && j == 0 {
				row[0] = 0
				continue
			}
			up := 1.0 // (i−1, j) beyond the boundary
			if j <= prevHi {
				up = row[j]
			}
			left := 1.0
			if j > lo {
				left = row[j-1]
			}
			fj := float64(j)
			row[j] = (fi*up + fj*left) / (fi + fj)
		}
		prevHi = hi
	}
	return row[n2]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
