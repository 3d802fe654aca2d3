package evalstat

// AggregateNumbers exposes aggregate to the external tests: it returns min,
// max, difference, difference to overall, ratio, ratio to overall, worst.
func AggregateNumbers(vals []float64, overall float64, higherBetter bool) []float64 {
	out := make([]float64, numAgg)
	aggregate(vals, overall, higherBetter, out)
	return out
}

// FastExp exposes fastExp.
var FastExp = fastExp
