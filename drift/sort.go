package drift

import (
	"slices"
	"unsafe"
)

// radixMin is the size from which sortFloats uses a radix sort; below it
// the standard library's pattern-defeating quicksort is faster.
const radixMin = 4096

const (
	radixBits = 11
	radixSize = 1 << radixBits
	radixMask = radixSize - 1
	radixPass = (64 + radixBits - 1) / radixBits // 6
	signBit   = uint64(1) << 63
)

// sortPair sorts copies of two samples, sharing one scratch buffer.
func sortPair(a, b []float64) ([]float64, []float64) {
	a, b = slices.Clone(a), slices.Clone(b)
	var scratch []uint64
	if n := max(len(a), len(b)); n >= radixMin {
		scratch = make([]uint64, n)
	}
	sortFloatsBuf(a, scratch)
	sortFloatsBuf(b, scratch)
	return a, b
}

// sortFloats sorts x (which holds no NaN) in increasing order. Large
// inputs use an LSD radix sort, 11 bits per pass, on the order-preserving
// integer image of the floats (computed in place through an unsafe view
// of the same memory, so the only extra memory is one scratch buffer).
// Passes where every key has the same digit are skipped. The cost is
// linear in len(x).
func sortFloats(x []float64) { sortFloatsBuf(x, nil) }

// sortFloatsBuf is sortFloats with a scratch buffer that is used when it
// holds at least len(x) entries (so one buffer can serve several sorts).
func sortFloatsBuf(x []float64, scratch []uint64) {
	if len(x) < radixMin {
		slices.Sort(x)
		return
	}
	keys := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
	var counts [radixPass][radixSize]int
	for i, k := range keys {
		k = floatKey(k)
		keys[i] = k
		for p := range radixPass {
			counts[p][(k>>(p*radixBits))&radixMask]++
		}
	}
	tmp := scratch
	if len(tmp) < len(x) {
		tmp = make([]uint64, len(x))
	}
	tmp = tmp[:len(x)]
	src, dst := keys, tmp
	for p := range radixPass {
		c := &counts[p]
		shift := uint(p * radixBits)
		if c[(src[0]>>shift)&radixMask] == len(src) {
			continue // every key has this digit
		}
		total := 0
		for i := range c {
			n := c[i]
			c[i] = total
			total += n
		}
		for _, k := range src {
			d := (k >> shift) & radixMask
			dst[c[d]] = k
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	for i, k := range keys {
		keys[i] = keyBits(k)
	}
}

// floatKey maps the bits of a float to an integer with the same order:
// negative numbers have all bits flipped, positive ones only the sign bit.
func floatKey(b uint64) uint64 {
	if b&signBit != 0 {
		return ^b
	}
	return b | signBit
}

// keyBits inverts floatKey.
func keyBits(k uint64) uint64 {
	if k&signBit != 0 {
		return k &^ signBit
	}
	return ^k
}

// selectIndexes rearranges x so that, for every index i in idx (sorted,
// distinct), x[i] is the value a full sort would put there, with smaller or
// equal values before it and greater or equal after. It is a multi-target
// quickselect: partition around a median-of-three pivot and recurse only
// into the parts that hold a wanted index; a part that recurses too deep
// (adversarial input) is sorted instead, so the cost stays O(n log n) at
// worst and is about O(n log k) for k indexes in practice.
func selectIndexes(x []float64, idx []int) {
	depth := 2 * bitsLen(len(x))
	multiSelect(x, 0, idx, depth)
}

func bitsLen(n int) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}

// multiSelect works on x, which starts at offset off of the whole slice;
// idx holds absolute indexes inside it.
func multiSelect(x []float64, off int, idx []int, depth int) {
	for len(idx) > 0 && len(x) > 1 {
		if len(x) <= 16 || depth == 0 {
			slices.Sort(x)
			return
		}
		depth--
		lt, gt := partition3(x)
		// x[:lt] < pivot, x[lt:gt] == pivot, x[gt:] > pivot
		var left, right []int
		for _, i := range idx {
			switch r := i - off; {
			case r < lt:
				left = append(left, i)
			case r >= gt:
				right = append(right, i)
			}
		}
		if len(left) > 0 {
			multiSelect(x[:lt], off, left, depth)
		}
		x, off, idx = x[gt:], off+gt, right
	}
}

// partition3 partitions x around the median of its first, middle and
// last values into <, == and > parts and returns their boundaries.
func partition3(x []float64) (lt, gt int) {
	a, b, c := x[0], x[len(x)/2], x[len(x)-1]
	p := max(min(a, b), min(max(a, b), c))
	lt, i, gt := 0, 0, len(x)
	for i < gt {
		switch v := x[i]; {
		case v < p:
			x[lt], x[i] = x[i], x[lt]
			lt++
			i++
		case v > p:
			gt--
			x[gt], x[i] = x[i], x[gt]
		default:
			i++
		}
	}
	return lt, gt
}
