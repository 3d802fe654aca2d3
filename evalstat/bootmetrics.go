package evalstat

import (
	"fmt"
	"slices"
)

// The bootstrap of chosen metrics (Config.BootstrapMetrics). A resample's
// per-group statistics come from two kinds of passes over the rows: the
// additive sums (counts at the threshold, score sums, losses, calibration
// bins) and the rank statistics (Mann–Whitney U and average precision).
// When only some metrics are resampled, a resample runs only the passes
// those metrics need; AUROC and AUPRC need the rank pass and the counts of
// positives and negatives, nothing else, and AUROC without AUPRC skips the
// average precision (a division per row) in the rank pass. The draws do not depend on the
// choice (resample b always draws from the stream seeded with the seed and
// b), and a metric's value in a resample depends only on the sums it reads,
// so its intervals are those of the full bootstrap bit for bit.

// fairnessMetrics lists, for every named fairness measure, the per-group
// metrics whose between-group aggregates it is built from.
var fairnessMetrics = [numFair][]int{
	FDemographicParityDifference: {MSelectionRate},
	FDemographicParityRatio:      {MSelectionRate},
	FEqualizedOddsDifference:     {MSensitivity, MFPR},
	FEqualizedOddsDifferenceMean: {MSensitivity, MFPR},
	FEqualizedOddsRatio:          {MSensitivity, MFPR},
	FEqualOpportunityDifference:  {MSensitivity},
	FEqualOpportunityRatio:       {MSensitivity},
	FUnderdiagnosisGap:           {MFNR},
}

// bootSelection is the resolved set of resampled metrics.
type bootSelection struct {
	metric [numMetrics]bool
	fair   [numFair]bool
	all    bool // every metric (the default)
	// additive and rank tell which passes a resample needs.
	additive bool
	rank     rankMode
}

// bootstrapSelection resolves cfg.BootstrapMetrics. Unknown names are an
// error; so are the calibration fits without BootstrapCalibration, and
// BootstrapCalibration with a list that names neither fit.
func (cfg *Config) bootstrapSelection() (bootSelection, error) {
	var s bootSelection
	if len(cfg.BootstrapMetrics) == 0 {
		s.all, s.additive, s.rank = true, true, rankFull
		for m := range numMetrics {
			s.metric[m] = !isCalibrationFit(m) || cfg.BootstrapCalibration
		}
		for f := range numFair {
			s.fair[f] = true
		}
		return s, nil
	}
	for _, name := range cfg.BootstrapMetrics {
		m := MetricIndex(name)
		if m < 0 {
			return s, fmt.Errorf("evalstat: bootstrap metric %q is not a metric (see docs/metrics.md)", name)
		}
		if isCalibrationFit(m) && !cfg.BootstrapCalibration {
			return s, fmt.Errorf("evalstat: bootstrap metric %q needs the calibration refits (BootstrapCalibration, --bootstrap-calibration)", name)
		}
		s.metric[m] = true
	}
	if cfg.BootstrapCalibration && !s.metric[MCalibrationIntercept] && !s.metric[MCalibrationSlope] {
		return s, fmt.Errorf("evalstat: calibration refits requested but neither calibration_intercept nor calibration_slope is among the bootstrap metrics")
	}
	for m := range numMetrics {
		if !s.metric[m] {
			continue
		}
		switch {
		case m == MAUPRC:
			s.rank = rankFull
		case m == MAUROC:
			s.rank = max(s.rank, rankU)
		default:
			s.additive = true
		}
	}
	for f, ms := range fairnessMetrics {
		s.fair[f] = !slices.ContainsFunc(ms, func(m int) bool { return !s.metric[m] })
	}
	return s, nil
}

// names returns the resampled metrics and fairness measures in report
// order, or nil, nil when every one is resampled.
func (s *bootSelection) names() (metrics, fairness []string) {
	if s.all {
		return nil, nil
	}
	metrics, fairness = []string{}, []string{}
	for m := range numMetrics {
		if s.metric[m] {
			metrics = append(metrics, Metrics[m].Name)
		}
	}
	for f := range numFair {
		if s.fair[f] {
			fairness = append(fairness, FairnessNames[f])
		}
	}
	return metrics, fairness
}
