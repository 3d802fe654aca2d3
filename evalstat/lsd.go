package evalstat

import (
	"math"
	"math/bits"
	"unsafe"
)

// lsdMaxDigits bounds the decimals of a score for sortCodes: 10^9 < 2^30.
const lsdMaxDigits = 9

// lsdDigitBits is the widest digit of sortCodes' passes (2,048 buckets).
const lsdDigitBits = 11

// sortCodes sorts rows whose scores are decimals with at most digits
// digits after the point: a least-significant-digit radix sort, in up to
// three passes, of the score as an integer count c of 10^-digits
// (descending). Radix sorting by passes is stable, so rows of equal score
// keep their input order, as sortDescSmall keeps them. It returns false,
// having changed nothing, when digits is out of range or a score is
// plainly not such a decimal (s·10^digits more than 1e-6 from an integer).
//
// The caller vouches that every score is the correctly rounded value of a
// decimal with at most digits digits after the point, which is what the
// CSV readers compute (an integer over an exact power of ten, one
// rounding; or strconv.ParseFloat) when they note the digits
// (Table.digits). For such a score s = RN(c/10^d), s·10^d is within
// c·2^-52 < 2.3e-7 of c (c ≤ 10^9), so c = round(s·10^d) exactly, and
// the score is rebuilt from the sorted codes as float64(c)/10^d, the same
// correctly rounded quotient, bit for bit. Distinct codes up to 10^9 are
// more than 2^-52 apart relative to their size, so they give distinct
// scores in the same order: sorting the codes sorts the scores.
//
// Memory: when the code fits in pay's bits above the label and the cell
// (cells is the number of cells), none (sortCodesInPay); otherwise one
// column of 32-bit codes, and the passes alternate between (codes, pay)
// and the score column, which holds code<<32 | pay as the bits of a
// float64 meanwhile (both top bits are zero, so no such value is a NaN,
// and the bits come back unchanged).
func sortCodes(score []float64, pay []uint32, digits, cells int) bool {
	n := len(score)
	if digits < 0 || digits > lsdMaxDigits || n < 2 {
		return false
	}
	p := pow10[digits]
	maxCode := uint32(p)
	keyBits := bits.Len32(maxCode)
	if cb := bits.Len32(uint32(max(cells-1, 0))); keyBits+1+cb <= 32 {
		return sortCodesInPay(score, pay, p, maxCode, keyBits, cb)
	}
	width := uint((keyBits + 2) / 3)
	if keyBits <= 2*lsdDigitBits {
		width = uint((keyBits + 1) / 2)
	}
	mask := uint32(1)<<width - 1
	code := make([]uint32, n)
	var hist [3][1 << lsdDigitBits]int
	h0, h1, h2 := &hist[0], &hist[1], &hist[2]
	for i, s := range score {
		x := s * p
		c := uint32(x + 0.5)
		if d := x - float64(c); d > 1e-6 || d < -1e-6 {
			return false // not a decimal of this scale
		}
		k := maxCode - c
		code[i] = k
		h0[k&mask]++
		h1[k>>width&mask]++
		h2[k>>(2*width)&mask]++
	}
	packed := false // the rows are in (code, pay), not in score
	for d := range 3 {
		h := hist[d][:mask+1]
		shift := uint(d) * width
		if shift >= 32 {
			break
		}
		first := code[0]
		if packed {
			first = uint32(math.Float64bits(score[0]) >> 32)
		}
		if h[first>>shift&mask] == n {
			continue // every code has this digit
		}
		startOffsets(h)
		if !packed {
			for i, k := range code {
				b := k >> shift & mask
				score[h[b]] = math.Float64frombits(uint64(k)<<32 | uint64(pay[i]))
				h[b]++
			}
		} else {
			for _, f := range score {
				v := math.Float64bits(f)
				k := uint32(v >> 32)
				b := k >> shift & mask
				code[h[b]], pay[h[b]] = k, uint32(v)
				h[b]++
			}
		}
		packed = !packed
	}
	last, ls := ^uint32(0), 0.0
	for i := range score {
		k := code[i]
		if packed {
			v := math.Float64bits(score[i])
			k, pay[i] = uint32(v>>32), uint32(v)
		}
		if k != last {
			last, ls = k, float64(maxCode-k)/p
		}
		score[i] = ls
	}
	return true
}

