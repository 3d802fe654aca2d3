package drift

import "math"

// This file holds the distribution of the two-sided one-sample
// Kolmogorov–Smirnov statistic D_n, used by the asymptotic branch of the
// two-sample test (which, like scipy, evaluates it at the effective sample
// size n1·n2/(n1+n2)). The choice of method per region follows Simard and
// L'Ecuyer, "Computing the Two-Sided Kolmogorov-Smirnov Distribution",
// J. Stat. Software 39(11), 2011, with the same region boundaries scipy
// uses, so that p-values agree with scipy.stats.kstwo.sf:
//
//   - n·x ≤ 1 and n·x ≥ n−1: closed forms of Ruben and Gambino;
//   - x ≥ 0.5, and the upper tail (n·x² ≥ 2.2 for n > 140, > 4 for
//     smaller n): P(D_n ≥ x) = 2·P(D_n⁺ ≥ x), exact there, with the
//     one-sided tail from the Birnbaum–Tingey sum;
//   - otherwise for n ≤ 140, and for n ≤ 100000 with n·x^1.5 ≤ 1.4: the
//     exact Durbin matrix method in the form of Marsaglia, Tsang and Wang
//     (2003). (Simard–L'Ecuyer use Pomeranz's recursion for part of the
//     n ≤ 140 region; both methods are exact, so they agree to rounding.)
//   - elsewhere the Pelz–Good asymptotic series (1976).

const (
	minLog   = -745.1332191019412 // log of the smallest subnormal double
	smirnovN = 1000000            // above this the one-sided tail is approximated
)

// kolmogorovSF returns P(D_n ≥ x) for the two-sided one-sample statistic.
func kolmogorovSF(n int, x float64) float64 {
	if math.IsNaN(x) || n <= 0 {
		return math.NaN()
	}
	if x >= 1 {
		return 0
	}
	if x <= 0 {
		return 1
	}
	fn := float64(n)
	t := fn * x
	if t <= 1 {
		if t <= 0.5 {
			return 1
		}
		var cdf float64
		if n <= 140 {
			cdf = 1
			for i := 1; i <= n; i++ {
				cdf *= float64(i) * (1 / fn) * (2*t - 1)
			}
		} else {
			lg, _ := math.Lgamma(fn + 1)
			cdf = math.Exp(lg - fn*math.Log(fn) + fn*math.Log(2*t-1))
		}
		return clip01(1 - cdf)
	}
	if t >= fn-1 {
		return clip01(2 * math.Pow(1-x, fn))
	}
	if x >= 0.5 {
		return clip01(2 * smirnovSF(n, x))
	}
	nx2 := t * x
	if n <= 140 {
		if nx2 <= 4 {
			return clip01(1 - durbinCDF(n, x))
		}
		return clip01(2 * smirnovSF(n, x))
	}
	if nx2 >= 370 {
		return 0
	}
	if nx2 >= 2.2 {
		return clip01(2 * smirnovSF(n, x))
	}
	var cdf float64
	if n <= 100000 && fn*math.Pow(x, 1.5) <= 1.4 {
		cdf = durbinCDF(n, x)
	} else {
		cdf = pelzGoodCDF(n, x)
	}
	return clip01(1 - cdf)
}

func clip01(p float64) float64 { return math.Max(0, math.Min(1, p)) }

// smirnovSF returns P(D_n⁺ ≥ x), the upper tail of the one-sided
// statistic, from the Birnbaum–Tingey sum
//
//	x · Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^(v−1) (1 − x − v/n)^(n−v)
//
// whose terms are positive. Terms are evaluated as logarithms (the binomial
// coefficient by a running sum of logs) and the sum stops once the
// remaining terms cannot change it.
func smirnovSF(n int, x float64) float64 {
	switch {
	case math.IsNaN(x) || n <= 0 || x < 0 || x > 1:
		return math.NaN()
	case n == 1:
		return 1 - x
	case x == 0:
		return 1
	case x == 1:
		return 0
	}
	fn := float64(n)
	nx := fn * x
	fl := math.Floor(nx)
	if nx == fl && math.FMA(fn, x, -nx) < 0 {
		fl-- // n·x rounded up onto an integer
	}
	nxfl := int(fl)
	exact := nx == fl && math.FMA(fn, x, -nx) == 0
	if nxfl == 0 || (nxfl == 1 && exact) {
		return clip01(1 - x*math.Pow(1+x, fn-1))
	}
	if -2*fn*x*x < minLog {
		return 0
	}
	if nxfl >= n-1 {
		return math.Pow(1-x, fn)
	}
	if n > smirnovN {
		// Smirnov's approximation e^(−(6nx+1)²/(18n)), as scipy uses there
		a := 6*fn*x + 1
		return clip01(math.Exp(-a * a / 18 / fn))
	}
	last := n - nxfl - 1
	var acc kahan
	logC := 0.0 // log C(n, v)
	for v := 0; v <= last; v++ {
		if v > 0 {
			logC += math.Log(float64(n-v+1) / float64(v))
		}
		q := x + float64(v)/fn
		if q >= 1 {
			break
		}
		lt := logC + float64(v-1)*math.Log(q) + float64(n-v)*math.Log1p(-q)
		term := math.Exp(lt)
		acc.add(term)
		if term > 0 && 4*float64(last-v)*term < 0x1p-52*acc.sum() && v != last {
			break
		}
	}
	return clip01(x * acc.sum())
}

