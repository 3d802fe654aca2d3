package evalstat

import (
	"math"
	"sync"
	"sync/atomic"
)

// The calibration fits need, at every Newton iteration and for every group,
// sums over the group's rows of functions of lp = logit(s) such as
// σ(a + b·lp) and σ'(a + b·lp)·lp². Summing them row by row costs an
// exponential per row and group at each iteration. Instead, the rows are
// put in narrow bins of lp (width calBinWidth) once; within a bin, with
// centre c and δ = lp - c,
//
//	σ(a + b·c + b·δ) = Σₖ σ⁽ᵏ⁾(a + b·c) · (bδ)ᵏ / k!
//
// so every sum is a combination of the bin's weighted moments Σ w·δᵐ, which
// are computed in a single pass. The derivatives σ⁽ᵏ⁾ are polynomials in σ
// (σ' = σ - σ²). With |δ| ≤ 0.01 and |b| ≤ calMomentMaxB the terms beyond
// calOrder are below 1e-18 of the first (σ's Taylor series converges within
// π of the centre), so the sums equal the row-by-row ones to rounding; with a
// steeper slope the fit falls back to row-by-row passes.
const (
	calBinWidth   = 0.02
	calOrder      = 10 // highest power of δ in the expansion
	calMoments    = calOrder + 3
	calMomentMaxB = 10
)

// sigmaPoly[k] holds the coefficients (by power of σ) of the k-th
// derivative of the logistic function as a polynomial in σ, k ≤ calOrder+1.
var sigmaPoly = func() (p [calOrder + 2][calOrder + 3]float64) {
	p[0][1] = 1 // σ
	for k := 0; k <= calOrder; k++ {
		for j := 1; j <= k+1; j++ {
			c := float64(j) * p[k][j]
			p[k+1][j] += c
			p[k+1][j+1] -= c
		}
	}
	return p
}()

var invFact = func() (f [calOrder + 3]float64) {
	f[0] = 1
	for k := 1; k < len(f); k++ {
		f[k] = f[k-1] / float64(k)
	}
	return f
}()

// calBins are one group's binned moments: for each non-empty bin, its
// centre then Σw·δᵐ for m = 0 … calMoments-1; and the exact Σw·y, Σw·y·lp.
type calBins struct {
	entries []float64 // (centre, moments…) per bin
	sumY    float64
	sumYLP  float64
	first   int // bin index of the first entry
	last    int // bin index of the last entry
}

// calMomentParts is the number of row ranges binned separately (in
// parallel) and then merged in order; it is fixed so that the result does
// not depend on the number of workers.
const calMomentParts = 8

// calMomentsPass bins every row (weight w[i], or 1) into its groups'
// moments, in calMomentParts ranges on up to workers goroutines.
func (sw *sweep) calMomentsPass(w []uint8, G, workers int) []calBins {
	n := len(sw.score)
	parts := make([][]calBins, calMomentParts)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, calMomentParts)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= calMomentParts {
					return
				}
				parts[k] = sw.calMomentsRange(w, G, k*n/calMomentParts, (k+1)*n/calMomentParts)
			}
		})
	}
	wg.Wait()
	// Rows are in descending order of lp, so each range's bins follow the
	// previous range's; a bin split between two ranges is added up.
	const stride = calMoments + 1
	bins := parts[0]
	for _, p := range parts[1:] {
		for g := range bins {
			b, q := &bins[g], &p[g]
			e := q.entries
			if len(e) > 0 && len(b.entries) > 0 && b.last == q.first {
				last := b.entries[len(b.entries)-stride+1:]
				for m := range calMoments {
					last[m] += e[1+m]
				}
				e = e[stride:]
			}
			b.entries = append(b.entries, e...)
			if len(q.entries) > 0 {
				b.last = q.last
			}
			b.sumY += q.sumY
			b.sumYLP += q.sumYLP
		}
	}
	return bins
}

