package evalstat

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// The fast path of the CSV reader. Most prediction tables are plain: no
// quotes, one record per line, a label written 0 or 1, a decimal score.
// parseChunk reads such lines with no allocation per field: it finds the
// commas and line breaks eight bytes at a time (SWAR), keeps only the
// columns it needs, and looks group values up in a small cache keyed by
// their bytes. At the first line it is not sure about (a quote, a blank
// line, a wrong field count, an unusual label or score, a value that needs
// the dictionaries' error checks) it hands the rest of the chunk to the
// general reader (parseRows), which gives the same table and the same
// errors as if it had read the whole chunk.

const swarOnes = 0x0101010101010101

// generalOnly turns the fast path off (tests compare the two readers).
var generalOnly = false

// lenMask[n] keeps the low n bytes of a word (n ≤ 8; 16 entries, so that
// an index masked with 15 needs no bounds check).
var lenMask = [16]uint64{0, 1<<8 - 1, 1<<16 - 1, 1<<24 - 1, 1<<32 - 1, 1<<40 - 1, 1<<48 - 1, 1<<56 - 1, ^uint64(0)}

// levelCacheBits sizes the direct-mapped cache of short values per
// attribute (a collision only costs a dictionary lookup).
const levelCacheBits = 6

// levelKey is a group value of at most 8 bytes packed in a word, with its
// length, so that a lookup is two integer comparisons.
type levelKey struct {
	word uint64
	n    int
	code uint32
	ok   bool
}

// cellCacheBits sizes the direct-mapped cache of whole combinations of
// short group values (one lookup per row instead of one per attribute and
// one for the combination).
const cellCacheBits = 10

// cellKey is a combination of group values of at most 8 bytes each, packed
// in words with their lengths, and its cell.
type cellKey struct {
	words [MaxAttributes]uint64
	lens  uint32 // 8 bits per attribute
	cell  uint32
	ok    bool
}

// fastParser holds the column layout and the per-attribute caches.
type fastParser struct {
	cols    columns
	spec    CSVSpec
	field   [2 + MaxAttributes + 1]int // slot → field index
	nslots  int
	gfield  [MaxAttributes]int // the group attributes' field indexes
	ngroups int
	spanKey bool // two or more group columns, adjacent and in order (cell)
	digits  int  // the most digits after the point of a score (Table.digits)
	// The current line: ends[k+1] is the index of the delimiter after
	// field k, ends[0] the index before the line's first byte; pos is the
	// line's start, rows the records read before it.
	ends [2 * maxFastFields]int
	pos  int
	rows int
	// The delimiter masks of the blocks being read (delimMasks).
	commas, lines [maskBlocks]uint64
	levels        [MaxAttributes][1 << levelCacheBits]levelKey
	cells         [1 << cellCacheBits]cellKey
}

// Field slots: label, score, the groups, then the cluster.
const (
	slotLabel = 0
	slotScore = 1
	slotGroup = 2
)

func newFastParser(cols columns, spec CSVSpec) *fastParser {
	fp := &fastParser{cols: cols, spec: spec, digits: -1}
	fp.field[slotLabel] = cols.label
	fp.field[slotScore] = cols.score
	for k, i := range cols.groups {
		fp.field[slotGroup+k] = i
		fp.gfield[k] = i
	}
	fp.ngroups = len(cols.groups)
	fp.spanKey = len(cols.groups) >= 2
	for k, i := range cols.groups {
		if i != cols.groups[0]+k {
			fp.spanKey = false
		}
	}
	fp.nslots = slotGroup + len(cols.groups)
	if cols.cluster >= 0 {
		fp.field[fp.nslots] = cols.cluster
		fp.nslots++
	}
	return fp
}

// reset readies fp for another chunk, read into another table: the caches
// hold that table's codes, so they are emptied, and the line state starts
// over. A worker reuses one parser instead of allocating (and faulting in)
// a new one for every chunk.
func (fp *fastParser) reset() {
	fp.digits, fp.pos, fp.rows = -1, 0, 0
	clear(fp.levels[:])
	clear(fp.cells[:])
}

// maxFastFields is the most fields per record the fast path reads; wider
// tables go to the general reader.
const maxFastFields = 64

// endsMask keeps an index into fastParser.ends in range.
const endsMask = 2*maxFastFields - 1

