package evalstat

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// sortDesc sorts score in descending order, carrying pay (and pat when it
// is not nil) along. Rows with equal scores end up in an order that
// depends only on the input, not on the machine or the number of cores.
//
// It is a most-significant-digit radix sort on the scores' bits. A pass
// finds which bits vary among the rows, a second counts the rows per value
// of the (up to) 12 highest varying bits, and the rows are then
// distributed into their buckets. At the top level that is done in place,
// by swaps (cycle leader permutation, as in the American flag sort), so
// that no copy of the columns is made; the buckets are then sorted in
// parallel, each the same way on the bits below, through a scratch buffer
// the size of the bucket (buckets are small enough to stay in cache; one
// holding more than an eighth of the rows is distributed in place too).
// Buckets of a few rows are sorted by insertion; rows of equal score form
// a bucket whose bits do not vary, which ends the recursion.
func sortDesc(score []float64, pay []uint32, pat []uint32) {
	if len(score) < 1<<12 {
		sortDescSmall(score, pay, pat)
		return
	}
	msdTop(score, pay, pat)
}

// msdTop is msdSort's top level: the rows are distributed in place, then
// the buckets are sorted on up to GOMAXPROCS goroutines, each with its own
// scratch buffer. Every bucket is sorted by the same sequential code
// whichever goroutine takes it, so the result does not depend on their
// number.
func msdTop(score []float64, pay []uint32, pat []uint32) {
	n := len(score)
	start, shift, ok := msdDistribute(score, pay, pat, &radixBuf{}, new([1<<12 + 1]int))
	if !ok || shift == 0 {
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := &radixBuf{limit: n / 8}
			for {
				b := int(next.Add(1) - 1)
				if b >= len(start)-1 {
					return
				}
				lo, hi := start[b], start[b+1]
				if hi-lo < 2 {
					continue
				}
				var q []uint32
				if pat != nil {
					q = pat[lo:hi]
				}
				msdSort(score[lo:hi], pay[lo:hi], q, buf)
			}
		})
	}
	wg.Wait()
}

// radixBuf is msdSort's scratch space, allocated on first use and grown to
// at most limit rows.
type radixBuf struct {
	limit int
	score []float64
	pay   []uint32
	pat   []uint32
}

// msdInsertion is the bucket size below which msdSort sorts by insertion.
const msdInsertion = 24

func msdSort(score []float64, pay []uint32, pat []uint32, buf *radixBuf) {
	if len(score) < msdInsertion {
		insertionDesc(score, pay, pat)
		return
	}
	var startBuf [1<<12 + 1]int
	start, shift, ok := msdDistribute(score, pay, pat, buf, &startBuf)
	if !ok || shift == 0 {
		return
	}
	for b := range len(start) - 1 {
		lo, hi := start[b], start[b+1]
		if hi-lo < 2 {
			continue
		}
		var q []uint32
		if pat != nil {
			q = pat[lo:hi]
		}
		msdSort(score[lo:hi], pay[lo:hi], q, buf)
	}
}

// msdDistribute puts the rows in buckets by the (up to) 12 highest bits
// that vary among them (in place when there are more rows than buf may
// hold) and returns the buckets' first places, the shift of the bits below
// them, and false when every score is the same.
func msdDistribute(score []float64, pay []uint32, pat []uint32, buf *radixBuf, startBuf *[1<<12 + 1]int) (start []int, shift uint, ok bool) {
	n := len(score)
	or, and := uint64(0), ^uint64(0)
	for _, s := range score {
		k := descKey(s)
		or |= k
		and &= k
	}
	diff := or ^ and
	if diff == 0 {
		return nil, 0, false // every score is the same
	}
	top := 64 - bits.LeadingZeros64(diff) // bits 0 … top-1 vary
	width := min(12, max(4, bits.Len(uint(n))-3), top)
	shift = uint(top - width)
	mask := uint64(1)<<width - 1
	nb := int(mask) + 1
	start = startBuf[:nb+1]
	clear(start)
	for _, s := range score {
		start[int(descKey(s)>>shift&mask)+1]++
	}
	for b := range nb {
		start[b+1] += start[b]
	}
	if n <= buf.limit {
		buf.distribute(score, pay, pat, start, shift, mask)
	} else {
		distributeInPlace(score, pay, pat, start, shift, mask)
	}
	return start, shift, true
}

// distributeInPlace moves every row into its bucket (start holds the
// buckets' first places): take the row at the first unsettled place of
// bucket b and swap it into its own bucket until a row of bucket b comes
// back.
func distributeInPlace(score []float64, pay []uint32, pat []uint32, start []int, shift uint, mask uint64) {
	nb := len(start) - 1
	var nextBuf [1<<12 + 1]int
	next := nextBuf[:nb+1]
	copy(next, start)
	for b := range nb {
		for i := next[b]; i < start[b+1]; i = next[b] {
			d := int(descKey(score[i]) >> shift & mask)
			for d != b {
				j := next[d]
				next[d]++
				score[i], score[j] = score[j], score[i]
				pay[i], pay[j] = pay[j], pay[i]
				if pat != nil {
					pat[i], pat[j] = pat[j], pat[i]
				}
				d = int(descKey(score[i]) >> shift & mask)
			}
			next[b]++
		}
	}
}

// distribute moves every row into its bucket through the scratch buffer
// (stable).
func (buf *radixBuf) distribute(score []float64, pay []uint32, pat []uint32, start []int, shift uint, mask uint64) {
	n := len(score)
	if len(buf.score) < n {
		buf.score = make([]float64, n)
		buf.pay = make([]uint32, n)
		if pat != nil {
			buf.pat = make([]uint32, n)
		}
	}
	var nextBuf [1 << 12]int
	next := nextBuf[:len(start)-1]
	copy(next, start)
	bs, bp := buf.score[:n], buf.pay[:n]
	for i, s := range score {
		d := int(descKey(s) >> shift & mask)
		j := next[d]
		next[d]++
		bs[j] = s
		bp[j] = pay[i]
	}
	if pat != nil {
		bq := buf.pat[:n]
		copy(next, start)
		for i, s := range score {
			d := int(descKey(s) >> shift & mask)
			bq[next[d]] = pat[i]
			next[d]++
		}
		copy(pat, bq)
	}
	copy(score, bs)
	copy(pay, bp)
}

// insertionDesc sorts a few rows by descending score (stable).
func insertionDesc(score []float64, pay []uint32, pat []uint32) {
	for i := 1; i < len(score); i++ {
		k := descKey(score[i])
		for j := i; j > 0 && descKey(score[j-1]) > k; j-- {
			score[j], score[j-1] = score[j-1], score[j]
			pay[j], pay[j-1] = pay[j-1], pay[j]
			if pat != nil {
				pat[j], pat[j-1] = pat[j-1], pat[j]
			}
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
