package evalstat

// maskBlocks is the number of 64-byte blocks whose delimiter masks the fast
// CSV path computes at a time.
const maskBlocks = 64

// delimMasksGo is the portable delimMasks: for each 64-byte block k of
// data (whose length is a multiple of 64), bit b of commas[k] is set when
// data[64k+b] is a comma and bit b of lines[k] when it is a line break.
// Each word of eight bytes is tested with an exact zero-byte test (a byte
// is zero after the XOR exactly when it was the delimiter); the high bits
// of the eight bytes are then gathered into eight bits by a multiplication.
// It reports whether data holds a quote.
func delimMasksGo(data []byte, commas, lines []uint64) (quote bool) {
	n := len(data) / 64
	commas, lines = commas[:n], lines[:n]
	var q uint64
	for k := range n {
		var c, l uint64
		blk := data[64*k : 64*k+64]
		for w := range 8 {
			x := le64(blk[8*w:])
			c |= gatherHigh(zeroBytes(x^','*swarOnes)) << (8 * w)
			l |= gatherHigh(zeroBytes(x^'\n'*swarOnes)) << (8 * w)
			q |= zeroBytes(x ^ '"'*swarOnes)
		}
		commas[k], lines[k] = c, l
	}
	return q != 0
}

// le64 reads a little-endian word.
func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// zeroBytes sets the high bit of exactly the zero bytes of v: a byte's low
// seven bits plus 0x7f carry into its high bit unless they are all zero,
// and no carry crosses into the next byte.
func zeroBytes(v uint64) uint64 {
	return ^((v&(0x7f*swarOnes) + 0x7f*swarOnes) | v) & (0x80 * swarOnes)
}

// gatherHigh packs the high bits of the eight bytes of m (m has no other
// bits set) into the low eight bits of the result, byte 0's first: the
// multiplication moves bit 8i+7 to bit 56+i, and the partial products
// never overlap there.
func gatherHigh(m uint64) uint64 {
	return (m >> 7) * 0x0102040810204080 >> 56
}