// parseChunk appends the records of data (whole records) to t and returns
// the number of physical lines read. Errors carry rows and lines counted
// from the start of data.
//
// For maskBlocks blocks of 64 bytes at a time, delimMasks marks the
// commas and line breaks in bit masks (and tells whether there is a
// quote); the loop visits their set bits in order, notes the position of
// every comma of a line in fp.ends and takes the fields it needs from
// those positions at the line break. The lines from the one holding the
// first quote on go to the general reader.
func (fp *fastParser) parseChunk(data []byte, t *Table) (int, error) {
	if generalOnly || fp.cols.n > maxFastFields {
		return fp.fallback(data, 0, 0, 0, t)
	}
	defer func() { t.noteDigits(fp.digits) }()
	ends := &fp.ends
	ends[0] = -1
	nf := 0 // fields closed in the current line
	cm, lm := fp.commas[:], fp.lines[:]
	for base := 0; base < len(data); base += 64 * maskBlocks {
		n := min(len(data)-base, 64*maskBlocks)
		blocks := n / 64
		quote := delimMasks(data[base:base+64*blocks], cm, lm)
		if n%64 != 0 {
			// The last partial block, padded with zero bytes.
			var tail [64]byte
			copy(tail[:], data[base+64*blocks:base+n])
			quote = delimMasks(tail[:], cm[blocks:], lm[blocks:]) || quote
			blocks++
		}
		if quote {
			// Only the lines before the one with the quote are read here:
			// the masks end at its start.
			q := base + bytes.IndexByte(data[base:base+n], '"')
			stop := bytes.LastIndexByte(data[:q], '\n') + 1
			for k := range cm[:blocks] {
				at := base + 64*k
				keep := ^uint64(0)
				if at >= stop {
					keep = 0
				} else if stop-at < 64 {
					keep = 1<<(stop-at) - 1
				}
				cm[k] &= keep
				lm[k] &= keep
			}
		}
		for k, mc := range cm[:blocks] {
			ml := lm[k]
			at := base + 64*k
			for m := mc | ml; m != 0; m &= m - 1 {
				b := bits.TrailingZeros64(m)
				nf++
				if ml>>b&1 == 0 {
					ends[nf&endsMask] = at + b
					continue
				}
				if !fp.endLine(data, at+b, nf, t) {
					return fp.fallback(data, fp.pos, fp.rows, fp.rows, t)
				}
				nf = 0
			}
		}
		if quote {
			break
		}
	}
	if fp.pos < len(data) {
		return fp.fallback(data, fp.pos, fp.rows, fp.rows, t)
	}
	return fp.rows, nil
}

// endLine takes the line break at data[j], which closes the line's nf-th
// field, and adds the line's record, or returns false when the line needs
// the general reader.
func (fp *fastParser) endLine(data []byte, j, nf int, t *Table) bool {
	if nf != fp.cols.n || j+8 > len(data) {
		return false // the last line of a chunk may go to the general reader
	}
	// A \r before the line break belongs to no field.
	e := j
	if j > fp.pos && data[j-1] == '\r' {
		e--
	}
	fp.ends[nf&endsMask] = e
	if !fp.record(data, t) {
		return false
	}
	fp.rows++
	fp.pos = j + 1
	fp.ends[0] = j
	return true
}

// span returns the start and end of the field in slot s of the current
// line (see parseChunk).
func (fp *fastParser) span(s int) (int, int) {
	f := fp.field[s]
	return fp.ends[f&endsMask] + 1, fp.ends[(f+1)&endsMask]
}

// record adds the line whose delimiters are in fp.ends, or returns false
// (having changed nothing that the general reader would not) when the line
// needs the general reader. endLine has checked that eight bytes can be
// read from the start of any field of the line.
func (fp *fastParser) record(data []byte, t *Table) bool {
	// The label, 0 or 1 or 0.0 or 1.0, as a word; its low bit is the
	// label ('0' is 0x30, '1' 0x31), taken without a branch.
	st, en := fp.span(slotLabel)
	w := binary.LittleEndian.Uint64(data[st:])
	switch en - st {
	case 1:
		w &= 0xff
	case 3:
		if w&0xffff00 != '.'<<8|'0'<<16 {
			return false
		}
		w &= 0xff
	default:
		return false
	}
	if w|1 != '1' {
		return false
	}
	score, digits, ok := fp.score(data)
	if !ok {
		return false
	}
	cell, ok := fp.cell(data, t)
	if !ok {
		return false
	}
	var cl uint32
	if fp.cols.cluster >= 0 {
		st, en := fp.span(slotGroup + len(fp.cols.groups))
		v := data[st:en]
		if len(v) == 0 {
			return false
		}
		cl = t.clusterCode(v)
	}
	t.addPay(score, cell|uint32(w&1)<<31, cl)
	fp.digits = max(fp.digits, digits)
	return true
}