// durbinCDF returns P(D_n < x) by the matrix method: with k = ⌈nx⌉,
// h = k − nx and m = 2k − 1, the probability is n!/nⁿ times the (k, k)
// element of Hⁿ for an m × m matrix H built from h. Powers are taken by
// repeated squaring with explicit binary exponents so nothing overflows.
func durbinCDF(n int, x float64) float64 {
	if x >= 1 {
		return 1
	}
	fn := float64(n)
	nd := fn * x
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1

	H := newMat(m)
	// fact[j] = 1/j!
	fact := make([]float64, m+1)
	fact[0] = 1
	for j := 1; j <= m; j++ {
		fact[j] = fact[j-1] / float64(j)
	}
	for i := range m {
		for j := range m {
			if i-j+1 >= 0 {
				H.a[i*m+j] = fact[i-j+1]
			}
		}
	}
	for i := range m {
		v := (1 - math.Pow(h, float64(i+1))) * fact[i+1]
		H.a[i*m] = v
		H.a[(m-1)*m+(m-1-i)] = v
	}
	H.a[(m-1)*m] = (1 - 2*math.Pow(h, float64(m)) + math.Pow(math.Max(0, 2*h-1), float64(m))) * fact[m]

	P := identity(m)
	pe, he := 0, 0 // binary exponents of P and H
	for e := n; e > 0; e >>= 1 {
		if e&1 == 1 {
			P = P.mul(H)
			pe += he
			pe += P.rescale()
		}
		if e > 1 {
			H = H.mul(H)
			he *= 2
			he += H.rescale()
		}
	}
	p := P.a[(k-1)*m+(k-1)]
	// multiply by n!/nⁿ keeping p in range
	for i := 1; i <= n; i++ {
		p = float64(i) * p / fn
		if p != 0 && math.Abs(p) < 0x1p-128 {
			p *= 0x1p128
			pe -= 128
		}
	}
	return clip01(math.Ldexp(p, pe))
}

type mat struct {
	n int
	a []float64
}

func newMat(n int) mat { return mat{n, make([]float64, n*n)} }

func identity(n int) mat {
	m := newMat(n)
	for i := range n {
		m.a[i*n+i] = 1
	}
	return m
}

func (x mat) mul(y mat) mat {
	n := x.n
	z := newMat(n)
	for i := range n {
		row := z.a[i*n : i*n+n]
		for k := range n {
			xv := x.a[i*n+k]
			if xv == 0 {
				continue
			}
			yr := y.a[k*n : k*n+n]
			for j := range n {
				row[j] += xv * yr[j]
			}
		}
	}
	return z
}

// rescale divides the matrix by a power of two when its entries grow
// large and returns the exponent taken out.
func (x mat) rescale() int {
	mx := 0.0
	for _, v := range x.a {
		mx = math.Max(mx, math.Abs(v))
	}
	if mx > 0x1p128 {
		for i := range x.a {
			x.a[i] *= 0x1p-128
		}
		return 128
	}
	return 0
}

// pelzGoodCDF is the Pelz–Good approximation of P(D_n ≤ x):
// K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5 with z = x√n, each Kᵢ written
// as a theta-function series in q = exp(−π²/(8z²)) that converges fast
// for the moderate z where it is used.
func pelzGoodCDF(n int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	fn := float64(n)
	z := math.Sqrt(fn) * x
	z2 := z * z
	z3, z4, z6 := z2*z, z2*z2, z2*z2*z2
	pi2 := math.Pi * math.Pi
	pi4, pi6 := pi2*pi2, pi2*pi2*pi2
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)

	// coefficients of (2k−1)^0,2,4,6 in the odd-index sums
	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*z4*z4

	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	// Horner over k: Σ c_k q^((2k−1)²) = q (c_1 + q^8 (c_2 + q^16 (c_3 + …)))
	for k := maxk; k >= 1; k-- {
		m := float64(2*k - 1)
		m2 := m * m
		m4, m6 := m2*m2, m2*m2*m2
		qp := math.Pow(q, float64(8*k))
		K[0] = K[0]*qp + 1
		K[1] = K[1]*qp + k1a + k1b*m2
		K[2] = K[2]*qp + k2a + k2b*m2 + k2c*m4
		K[3] = K[3]*qp + k3a + k3b*m2 + k3c*m4 + k3d*m6
	}
	s2pi := math.Sqrt(2 * math.Pi)
	den := [4]float64{z, 6 * z4, 72 * z4 * z3, 6480 * z4 * z6}
	for i := range K {
		K[i] *= q * s2pi / den[i]
	}
	// the even-index sums of K2 and K3, over all k
	q2 := math.Exp(-pi2 / 2 / z2)
	var e2, e3 float64
	sqrt3z := math.Sqrt(3) * z
	for k := maxk; k >= 1; k-- {
		fk := float64(k)
		k2 := fk * fk
		qp := math.Pow(q2, k2)
		e2 += k2 * qp
		kpi := math.Pi * fk
		e3 += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp
	}
	K[2] += e2 * pi2 * s2pi / (-36 * z3)
	K[3] += e3 * pi2 * s2pi / (216 * z6)
	return K[0] + K[1]/math.Sqrt(fn) + K[2]/fn + K[3]/(fn*math.Sqrt(fn))
}
