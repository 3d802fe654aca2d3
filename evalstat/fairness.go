package evalstat

import "math"

// Aggregate summarises one metric across the groups of one grouping, with
// fairlearn's definitions: difference is max - min between groups, or the
// largest |group - overall|; ratio is min/max between groups, or the
// smallest min(group/overall, overall/group). Groups whose value is
// undefined take no part (GroupsCompared counts those that do).
type Aggregate struct {
	Min                 Value  `json:"min"`
	MinGroup            string `json:"min_group,omitempty"`
	Max                 Value  `json:"max"`
	MaxGroup            string `json:"max_group,omitempty"`
	Difference          Value  `json:"difference"`
	DifferenceToOverall Value  `json:"difference_to_overall"`
	Ratio               Value  `json:"ratio"`
	RatioToOverall      Value  `json:"ratio_to_overall"`
	Worst               Value  `json:"worst"`
	WorstGroup          string `json:"worst_group,omitempty"`
	GroupsCompared      int    `json:"groups_compared"`
}

// aggIndex names the numbers of an Aggregate for the bootstrap.
const (
	aggMin = iota
	aggMax
	aggDiff
	aggDiffOverall
	aggRatio
	aggRatioOverall
	aggWorst
	numAgg
)

// aggregate computes the aggregate numbers of vals (NaN = undefined) against
// overall into out (len numAgg, NaN where undefined) and returns the index
// of the min, max and worst group (-1 when none) and the number compared.
func aggregate(vals []float64, overall float64, higherBetter bool, out []float64) (imin, imax, iworst, k int) {
	imin, imax = -1, -1
	mn, mx := math.Inf(1), math.Inf(-1)
	dOverall := math.NaN()
	rOverall := math.NaN()
	for i, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		k++
		if v < mn {
			mn, imin = v, i
		}
		if v > mx {
			mx, imax = v, i
		}
		if !math.IsNaN(overall) {
			d := math.Abs(v - overall)
			if math.IsNaN(dOverall) || d > dOverall {
				dOverall = d
			}
			r := ratioToOverall(v, overall)
			if !math.IsNaN(r) && (math.IsNaN(rOverall) || r < rOverall) {
				rOverall = r
			}
		}
	}
	for i := range out {
		out[i] = math.NaN()
	}
	if k == 0 {
		return -1, -1, -1, 0
	}
	out[aggMin], out[aggMax] = mn, mx
	out[aggDiffOverall], out[aggRatioOverall] = dOverall, rOverall
	if k >= 2 {
		out[aggDiff] = mx - mn
		if mx != 0 {
			out[aggRatio] = mn / mx
		} else if mn == 0 {
			out[aggRatio] = 1 // every group is 0: no disparity
		}
	}
	iworst = imax
	if higherBetter {
		iworst = imin
	}
	out[aggWorst] = vals[iworst]
	return imin, imax, iworst, k
}

func ratioToOverall(v, overall float64) float64 {
	switch {
	case v == overall:
		return 1
	case v == 0 || overall == 0:
		return 0
	}
	r := v / overall
	if r > 1 {
		r = 1 / r
	}
	return r
}

// Named fairness measures of one grouping.
const (
	FDemographicParityDifference = iota
	FDemographicParityRatio
	FEqualizedOddsDifference
	FEqualizedOddsDifferenceMean
	FEqualizedOddsRatio
	FEqualOpportunityDifference
	FEqualOpportunityRatio
	FUnderdiagnosisGap
	numFair
)

// FairnessNames are the JSON names of the named fairness measures.
var FairnessNames = [numFair]string{
	"demographic_parity_difference",
	"demographic_parity_ratio",
	"equalized_odds_difference",
	"equalized_odds_difference_mean",
	"equalized_odds_ratio",
	"equal_opportunity_difference",
	"equal_opportunity_ratio",
	"underdiagnosis_gap",
}

// fairness computes the named measures from the between-groups aggregates of
// the selection rate, TPR (sensitivity), FPR and FNR (each len numAgg).
func fairness(sel, tpr, fpr, fnr []float64, out []float64) {
	out[FDemographicParityDifference] = sel[aggDiff]
	out[FDemographicParityRatio] = sel[aggRatio]
	out[FEqualizedOddsDifference] = math.Max(tpr[aggDiff], fpr[aggDiff])
	out[FEqualizedOddsDifferenceMean] = (tpr[aggDiff] + fpr[aggDiff]) / 2
	out[FEqualizedOddsRatio] = math.Min(tpr[aggRatio], fpr[aggRatio])
	if math.IsNaN(tpr[aggDiff]) || math.IsNaN(fpr[aggDiff]) {
		out[FEqualizedOddsDifference] = math.NaN()
	}
	if math.IsNaN(tpr[aggRatio]) || math.IsNaN(fpr[aggRatio]) {
		out[FEqualizedOddsRatio] = math.NaN()
	}
	out[FEqualOpportunityDifference] = tpr[aggDiff]
	out[FEqualOpportunityRatio] = tpr[aggRatio]
	out[FUnderdiagnosisGap] = fnr[aggDiff]
}
