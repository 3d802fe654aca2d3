package evalstat

// Confusion holds the (possibly weighted) counts of a 2×2 table at a
// threshold: a row is predicted positive when its score ≥ the threshold.
type Confusion struct {
	TP, FP, TN, FN float64
}

// N returns the number of rows.
func (c Confusion) N() float64 { return c.TP + c.FP + c.TN + c.FN }

// Reasons for undefined threshold metrics.
const (
	ReasonNoPositives          = "no positive labels (TP+FN = 0)"
	ReasonNoNegatives          = "no negative labels (TN+FP = 0)"
	ReasonNoPredictedPos       = "no positive predictions (TP+FP = 0)"
	ReasonNoPredictedNeg       = "no negative predictions (TN+FN = 0)"
	ReasonNoRows               = "no rows"
	ReasonF1Empty              = "no positive labels and no positive predictions (2TP+FP+FN = 0)"
	ReasonOneClass             = "only one class present"
	ReasonSpecificityOne       = "specificity is 1 (LR+ divides by 1 - specificity = 0)"
	ReasonSpecificityZero      = "specificity is 0 (LR- divides by specificity = 0)"
	ReasonPrevalenceUnset      = "no target prevalence declared"
	ReasonThresholdOne         = "threshold is 1 (net benefit weight t/(1-t) is infinite)"
	ReasonTransportedUndef     = "sensitivity or specificity undefined"
	ReasonTransportedZeroDen   = "transported denominator is 0"
	ReasonNoScoreMass          = "sum of scores is 0"
	ReasonNotConverged         = "Newton-Raphson did not converge"
	ReasonSeparated            = "perfectly separated or degenerate data: the logistic fit has no finite solution"
	ReasonGroupUndefined       = "undefined in every group"
	ReasonOverallUndefined     = "overall value undefined"
	ReasonFewerThanTwoGroups   = "fewer than two groups with a defined value"
	ReasonRatioZeroDenominator = "a ratio's denominator is 0"
)

// Rates returns the threshold metrics of c by name (sensitivity,
// specificity, fpr, fnr, ppv, npv, accuracy, selection_rate, prevalence,
// balanced_accuracy, f1). With zeroDivision (scikit-learn's and fairlearn's
// zero_division=0), a rate with a zero denominator is 0 instead of
// undefined. Proportions carry Wilson and Clopper–Pearson 95 % intervals.
func (c Confusion) Rates(zeroDivision bool) map[string]Value {
	out := make([]Value, numMetrics)
	c.rates(zeroDivision, out)
	c.addIntervals(out)
	m := make(map[string]Value, MF1+1)
	for i := range MF1 + 1 {
		m[Metrics[i].Name] = out[i]
	}
	return m
}

// rates fills out[MSensitivity … MF1].
func (c Confusion) rates(zeroDivision bool, out []Value) {
	r := func(num, den float64, reason string) Value {
		if den == 0 && zeroDivision {
			return Est(0)
		}
		return ratio(num, den, reason)
	}
	pos, neg, n := c.TP+c.FN, c.TN+c.FP, c.N()
	out[MSensitivity] = r(c.TP, pos, ReasonNoPositives)
	out[MSpecificity] = r(c.TN, neg, ReasonNoNegatives)
	out[MFPR] = r(c.FP, neg, ReasonNoNegatives)
	out[MFNR] = r(c.FN, pos, ReasonNoPositives)
	out[MPPV] = r(c.TP, c.TP+c.FP, ReasonNoPredictedPos)
	out[MNPV] = r(c.TN, c.TN+c.FN, ReasonNoPredictedNeg)
	out[MAccuracy] = r(c.TP+c.TN, n, ReasonNoRows)
	out[MSelectionRate] = r(c.TP+c.FP, n, ReasonNoRows)
	out[MPrevalence] = r(pos, n, ReasonNoRows)
	out[MF1] = r(2*c.TP, 2*c.TP+c.FP+c.FN, ReasonF1Empty)
	sens, spec := out[MSensitivity], out[MSpecificity]
	switch {
	case sens.Defined() && spec.Defined():
		out[MBalancedAccuracy] = Est((sens.Estimate + spec.Estimate) / 2)
	case !sens.Defined():
		out[MBalancedAccuracy] = Undefined(sens.Reason)
	default:
		out[MBalancedAccuracy] = Undefined(spec.Reason)
	}
}

