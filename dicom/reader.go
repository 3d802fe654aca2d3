package dicom

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

// DefaultMaxDepth bounds the nesting of sequences a reader accepts.
const DefaultMaxDepth = 64

// Header is what precedes the data set in a Part 10 file.
type Header struct {
	// Preamble holds the 128-byte preamble, nil when the input had none (it
	// then had no "DICM" magic either).
	Preamble []byte
	// Meta holds the file meta information (group 0002, always explicit VR
	// little endian), nil when the input had none.
	Meta *Dataset
	// Syntax is the transfer syntax of the data set: from the meta group,
	// or inferred from the first bytes when there is none.
	Syntax uid.Syntax
	// Leading holds bytes found before a bare data set that start no
	// element (a stray byte before the first tag); they are skipped on read
	// and written back so the file round-trips.
	Leading []byte
	// Warnings lists what was accepted although not conformant (no
	// preamble, no meta group, unknown transfer syntax, …).
	Warnings []string

	deflatedRaw []byte   // the compressed bytes as read (deflated syntax, Parse only)
	inflatedSum [32]byte // SHA-256 of the inflated data set
}

// File is a parsed Part 10 file or bare data set.
type File struct {
	Header
	Dataset Dataset
}

// Option is a codec knob for Parse and NewReader.
type Option func(*options)

type options struct {
	skipPixel    bool
	bulkMin      int64
	maxDepth     int
	keepDeflated bool
	maxInflated  int64
	scratch      *Scratch
}

// DefaultMaxInflated bounds the inflated size of a deflated data set.
const DefaultMaxInflated = 1 << 30

// WithMaxInflated bounds how many bytes a deflated data set may inflate to
// (default DefaultMaxInflated); past it reading fails with ErrTooLarge.
func WithMaxInflated(n int64) Option { return func(o *options) { o.maxInflated = n } }

// inflateLimit fails reads once more than n inflated bytes went through.
type inflateLimit struct {
	r io.Reader
	n int64
}

