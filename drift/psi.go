package drift

import (
	"math"
	"slices"
)

// DefaultEpsilon replaces an empty share in PSI when no epsilon is given.
const DefaultEpsilon = 1e-4

// DefaultBins is the number of reference-quantile bins of PSI when none is
// given.
const DefaultBins = 10

// PSIBin is one bin (or category) of a PSI computation.
type PSIBin struct {
	// Lower and Upper bound a numeric bin: it holds the values v with
	// Lower < v ≤ Upper (−Inf and +Inf at the ends). Both are NaN for a
	// category.
	Lower, Upper float64
	Category     string
	Ref, Cur     float64 // counts
	// RefShare and CurShare are the shares after the epsilon floor.
	RefShare, CurShare float64
	// Term is (CurShare − RefShare) × ln(CurShare / RefShare), the bin's
	// contribution to the index.
	Term float64
}

// PSIResult is a population stability index and its bins.
type PSIResult struct {
	PSI  float64
	Bins []PSIBin
}

// PSI computes the population stability index of a numeric current
// sample against a reference sample:
//
//	PSI = Σ (c_i − r_i) · ln(c_i / r_i)
//
// over bins whose edges are the reference quantiles at 1/bins, 2/bins, …
// (linear interpolation between order statistics, numpy's default
// method). Equal edges from tied reference values are merged, so heavily
// tied data gets fewer bins. Bins are closed on the right: a value equal
// to an edge falls in the lower bin. r_i and c_i are the shares of the
// reference and current values in bin i; a share of zero is replaced by
// epsilon (DefaultEpsilon when epsilon ≤ 0) so that the logarithm stays
// finite — the shares are not renormalised afterwards, which is the usual
// practice and keeps a bin's term independent of the others. bins ≤ 0
// means DefaultBins. Common reading: below 0.1 stable, 0.1–0.25 moderate
// shift, above 0.25 significant shift.
func PSI(ref, cur []float64, bins int, epsilon float64) (PSIResult, error) {
	const stat = "psi"
	if err := checkSample(stat, "reference", ref, false); err != nil {
		return PSIResult{}, err
	}
	if err := checkSample(stat, "current", cur, false); err != nil {
		return PSIResult{}, err
	}
	if bins <= 0 {
		bins = DefaultBins
	}
	if bins > len(ref) {
		bins = len(ref)
	}
	// The quantiles need only the order statistics around each cut
	// point: select them instead of sorting the whole reference.
	work := slices.Clone(ref)
	var want []int
	for k := 1; k < bins; k++ {
		pos := float64(len(work)-1) * float64(k) / float64(bins)
		lo := int(math.Floor(pos))
		want = append(want, lo)
		if lo+1 < len(work) {
			want = append(want, lo+1)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	selectIndexes(work, want)
	edges := make([]float64, 0, bins-1)
	for k := 1; k < bins; k++ {
		e := quantileAt(work, float64(k)/float64(bins))
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	refCounts := make([]float64, len(edges)+1)
	curCounts := make([]float64, len(edges)+1)
	for _, v := range ref {
		refCounts[binOf(edges, v)]++
	}
	for _, v := range cur {
		curCounts[binOf(edges, v)]++
	}
	res := psiFromCounts(refCounts, curCounts, epsilon)
	setBounds(res.Bins, edges)
	return res, nil
}

// PSICounts computes the population stability index of categorical counts
// (see PSI for the formula and the epsilon floor). Categories with a zero
// count in both samples contribute nothing and are kept in Bins with a
// zero term.
func PSICounts(t Table, epsilon float64) (PSIResult, error) {
	if err := t.check("psi"); err != nil {
		return PSIResult{}, err
	}
	res := psiFromCounts(t.Ref, t.Cur, epsilon)
	for i := range res.Bins {
		res.Bins[i].Lower, res.Bins[i].Upper = math.NaN(), math.NaN()
		if i < len(t.Categories) {
			res.Bins[i].Category = t.Categories[i]
		}
	}
	return res, nil
}

func psiFromCounts(ref, cur []float64, epsilon float64) PSIResult {
	if !(epsilon > 0) {
		epsilon = DefaultEpsilon
	}
	nr, nc := sum(ref), sum(cur)
	res := PSIResult{Bins: make([]PSIBin, len(ref))}
	var acc kahan
	for i := range ref {
		b := PSIBin{Ref: ref[i], Cur: cur[i]}
		if ref[i] == 0 && cur[i] == 0 {
			res.Bins[i] = b
			continue
		}
		b.RefShare, b.CurShare = ref[i]/nr, cur[i]/nc
		if b.RefShare == 0 {
			b.RefShare = epsilon
		}
		if b.CurShare == 0 {
			b.CurShare = epsilon
		}
		b.Term = (b.CurShare - b.RefShare) * math.Log(b.CurShare/b.RefShare)
		acc.add(b.Term)
		res.Bins[i] = b
	}
	res.PSI = acc.sum()
	return res
}

// binOf is the number of edges strictly below v: the index of the
// right-closed bin holding v. With the few edges PSI uses, a linear count
// the compiler turns into flag arithmetic beats a branchy binary search.
func binOf(edges []float64, v float64) int {
	if len(edges) > 32 {
		lo, hi := 0, len(edges)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if edges[m] < v {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo
	}
	n := 0
	for _, e := range edges {
		if e < v {
			n++
		}
	}
	return n
}

// quantileAt is the p-quantile with linear interpolation between the
// order statistics at (n−1)p (numpy's default), reading s where those
// order statistics have been selected (or s is sorted).
func quantileAt(s []float64, p float64) float64 {
	pos := float64(len(s)-1) * p
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	t := pos - float64(lo)
	if t == 0 {
		return s[lo]
	}
	// numpy's lerp: from the nearer end, so that the result is exact at
	// both ends and monotonic
	a, b := s[lo], s[lo+1]
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}
