package evalstat

import "math"

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
	alpha       float64
	a, b        float64
	gA, hA      float64 // intercept: gradient, information
	g0, g1      float64 // slope: gradient
	i00, i01, i11 float64
	doneA, doneS bool
	iterA, iterS int
}

// fitCalibration fits the intercept and slope models for every group with
// at least one positive and one negative (others get a reason). acc holds
// each group's totals from sweep.run.
func (sw *sweep) fitCalibration(w []uint16, acc []groupAcc) []calFit {
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
	dims := sw.dims
	for iter := 0; active > 0 && iter < calMaxIter; iter++ {
		for g := range st {
			s := &st[g]
			s.gA, s.hA, s.g0, s.g1, s.i00, s.i01, s.i11 = 0, 0, 0, 0, 0, 0, 0
		}
		for i, sc := range sw.score {
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
			sc = min(max(sc, logLossEps), 1-logLossEps)
			odds := sc / (1 - sc)
			lp := math.Log(odds)
			for _, g := range sw.cellGroups[int(p&^labelBit)*dims:][:dims] {
				s := &st[g]
				if !s.doneA {
					e := math.Exp(s.alpha) * odds
					pr := e / (1 + e)
					s.gA += wt * (y - pr)
					s.hA += wt * pr * (1 - pr)
				}
				if !s.doneS {
					pr := 1 / (1 + math.Exp(-(s.a + s.b*lp)))
					r := wt * (y - pr)
					q := wt * pr * (1 - pr)
					s.g0 += r
					s.g1 += r * lp
					s.i00 += q
					s.i01 += q * lp
					s.i11 += q * lp * lp
				}
			}
		}
		for g := range st {
			s := &st[g]
			if !s.doneA {
				step := s.gA / s.hA
				s.iterA++
				switch {
				case math.IsNaN(step) || math.IsInf(step, 0) || math.IsInf(s.alpha, 0):
					s.doneA = true
					out[g].alphaReason = ReasonSeparated
				case math.Abs(step) < calTol:
					s.doneA = true
					out[g].alpha = s.alpha + step
					out[g].alphaSE = 1 / math.Sqrt(s.hA)
				default:
					s.alpha += step
				}
			}
			if !s.doneS {
				det := s.i00*s.i11 - s.i01*s.i01
				s.iterS++
				if !(det > 0) || math.IsInf(det, 0) {
					s.doneS = true
					out[g].slopeReason = ReasonSeparated
				} else {
					d0 := (s.i11*s.g0 - s.i01*s.g1) / det
					d1 := (s.i00*s.g1 - s.i01*s.g0) / det
					switch {
					case math.IsNaN(d0) || math.IsNaN(d1) || math.IsInf(d0, 0) || math.IsInf(d1, 0):
						s.doneS = true
						out[g].slopeReason = ReasonSeparated
					case math.Abs(d0) < calTol && math.Abs(d1) < calTol:
						s.doneS = true
						out[g].a, out[g].b = s.a+d0, s.b+d1
						out[g].aSE = math.Sqrt(s.i11 / det)
						out[g].bSE = math.Sqrt(s.i00 / det)
					default:
						s.a += d0
						s.b += d1
					}
				}
			}
			_ = g
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