// calMomentsRange bins rows lo … hi-1 (momentAcc): rows tied on the score
// share their logit and powers.
func (sw *sweep) calMomentsRange(w []uint8, G, lo, hi int) []calBins {
	m := sw.newMomentAcc(G)
	prev := math.NaN()
	for i := lo; i < hi; i++ {
		sc := sw.score[i]
		wt := 1.0
		if w != nil {
			if w[i] == 0 {
				continue
			}
			wt = float64(w[i])
		}
		if sc != prev {
			prev = sc
			sc = min(max(sc, logLossEps), 1-logLossEps)
			m.logit(math.Log(sc / (1 - sc)))
		}
		p := sw.pay[i]
		c := m.cell(int(p &^ labelBit))
		if wt == 1 {
			addMoments(&c.mom, &m.dpow)
		} else {
			for k := range c.mom {
				c.mom[k] += wt * m.dpow[k]
			}
		}
		wy := wt * float64(p>>31)
		c.y += wy
		c.ylp += wy * m.lp
	}
	return m.finish()
}

// momentAcc bins rows, met in descending order of lp, into their groups'
// moments. Rows are summed into their cell's moments first; when the rows
// move on to the next bin (every bin is met once), each cell touched in the
// finished bin adds its moments to the groups it belongs to. A row thus
// costs one set of moments, not one per group. For each row: logit when
// its score differs from the previous row's, then cell, then the row's
// moments added to the cell's (addMoments(&c.mom, &m.dpow)) with c.y and
// c.ylp.
type momentAcc struct {
	sw     *sweep
	bins   []calBins
	cm     []cellMoments
	list   []int32 // cells touched in the current bin
	curBin int
	curC   float64
	// binLo ≤ lp < binHi for exactly the values of lp in curBin (both
	// NaN before the first bin, so that no lp is taken as in it).
	binLo, binHi float64
	lp           float64
	dpow         [calMoments]float64
}

func (sw *sweep) newMomentAcc(G int) *momentAcc {
	bins := make([]calBins, G)
	for g := range bins {
		bins[g].last = math.MinInt
	}
	nc := len(sw.cellGroups) / sw.dims
	return &momentAcc{sw: sw, bins: bins, cm: make([]cellMoments, nc), list: make([]int32, 0, nc), curBin: math.MinInt, binLo: math.NaN(), binHi: math.NaN()}
}

// logit starts the rows of logit lp (no larger than the previous rows').
// Its bin is floor(lp/calBinWidth); within [binLo, binHi), the values of
// lp whose bin is the current one, it is the current bin without the
// division.
func (m *momentAcc) logit(lp float64) {
	m.lp = lp
	if !(lp >= m.binLo && lp < m.binHi) {
		bin := int(math.Floor(lp / calBinWidth))
		if bin != m.curBin {
			m.flush()
			m.curBin, m.curC = bin, (float64(bin)+0.5)*calBinWidth
			m.binLo, m.binHi = binStart(bin), binStart(bin+1)
		}
	}
	powers(&m.dpow, lp-m.curC)
}

// binStart returns the least float64 x whose bin floor(x/calBinWidth) is
// at least bin (bins grow with x: the quotient's rounding and the floor
// are both monotone), found from bin·calBinWidth by steps of one ulp; or
// +Inf (−Inf) when no such x is finite (every x is in a bin at least bin).
// With binStart(bin) ≤ x < binStart(bin+1), floor(x/calBinWidth) = bin.
func binStart(bin int) float64 {
	x := float64(bin) * calBinWidth
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	inBin := func(x float64) bool { return math.Floor(x/calBinWidth) >= float64(bin) }
	for inBin(x) {
		y := math.Nextafter(x, math.Inf(-1))
		if math.IsInf(y, -1) {
			return y
		}
		x = y
	}
	for !inBin(x) {
		x = math.Nextafter(x, math.Inf(1))
		if math.IsInf(x, 1) {
			return x
		}
	}
	return x
}

// cell returns the moments of cell in the current bin.
func (m *momentAcc) cell(cell int) *cellMoments {
	c := &m.cm[cell]
	if !c.touched {
		c.touched = true
		m.list = append(m.list, int32(cell))
	}
	return c
}

