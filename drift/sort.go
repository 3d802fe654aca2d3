package drift

import (
	"math"
	"slices"
)

// radixMin is the size from which sortFloats uses a radix sort; below it
// the standard library's pattern-defeating quicksort is faster.
const radixMin = 4096

// sortFloats sorts x (which holds no NaN) in increasing order. Large
// inputs use an LSD radix sort on the order-preserving integer image of
// the floats: eight byte-wide passes, skipping the passes where every key
// has the same byte, so the cost is linear in len(x).
func sortFloats(x []float64) {
	if len(x) < radixMin {
		slices.Sort(x)
		return
	}
	keys := make([]uint64, len(x))
	for i, v := range x {
		keys[i] = floatKey(v)
	}
	tmp := make([]uint64, len(x))
	var counts [8][256]int
	for _, k := range keys {
		for b := range 8 {
			counts[b][byte(k>>(8*b))]++
		}
	}
	src, dst := keys, tmp
	for b := range 8 {
		c := &counts[b]
		if c[byte(src[0]>>(8*b))] == len(src) {
			continue // every key has this byte: nothing to do
		}
		var off [256]int
		total := 0
		for i := range 256 {
			off[i] = total
			total += c[i]
		}
		shift := uint(8 * b)
		for _, k := range src {
			d := byte(k >> shift)
			dst[off[d]] = k
			off[d]++
		}
		src, dst = dst, src
	}
	for i, k := range src {
		x[i] = keyFloat(k)
	}
}

// floatKey maps a float to an integer with the same order: negative
// numbers have all bits flipped, positive ones only the sign bit.
func floatKey(v float64) uint64 {
	b := math.Float64bits(v)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func keyFloat(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}
