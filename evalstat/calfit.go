package evalstat

import (
	"math"
	"sync"
	"sync/atomic"
)

// Calibration intercept and slope (logistic recalibration). With
// lp = logit(s), s clipped to [eps, 1-eps] as for log loss, the intercept α
// solves logit P(y=1) = α + lp (lp as an offset) and the slope fit (a, b)
// solves logit P(y=1) = a + b·lp, both by maximum likelihood with
// Newton–Raphson until every step is below calTol.

const (
	calTol     = 1e-13
	calMaxIter = 100
)

// calFit is the result of both fits for one group.
type calFit struct {
	alpha, alphaSE float64
	a, b           float64
	aSE, bSE       float64
	alphaReason    string
	slopeReason    string
}

// calState is the Newton state of one group.
type calState struct {
	alpha        float64
	a, b         float64
	doneA, doneS bool
}

// calSums are one group's sums over a chunk of rows: the intercept model's
// gradient and information, and the slope model's gradient and
// information matrix.
type calSums struct {
	gA, hA        float64
	g0, g1        float64
	i00, i01, i11 float64
}

// calChunk is the number of rows whose sums are added up separately; the
// chunks' sums are then added in order, so the result does not depend on
// the number of workers.
const calChunk = 1 << 16

// fitCalibration fits the intercept and slope models for every group with
// at least one positive and one negative (others get a reason). acc holds
// each group's totals from sweep.run. workers > 1 splits the passes.
func (sw *sweep) fitCalibration(w []uint16, acc []groupAcc, workers int) []calFit {
	G := len(acc)
	st := make([]calState, G)
	out := make([]calFit, G)
	active := 0
	for g := range acc {
		if acc[g].pos == 0 || acc[g].pos == acc[g].n {
			st[g].doneA, st[g].doneS = true, true
			out[g].alphaReason, out[g].slopeReason = ReasonOneClass, ReasonOneClass
			continue
		}
		st[g].b = 1
		active++
	}
	nChunks := (len(sw.score) + calChunk - 1) / calChunk
	part := make([]calSums, nChunks*G)
	tot := make([]calSums, G)
	ea := make([]float64, G)
	workers = max(1, min(workers, nChunks))
	// Warm start: with many rows, Newton first runs on every 16th row until
	// its steps are below 1e-3; the full-data iterations that follow decide
	// the result (and its convergence), they just start closer.
	stride := 1
	if len(sw.score) >= 1<<18 && w == nil {
		stride = 16
	}
	warm := 0
	for iter := 0; active > 0 && iter < calMaxIter; iter++ {
		for g := range st {
			ea[g] = math.Exp(st[g].alpha)
		}
		clear(part)
		if workers == 1 {
			for c := range nChunks {
				sw.calPass(w, c, stride, st, ea, part[c*G:(c+1)*G])
			}
		} else {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						c := int(next.Add(1) - 1)
						if c >= nChunks {
							return
						}
						sw.calPass(w, c, stride, st, ea, part[c*G:(c+1)*G])
					}
				})
			}
			wg.Wait()
		}
		clear(tot)
		for c := range nChunks {
			for g := range G {
				p, t := &part[c*G+g], &tot[g]
				t.gA += p.gA
				t.hA += p.hA
				t.g0 += p.g0
				t.g1 += p.g1
				t.i00 += p.i00
				t.i01 += p.i01
				t.i11 += p.i11
			}
		}
		if stride > 1 {
			iter-- // warm-up iterations do not count
			warm++
			if warmStep(st, tot) < 1e-3 || warm >= 30 {
				stride = 1
			}
			continue
		}
		for g := range st {
			s, t := &st[g], &tot[g]
			if !s.doneA {
				step := t.gA / t.hA
				switch {
				case math.IsNaN(step) || math.IsInf(step, 0) || math.IsInf(s.alpha, 0):
					s.doneA = true
					out[g].alphaReason = ReasonSeparated
				case math.Abs(step) < calTol:
					s.doneA = true
					out[g].alpha = s.alpha + step
					out[g].alphaSE = 1 / math.Sqrt(t.hA)
				default:
					s.alpha += step
				}
			}
			if !s.doneS {
				det := t.i00*t.i11 - t.i01*t.i01
				if !(det > 0) || math.IsInf(det, 0) {
					s.doneS = true
					out[g].slopeReason = ReasonSeparated
					continue
				}
				d0 := (t.i11*t.g0 - t.i01*t.g1) / det
				d1 := (t.i00*t.g1 - t.i01*t.g0) / det
				switch {
				case math.IsNaN(d0) || math.IsNaN(d1) || math.IsInf(d0, 0) || math.IsInf(d1, 0):
					s.doneS = true
					out[g].slopeReason = ReasonSeparated
				case math.Abs(d0) < calTol && math.Abs(d1) < calTol:
					s.doneS = true
					out[g].a, out[g].b = s.a+d0, s.b+d1
					out[g].aSE = math.Sqrt(t.i11 / det)
					out[g].bSE = math.Sqrt(t.i00 / det)
				default:
					s.a += d0
					s.b += d1
				}
			}
		}
		active = 0
		for g := range st {
			if !st[g].doneA || !st[g].doneS {
				active++
			}
		}
	}
	for g := range st {
		if !st[g].doneA {
			out[g].alphaReason = ReasonNotConverged
		}
		if !st[g].doneS {
			out[g].slopeReason = ReasonNotConverged
		}
	}
	return out
}