// flush adds the touched cells' moments of the current bin to their groups.
func (m *momentAcc) flush() {
	const stride = calMoments + 1
	dims := m.sw.dims
	for _, cell := range m.list {
		mom := &m.cm[cell].mom
		for _, g := range m.sw.cellGroups[int(cell)*dims:][:dims] {
			b := &m.bins[g]
			if b.last != m.curBin {
				if b.last == math.MinInt {
					b.first = m.curBin
				}
				b.last = m.curBin
				b.entries = append(b.entries, m.curC)
				b.entries = append(b.entries, make([]float64, calMoments)...)
			}
			e := b.entries[len(b.entries)-stride+1:]
			for k := range mom {
				e[k] += mom[k]
			}
		}
		*mom = [calMoments]float64{}
		m.cm[cell].touched = false
	}
	m.list = m.list[:0]
}

// finish flushes the last bin and adds every cell's Σw·y and Σw·y·lp to
// its groups.
func (m *momentAcc) finish() []calBins {
	m.flush()
	dims := m.sw.dims
	for cell := range m.cm {
		for _, g := range m.sw.cellGroups[cell*dims:][:dims] {
			m.bins[g].sumY += m.cm[cell].y
			m.bins[g].sumYLP += m.cm[cell].ylp
		}
	}
	return m.bins
}

// cellMoments are one cell's moments in the current bin, and its Σw·y and
// Σw·y·lp over the range.
type cellMoments struct {
	mom     [calMoments]float64
	y, ylp  float64
	touched bool // in the list of cells met in the current bin
}

// powers sets p to 1, d, d², … as the running product x *= d computes
// them (written in place: a returned array is copied twice, by loads
// that straddle the stores just made, which stalls).
func powers(p *[calMoments]float64, d float64) {
	x2 := d * d
	x3 := x2 * d
	x4 := x3 * d
	x5 := x4 * d
	x6 := x5 * d
	x7 := x6 * d
	x8 := x7 * d
	x9 := x8 * d
	x10 := x9 * d
	x11 := x10 * d
	x12 := x11 * d
	// Element by element: a composite literal is built on the stack
	// and copied.
	p[0], p[1], p[2], p[3], p[4], p[5], p[6] = 1, d, x2, x3, x4, x5, x6
	p[7], p[8], p[9], p[10], p[11], p[12] = x7, x8, x9, x10, x11, x12
}

// addMoments adds d to m element by element, written out.
func addMoments(m, d *[calMoments]float64) {
	m[0] += d[0]
	m[1] += d[1]
	m[2] += d[2]
	m[3] += d[3]
	m[4] += d[4]
	m[5] += d[5]
	m[6] += d[6]
	m[7] += d[7]
	m[8] += d[8]
	m[9] += d[9]
	m[10] += d[10]
	m[11] += d[11]
	m[12] += d[12]
}

// addMoments is written out for calMoments = 13.
var _ = [1]struct{}{}[calMoments-13]