// sortCodesInPay is sortCodes when the code (codeBits bits) fits above the
// label and the cell (cb bits) in pay's 32 bits: during the passes pay[i]
// holds (maxCode − c)<<(cb+1) | label<<cb | cell, and the passes, over the
// code's bits only (so rows of equal score keep their order), alternate
// between pay and the first half of the score column's memory, taken as
// 32-bit words (the scores are rebuilt from the codes at the end, so the
// column is free meanwhile; its float64 values are never read before they
// are written again). No other column is needed, and a pass moves 4 bytes
// per row each way.
func sortCodesInPay(score []float64, pay []uint32, p float64, maxCode uint32, codeBits, cb int) bool {
	n := len(score)
	width := uint((codeBits + 2) / 3)
	three := codeBits > 2*lsdDigitBits
	if !three {
		width = uint((codeBits + 1) / 2)
	}
	mask := uint32(1)<<width - 1
	// Shift amounts below 32 (written s&31, so that the compiler emits a
	// plain shift): base+width and base+2·width are at most base+codeBits
	// ≤ 31 whenever their digit is used.
	ucb := uint(cb) & 31
	base := uint(cb+1) & 31 // the code's lowest bit
	s1, s2 := (base+width)&31, (base+2*width)&31
	cellMask := uint32(1)<<ucb - 1
	var hist [3][1 << lsdDigitBits]int
	h0, h1, h2 := &hist[0], &hist[1], &hist[2]
	for i, s := range score {
		x := s * p
		c := uint32(x + 0.5)
		if d := x - float64(c); d > 1e-6 || d < -1e-6 {
			for j, k := range pay[:i] { // put back what was changed
				pay[j] = k>>ucb&1<<31 | k&cellMask
			}
			return false // not a decimal of this scale
		}
		q := pay[i]
		k := (maxCode-c)<<base | q>>31<<ucb | q&cellMask
		pay[i] = k
		h0[k>>base&mask]++
		h1[k>>s1&mask]++
		if three {
			h2[k>>s2&mask]++
		}
	}
	// tmp is the score column's first 4·n bytes as n words.
	tmp := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(score))), n)
	src, dst := pay, tmp
	for d := range 3 {
		if uint(d)*width >= uint(codeBits) {
			break
		}
		h := hist[d][:mask+1]
		shift := (base + uint(d)*width) & 31
		if h[src[0]>>shift&mask] == n {
			continue // every code has this digit
		}
		startOffsets(h)
		scatter(dst, src, h, shift, mask)
		src, dst = dst, src
	}
	// The scores from the codes, and pay back to label<<31 | cell. The
	// quotient is taken for every row, without a branch on ties (as good
	// as random), and is the same for equal codes. When the rows are in
	// tmp, the loop runs backwards: score[i] covers tmp[2i] and
	// tmp[2i+1], read before it when i > 0, and tmp[0] is read first.
	if &src[0] == &pay[0] {
		for i, k := range pay {
			score[i] = float64(maxCode-k>>base) / p
			pay[i] = k>>ucb&1<<31 | k&cellMask
		}
		return true
	}
	for i := n - 1; i >= 0; i-- {
		k := tmp[i]
		pay[i] = k>>ucb&1<<31 | k&cellMask
		score[i] = float64(maxCode-k>>base) / p
	}
	return true
}

// scatter moves every word of src to dst at its bucket's next place
// (h[b], then incremented), bucket b being the word's digit k>>shift&mask.
// Kept out of line: inlined in sortCodesInPay, its loop spilled the word
// and reloaded a slice bound from the stack at every row.
//
//go:noinline
func scatter(dst, src []uint32, h []int, shift uint, mask uint32) {
	shift &= 31 // below 32 in every call: a plain shift
	for _, k := range src {
		b := k >> shift & mask
		dst[h[b]] = k
		h[b]++
	}
}

// startOffsets turns a histogram of a pass's digit into each bucket's
// first place in the output: h[b] becomes the count of the buckets below b.
func startOffsets(h []int) {
	sum := 0
	for b, c := range h {
		h[b] = sum
		sum += c
	}
}
