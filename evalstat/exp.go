package evalstat

import "math"

// expTableBits sets the size of the table of 2^(j/64).
const expTableBits = 6

var expTable = func() (t [1 << expTableBits]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / (1 << expTableBits))
	}
	return t
}()

// fastExp returns e^x to within a few units in the last place, about three
// times faster than math.Exp; the calibration fits call it once per row,
// group and Newton iteration. It reduces x = k·ln2/64 + r with |r| ≤
// ln2/128, takes 2^(k/64) from a table and e^r from its Taylor polynomial
// of degree 5 (truncation below 4e-17 relative). Outside |x| < 700 it
// defers to math.Exp.
func fastExp(x float64) float64 {
	if !(x > -700 && x < 700) {
		return math.Exp(x)
	}
	const (
		n      = 1 << expTableBits
		invLn2 = n / math.Ln2
		shift  = 0x1.8p52
		// ln2/64 split in two (fdlibm's Ln2Hi, Ln2Lo divided by 64): the
		// high part has trailing zero bits so that k·hi is exact.
		ln2Hi = 6.93147180369123816490e-01 / n
		ln2Lo = 1.90821492927058770002e-10 / n
	)
	kd := x*invLn2 + shift
	kd -= shift // x·64/ln2 rounded to the nearest integer
	k := int64(kd)
	r := x - kd*ln2Hi - kd*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	scale := math.Float64frombits(math.Float64bits(expTable[k&(n-1)]) + uint64(k>>expTableBits)<<52)
	return scale * p
}