// proportionCounts returns, for the proportion metrics, their numerator and
// denominator.
func (c Confusion) proportionCounts() map[int][2]float64 {
	pos, neg, n := c.TP+c.FN, c.TN+c.FP, c.N()
	return map[int][2]float64{
		MSensitivity: {c.TP, pos}, MSpecificity: {c.TN, neg}, MFPR: {c.FP, neg}, MFNR: {c.FN, pos},
		MPPV: {c.TP, c.TP + c.FP}, MNPV: {c.TN, c.TN + c.FN}, MAccuracy: {c.TP + c.TN, n},
		MSelectionRate: {c.TP + c.FP, n}, MPrevalence: {pos, n},
	}
}

// addIntervals adds Wilson and Clopper–Pearson intervals to the defined
// proportions in out.
func (c Confusion) addIntervals(out []Value) {
	for m, nd := range c.proportionCounts() {
		v := &out[m]
		if !v.Defined() || nd[1] == 0 {
			continue
		}
		if iv, ok := Wilson(nd[0], nd[1], Z95); ok {
			v.setCI(CIWilson, iv)
		}
		if iv, ok := ClopperPearson(nd[0], nd[1], 0.05); ok {
			v.setCI(CIExact, iv)
		}
	}
}

// LikelihoodRatios returns LR+ = sens/(1-spec) and LR- = (1-sens)/spec.
func LikelihoodRatios(sens, spec Value) (lrPos, lrNeg Value) {
	if !sens.Defined() || !spec.Defined() {
		u := Undefined(ReasonTransportedUndef)
		return u, u
	}
	lrPos, lrNeg = Undefined(ReasonSpecificityOne), Undefined(ReasonSpecificityZero)
	if spec.Estimate < 1 {
		lrPos = Est(sens.Estimate / (1 - spec.Estimate))
	}
	if spec.Estimate > 0 {
		lrNeg = Est((1 - sens.Estimate) / spec.Estimate)
	}
	return lrPos, lrNeg
}

// TransportedPredictiveValues returns PPV and NPV at prevalence pi by Bayes'
// rule from sensitivity and specificity:
//
//	PPV = sens·π / (sens·π + (1-spec)(1-π)),  NPV = spec(1-π) / (spec(1-π) + (1-sens)π).
func TransportedPredictiveValues(sens, spec Value, pi float64) (ppv, npv Value) {
	if !sens.Defined() || !spec.Defined() {
		u := Undefined(ReasonTransportedUndef)
		return u, u
	}
	se, sp := sens.Estimate, spec.Estimate
	ppv = ratio(se*pi, se*pi+(1-sp)*(1-pi), ReasonTransportedZeroDen)
	npv = ratio(sp*(1-pi), sp*(1-pi)+(1-se)*pi, ReasonTransportedZeroDen)
	return ppv, npv
}

// NetBenefit returns TP/n - FP/n · t/(1-t) for counts at threshold t.
func NetBenefit(tp, fp, n, t float64) Value {
	if n == 0 {
		return Undefined(ReasonNoRows)
	}
	if t >= 1 {
		return Undefined(ReasonThresholdOne)
	}
	return Est(tp/n - fp/n*t/(1-t))
}

// NetBenefitTreatAll returns prev - (1-prev) · t/(1-t).
func NetBenefitTreatAll(prev, t float64) Value {
	if t >= 1 {
		return Undefined(ReasonThresholdOne)
	}
	return Est(prev - (1-prev)*t/(1-t))
}