// score parses the score field: a fraction written 0.d… or 1.0… with one
// to eight digits after the point is converted eight digits at a time
// (swarDigits); anything else goes to parseDecimal. Both give the same
// float64, the digits as an integer divided by a power of ten; score also
// returns the number of digits after the point.
func (fp *fastParser) score(data []byte) (float64, int, bool) {
	st, en := fp.span(slotScore)
	f := en - st - 2 // digits after the point
	if f < 1 || f > 8 || data[st+1] != '.' || (data[st] != '0' && data[st] != '1') {
		return parseDecimal(data[st:en])
	}
	frac, ok := swarDigits(binary.LittleEndian.Uint64(data[st+2:]), f)
	if !ok {
		return parseDecimal(data[st:en])
	}
	mant := frac
	if data[st] == '1' {
		if frac != 0 {
			return 0, 0, false // above 1: the general reader reports it
		}
		mant = uint64(pow10[f])
	}
	return float64(mant) / pow10[f], f, true
}

// swarDigits converts the first f (1 … 8) bytes of w, which hold ASCII
// digits with the most significant first (little-endian), to their value,
// or returns false when one of them is not a digit. The digits are
// shifted to the top of the word, so that the bytes below hold leading
// zeros, and then combined pairwise: bytes into two-digit numbers, those
// into four-digit numbers, then eight, each step one multiplication.
func swarDigits(w uint64, f int) (uint64, bool) {
	v := w ^ 0x3030303030303030 // '0' … '9' → 0 … 9
	v &= ^uint64(0) >> (64 - 8*f)
	// A byte from 10 to 0x7f has its high bit set once 0x76 is added (with
	// no carry out of it); one from 0x80 up has it already.
	if (v+0x7676767676767676|v)&0x8080808080808080 != 0 {
		return 0, false
	}
	v <<= 8 * (8 - f)
	v = (v*10 + v>>8) & 0x00ff00ff00ff00ff      // 16-bit lanes: 10·d₀ + d₁, …
	v = (v*100 + v>>16) & 0x0000ffff0000ffff    // 32-bit lanes: four digits
	return (v*10000 + v>>32) & 0xffffffff, true // eight digits
}

// The group loops index arrays of MaxAttributes entries with k masked by
// MaxAttributes-1, which must be a power of two.
var _ = [1]struct{}{}[MaxAttributes&(MaxAttributes-1)]

// cell returns the cell of the line's group values, from the cache of
// whole combinations when every value is one to eight bytes long. The
// loop over the attributes is written out (MaxAttributes = 4) so that the
// key stays in registers.
func (fp *fastParser) cell(data []byte, t *Table) (uint32, bool) {
	if fp.spanKey {
		// The group columns are adjacent and in order: their text, commas
		// included, up to 24 bytes, is the key (the commas keep the values
		// apart).
		f := fp.gfield[0]
		st, en := fp.ends[f&endsMask]+1, fp.ends[(f+fp.ngroups)&endsMask]
		if n := en - st; uint(n-1) < 24 {
			w0 := binary.LittleEndian.Uint64(data[st:]) & lenMask[min(n, 8)&15]
			var w1, w2 uint64
			if n > 8 {
				w1 = binary.LittleEndian.Uint64(data[st+8:]) & lenMask[min(n-8, 8)&15]
				if n > 16 {
					w2 = binary.LittleEndian.Uint64(data[st+16:]) & lenMask[(n-16)&15]
				}
			}
			key := cellKey{words: [MaxAttributes]uint64{w0, w1, w2}, lens: uint32(n)}
			h := (w0^uint64(n)<<32)*0x9E3779B97F4A7C15 ^ w1*0xC2B2AE3D27D4EB4F ^ w2*0x165667B19E3779F9
			e := &fp.cells[(h^h>>29)>>(64-cellCacheBits)]
			if e.ok && e.words == key.words && e.lens == key.lens {
				return e.cell, true
			}
			return fp.cellSlow(data, t, e, key)
		}
	}
	var w0, w1, w2, w3 uint64
	var n0, n1, n2, n3 int
	switch fp.ngroups {
	case 4:
		w3, n3 = fp.groupWord(data, 3)
		fallthrough
	case 3:
		w2, n2 = fp.groupWord(data, 2)
		fallthrough
	case 2:
		w1, n1 = fp.groupWord(data, 1)
		fallthrough
	case 1:
		w0, n0 = fp.groupWord(data, 0)
	}
	key := cellKey{words: [MaxAttributes]uint64{w0, w1, w2, w3}, lens: uint32(n0 | n1<<8 | n2<<16 | n3<<24)}
	if (n0|n1|n2|n3)&16 != 0 {
		return fp.cellSlow(data, t, nil, key) // a value is empty or long
	}
	h := (w0 ^ uint64(key.lens)<<32) * 0x9E3779B97F4A7C15
	h = (h ^ w1) * 0x9E3779B97F4A7C15
	h = (h ^ w2) * 0x9E3779B97F4A7C15
	h = (h ^ w3) * 0x9E3779B97F4A7C15
	e := &fp.cells[(h^h>>29)>>(64-cellCacheBits)]
	if e.ok && e.words == key.words && e.lens == key.lens {
		return e.cell, true
	}
	return fp.cellSlow(data, t, e, key)
}

