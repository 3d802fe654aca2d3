package drift

import "math"

// Wasserstein returns the first Wasserstein (earth mover's) distance
// between the empirical distributions of two samples,
//
//	W1 = ∫ |F_ref(x) − F_cur(x)| dx,
//
// computed exactly over the merged sorted values, as
// scipy.stats.wasserstein_distance(ref, cur) does (unweighted). It is in
// the unit of the data. NaN and infinite values are errors.
func Wasserstein(ref, cur []float64) (float64, error) {
	if err := checkSample("wasserstein", "reference", ref, false); err != nil {
		return 0, err
	}
	if err := checkSample("wasserstein", "current", cur, false); err != nil {
		return 0, err
	}
	a, b := sortPair(ref, cur)
	return wassersteinSorted(a, b), nil
}

// WassersteinSorted is Wasserstein for samples already sorted in
// increasing order; unsorted input is an error.
func WassersteinSorted(ref, cur []float64) (float64, error) {
	for _, s := range []struct {
		arg string
		x   []float64
	}{{"reference", ref}, {"current", cur}} {
		if err := checkSample("wasserstein", s.arg, s.x, false); err != nil {
			return 0, err
		}
		for i := 1; i < len(s.x); i++ {
			if s.x[i] < s.x[i-1] {
				return 0, errf("wasserstein", s.arg, i, ErrParam, "values are not sorted")
			}
		}
	}
	return wassersteinSorted(ref, cur), nil
}

func wassersteinSorted(a, b []float64) float64 {
	n1, n2 := len(a), len(b)
	f1, f2 := float64(n1), float64(n2)
	var acc kahan
	i, j := 0, 0
	prev := math.Min(a[0], b[0])
	for i < n1 || j < n2 {
		var v float64
		if j >= n2 || (i < n1 && a[i] <= b[j]) {
			v = a[i]
		} else {
			v = b[j]
		}
		// F_ref and F_cur are constant on [prev, v): their values are
		// the counts of values ≤ prev.
		if v > prev {
			acc.add(math.Abs(float64(i)/f1-float64(j)/f2) * (v - prev))
		}
		for i < n1 && a[i] == v {
			i++
		}
		for j < n2 && b[j] == v {
			j++
		}
		prev = v
	}
	return acc.sum()
}
