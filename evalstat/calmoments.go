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

// calMomentsRange bins rows lo … hi-1. Rows are summed into their cell's
// moments first; when the rows move on to the next bin (they come in
// descending order of lp, so every bin is met once), each cell touched in
// the finished bin adds its moments to the groups it belongs to. A row thus
// costs one set of moments, not one per group, and rows tied on the score
// share their logit and powers.
func (sw *sweep) calMomentsRange(w []uint8, G, lo, hi int) []calBins {
	bins := make([]calBins, G)
	for g := range bins {
		bins[g].last = math.MinInt
	}
	dims := sw.dims
	nc := len(sw.cellGroups) / dims
	const stride = calMoments + 1
	cellMom := make([]float64, nc*calMoments)
	cellY := make([]float64, 2*nc) // Σw·y, Σw·y·lp per cell
	touched := make([]bool, nc)
	list := make([]int32, 0, nc)
	curBin, curC := math.MinInt, 0.0
	flush := func() {
		for _, cell := range list {
			mom := cellMom[int(cell)*calMoments:][:calMoments]
			for _, g := range sw.cellGroups[int(cell)*dims:][:dims] {
				b := &bins[g]
				if b.last != curBin {
					if b.last == math.MinInt {
						b.first = curBin
					}
					b.last = curBin
					b.entries = append(b.entries, curC)
					b.entries = append(b.entries, make([]float64, calMoments)...)
				}
				e := b.entries[len(b.entries)-stride+1:]
				for m := range mom {
					e[m] += mom[m]
				}
			}
			clear(mom)
			touched[cell] = false
		}
		list = list[:0]
	}
	var dpow [calMoments]float64
	prev, lp := math.NaN(), 0.0
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
			lp = math.Log(sc / (1 - sc))
			bin := int(math.Floor(lp / calBinWidth))
			if bin != curBin {
				flush()
				curBin, curC = bin, (float64(bin)+0.5)*calBinWidth
			}
			d := lp - curC
			x := 1.0
			for m := range dpow {
				dpow[m] = x
				x *= d
			}
		}
		p := sw.pay[i]
		cell := int(p &^ labelBit)
		if !touched[cell] {
			touched[cell] = true
			list = append(list, int32(cell))
		}
		mom := cellMom[cell*calMoments:][:calMoments]
		if wt == 1 {
			for m := range mom {
				mom[m] += dpow[m]
			}
		} else {
			for m := range mom {
				mom[m] += wt * dpow[m]
			}
		}
		wy := wt * float64(p>>31)
		cellY[2*cell] += wy
		cellY[2*cell+1] += wy * lp
	}
	flush()
	for cell := range nc {
		for _, g := range sw.cellGroups[cell*dims:][:dims] {
			bins[g].sumY += cellY[2*cell]
			bins[g].sumYLP += cellY[2*cell+1]
		}
	}
	return bins
}

// momentSums computes a group's Newton sums from its binned moments at the
// current parameters: the intercept model's when intercept is set (b = 1
// and a = alpha), the slope model's otherwise.
func (b *calBins) momentSums(a, slope float64, t *calSums, intercept bool) {
	const stride = calMoments + 1
	var P [calOrder + 2]float64
	var dk, ek [calOrder + 1]float64
	g0, g1, i00, i01, i11 := b.sumY, b.sumYLP, 0.0, 0.0, 0.0
	ll := 0.0
	for j := 0; j < len(b.entries); j += stride {
		c := b.entries[j]
		M := b.entries[j+1 : j+stride]
		eta := a + slope*c
		en := math.Exp(-eta)
		s := 1 / (1 + en)
		// P[k] = σ⁽ᵏ⁾ at the centre.
		for k := range P {
			coef := &sigmaPoly[k]
			v := 0.0
			for d := k + 1; d >= 1; d-- {
				v = v*s + coef[d]
			}
			P[k] = v * s
		}
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
