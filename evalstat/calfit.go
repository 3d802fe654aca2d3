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
	lastA, lastS float64 // size of the previous step
	// The last accepted point and its log-likelihood, for step halving.
	prevAlpha, prevLLA    float64
	prevA, prevB, prevLLS float64
	haveA, haveS          bool
	halveA, halveS        int
}

// converged reports whether a Newton step of size step ends the fit: it is
// below calTol, or, when rounding noise in sums over many rows keeps steps
// from getting that small, it is below calNoise and no smaller than half
// the previous step (quadratic convergence has stopped: the iterate is as
// close to the maximum as the arithmetic can tell).
func converged(step, last float64) bool {
	return step < calTol || (step < calNoise && step >= last/2)
}

// calNoise bounds the steps accepted at the noise floor.
const calNoise = 1e-9

// calMaxHalvings bounds the step halvings in a row (Newton's step is
// halved while it lowers the likelihood, which keeps the fit from
// diverging when it starts far from the maximum).
const calMaxHalvings = 40

// calSums are one group's sums over a chunk of rows: the intercept model's
// gradient and information, and the slope model's gradient and
// information matrix.
type calSums struct {
	gA, hA        float64
	g0, g1        float64
	i00, i01, i11 float64
	llA, llS      float64 // log-likelihoods, less the Σ w·y·η part
	sY, sYLP      float64 // Σ w·y and Σ w·y·lp
}

// calChunk is the number of rows whose sums are added up separately; the
// chunks' sums are then added in order, so the result does not depend on
// the number of workers.
const calChunk = 1 << 16

