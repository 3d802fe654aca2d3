package evalstat

import "math"

// Metric describes one per-group statistic.
type Metric struct {
	Name string
	// HigherIsBetter orders groups for the worst-group value: the worst
	// group has the lowest value when true, the highest when false.
	HigherIsBetter bool
	// Doc is a one-line definition.
	Doc string
}

// Indices into Metrics.
const (
	MSensitivity = iota
	MSpecificity
	MFPR
	MFNR
	MPPV
	MNPV
	MAccuracy
	MSelectionRate
	MPrevalence
	MBalancedAccuracy
	MF1
	MAUROC
	MAUPRC
	MBrier
	MLogLoss
	MECE
	MMCE
	MMeanScore
	MCalibrationInTheLarge
	MOERatio
	MCalibrationIntercept
	MCalibrationSlope
	MPPVAtPrevalence
	MNPVAtPrevalence
	MLRPositive
	MLRNegative
	MNetBenefit
	MNetBenefitTreatAll
	numMetrics
)

// Metrics lists every per-group statistic in report order.
var Metrics = [numMetrics]Metric{
	MSensitivity:           {"sensitivity", true, "TP/(TP+FN): share of positives predicted positive (recall, TPR)"},
	MSpecificity:           {"specificity", true, "TN/(TN+FP): share of negatives predicted negative (TNR)"},
	MFPR:                   {"fpr", false, "FP/(FP+TN) = 1 - specificity"},
	MFNR:                   {"fnr", false, "FN/(FN+TP) = 1 - sensitivity"},
	MPPV:                   {"ppv", true, "TP/(TP+FP): precision in the sample"},
	MNPV:                   {"npv", true, "TN/(TN+FN) in the sample"},
	MAccuracy:              {"accuracy", true, "(TP+TN)/n"},
	MSelectionRate:         {"selection_rate", true, "(TP+FP)/n: share predicted positive"},
	MPrevalence:            {"prevalence", true, "(TP+FN)/n: share of positive labels"},
	MBalancedAccuracy:      {"balanced_accuracy", true, "(sensitivity+specificity)/2"},
	MF1:                    {"f1", true, "2TP/(2TP+FP+FN)"},
	MAUROC:                 {"auroc", true, "Mann-Whitney U/(n1·n0), ties counted one half"},
	MAUPRC:                 {"auprc", true, "average precision: Σ (R_k - R_k-1)·P_k over distinct thresholds (scikit-learn average_precision_score)"},
	MBrier:                 {"brier", false, "mean((s-y)²)"},
	MLogLoss:               {"log_loss", false, "mean of -y·log(s) - (1-y)·log(1-s), s clipped to [ε, 1-ε], ε = 2^-52"},
	MECE:                   {"ece", false, "Σ_k n_k/n·|mean(y)_k - mean(s)_k| over 10 equal-width bins"},
	MMCE:                   {"mce", false, "max over non-empty bins of |mean(y)_k - mean(s)_k|"},
	MMeanScore:             {"mean_score", true, "mean(s)"},
	MCalibrationInTheLarge: {"calibration_in_the_large", false, "mean(s) - mean(y)"},
	MOERatio:               {"oe_ratio", true, "Σy/Σs: observed over expected events"},
	MCalibrationIntercept:  {"calibration_intercept", false, "α in logit P(y) = α + logit(s)"},
	MCalibrationSlope:      {"calibration_slope", true, "b in logit P(y) = a + b·logit(s)"},
	MPPVAtPrevalence:       {"ppv_at_prevalence", true, "PPV transported to the declared prevalence by Bayes' rule"},
	MNPVAtPrevalence:       {"npv_at_prevalence", true, "NPV transported to the declared prevalence by Bayes' rule"},
	MLRPositive:            {"lr_positive", true, "sensitivity/(1-specificity)"},
	MLRNegative:            {"lr_negative", false, "(1-sensitivity)/specificity"},
	MNetBenefit:            {"net_benefit", true, "TP/n - FP/n·t/(1-t) at the operating threshold t"},
	MNetBenefitTreatAll:    {"net_benefit_treat_all", true, "prevalence - (1-prevalence)·t/(1-t)"},
}

// MetricIndex returns the index of the named metric, or -1.
func MetricIndex(name string) int {
	for i, m := range Metrics {
		if m.Name == name {
			return i
		}
	}
	return -1
}

// isCalibrationFit reports whether metric m needs the iterative fit.
func isCalibrationFit(m int) bool { return m == MCalibrationIntercept || m == MCalibrationSlope }

// groupValues fills out (len numMetrics) from one group's accumulator. The
// calibration fits are not computed here (they need their own passes): they
// are left undefined with reason "not computed".
func (c *Config) groupValues(a *groupAcc, out []Value) {
	cm := Confusion{TP: a.tpT, FP: a.fpT, FN: a.pos - a.tpT, TN: (a.n - a.pos) - a.fpT}
	cm.rates(c.ZeroDivision, out)
	n, pos := a.n, a.pos
	neg := n - pos
	switch {
	case n == 0:
		out[MAUROC] = Undefined(ReasonNoRows)
		out[MAUPRC] = Undefined(ReasonNoRows)
	case pos == 0 || neg == 0:
		out[MAUROC] = Undefined(ReasonOneClass)
		if pos == 0 {
			out[MAUPRC] = Undefined(ReasonNoPositives)
		} else {
			out[MAUPRC] = Est(a.ap / pos)
		}
	default:
		out[MAUROC] = Est(a.u / (pos * neg))
		out[MAUPRC] = Est(a.ap / pos)
	}
	if n == 0 {
		for _, m := range []int{MBrier, MLogLoss, MECE, MMCE, MMeanScore, MCalibrationInTheLarge} {
			out[m] = Undefined(ReasonNoRows)
		}
	} else {
		out[MBrier] = Est(a.sumSq / n)
		out[MLogLoss] = Est(a.sumLoss / n)
		ece, mce := 0.0, 0.0
		for k := range numBins {
			if a.binN[k] == 0 {
				continue
			}
			gap := math.Abs(a.binY[k]/a.binN[k] - a.binS[k]/a.binN[k])
			ece += a.binN[k] / n * gap
			mce = max(mce, gap)
		}
		out[MECE] = Est(ece)
		out[MMCE] = Est(mce)
		out[MMeanScore] = Est(a.sumS / n)
		out[MCalibrationInTheLarge] = Est(a.sumS/n - pos/n)
	}
	out[MOERatio] = ratio(pos, a.sumS, ReasonNoScoreMass)
	if n == 0 {
		out[MOERatio] = Undefined(ReasonNoRows)
	}
	out[MCalibrationIntercept] = Undefined("not computed")
	out[MCalibrationSlope] = Undefined("not computed")
	if c.Prevalence > 0 {
		out[MPPVAtPrevalence], out[MNPVAtPrevalence] = TransportedPredictiveValues(out[MSensitivity], out[MSpecificity], c.Prevalence)
	} else {
		out[MPPVAtPrevalence], out[MNPVAtPrevalence] = Undefined(ReasonPrevalenceUnset), Undefined(ReasonPrevalenceUnset)
	}
	out[MLRPositive], out[MLRNegative] = LikelihoodRatios(out[MSensitivity], out[MSpecificity])
	out[MNetBenefit] = NetBenefit(a.tpT, a.fpT, n, c.Threshold)
	if n == 0 {
		out[MNetBenefitTreatAll] = Undefined(ReasonNoRows)
	} else {
		out[MNetBenefitTreatAll] = NetBenefitTreatAll(pos/n, c.Threshold)
	}
}