// momentSums computes a group's Newton sums from its binned moments at the
// current parameters: the intercept model's when intercept is set (b = 1
// and a = alpha), the slope model's otherwise. The intercept model needs
// only three of the five sums, and skips the others.
//
// The loops over the expansion's orders are written out or run over
// arrays of fixed size (no bounds checks); every sum is the same sequence
// of floating-point operations as the plain loops, so the results are
// identical bit for bit.
func (b *calBins) momentSums(a, slope float64, t *calSums, intercept bool) {
	const stride = calMoments + 1
	var dk, ek [calOrder + 1]float64
	g0, g1, i00, i01, i11 := b.sumY, b.sumYLP, 0.0, 0.0, 0.0
	ll := 0.0
	for j := 0; j+stride <= len(b.entries); j += stride {
		c := b.entries[j]
		M := (*[calMoments]float64)(b.entries[j+1 : j+stride])
		eta := a + slope*c
		en := math.Exp(-eta)
		s := 1 / (1 + en)
		// P[k] = σ⁽ᵏ⁾ at the centre.
		var P [calOrder + 2]float64
		sigmaDerivs(&P, s)
		bk := 1.0
		for k := range dk {
			dk[k] = P[k] * bk * invFact[k]
			ek[k] = P[k+1] * bk * invFact[k]
			bk *= slope
		}
		// log(1+e^η) has derivatives σ⁽ᵏ⁻¹⁾: its expansion reuses P.
		lb := softplus(eta, 1/en) * M[0]
		for k := 1; k <= calOrder; k++ {
			lb += dk[k-1] * slope / float64(k) * M[k]
		}
		ll -= lb
		if intercept {
			var sp, sq float64
			for k := range dk {
				sp += dk[k] * M[k]
				sq += ek[k] * M[k]
			}
			g0 -= sp
			i00 += sq
			continue
		}
		var sp, spd, sq, sqd, sqdd float64
		for k := range dk {
			sp += dk[k] * M[k]
			spd += dk[k] * M[k+1]
			sq += ek[k] * M[k]
			sqd += ek[k] * M[k+1]
			sqdd += ek[k] * M[k+2]
		}
		// Σp, Σp·lp, Σq, Σq·lp, Σq·lp² with lp = c + δ.
		g0 -= sp
		g1 -= c*sp + spd
		i00 += sq
		i01 += c*sq + sqd
		i11 += c*c*sq + 2*c*sqd + sqdd
	}
	t.sY, t.sYLP = b.sumY, b.sumYLP
	if intercept {
		t.gA, t.hA, t.llA = g0, i00, ll
		return
	}
	t.g0, t.g1, t.i00, t.i01, t.i11, t.llS = g0, g1, i00, i01, i11, ll
}

// sigmaDerivs sets P to σ⁽ᵏ⁾ for k = 0 … calOrder+1 as polynomials in
// s = σ (sigmaPoly), each evaluated by Horner's rule from its highest
// power. It writes in place: a returned array is copied by loads that
// straddle the stores just made, which stalls.
func sigmaDerivs(P *[calOrder + 2]float64, s float64) {
	c := &sigmaPoly
	P[0] = c[0][1] * s
	P[1] = (c[1][2]*s + c[1][1]) * s
	P[2] = ((c[2][3]*s+c[2][2])*s + c[2][1]) * s
	P[3] = (((c[3][4]*s+c[3][3])*s+c[3][2])*s + c[3][1]) * s
	P[4] = ((((c[4][5]*s+c[4][4])*s+c[4][3])*s+c[4][2])*s + c[4][1]) * s
	P[5] = (((((c[5][6]*s+c[5][5])*s+c[5][4])*s+c[5][3])*s+c[5][2])*s + c[5][1]) * s
	P[6] = ((((((c[6][7]*s+c[6][6])*s+c[6][5])*s+c[6][4])*s+c[6][3])*s+c[6][2])*s + c[6][1]) * s
	P[7] = (((((((c[7][8]*s+c[7][7])*s+c[7][6])*s+c[7][5])*s+c[7][4])*s+c[7][3])*s+c[7][2])*s + c[7][1]) * s
	P[8] = ((((((((c[8][9]*s+c[8][8])*s+c[8][7])*s+c[8][6])*s+c[8][5])*s+c[8][4])*s+c[8][3])*s+c[8][2])*s + c[8][1]) * s
	P[9] = (((((((((c[9][10]*s+c[9][9])*s+c[9][8])*s+c[9][7])*s+c[9][6])*s+c[9][5])*s+c[9][4])*s+c[9][3])*s+c[9][2])*s + c[9][1]) * s
	P[10] = ((((((((((c[10][11]*s+c[10][10])*s+c[10][9])*s+c[10][8])*s+c[10][7])*s+c[10][6])*s+c[10][5])*s+c[10][4])*s+c[10][3])*s+c[10][2])*s + c[10][1]) * s
	P[11] = (((((((((((c[11][12]*s+c[11][11])*s+c[11][10])*s+c[11][9])*s+c[11][8])*s+c[11][7])*s+c[11][6])*s+c[11][5])*s+c[11][4])*s+c[11][3])*s+c[11][2])*s + c[11][1]) * s
}

// sigmaDerivs is written out for calOrder = 10.
var _ = [1]struct{}{}[calOrder-10]