func (l *inflateLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// SkipPixelData leaves (7FE0,0010) Pixel Data, Float and Double Float Pixel
// Data unread: the element keeps its place and Bulk locates it, but it
// cannot be written back.
func SkipPixelData() Option { return func(o *options) { o.skipPixel = true } }

// WithBulkThreshold makes a Reader leave top-level values of at least n
// bytes (encapsulated ones included, when the input can seek) in the input:
// Next returns them with Bulk set and BulkReader streams them.
func WithBulkThreshold(n int64) Option { return func(o *options) { o.bulkMin = n } }

// WithScratch makes the Reader take the memory for its elements and
// small values from s (see Scratch).
func WithScratch(s *Scratch) Option { return func(o *options) { o.scratch = s } }

// WithMaxDepth sets how deep sequences may nest (default DefaultMaxDepth).
func WithMaxDepth(n int) Option { return func(o *options) { o.maxDepth = n } }

type encoding struct {
	implicit  bool
	bigEndian bool
}

func (e encoding) order() binary.ByteOrder {
	if e.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

var implicitLE = encoding{implicit: true}

// decoder reads elements from a buffered stream and tracks the offset.
type decoder struct {
	br       *readBuf
	pos      int64 // offset of the next byte of br
	size     int64 // offset where the input ends, -1 when unknown
	maxDepth int
	bulkMin  int64 // top level only
	skipPix  bool
	seeker   io.ReadSeeker  // non-nil when bulk values may be skipped by seeking
	src      *growingReader // seeker as br reads it
	base     int64          // seeker offset of pos 0

	// Elements and small values are carved from chunks: one allocation
	// for many elements instead of one each. A chunk stays alive while
	// any of its elements or values does.
	elems    []Element
	arena    []byte
	items    []Item
	ptrs     []*Element // element lists of items are carved from here
	itemPtrs []*Item    // and item lists of sequences from here
	scratch  *Scratch   // where chunks come from, or nil: allocated
	hdr      [8]byte    // an element header read across the buffer's end
	// The elements of the items being read, and the items of the
	// sequences being read, innermost last: each list is copied, at its
	// end, to a slice of exactly its length.
	elemStack []*Element
	itemStack []*Item
}

// Scratch is memory that Readers carve elements and small values from. A
// Reader given one (WithScratch) takes its chunks from it instead of
// allocating them; once the caller is done with everything read into it,
// Reset hands the same memory to the next Reader. A program that reads
// many files one after another (a batch, one Scratch per worker) so
// allocates, and leaves the garbage collector, a fraction of what each
// file would cost. A Scratch is not safe for concurrent use, and serves
// one Reader at a time.
type Scratch struct {
	elems chunks[Element]
	bytes chunks[byte]
	items chunks[Item]
	ptrs  chunks[*Element]
	iptrs chunks[*Item]
	// vrs caches the dictionary VRs of implicit VR tags (files of one
	// kind repeat the same tags): kept over Reset, the dictionary is fixed.
	vrs [256]vrSlot
}

type vrSlot struct {
	t   tag.Tag
	v   vr.VR
	set bool
}

// scratchKeep bounds the chunks of each kind a Scratch keeps over a Reset
// (a file with many more elements does not pin its memory for good).
const scratchKeep = 64

// chunks are the chunks of one kind a Scratch holds: c[:n] are handed
// out since the last Reset, the rest wait for reuse.
type chunks[T any] struct {
	c [][]T
	n int
}

// next hands out the next chunk, made of size elements when none waits.
func (k *chunks[T]) next(size int) []T {
	if k.n == len(k.c) {
		k.c = append(k.c, make([]T, size))
	}
	k.n++
	return k.c[k.n-1]
}

// reset makes every chunk wait for reuse, cleared first when wipe is set
// (chunks that hold pointers), and drops those past scratchKeep.
func (k *chunks[T]) reset(wipe bool) {
	if wipe {
		for _, c := range k.c[:k.n] {
			clear(c)
		}
	}
	if len(k.c) > scratchKeep {
		clear(k.c[scratchKeep:])
		k.c = k.c[:scratchKeep]
	}
	k.n = 0
}

func (s *Scratch) elemChunk() []Element  { return s.elems.next(elemChunk) }
func (s *Scratch) itemChunk() []Item     { return s.items.next(itemChunk) }
func (s *Scratch) ptrChunk() []*Element  { return s.ptrs.next(ptrChunk) }
func (s *Scratch) itemPtrChunk() []*Item { return s.iptrs.next(ptrChunk) }
func (s *Scratch) byteChunk() []byte     { return s.bytes.next(scratchChunk) }

// scratchPool holds Scratches between GetScratch and PutScratch.
var scratchPool = sync.Pool{New: func() any { return new(Scratch) }}

// GetScratch returns a Scratch from a process-wide pool, for callers that
// read one file's header at a time from many goroutines (ingest, a
// processing run's header reads); PutScratch resets it and gives it back.
func GetScratch() *Scratch { return scratchPool.Get().(*Scratch) }

// PutScratch resets s and returns it to the pool of GetScratch. Nothing
// read into s may be used after.
func PutScratch(s *Scratch) {
	s.Reset()
	scratchPool.Put(s)
}

// Reset makes the Scratch's memory available to the next Reader. Every
// element and value that Readers read into it becomes invalid: their
// memory is overwritten by what the next Reader reads.
func (s *Scratch) Reset() {
	// Drop references to items, bulk descriptors, large values; the
	// bytes hold none.
	s.elems.reset(true)
	s.items.reset(true)
	s.ptrs.reset(true)
	s.iptrs.reset(true)
	s.bytes.reset(false)
}

const (
	elemChunk  = 64
	itemChunk  = 32
	ptrChunk   = 256
	arenaChunk = 4096
	arenaMax   = 64 // values up to this size come from the arena
	// With a Scratch, whose chunks are kept from file to file, values up
	// to scratchArenaMax come from the arena too (in chunks of
	// scratchChunk): private headers of several kB and the text of
	// structured reports were most of the bytes a batch allocated, and
	// what made the garbage collector run.
	scratchArenaMax = 8 << 10
	scratchChunk    = 32 << 10
)

func (d *decoder) newItem() *Item {
	if len(d.items) == 0 {
		if d.scratch != nil {
			d.items = d.scratch.itemChunk()
		} else {
			d.items = make([]Item, itemChunk)
		}
	}
	it := &d.items[0]
	d.items = d.items[1:]
	return it
}

// elemList returns the elements of the item being read, elemStack[base:],
// as a slice of their own (nil when there are none), and pops them.
func (d *decoder) elemList(base int) []*Element {
	n := len(d.elemStack) - base
	if n == 0 {
		return nil
	}
	if n <= maxCarved && len(d.ptrs) < n {
		if d.scratch != nil {
			d.ptrs = d.scratch.ptrChunk()
		} else {
			d.ptrs = make([]*Element, ptrChunk)
		}
	}
	return popList(&d.elemStack, base, &d.ptrs)
}

// itemList is elemList for the items of a sequence: never nil (a
// sequence without items is still a sequence).
func (d *decoder) itemList(base int) []*Item {
	n := len(d.itemStack) - base
	if n == 0 {
		return []*Item{}
	}
	if n <= maxCarved && len(d.itemPtrs) < n {
		if d.scratch != nil {
			d.itemPtrs = d.scratch.itemPtrChunk()
		} else {
			d.itemPtrs = make([]*Item, ptrChunk)
		}
	}
	return popList(&d.itemStack, base, &d.itemPtrs)
}

// maxCarved is the longest list carved from a chunk; a longer one gets a
// slice of its own.
const maxCarved = ptrChunk / 4

// popList moves (*stack)[base:] to a slice of exactly its length, carved
// from *arena when it has room, and pops them.
func popList[T any](stack *[]T, base int, arena *[]T) []T {
	n := len(*stack) - base
	var out []T
	if n <= len(*arena) {
		// Capacity capped at the length: appending to it copies.
		out, *arena = (*arena)[:n:n], (*arena)[n:]
	} else {
		out = make([]T, n)
	}
	copy(out, (*stack)[base:])
	clear((*stack)[base:])
	*stack = (*stack)[:base]
	return out
}

func (d *decoder) newElement() *Element {
	if len(d.elems) == 0 {
		if d.scratch != nil {
			d.elems = d.scratch.elemChunk()
		} else {
			d.elems = make([]Element, elemChunk)
		}
	}
	e := &d.elems[0]
	d.elems = d.elems[1:]
	return e
}

func (d *decoder) read(p []byte) error {
	if br := d.br; len(p) <= br.w-br.r {
		// In the buffer (most element headers and small values): a copy,
		// without io.ReadFull's loop and interface calls.
		copy(p, br.buf[br.r:])
		br.r += len(p)
		d.pos += int64(len(p))
		return nil
	}
	n, err := io.ReadFull(d.br, p)
	d.pos += int64(n)
	return err
}

// skip passes over n bytes known to be in the buffer.
func (d *decoder) skip(n int) {
	d.pos += int64(d.br.Discard(n))
}

// readValue reads n bytes, growing the buffer only as data arrives so that
// a bogus length cannot force a large allocation.
func (d *decoder) readValue(t tag.Tag, n int64) ([]byte, error) {
	if d.size >= 0 && d.pos+n > d.size {
		return nil, errAt(t, d.pos, ErrTruncated, "value of %d bytes runs past the end of input (%d bytes left)", n, d.size-d.pos)
	}
	const chunk = 1 << 20
	if n <= arenaMax || d.scratch != nil && n <= scratchArenaMax {
		if int64(len(d.arena)) < n {
			if d.scratch != nil {
				d.arena = d.scratch.byteChunk()
			} else {
				d.arena = make([]byte, arenaChunk)
			}
		}
		// Capacity capped at the value: appending to it copies.
		b := d.arena[:n:n]
		d.arena = d.arena[n:]
		if err := d.read(b); err != nil {
			return nil, d.ioErr(t, err, n)
		}
		return b, nil
	}
	if n <= chunk || d.size >= 0 {
		// Small, or known to be present in full: allocate exactly.
		b := make([]byte, n)
		if err := d.read(b); err != nil {
			return nil, d.ioErr(t, err, n)
		}
		return b, nil
	}
	b := make([]byte, 0, chunk)
	for int64(len(b)) < n {
		step := min(n-int64(len(b)), int64(max(len(b), chunk)))
		b = append(b, make([]byte, step)...)
		if err := d.read(b[int64(len(b))-step:]); err != nil {
			return nil, d.ioErr(t, err, n)
		}
	}
	return b, nil
}

func (d *decoder) ioErr(t tag.Tag, err error, want int64) error {
	if errors.Is(err, ErrTooLarge) {
		return errAt(t, d.pos, ErrTooLarge, "deflated data set inflates past the limit")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errAt(t, d.pos, ErrTruncated, "value of %d bytes runs past the end of input", want)
	}
	return &Error{Tag: t, Offset: d.pos, Msg: "read", Err: err}
}

// header reads an element header. atStart reports a clean end of input
// (io.EOF before the first byte).
func (d *decoder) header(enc encoding) (t tag.Tag, v vr.VR, length uint32, err error) {
	start := d.pos
	if d.size >= 0 && d.pos >= d.size && d.br.Buffered() == 0 {
		// At the known end: no read needed to find it.
		return 0, 0, 0, io.EOF
	}
	if d.br.Buffered() >= 12 {
		if t, v, length, ok := d.headerBuffered(enc); ok {
			return t, v, length, nil
		}
	}
	b := d.hdr[:]
	n, err := io.ReadFull(d.br, b[:4])
	d.pos += int64(n)
	if err != nil {
		if n == 0 && err == io.EOF {
			return 0, 0, 0, io.EOF
		}
		if errors.Is(err, ErrTooLarge) {
			return 0, 0, 0, errAt(0, start, ErrTooLarge, "deflated data set inflates past the limit")
		}
		return 0, 0, 0, errAt(0, start, ErrTruncated, "element header cut short")
	}
	o := enc.order()
	t = tag.New(o.Uint16(b[0:]), o.Uint16(b[2:]))
	if t.Group() == 0xFFFE || enc.implicit {
		if err := d.read(b[4:8]); err != nil {
			return t, 0, 0, errAt(t, start, ErrTruncated, "element header cut short")
		}
		length = o.Uint32(b[4:])
		if t.Group() == 0xFFFE {
			return t, 0, length, nil
		}
		return t, d.implicitVR(t), length, nil
	}
	if err := d.read(b[4:8]); err != nil {
		return t, 0, 0, errAt(t, start, ErrTruncated, "element header cut short")
	}
	v, ok := vr.Parse(b[4], b[5])
	if !ok {
		return t, v, 0, errAt(t, start+4, ErrBadVR, "VR bytes %q are not a standard VR", b[4:6])
	}
	if !v.LongLength() {
		return t, v, uint32(o.Uint16(b[6:])), nil
	}
	if err := d.read(b[0:4]); err != nil {
		return t, v, 0, errAt(t, start, ErrTruncated, "element header cut short")
	}
	return t, v, o.Uint32(b[0:]), nil
}

// headerBuffered decodes an element header from the bytes in the buffer
// (at least 12), without copying them; ok is false when the header is not
// one the fast path takes (an unknown VR: header reports the error).
func (d *decoder) headerBuffered(enc encoding) (t tag.Tag, v vr.VR, length uint32, ok bool) {
	b := d.br.buf[d.br.r:d.br.w]
	b = b[:12]
	// Decoded without the ByteOrder interface's calls.
	big := enc.bigEndian
	t = tag.New(u16(b[0:], big), u16(b[2:], big))
	n := 8
	switch {
	case t.Group() == 0xFFFE:
		length = u32(b[4:], big)
	case enc.implicit:
		length, v = u32(b[4:], big), d.implicitVR(t)
	default:
		if v, ok = vr.Parse(b[4], b[5]); !ok {
			return 0, 0, 0, false
		}
		if v.LongLength() {
			length, n = u32(b[8:], big), 12
		} else {
			length = uint32(u16(b[6:], big))
		}
	}
	d.br.r += n
	d.pos += int64(n)
	return t, v, length, true
}

func u16(b []byte, big bool) uint16 {
	if big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func u32(b []byte, big bool) uint32 {
	if big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// implicitVR is implicitVR through the Scratch's cache, when there is one.
func (d *decoder) implicitVR(t tag.Tag) vr.VR {
	s := d.scratch
	if s == nil {
		return implicitVR(t)
	}
	slot := &s.vrs[uint32(t)*0x9E3779B1>>24]
	if slot.set && slot.t == t {
		return slot.v
	}
	v := implicitVR(t)
	*slot = vrSlot{t: t, v: v, set: true}
	return v
}

// implicitVR is the VR an implicit VR stream gives tag t.
func implicitVR(t tag.Tag) vr.VR {
	v, _ := tag.DictVR(t)
	return v
}

// element reads one element whose header the caller already read.
func (d *decoder) element(enc encoding, t tag.Tag, v vr.VR, length uint32, off int64, depth int, end int64, cs []string) (*Element, error) {
	e := d.newElement()
	*e = Element{Tag: t, VR: v, Length: length, Offset: off, bigEndian: enc.bigEndian, charsets: cs}
	if t.Group() == 0xFFFE {
		return nil, errAt(t, off, ErrUnexpectedTag, "item or delimiter outside a sequence")
	}
	if length != UndefinedLength {
		if end >= 0 && d.pos+int64(length) > end {
			return nil, errAt(t, off, ErrBadLength, "length %d runs past the end of the enclosing item or sequence (%d bytes left)", length, end-d.pos)
		}
		if d.size >= 0 && d.pos+int64(length) > d.size {
			return nil, errAt(t, off, ErrTruncated, "length %d runs past the end of input (%d bytes left)", length, d.size-d.pos)
		}
	}
	switch {
	case v == vr.SQ:
		items, err := d.sequence(enc, t, length, depth, cs)
		e.Items = items
		return e, err
	case length == UndefinedLength && (v == vr.UN || !v.Known()):
		// PS3.5 6.2.2: UN of undefined length holds a sequence in implicit VR LE.
		items, err := d.sequence(implicitLE, t, length, depth, cs)
		e.Items = items
		return e, err
	case length == UndefinedLength:
		if depth == 0 && (d.skipPix && t.IsPixelData() || d.bulkMin > 0) && d.seeker == nil {
			// A stream cannot be measured ahead: leave the value for
			// BulkReader to pass through, its length unknown.
			e.Bulk = &Bulk{Offset: d.pos, Length: -1, Encapsulated: true, BigEndian: enc.bigEndian, skipped: d.skipPix && t.IsPixelData()}
			return e, nil
		}
		if depth == 0 && (d.skipPix && t.IsPixelData() || d.bulkMin > 0) && d.seeker != nil {
			n, err := d.scanFragments(t, enc)
			if err != nil {
				return nil, err
			}
			if d.skipPix && t.IsPixelData() || n >= d.bulkMin {
				e.Bulk = &Bulk{Offset: d.pos, Length: n, Encapsulated: true, BigEndian: enc.bigEndian, skipped: d.skipPix && t.IsPixelData()}
				return e, nil
			}
		}
		fr, err := d.fragments(enc, t)
		e.Fragments = fr
		return e, err
	}
	if depth == 0 && (d.skipPix && t.IsPixelData() || d.bulkMin > 0 && int64(length) >= d.bulkMin && !d.mayHoldItems(v)) {
		e.Bulk = &Bulk{Offset: d.pos, Length: int64(length), BigEndian: enc.bigEndian, skipped: d.skipPix && t.IsPixelData()}
		return e, nil
	}
	valStart := d.pos
	val, err := d.readValue(t, int64(length))
	if err != nil {
		return nil, err
	}
	e.Value = val
	if (v == vr.UN || !v.Known()) && looksLikeItems(val) {
		// A sequence whose VR is unknown (private, implicit VR) or UN with a
		// defined length: keep it as items when it parses as such, else as bytes.
		if items, ok := parseItems(val, valStart, depth, cs, d.maxDepth); ok {
			e.Items, e.Value = items, nil
		}
	}
	if t == tag.SpecificCharacterSet {
		e.charsets = splitCharsets(val)
	}
	return e, nil
}

// mayHoldItems reports whether the value about to be read is UN (or of an
// unknown VR) and starts with an item tag: such a value is read and parsed
// as a sequence, never left in the file, so that whatever walks the data set
// (de-identification) sees inside it.
func (d *decoder) mayHoldItems(v vr.VR) bool {
	if v != vr.UN && v.Known() {
		return false
	}
	return looksLikeItems(d.br.Peek(8))
}

func looksLikeItems(b []byte) bool {
	return len(b) >= 8 && b[0] == 0xFE && b[1] == 0xFF && b[2] == 0x00 && b[3] == 0xE0
}

// parseItems parses b as the items of a sequence in implicit VR little
// endian, as a UN value or an unknown implicit element holds them.
func parseItems(b []byte, off int64, depth int, cs []string, maxDepth int) ([]*Item, bool) {
	sub := &decoder{br: newReadBuf(bytes.NewReader(b), 4096), pos: 0, size: int64(len(b)), maxDepth: maxDepth}
	items, err := sub.sequence(implicitLE, 0, uint32(len(b)), depth, cs)
	if err != nil {
		return nil, false
	}
	shiftOffsets(items, off)
	return items, true
}

func shiftOffsets(items []*Item, by int64) {
	for _, it := range items {
		it.Offset += by
		for _, e := range it.Elements {
			e.Offset += by
			if e.Bulk != nil {
				e.Bulk.Offset += by
			}
			shiftOffsets(e.Items, by)
		}
	}
}

// sequence reads the items of a sequence of the given length.
func (d *decoder) sequence(enc encoding, t tag.Tag, length uint32, depth int, cs []string) ([]*Item, error) {
	if depth+1 > d.maxDepth {
		return nil, errAt(t, d.pos, ErrTooDeep, "more than %d levels of sequences", d.maxDepth)
	}
	end := int64(-1)
	if length != UndefinedLength {
		end = d.pos + int64(length)
	}
	base := len(d.itemStack)
	items, err := d.sequenceItems(enc, t, end, depth, cs)
	d.itemStack = append(d.itemStack, items...) // nothing, or the item an error cut short
	return d.itemList(base), err
}

// sequenceItems reads the items of a sequence onto itemStack; it returns
// the item being read when an error cut it short.
func (d *decoder) sequenceItems(enc encoding, t tag.Tag, end int64, depth int, cs []string) ([]*Item, error) {
	base := len(d.itemStack)
	for end < 0 || d.pos < end {
		off := d.pos
		it, v, ilen, err := d.header(encoding{bigEndian: enc.bigEndian, implicit: true})
		_ = v
		if err != nil {
			if err == io.EOF {
				return nil, errAt(t, off, ErrTruncated, "sequence has no delimiter before the end of input")
			}
			return nil, addTag(err, t)
		}
		switch it {
		case tag.ItemTag:
		case tag.SeqDelimTag:
			if end < 0 {
				return nil, nil
			}
			return nil, errAt(t, off, ErrUnexpectedTag, "sequence delimiter inside a sequence of defined length")
		default:
			return nil, errAt(t, off, ErrUnexpectedTag, "%s where an item was expected", it)
		}
		item := d.newItem()
		*item = Item{Offset: off, Undefined: ilen == UndefinedLength}
		item.charsets = cs
		iend := int64(-1)
		if ilen != UndefinedLength {
			iend = d.pos + int64(ilen)
			if end >= 0 && iend > end {
				return nil, errAt(t, off, ErrBadLength, "item length %d runs past the end of its sequence", ilen)
			}
			if d.size >= 0 && iend > d.size {
				return nil, errAt(t, off, ErrTruncated, "item length %d runs past the end of input", ilen)
			}
		}
		err = d.dataset(enc, &item.Dataset, iend, depth+1)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); ok && t != 0 {
				e.Path = append(Path{{Tag: t, Item: len(d.itemStack) - base}}, e.Path...)
			}
			return []*Item{item}, err
		}
		d.itemStack = append(d.itemStack, item)
	}
	if d.pos != end {
		return nil, errAt(t, d.pos, ErrBadLength, "items overrun the sequence length by %d bytes", d.pos-end)
	}
	return nil, nil
}

// dataset reads the elements of an item up to end, or up to an item
// delimiter when end is -1.
func (d *decoder) dataset(enc encoding, ds *Dataset, end int64, depth int) error {
	base := len(d.elemStack)
	err := d.datasetElements(enc, ds.charsets, end, depth)
	if list := d.elemList(base); ds.Elements == nil {
		ds.Elements = list
	} else {
		ds.Elements = append(ds.Elements, list...)
	}
	return err
}

// datasetElements reads the elements of an item onto elemStack.
func (d *decoder) datasetElements(enc encoding, cs []string, end int64, depth int) error {
	for end < 0 || d.pos < end {
		off := d.pos
		t, v, length, err := d.header(enc)
		if err != nil {
			if err == io.EOF {
				return errAt(0, off, ErrTruncated, "item has no delimiter before the end of input")
			}
			return err
		}
		if t == tag.ItemDelimTag {
			if end < 0 {
				return nil
			}
			return errAt(t, off, ErrUnexpectedTag, "item delimiter inside an item of defined length")
		}
		e, err := d.element(enc, t, v, length, off, depth, end, cs)
		if e != nil {
			d.elemStack = append(d.elemStack, e)
			if t == tag.SpecificCharacterSet {
				cs = e.charsets
			}
		}
		if err != nil {
			return err
		}
	}
	if d.pos != end {
		return errAt(0, d.pos, ErrBadLength, "elements overrun the item length by %d bytes", d.pos-end)
	}
	return nil
}

func addTag(err error, t tag.Tag) error {
	if e, ok := errors.AsType[*Error](err); ok && e.Tag == 0 {
		e.Tag = t
	}
	return err
}

// fragments reads the items of an encapsulated value up to the sequence
// delimiter.
func (d *decoder) fragments(enc encoding, t tag.Tag) ([][]byte, error) {
	fr := [][]byte{}
	for {
		off := d.pos
		it, _, n, err := d.header(encoding{implicit: true, bigEndian: enc.bigEndian})
		if err != nil {
			if err == io.EOF {
				return fr, errAt(t, off, ErrTruncated, "encapsulated value has no delimiter before the end of input")
			}
			return fr, addTag(err, t)
		}
		switch it {
		case tag.SeqDelimTag:
			return fr, nil
		case tag.ItemTag:
		default:
			return fr, errAt(t, off, ErrUnexpectedTag, "%s where a fragment was expected", it)
		}
		if n == UndefinedLength {
			return fr, errAt(t, off, ErrBadLength, "fragment of undefined length")
		}
		b, err := d.readValue(t, int64(n))
		if err != nil {
			return fr, err
		}
		fr = append(fr, b)
	}
}

// scanFragments measures an encapsulated value by reading only the item
// headers (with ReadAt, or by seeking), then returns to where it started.
func (d *decoder) scanFragments(t tag.Tag, enc encoding) (int64, error) {
	start := d.pos
	o := enc.order()
	var h [8]byte
	pos := start
	ra, hasRA := d.seeker.(io.ReaderAt)
	moved := false
	for {
		var err error
		if hasRA {
			_, err = ra.ReadAt(h[:], d.base+pos)
		} else {
			moved = true
			if err = d.seekTo(pos); err == nil {
				err = d.read(h[:])
			}
		}
		if err != nil {
			return 0, errAt(t, pos, ErrTruncated, "encapsulated value has no delimiter before the end of input")
		}
		it := tag.New(o.Uint16(h[0:]), o.Uint16(h[2:]))
		n := o.Uint32(h[4:])
		pos += 8
		if it == tag.SeqDelimTag {
			break
		}
		if it != tag.ItemTag || n == UndefinedLength {
			return 0, errAt(t, pos-8, ErrUnexpectedTag, "%s where a fragment was expected", it)
		}
		pos += int64(n)
		if d.size >= 0 && pos > d.size {
			return 0, errAt(t, pos-int64(n)-8, ErrTruncated, "fragment of %d bytes runs past the end of input", n)
		}
	}
	if moved {
		if err := d.seekTo(start); err != nil {
			return 0, err
		}
	}
	return pos - start, nil
}

func (d *decoder) seekTo(pos int64) error {
	if _, err := d.seeker.Seek(d.base+pos, io.SeekStart); err != nil {
		return &Error{Offset: pos, Msg: "seek", Err: err}
	}
	d.src.next = firstRead
	d.br.Reset(d.src)
	d.pos = pos
	return nil
}

// firstRead is the most a Reader asks of a seekable input in its first
// read (and its first after a seek); each further read may ask for twice
// the last, up to the buffer size.
const firstRead = 16 << 10

// growingReader is a seekable input as a Reader's buffer reads it. A file
// header is a few kB and is usually followed by the pixel data, which a
// Reader with a bulk threshold skips by seeking: filling the whole 64 KiB
// buffer at once would copy tens of kB of pixel data into memory for
// nothing (on a batch of CT images, most of the bytes read). Reads start
// small and grow, so a long header still takes few calls; a read larger
// than the buffer (a large value read whole) is not limited.
type growingReader struct {
	r    io.Reader
	next int
}

func (g *growingReader) Read(p []byte) (int, error) {
	if len(p) <= readerBuf && len(p) > g.next {
		p = p[:g.next]
	}
	g.next = min(2*g.next, readerBuf)
	return g.r.Read(p)
}

// Reader reads a Part 10 file or bare data set element by element. NewReader
// reads the preamble and meta group; each Next returns one top-level
// element with its sequences fully read. Large values can stay in the
// input (WithBulkThreshold): read them with BulkReader before the next
// call to Next, or they are skipped. When the input is an *os.File the bulk
// reader reads the file directly, so io.Copy to another *os.File moves the
// bytes in the kernel (copy_file_range) and memory stays bounded.
type Reader struct {
	Header
	d       decoder
	enc     encoding
	cs      []string
	err     error
	bulk    *Bulk
	bulkR   io.Reader
	bulkLR  *io.LimitedReader
	bulkFS  *fragStream
	bulkTag tag.Tag
	inflate io.ReadCloser
	sum     hash.Hash
	pooled  []*readBuf
}

// NewReader reads the header of a DICOM stream from r.
func NewReader(r io.Reader, opts ...Option) (*Reader, error) {
	o := options{maxDepth: DefaultMaxDepth, maxInflated: DefaultMaxInflated}
	for _, f := range opts {
		f(&o)
	}
	rd := &Reader{}
	rd.d = decoder{size: -1, maxDepth: o.maxDepth, bulkMin: o.bulkMin, skipPix: o.skipPixel, scratch: o.scratch}
	src := r
	if s, ok := r.(io.ReadSeeker); ok {
		if cur, err := s.Seek(0, io.SeekCurrent); err == nil {
			if end, err := s.Seek(0, io.SeekEnd); err == nil {
				if _, err := s.Seek(cur, io.SeekStart); err == nil {
					rd.d.seeker, rd.d.base, rd.d.size = s, cur, end-cur
					rd.d.src = &growingReader{r: s, next: firstRead}
					src = rd.d.src
				}
			}
		}
	}
	rd.d.br = rd.buffer(src)
	if err := rd.readHeader(o); err != nil {
		rd.Close()
		return nil, err
	}
	return rd, nil
}

// readerBuf is the size of a Reader's buffer.
const readerBuf = 64 << 10

// Buffers are pooled: a batch of small files would otherwise allocate
// 64 KiB per file and reader (and as much per writer).
var (
	readerPool = sync.Pool{New: func() any { return newReadBuf(nil, readerBuf) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	flatePool  = sync.Pool{New: func() any { fl, _ := flate.NewWriter(nil, flate.DefaultCompression); return fl }}
)

func (r *Reader) buffer(src io.Reader) *readBuf {
	br := readerPool.Get().(*readBuf)
	br.Reset(src)
	r.pooled = append(r.pooled, br)
	return br
}

func (r *Reader) readHeader(o options) error {
	d := &r.d
	head := d.br.Peek(132)
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		r.Preamble = make([]byte, 128)
		_ = d.read(r.Preamble)
		d.skip(4)
	case len(head) >= 4 && string(head[0:4]) == "DICM":
		d.skip(4)
		r.Warnings = append(r.Warnings, "\"DICM\" without a preamble; a preamble will be written")
		r.Preamble = make([]byte, 128)
	}
	if b := d.br.Peek(6); len(b) == 6 && b[0] == 0x02 && b[1] == 0x00 {
		meta := &Dataset{}
		menc := encoding{}
		if _, ok := vr.Parse(b[4], b[5]); !ok {
			menc = implicitLE
			r.Warnings = append(r.Warnings, "file meta information in implicit VR; it will be written in explicit VR")
		}
		for {
			b := d.br.Peek(2)
			if len(b) < 2 || b[0] != 0x02 || b[1] != 0x00 {
				break
			}
			off := d.pos
			t, v, length, err := d.header(menc)
			if err != nil {
				return addTag(err, 0)
			}
			if length == UndefinedLength || v == vr.SQ {
				return errAt(t, off, ErrBadLength, "undefined length or sequence in the file meta information")
			}
			e, err := d.element(menc, t, v, length, off, 1, -1, nil)
			if err != nil {
				return err
			}
			meta.Elements = append(meta.Elements, e)
		}
		r.Meta = meta
		ts := meta.Get(tag.TransferSyntaxUID)
		if ts == nil || uid.Trim(string(ts.Value)) == "" {
			r.Warnings = append(r.Warnings, "file meta information has no transfer syntax; guessed from the data set")
		} else {
			s, ok := uid.LookupSyntax(string(ts.Value))
			if !ok {
				r.Warnings = append(r.Warnings, fmt.Sprintf("unknown transfer syntax %s: read as explicit VR little endian", s.UID))
			}
			r.Syntax = s
		}
	} else {
		if r.Preamble != nil {
			r.Warnings = append(r.Warnings, "no file meta information after the preamble")
		} else {
			r.Warnings = append(r.Warnings, "no preamble and no file meta information: bare data set")
		}
	}
	if r.Syntax.UID == "" {
		s, err := r.guessSyntax()
		if err != nil && r.Meta == nil && r.Preamble == nil {
			// A few stray bytes before a bare data set: resynchronise on the
			// first explicit VR header of group 0008 within 8 bytes.
			b := d.br.Peek(16)
			for k := 1; k <= 8 && k+8 <= len(b); k++ {
				if b[k] == 0x08 && b[k+1] == 0 && b[k+3] == 0 {
					if _, ok := vr.Parse(b[k+4], b[k+5]); ok {
						r.Leading = make([]byte, k)
						_ = d.read(r.Leading)
						r.Warnings = append(r.Warnings, fmt.Sprintf("skipped %d stray bytes before the data set", k))
						s, err = r.guessSyntax()
						break
					}
				}
			}
		}
		if err != nil {
			return err
		}
		r.Syntax = s
	}
	r.enc = encoding{implicit: r.Syntax.Implicit, bigEndian: r.Syntax.BigEndian}
	if r.Syntax.Deflated {
		var src io.Reader = d.br
		if o.keepDeflated {
			raw, err := io.ReadAll(d.br)
			if err != nil {
				return &Error{Offset: d.pos, Msg: "read deflated data set", Err: err}
			}
			r.deflatedRaw = raw
			src = bytes.NewReader(raw)
			r.sum = sha256.New()
		}
		r.inflate = flate.NewReader(src)
		var in io.Reader = &inflateLimit{r: r.inflate, n: o.maxInflated}
		if r.sum != nil {
			in = io.TeeReader(in, r.sum)
		}
		d.br = r.buffer(in)
		d.seeker, d.size = nil, -1
	}
	return nil
}

// guessSyntax infers the encoding of a data set with no meta group from its
// first element header.
func (r *Reader) guessSyntax() (uid.Syntax, error) {
	b := r.d.br.Peek(8)
	if len(b) < 8 {
		return uid.Syntax{}, errAt(0, r.d.pos, ErrNotDICOM, "fewer than 8 bytes of data set")
	}
	big := b[0] == 0 && b[1] != 0
	o := binary.ByteOrder(binary.LittleEndian)
	if big {
		o = binary.BigEndian
	}
	g, el := o.Uint16(b[0:]), o.Uint16(b[2:])
	if g%2 == 1 || g > 0x0028 || (g != 0 && el > 0x1000 && g != 0x0009) {
		return uid.Syntax{}, errAt(0, r.d.pos, ErrNotDICOM, "first tag (%04X,%04X) does not start a data set", g, el)
	}
	_, explicit := vr.Parse(b[4], b[5])
	var s uid.Syntax
	switch {
	case big:
		s, _ = uid.LookupSyntax(uid.ExplicitVRBigEndian)
	case explicit:
		s, _ = uid.LookupSyntax(uid.ExplicitVRLittleEndian)
	default:
		s, _ = uid.LookupSyntax(uid.ImplicitVRLittleEndian)
	}
	r.Warnings = append(r.Warnings, "transfer syntax guessed: "+s.Name)
	return s, nil
}

// CharacterSets returns the Specific Character Set read so far at top level.
func (r *Reader) CharacterSets() []string { return r.cs }

// Next returns the next top-level element, or io.EOF after the last one.
// An element with Bulk set has not been read: BulkReader streams it until
// the next call to Next.
func (r *Reader) Next() (*Element, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := r.skipBulk(); err != nil {
		r.err = err
		return nil, err
	}
	off := r.d.pos
	t, v, length, err := r.d.header(r.enc)
	if err == io.EOF {
		if r.sum != nil && r.inflate != nil {
			copy(r.inflatedSum[:], r.sum.Sum(nil))
		}
		r.err = io.EOF
		return nil, io.EOF
	}
	if err != nil {
		r.err = err
		return nil, err
	}
	e, err := r.d.element(r.enc, t, v, length, off, 0, -1, r.cs)
	if err != nil {
		r.err = err
		return e, err
	}
	if t == tag.SpecificCharacterSet {
		r.cs = e.charsets
	}
	if e.Bulk != nil {
		r.bulk, r.bulkTag = e.Bulk, e.Tag
	}
	return e, nil
}

// fragStream passes the encoded items of an encapsulated value through
// from a stream, up to and including the sequence delimiter, checking each
// item header on the way.
type fragStream struct {
	d    *decoder
	t    tag.Tag
	o    binary.ByteOrder
	hdr  [8]byte
	pend []byte // header bytes not yet returned
	left int64  // fragment bytes not yet returned
	done bool
	err  error
}

func (s *fragStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(s.pend) > 0 {
			n := copy(p, s.pend)
			s.pend = s.pend[n:]
			return n, nil
		}
		if s.left > 0 {
			if int64(len(p)) > s.left {
				p = p[:s.left]
			}
			n, err := s.d.br.Read(p)
			s.d.pos += int64(n)
			s.left -= int64(n)
			if err == io.EOF {
				err = errAt(s.t, s.d.pos, ErrTruncated, "fragment runs past the end of input")
			}
			s.err = err
			return n, err
		}
		if s.done {
			return 0, io.EOF
		}
		off := s.d.pos
		if err := s.d.read(s.hdr[:]); err != nil {
			s.err = errAt(s.t, off, ErrTruncated, "encapsulated value has no delimiter before the end of input")
			return 0, s.err
		}
		it := tag.New(s.o.Uint16(s.hdr[0:]), s.o.Uint16(s.hdr[2:]))
		n := s.o.Uint32(s.hdr[4:])
		switch {
		case it == tag.SeqDelimTag:
			s.done = true
		case it == tag.ItemTag && n != UndefinedLength:
			s.left = int64(n)
		default:
			s.err = errAt(s.t, off, ErrUnexpectedTag, "%s where a fragment was expected", it)
			return 0, s.err
		}
		s.pend = s.hdr[:]
	}
}

// BulkReader returns a reader of the raw bytes of the last element Next
// returned with Bulk set (for an encapsulated value: its items and the
// sequence delimiter). It is valid until the next call to Next.
func (r *Reader) BulkReader() (io.Reader, error) {
	if r.bulk == nil {
		return nil, errAt(0, r.d.pos, ErrBulkNotLoaded, "no bulk value pending")
	}
	if r.bulk.skipped {
		return nil, errAt(tag.PixelData, r.bulk.Offset, ErrBulkNotLoaded, "pixel data skipped by SkipPixelData")
	}
	if r.bulkR != nil {
		return r.bulkR, nil
	}
	if r.bulk.Length < 0 {
		r.bulkFS = &fragStream{d: &r.d, t: r.bulkTag, o: encoding{bigEndian: r.bulk.BigEndian}.order()}
		r.bulkR = r.bulkFS
		return r.bulkR, nil
	}
	if r.d.seeker != nil {
		if _, err := r.d.seeker.Seek(r.d.base+r.bulk.Offset, io.SeekStart); err != nil {
			return nil, &Error{Offset: r.bulk.Offset, Msg: "seek", Err: err}
		}
		lr := &io.LimitedReader{R: r.d.seeker, N: r.bulk.Length}
		if f, ok := r.d.seeker.(*os.File); ok {
			lr.R = f
		}
		r.bulkR, r.bulkLR = lr, lr
		return lr, nil
	}
	lr := &io.LimitedReader{R: r.d.br, N: r.bulk.Length}
	r.bulkR, r.bulkLR = lr, lr
	return lr, nil
}

func (r *Reader) skipBulk() error {
	b := r.bulk
	if b == nil {
		return nil
	}
	lr, fs := r.bulkLR, r.bulkFS
	r.bulk, r.bulkR, r.bulkLR, r.bulkFS = nil, nil, nil, nil
	if b.Length < 0 {
		if fs == nil {
			fs = &fragStream{d: &r.d, t: r.bulkTag, o: encoding{bigEndian: b.BigEndian}.order()}
		}
		_, err := io.Copy(io.Discard, fs)
		return err
	}
	end := b.Offset + b.Length
	if r.d.seeker != nil {
		// Untouched and already buffered: discard. Otherwise the file
		// offset is unknown (BulkReader moved it) or far: seek.
		if lr == nil && b.Offset == r.d.pos && b.Length <= int64(r.d.br.Buffered()) {
			r.d.pos += int64(r.d.br.Discard(int(b.Length)))
			return nil
		}
		return r.d.seekTo(end)
	}
	left := b.Length
	if lr != nil {
		left = lr.N
	}
	n, err := io.CopyN(io.Discard, r.d.br, left)
	r.d.pos = end - left + n
	if err != nil {
		return errAt(0, r.d.pos, ErrTruncated, "bulk value runs past the end of input")
	}
	return nil
}

// Close releases the reader's buffers (and the inflater of a deflated
// stream); the Reader, and a reader from BulkReader, must not be used
// after it. It does not close the underlying reader.
func (r *Reader) Close() error {
	var err error
	if r.inflate != nil {
		err = r.inflate.Close()
		r.inflate = nil
	}
	for _, br := range r.pooled {
		br.Reset(nil)
		readerPool.Put(br)
	}
	r.pooled = nil
	r.d.br = nil
	if r.err == nil || r.err == io.EOF {
		r.err = errAt(0, r.d.pos, ErrClosed, "reader closed")
	}
	r.bulk, r.bulkR = nil, nil
	return err
}

// Parse reads a whole file into memory (values, sequences and fragments).
// On an error past the header it returns the file read so far together
// with the error, so a caller can report what was readable.
func Parse(r io.Reader, opts ...Option) (*File, error) {
	opts = append(opts, func(o *options) { o.keepDeflated = true; o.bulkMin = 0 })
	rd, err := NewReader(r, opts...)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	f := &File{}
	for {
		e, err := rd.Next()
		if e != nil {
			f.Dataset.Elements = append(f.Dataset.Elements, e)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Header = rd.Header
			return f, err
		}
	}
	f.Header = rd.Header
	return f, nil
}

// ParseFile opens and parses the file at path.
func ParseFile(path string, opts ...Option) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Parse(fh, opts...)
}
