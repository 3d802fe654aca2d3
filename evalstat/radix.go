package evalstat

import (
	"math"
	"slices"
)

// descKey maps a score to a uint64 whose ascending order is the scores'
// descending order. Scores are finite and in [0, 1], so their IEEE-754 bits
// order them; -0 is treated as 0.
func descKey(s float64) uint64 {
	if s == 0 {
		return ^uint64(0)
	}
	return ^math.Float64bits(s)
}

const radixBits = 11

// sortDesc sorts score in descending order, carrying pay (and pat when it is
// not nil) along. It is a least-significant-digit radix sort on 11-bit
// digits of the scores' bits; passes whose digit is the same for every row
// are skipped. Small inputs use pdqsort.
func sortDesc(score []float64, pay []uint32, pat []uint32) {
	n := len(score)
	if n < 1<<12 {
		sortDescSmall(score, pay, pat)
		return
	}
	const buckets = 1 << radixBits
	const passes = (64 + radixBits - 1) / radixBits
	// One histogram pass for every digit.
	var hist [passes][buckets]int
	for _, s := range score {
		k := descKey(s)
		for p := range passes {
			hist[p][(k>>(p*radixBits))&(buckets-1)]++
		}
	}
	var s2 []float64
	var p2, q2 []uint32
	src, dst := score, score
	psrc, pdst := pay, pay
	qsrc, qdst := pat, pat
	for p := range passes {
		h := &hist[p]
		if slices.Contains(h[:], n) { // every row has this digit
			continue
		}
		if s2 == nil {
			s2 = make([]float64, n)
			p2 = make([]uint32, n)
			if pat != nil {
				q2 = make([]uint32, n)
			}
		}
		if &src[0] == &score[0] {
			dst, pdst, qdst = s2, p2, q2
		} else {
			dst, pdst, qdst = score, pay, pat
		}
		var off [buckets]int
		sum := 0
		for b := range buckets {
			off[b] = sum
			sum += h[b]
		}
		shift := uint(p * radixBits)
		for i, s := range src {
			d := (descKey(s) >> shift) & (buckets - 1)
			j := off[d]
			off[d]++
			dst[j] = s
			pdst[j] = psrc[i]
			if qsrc != nil {
				qdst[j] = qsrc[i]
			}
		}
		src, psrc, qsrc = dst, pdst, qdst
	}
	if len(src) > 0 && &src[0] != &score[0] {
		copy(score, src)
		copy(pay, psrc)
		if pat != nil {
			copy(pat, qsrc)
		}
	}
}

func sortDescSmall(score []float64, pay []uint32, pat []uint32) {
	idx := make([]int32, len(score))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		ka, kb := descKey(score[a]), descKey(score[b])
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	s := make([]float64, len(score))
	p := make([]uint32, len(score))
	var q []uint32
	if pat != nil {
		q = make([]uint32, len(score))
	}
	for i, j := range idx {
		s[i], p[i] = score[j], pay[j]
		if q != nil {
			q[i] = pat[j]
		}
	}
	copy(score, s)
	copy(pay, p)
	if q != nil {
		copy(pat, q)
	}
}