// fitCalibration fits the intercept and slope models for every group with
// at least one positive and one negative (others get a reason). acc holds
// each group's totals from sweep.run. workers > 1 splits the passes.
func (sw *sweep) fitCalibration(w []uint8, acc []groupAcc, workers int) []calFit {
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
		st[g].lastA, st[g].lastS = math.Inf(1), math.Inf(1)
		active++
	}
	nChunks := (len(sw.score) + calChunk - 1) / calChunk
	part := make([]calSums, nChunks*G)
	tot := make([]calSums, G)
	ea := make([]float64, G)
	workers = max(1, min(workers, nChunks))
	// With many rows, the sums come from binned moments (calmoments.go).
	var bins []calBins
	switch {
	case len(sw.score) < calMomentMinRows:
	case w == nil && sw.bins != nil:
		bins = sw.bins // from run's additive pass
	default:
		bins = sw.calMomentsPass(w, G, workers)
	}
	for iter := 0; active > 0 && iter < calMaxIter; iter++ {
		for g := range st {
			ea[g] = math.Exp(st[g].alpha)
		}
		if bins != nil && momentsApply(st) {
			// Groups are independent: they are split between the workers
			// (each group's sums are the same whichever does them).
			parallelGroups(len(st), workers, func(g int) {
				s, t := &st[g], &tot[g]
				if !s.doneA && !s.doneS && s.alpha == s.a && s.b == 1 {
					// Both models are at the same point (at the start):
					// the intercept model's sums are the slope model's
					// first three, computed by the same operations.
					bins[g].momentSums(s.a, s.b, t, false)
					t.gA, t.hA, t.llA = t.g0, t.i00, t.llS
					return
				}
				if !s.doneA {
					bins[g].momentSums(s.alpha, 1, t, true)
				}
				if !s.doneS {
					bins[g].momentSums(s.a, s.b, t, false)
				}
			})
		} else {
			sw.calExactSums(w, st, ea, part, tot, workers)
		}
		for g := range st {
			s, t := &st[g], &tot[g]
			if !s.doneA {
				llA := t.llA + s.alpha*t.sY + t.sYLP
				if s.haveA && llA < s.prevLLA-1e-12*(1+math.Abs(s.prevLLA)) && s.halveA < calMaxHalvings {
					// The step lowered the likelihood: go half way back.
					s.alpha = (s.alpha + s.prevAlpha) / 2
					s.halveA++
					goto slope
				}
				s.halveA, s.haveA, s.prevAlpha, s.prevLLA = 0, true, s.alpha, llA
			}
			if !s.doneA {
				step := t.gA / t.hA
				switch {
				case math.IsNaN(step) || math.IsInf(step, 0) || math.IsInf(s.alpha, 0):
					s.doneA = true
					out[g].alphaReason = ReasonSeparated
				case converged(math.Abs(step), s.lastA):
					s.doneA = true
					out[g].alpha = s.alpha + step
					out[g].alphaSE = 1 / math.Sqrt(t.hA)
				default:
					s.alpha += step
					s.lastA = math.Abs(step)
				}
			}
		slope:
			if !s.doneS {
				llS := t.llS + s.a*t.sY + s.b*t.sYLP
				if s.haveS && llS < s.prevLLS-1e-12*(1+math.Abs(s.prevLLS)) && s.halveS < calMaxHalvings {
					s.a, s.b = (s.a+s.prevA)/2, (s.b+s.prevB)/2
					s.halveS++
					continue
				}
				s.halveS, s.haveS, s.prevA, s.prevB, s.prevLLS = 0, true, s.a, s.b, llS
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
				case converged(max(math.Abs(d0), math.Abs(d1)), s.lastS):
					s.doneS = true
					out[g].a, out[g].b = s.a+d0, s.b+d1
					out[g].aSE = math.Sqrt(t.i11 / det)
					out[g].bSE = math.Sqrt(t.i00 / det)
				default:
					s.a += d0
					s.b += d1
					s.lastS = max(math.Abs(d0), math.Abs(d1))
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

// parallelGroups calls f for every group 0 … G-1 on up to workers
// goroutines.
func parallelGroups(G, workers int, f func(g int)) {
	if workers < 2 || G < 2 {
		for g := range G {
			f(g)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, G) {
		wg.Go(func() {
			for {
				g := int(next.Add(1) - 1)
				if g >= G {
					return
				}
				f(g)
			}
		})
	}
	wg.Wait()
}

// calMomentMinRows is the number of rows from which the fits use binned
// moments instead of row-by-row passes.
var calMomentMinRows = 1 << 16

// momentsApply reports whether every slope still being fitted is within
// the range where the binned expansion is exact to rounding.
func momentsApply(st []calState) bool {
	for g := range st {
		if !st[g].doneS && math.Abs(st[g].b) > calMomentMaxB {
			return false
		}
	}
	return true
}

// calExactSums computes the Newton sums row by row,
// in fixed chunks whose sums are added in order.
func (sw *sweep) calExactSums(w []uint8, st []calState, ea []float64, part, tot []calSums, workers int) {
	G := len(st)
	nChunks := len(part) / G
	clear(part)
	{
		if workers == 1 {
			for c := range nChunks {
				sw.calPass(w, c, st, ea, part[c*G:(c+1)*G])
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
						sw.calPass(w, c, st, ea, part[c*G:(c+1)*G])
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
				t.llA += p.llA
				t.llS += p.llS
				t.sY += p.sY
				t.sYLP += p.sYLP
			}
		}
	}
}

// calPass adds the rows of chunk c to the per-group sums in part.
func (sw *sweep) calPass(w []uint8, c int, st []calState, ea []float64, part []calSums) {
	lo := c * calChunk
	hi := min(lo+calChunk, len(sw.score))
	dims := sw.dims
	for i := lo; i < hi; i++ {
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
			t.sY += wt * y
			t.sYLP += wt * y * lp
			if !s.doneA {
				e := ea[g] * odds
				pr := e / (1 + e)
				t.gA += wt * (y - pr)
				t.hA += wt * pr * (1 - pr)
				t.llA -= wt * softplus(s.alpha+lp, e)
			}
			if !s.doneS {
				eta := s.a + s.b*lp
				en := fastExp(-eta)
				pr := 1 / (1 + en)
				t.llS -= wt * softplus(eta, 1/en)
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

// softplus returns log(1 + e^eta) given e = e^eta (which may be 0 or +Inf).
func softplus(eta, e float64) float64 {
	switch {
	case eta > 30:
		return eta + math.Log1p(1/e)
	case eta < -30:
		return e
	}
	return math.Log1p(e)
}
