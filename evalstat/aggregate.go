package evalstat

import "math"

// aggregator computes the aggregates of every metric for every grouping.
type aggregator struct {
	L    *layout
	vals []float64
}

// aggResult holds the aggregate numbers of one set of group values.
type aggResult struct {
	num                [][numMetrics][numAgg]float64 // grouping, metric
	imin, imax, iworst [][numMetrics]int
	count              [][numMetrics]int
	fair               [][numFair]float64
}

func newAggregator(L *layout) *aggregator {
	return &aggregator{L: L}
}

func (ag *aggregator) newResult() *aggResult {
	K := len(ag.L.groupings)
	return &aggResult{
		num:    make([][numMetrics][numAgg]float64, K),
		imin:   make([][numMetrics]int, K),
		imax:   make([][numMetrics]int, K),
		iworst: make([][numMetrics]int, K),
		count:  make([][numMetrics]int, K),
		fair:   make([][numFair]float64, K),
	}
}

// compute aggregates the values value(g, m) (NaN = undefined).
func (ag *aggregator) compute(value func(g, m int) float64) *aggResult {
	r := ag.newResult()
	ag.computeInto(r, value)
	return r
}

func (ag *aggregator) computeInto(r *aggResult, value func(g, m int) float64) {
	for k, mem := range ag.L.members {
		for m := range numMetrics {
			ag.vals = ag.vals[:0]
			for _, g := range mem {
				ag.vals = append(ag.vals, value(g, m))
			}
			r.imin[k][m], r.imax[k][m], r.iworst[k][m], r.count[k][m] =
				aggregate(ag.vals, value(0, m), Metrics[m].HigherIsBetter, r.num[k][m][:])
		}
		fairness(r.num[k][MSelectionRate][:], r.num[k][MSensitivity][:], r.num[k][MFPR][:], r.num[k][MFNR][:], r.fair[k][:])
	}
}

// aggregateValue turns the point aggregates of grouping k, metric m into an
// Aggregate with reasons and group names.
func (ag *aggregator) aggregateValue(k, m int, r *aggResult, L *layout) Aggregate {
	x := r.num[k][m]
	mem := L.members[k]
	name := func(i int) string {
		if i < 0 {
			return ""
		}
		return L.groups[mem[i]].Name
	}
	noGroup := ReasonGroupUndefined
	two := ReasonFewerThanTwoGroups
	overall := ReasonOverallUndefined
	a := Aggregate{
		Min:                 numberValue(x[aggMin], noGroup),
		MinGroup:            name(r.imin[k][m]),
		Max:                 numberValue(x[aggMax], noGroup),
		MaxGroup:            name(r.imax[k][m]),
		Difference:          numberValue(x[aggDiff], two),
		DifferenceToOverall: numberValue(x[aggDiffOverall], overall),
		Ratio:               numberValue(x[aggRatio], two),
		RatioToOverall:      numberValue(x[aggRatioOverall], overall),
		Worst:               numberValue(x[aggWorst], noGroup),
		WorstGroup:          name(r.iworst[k][m]),
		GroupsCompared:      r.count[k][m],
	}
	if r.count[k][m] == 0 {
		a.DifferenceToOverall = Undefined(noGroup)
		a.RatioToOverall = Undefined(noGroup)
	}
	if r.count[k][m] >= 2 && math.IsNaN(x[aggRatio]) {
		a.Ratio = Undefined(ReasonRatioZeroDenominator)
	}
	return a
}

// aggField returns a pointer to the Value of an Aggregate for aggregate index i.
func aggField(a *Aggregate, i int) *Value {
	switch i {
	case aggMin:
		return &a.Min
	case aggMax:
		return &a.Max
	case aggDiff:
		return &a.Difference
	case aggDiffOverall:
		return &a.DifferenceToOverall
	case aggRatio:
		return &a.Ratio
	case aggRatioOverall:
		return &a.RatioToOverall
	}
	return &a.Worst
}