// warmStep applies one Newton step on subsampled sums to every group still
// fitting (skipping steps that are not finite) and returns the largest.
func warmStep(st []calState, tot []calSums) float64 {
	largest := 0.0
	for g := range st {
		s, t := &st[g], &tot[g]
		if !s.doneA {
			if step := t.gA / t.hA; !math.IsNaN(step) && !math.IsInf(step, 0) {
				s.alpha += step
				largest = max(largest, math.Abs(step))
			}
		}
		if !s.doneS {
			det := t.i00*t.i11 - t.i01*t.i01
			d0 := (t.i11*t.g0 - t.i01*t.g1) / det
			d1 := (t.i00*t.g1 - t.i01*t.g0) / det
			if det > 0 && !math.IsNaN(d0+d1) && !math.IsInf(d0+d1, 0) {
				s.a += d0
				s.b += d1
				largest = max(largest, math.Abs(d0), math.Abs(d1))
			}
		}
	}
	return largest
}

// calPass adds every stride-th row of chunk c to the per-group sums in part.
func (sw *sweep) calPass(w []uint16, c, stride int, st []calState, ea []float64, part []calSums) {
	lo := c * calChunk
	hi := min(lo+calChunk, len(sw.score))
	dims := sw.dims
	for i := lo; i < hi; i += stride {
		wt := 1.0
		if w != nil {
			if w[i] == 0 {
				continue
			}
			wt = float64(w[i])
		}
		p := sw.pay[i]
		y := 0.0
		if p&labelBit != 0 {
			y = 1
		}
		sc := min(max(sw.score[i], logLossEps), 1-logLossEps)
		odds := sc / (1 - sc)
		lp := math.Log(odds)
		for _, g := range sw.cellGroups[int(p&^labelBit)*dims:][:dims] {
			s := &st[g]
			t := &part[g]
			if !s.doneA {
				e := ea[g] * odds
				pr := e / (1 + e)
				t.gA += wt * (y - pr)
				t.hA += wt * pr * (1 - pr)
			}
			if !s.doneS {
				pr := 1 / (1 + fastExp(-(s.a + s.b*lp)))
				r := wt * (y - pr)
				q := wt * pr * (1 - pr)
				t.g0 += r
				t.g1 += r * lp
				t.i00 += q
				t.i01 += q * lp
				t.i11 += q * lp * lp
			}
		}
	}
}