// groupWord returns the value of attribute k in the current line as a
// word (its bytes, the rest zero) and its length, or 16 when it is empty
// or longer than 8 bytes (a bit no length of 1 to 8 has).
func (fp *fastParser) groupWord(data []byte, k int) (uint64, int) {
	f := fp.gfield[k&(MaxAttributes-1)]
	st, en := fp.ends[f&endsMask]+1, fp.ends[(f+1)&endsMask]
	n := en - st
	if uint(n-1) >= 8 {
		return 0, 16
	}
	return binary.LittleEndian.Uint64(data[st:]) & lenMask[n&15], n
}

// cellSlow returns the cell of the line's group values through the
// dictionaries, and puts it in cache entry e (when not nil) under key.
func (fp *fastParser) cellSlow(data []byte, t *Table, e *cellKey, key cellKey) (uint32, bool) {
	for k := range fp.cols.groups {
		st, en := fp.span(slotGroup + k)
		if en == st {
			return 0, false // a missing value: the general reader's "(missing)"
		}
		c, ok := fp.level(t, k, data, st, data[st:en])
		if !ok {
			return 0, false
		}
		t.codes[k] = c
	}
	cell, err := t.cellOf()
	if err != nil {
		return 0, false
	}
	if e != nil {
		key.cell, key.ok = cell, true
		*e = key
	}
	return cell, true
}

// level returns the code of value v = data[at:at+len(v)] of attribute k,
// from the cache when v is at most 8 bytes long.
func (fp *fastParser) level(t *Table, k int, data []byte, at int, v []byte) (uint32, bool) {
	if len(v) > 8 {
		c, err := t.level(k, v)
		return c, err == nil
	}
	var w uint64
	if at+8 <= len(data) {
		w = binary.LittleEndian.Uint64(data[at:]) & (^uint64(0) >> (64 - 8*len(v)))
	} else {
		for j, b := range v {
			w |= uint64(b) << (8 * j)
		}
	}
	e := &fp.levels[k][((w+uint64(len(v)))*0x9E3779B97F4A7C15)>>(64-levelCacheBits)]
	if e.ok && e.word == w && e.n == len(v) {
		return e.code, true
	}
	c, err := t.level(k, v)
	if err != nil {
		return 0, false
	}
	*e = levelKey{word: w, n: len(v), code: c, ok: true}
	return c, true
}

// fallback parses data[pos:] with the general reader; rows and lines were
// read before pos.
func (fp *fastParser) fallback(data []byte, pos, rows, lines int, t *Table) (int, error) {
	cr := &csvReader{r: bufio.NewReaderSize(bytes.NewReader(data[pos:]), 1<<16)}
	err := parseRows(cr, fp.cols, fp.spec, t)
	if err != nil {
		if ce, ok := errors.AsType[*CSVError](err); ok {
			ce.Row += rows
			ce.Line += lines
		}
	}
	return lines + cr.line, err
}

// parseDecimal parses a score written as plain decimal digits with at most
// one point (such as 0.25, 1, .5), at most 15 significant digits: an
// integer mantissa divided by an exact power of ten, which is correctly
// rounded. It returns false for anything else, and for a value outside
// [0, 1]. It agrees with parseFloat wherever it returns true. It also
// returns the number of digits after the point.
func parseDecimal(b []byte) (float64, int, bool) {
	if len(b) == 0 || len(b) > 24 {
		return 0, 0, false
	}
	var mant uint64
	digits, frac := 0, 0
	dot := false
	for _, c := range b {
		switch {
		case c-'0' <= 9:
			mant = mant*10 + uint64(c-'0')
			if mant != 0 {
				digits++
			}
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, 0, false
		}
	}
	if digits > 15 || frac > 22 || (dot && len(b) == 1) {
		return 0, 0, false
	}
	x := float64(mant) / pow10[frac]
	if x > 1 || math.IsNaN(x) {
		return 0, 0, false
	}
	return x, frac, true
}
