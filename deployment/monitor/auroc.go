package monitor

import (
	"math"
)

// aurocDeLong returns the area under the ROC curve of rows (the
// Mann–Whitney probability that a positive scores above a negative, ties
// counting one half) and its DeLong standard error, from the placement
// values of each positive among the negatives and of each negative among
// the positives (DeLong, DeLong and Clarke-Pearson 1988). ok is false
// unless both classes are present.
func aurocDeLong(sorted []labelled, g group) (auc, se float64, nPos, nNeg int) {
	for i := range sorted {
		if g.has(&sorted[i]) {
			if sorted[i].label {
				nPos++
			} else {
				nNeg++
			}
		}
	}
	if nPos == 0 || nNeg == 0 {
		return 0, 0, nPos, nNeg
	}
	s := sorted
	m, n := float64(nPos), float64(nNeg)
	// Sums of the placements and of their squares, tie block by tie
	// block: within a block every positive has the same placement, and
	// so has every negative.
	var negBelow, posBelow float64
	var s10, q10, s01, q01 float64
	for i := 0; i < len(s); {
		j := i
		var p, q float64
		for ; j < len(s) && s[j].score == s[i].score; j++ {
			if !g.has(&s[j]) {
				continue
			}
			if s[j].label {
				p++
			} else {
				q++
			}
		}
		v10 := (negBelow + q/2) / n         // positive above negatives
		v01 := (m - posBelow - p + p/2) / m // negative below positives
		s10 += p * v10
		q10 += p * v10 * v10
		s01 += q * v01
		q01 += q * v01 * v01
		negBelow += q
		posBelow += p
		i = j
	}
	auc = s10 / m
	var var10, var01 float64
	if nPos > 1 {
		var10 = (q10 - m*auc*auc) / (m - 1)
	}
	if nNeg > 1 {
		var01 = (q01 - n*auc*auc) / (n - 1)
	}
	v := math.Max(0, var10/m+var01/n)
	return auc, math.Sqrt(v), nPos, nNeg
}
