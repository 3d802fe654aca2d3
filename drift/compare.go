package drift

import (
	"math"
	"slices"
)

// Reference is a numeric reference sample prepared once (sorted, PSI bin
// edges fixed) and compared with many monitoring windows. It is safe for
// concurrent use: Compare does not modify it.
type Reference struct {
	sorted    []float64
	edges     []float64
	refCounts []float64
	epsilon   float64
	mean      float64 // of sorted, computed once
}

// NumericResult gathers the numeric drift statistics of one window
// against a Reference.
type NumericResult struct {
	N, M        int // reference and window sizes
	KS          KSResult
	Wasserstein float64
	PSI         PSIResult
	// RefMean and CurMean are the two sample means (a plain summary for
	// reports).
	RefMean, CurMean float64
}

// NewReference sorts a copy of values and fixes the PSI bins (bins and
// epsilon as in PSI). NaN and infinite values are errors.
func NewReference(values []float64, bins int, epsilon float64) (*Reference, error) {
	if err := checkSample("reference", "values", values, false); err != nil {
		return nil, err
	}
	if bins <= 0 {
		bins = DefaultBins
	}
	bins = min(bins, len(values))
	r := &Reference{sorted: slices.Clone(values), epsilon: epsilon}
	sortFloats(r.sorted)
	for k := 1; k < bins; k++ {
		e := quantileAt(r.sorted, float64(k)/float64(bins))
		if len(r.edges) == 0 || e > r.edges[len(r.edges)-1] {
			r.edges = append(r.edges, e)
		}
	}
	r.refCounts = countSorted(r.sorted, r.edges)
	r.mean = mean(r.sorted)
	return r, nil
}

// Len is the size of the reference sample.
func (r *Reference) Len() int { return len(r.sorted) }

// Edges returns a copy of the PSI bin edges.
func (r *Reference) Edges() []float64 { return slices.Clone(r.edges) }

// Compare computes KS, Wasserstein-1 and PSI of a window against the
// reference, sorting the window once for all three. The results equal
// those of KS, Wasserstein and PSI called separately.
func (r *Reference) Compare(window []float64) (NumericResult, error) {
	if err := checkSample("compare", "window", window, false); err != nil {
		return NumericResult{}, err
	}
	cur := slices.Clone(window)
	sortFloats(cur)
	res := NumericResult{N: len(r.sorted), M: len(cur)}
	res.KS = ksSorted(r.sorted, cur)
	res.Wasserstein = wassersteinSorted(r.sorted, cur)
	res.PSI = psiFromCounts(r.refCounts, countSorted(cur, r.edges), r.epsilon)
	setBounds(res.PSI.Bins, r.edges)
	res.RefMean, res.CurMean = r.mean, mean(cur)
	return res, nil
}

// countSorted counts sorted values into the right-closed bins of edges.
func countSorted(sorted, edges []float64) []float64 {
	counts := make([]float64, len(edges)+1)
	b := 0
	for _, v := range sorted {
		for b < len(edges) && v > edges[b] {
			b++
		}
		counts[b]++
	}
	return counts
}

func setBounds(bins []PSIBin, edges []float64) {
	for i := range bins {
		bins[i].Lower, bins[i].Upper = math.Inf(-1), math.Inf(1)
		if i > 0 {
			bins[i].Lower = edges[i-1]
		}
		if i < len(edges) {
			bins[i].Upper = edges[i]
		}
	}
}

func mean(x []float64) float64 {
	return sum(x) / float64(len(x))
}

// CategoricalResult gathers the categorical drift statistics of one window.
type CategoricalResult struct {
	PSI PSIResult
	// ChiSquare is the test of homogeneity (Homogeneity, without Yates'
	// correction).
	ChiSquare ChiSquareResult
	// JS is the Jensen–Shannon divergence and distance in base 2.
	JS  JSResult
	New []NewCategory
}

// CompareCategorical computes PSI (epsilon as in PSI), the chi-square test
// of homogeneity, the base-2 Jensen–Shannon divergence and the new
// categories of a table of counts.
func CompareCategorical(t Table, epsilon float64) (CategoricalResult, error) {
	var res CategoricalResult
	var err error
	if res.PSI, err = PSICounts(t, epsilon); err != nil {
		return CategoricalResult{}, err
	}
	if res.ChiSquare, err = Homogeneity(t, false); err != nil {
		return CategoricalResult{}, err
	}
	if res.JS, err = JensenShannon(t.Ref, t.Cur, 2); err != nil {
		return CategoricalResult{}, err
	}
	res.New = NewCategories(t)
	return res, nil
}
