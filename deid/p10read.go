package deid

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// This file and p10write.go are the engine's own Part 10 reader and writer:
// an adapter kept inside package deid while the project's codec (package
// dicom) is written. They read what de-identification needs — the four
// transfer syntax families, sequences of any length form, UN sequences,
// encapsulated pixel data — into the engine's Dataset, and leave large
// binary values in the input file, to be copied by the kernel when the
// output is written.

// ErrNotDICOM is returned for input that is not a DICOM file.
var ErrNotDICOM = errors.New("not a DICOM file")

// ParseError reports where reading failed: the byte offset in the file
// (in the inflated stream for deflated files) and the tag being read.
type ParseError struct {
	Offset int64
	Tag    uint32
	Err    error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("dicom: tag (%04X,%04X) at byte %d: %v", e.Tag>>16, e.Tag&0xFFFF, e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Transfer syntax UIDs the reader distinguishes.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsExplicitBE = "1.2.840.10008.1.2.2"
	tsDeflatedLE = "1.2.840.10008.1.2.1.99"
)

type syntax struct {
	uid      string
	explicit bool
	big      bool
	deflate  bool
}

func syntaxOf(uid string) syntax {
	switch uid {
	case tsImplicitLE:
		return syntax{uid: uid}
	case tsExplicitBE:
		return syntax{uid: uid, explicit: true, big: true}
	case tsDeflatedLE:
		return syntax{uid: uid, explicit: true, deflate: true}
	}
	return syntax{uid: uid, explicit: true} // explicit LE and every encapsulated syntax
}

func (s syntax) order() binary.ByteOrder {
	if s.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// valueRef locates a value left in the input file.
type valueRef struct {
	offset, length int64 // byte range of the value in the input file
	undefined      bool  // encapsulated pixel data: items and delimiter included
}

// srcInfo is what the reader remembers of an element for writing it back.
type srcInfo struct {
	ref      *valueRef // value not read (large binary)
	implicit bool      // items are implicit VR little endian (UN sequence)
}

// p10File is a parsed file.
type p10File struct {
	preambleOK bool
	meta       *Dataset
	ds         *Dataset
	ts         syntax
	noMeta     bool
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

const (
	maxDepth     = 32
	lazyMinBytes = 64 << 10 // binary values at least this long stay in the file
)

type p10reader struct {
	f      *os.File // nil when reading an inflated stream
	r      *bufio.Reader
	off    int64
	size   int64 // bytes in the stream; -1 when unknown (deflate)
	ts     syntax
	depth  int
	tagBuf [12]byte
}

// readFile parses a Part 10 file (or a bare dataset) from f.
func readFile(f *os.File) (*p10File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(f)
	defer readerPool.Put(br)
	p := &p10reader{f: f, r: br, size: st.Size()}
	out := &p10File{}
	head, _ := p.r.Peek(132)
	switch {
	case len(head) == 132 && string(head[128:132]) == "DICM":
		out.preambleOK = true
		p.skip(132)
	case looksLikeDataset(head):
		out.noMeta = true
	default:
		return nil, ErrNotDICOM
	}
	// File meta group: always explicit VR little endian.
	out.meta = &Dataset{}
	p.ts = syntax{explicit: true}
	for {
		b, err := p.r.Peek(2)
		if err != nil || binary.LittleEndian.Uint16(b) != 0x0002 {
			break
		}
		el, err := p.element(nil)
		if err != nil {
			return nil, err
		}
		out.meta.Elements = append(out.meta.Elements, el)
	}
	tsUID := out.meta.String(0x00020010)
	if tsUID == "" {
		out.noMeta = true
		tsUID = guessSyntax(p.r)
	}
	out.ts = syntaxOf(tsUID)
	p.ts = out.ts
	if out.ts.deflate {
		// The rest is a raw deflate stream: read it whole, in memory.
		p = &p10reader{r: bufio.NewReaderSize(flate.NewReader(p.r), 64<<10), size: -1, ts: out.ts}
	}
	ds, err := p.dataset(-1, false)
	if err != nil {
		return nil, err
	}
	out.ds = ds
	return out, nil
}

// looksLikeDataset accepts a file without preamble whose first element is
// a plausible low group (0002, 0008) in either byte order.
func looksLikeDataset(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	gLE := binary.LittleEndian.Uint16(b)
	gBE := binary.BigEndian.Uint16(b)
	return gLE == 0x0002 || gLE == 0x0008 || gBE == 0x0008 || gLE == 0x0010
}

// guessSyntax decides the encoding of a dataset without file meta.
func guessSyntax(r *bufio.Reader) string {
	b, err := r.Peek(6)
	if err != nil {
		return tsImplicitLE
	}
	big := binary.BigEndian.Uint16(b) == 0x0008 && binary.LittleEndian.Uint16(b) != 0x0008
	vrOK := isVR(b[4], b[5])
	switch {
	case big:
		return tsExplicitBE
	case vrOK:
		return tsExplicitLE
	}
	return tsImplicitLE
}

func isVR(a, b byte) bool {
	return a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z'
}

func (p *p10reader) fail(tag uint32, at int64, format string, args ...any) error {
	return &ParseError{Offset: at, Tag: tag, Err: fmt.Errorf(format, args...)}
}

func (p *p10reader) read(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.off += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// skip moves n bytes forward without reading them into user memory when
// they are not already buffered.
func (p *p10reader) skip(n int64) error {
	if n <= int64(p.r.Buffered()) || p.f == nil {
		m, err := p.r.Discard(int(n))
		p.off += int64(m)
		return err
	}
	if _, err := p.f.Seek(p.off+n, io.SeekStart); err != nil {
		return err
	}
	p.off += n
	p.r.Reset(p.f)
	return nil
}

func (p *p10reader) remaining() int64 {
	if p.size < 0 {
		return -1
	}
	return p.size - p.off
}

// dataset reads elements until length bytes are consumed (length < 0:
// until the end of input, or an item delimiter when inItem).
func (p *p10reader) dataset(length int64, inItem bool) (*Dataset, error) {
	ds := &Dataset{}
	end := int64(-1)
	if length >= 0 {
		end = p.off + length
	}
	for {
		if end >= 0 && p.off >= end {
			return ds, nil
		}
		if _, err := p.r.Peek(1); err == io.EOF {
			if inItem && end < 0 {
				return nil, p.fail(0, p.off, "item without delimiter: %w", io.ErrUnexpectedEOF)
			}
			return ds, nil
		}
		el, err := p.element(ds)
		if err != nil {
			return nil, err
		}
		if el == nil { // item delimiter
			if !inItem {
				return nil, p.fail(0xFFFEE00D, p.off-8, "item delimiter outside an item")
			}
			return ds, nil
		}
		ds.Elements = append(ds.Elements, el)
	}
}

// header reads a tag, VR and length.
func (p *p10reader) header() (tag uint32, vr string, length uint32, at int64, err error) {
	at = p.off
	ord := p.ts.order()
	b := p.tagBuf[:4]
	if err = p.read(b); err != nil {
		if err == io.EOF && at == p.off {
			return 0, "", 0, at, io.EOF
		}
		return 0, "", 0, at, p.fail(0, at, "element header: %w", io.ErrUnexpectedEOF)
	}
	g, e := ord.Uint16(b), ord.Uint16(b[2:])
	if g == 0x0002 && p.ts.big {
		// The meta group is little endian even in big endian files (a
		// misplaced one): re-read in little endian.
		g, e = binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
	}
	tag = uint32(g)<<16 | uint32(e)
	if g == 0xFFFE {
		if err = p.read(b); err != nil {
			return tag, "", 0, at, p.fail(tag, at, "item length: %w", io.ErrUnexpectedEOF)
		}
		return tag, "", ord.Uint32(b), at, nil
	}
	if !p.ts.explicit {
		if err = p.read(b); err != nil {
			return tag, "", 0, at, p.fail(tag, at, "length: %w", io.ErrUnexpectedEOF)
		}
		return tag, implicitVRFor(tag), ord.Uint32(b), at, nil
	}
	if err = p.read(b[:2]); err != nil {
		return tag, "", 0, at, p.fail(tag, at, "VR: %w", io.ErrUnexpectedEOF)
	}
	if !isVR(b[0], b[1]) {
		return tag, "", 0, at, p.fail(tag, at, "bad VR bytes %#02x %#02x", b[0], b[1])
	}
	vr = string(b[:2])
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		b = p.tagBuf[:6]
		if err = p.read(b); err != nil {
			return tag, vr, 0, at, p.fail(tag, at, "length: %w", io.ErrUnexpectedEOF)
		}
		return tag, vr, ord.Uint32(b[2:6]), at, nil
	}
	if err = p.read(b[:2]); err != nil {
		return tag, vr, 0, at, p.fail(tag, at, "length: %w", io.ErrUnexpectedEOF)
	}
	return tag, vr, uint32(ord.Uint16(b[:2])), at, nil
}

// implicitVRFor looks a tag up in the generated dictionary.
func implicitVRFor(tag uint32) string {
	g, e := tag>>16, tag&0xFFFF
	switch {
	case e == 0:
		return "UL" // group length
	case g&1 == 1 && e >= 0x10 && e <= 0xFF:
		return "LO" // private creator
	case g&1 == 1:
		return "UN"
	}
	if vr, ok := dictVR[tag]; ok {
		return vr
	}
	for _, m := range dictVRMasked {
		if tag&m.mask == m.tag {
			return m.vr
		}
	}
	return "UN"
}

const undefinedLength = 0xFFFFFFFF

// element reads one element; it returns nil, nil at an item delimiter.
func (p *p10reader) element(parent *Dataset) (*Element, error) {
	tag, vr, length, at, err := p.header()
	if err != nil {
		return nil, err
	}
	switch tag {
	case 0xFFFEE00D:
		return nil, nil
	case 0xFFFEE000, 0xFFFEE0DD:
		return nil, p.fail(tag, at, "item tag outside a sequence")
	}
	el := &Element{Tag: tag, VR: vr}
	isSeq := vr == "SQ" ||
		(vr == "UN" && length == undefinedLength) ||
		(vr == "UN" && dictVR[tag] == "SQ") ||
		(!p.ts.explicit && vr == "UN" && length == undefinedLength)
	if tag == tagPixelData && length == undefinedLength {
		return el, p.encapsulated(el, at)
	}
	if isSeq {
		implicit := vr == "UN" || !p.ts.explicit
		if vr == "UN" {
			el.Src = &srcInfo{implicit: true}
		}
		return el, p.sequence(el, length, implicit, at)
	}
	if length == undefinedLength {
		return nil, p.fail(tag, at, "undefined length on a %s value", vr)
	}
	n := int64(length)
	if rem := p.remaining(); rem >= 0 && n > rem {
		return nil, p.fail(tag, at, "value length %d runs past the end of the file (%d bytes left)", n, rem)
	}
	if p.f != nil && n >= lazyMinBytes && !textVR(vr) {
		el.Src = &srcInfo{ref: &valueRef{offset: p.off, length: n}}
		return el, p.skip(n)
	}
	v, err := p.readValue(n)
	if err != nil {
		return nil, p.fail(tag, at, "value: %w", io.ErrUnexpectedEOF)
	}
	el.Value = v
	return el, nil
}

// readValue reads n bytes. When the stream size is unknown (inflated
// data) the buffer grows with the data actually read, so a forged length
// cannot make the reader allocate more than the input holds.
func (p *p10reader) readValue(n int64) ([]byte, error) {
	if p.size >= 0 {
		b := make([]byte, n)
		return b, p.read(b)
	}
	var buf bytes.Buffer
	m, err := io.CopyN(&buf, p.r, n)
	p.off += m
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// sequence reads the items of a sequence.
func (p *p10reader) sequence(el *Element, length uint32, implicit bool, at int64) error {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return p.fail(el.Tag, at, "sequences nested deeper than %d", maxDepth)
	}
	saved := p.ts
	if implicit {
		p.ts = syntax{uid: tsImplicitLE}
	}
	defer func() { p.ts = saved }()
	end := int64(-1)
	if length != undefinedLength {
		end = p.off + int64(length)
		if rem := p.remaining(); rem >= 0 && int64(length) > rem {
			return p.fail(el.Tag, at, "sequence length %d runs past the end of the file", length)
		}
	}
	for {
		if end >= 0 && p.off >= end {
			return nil
		}
		tag, _, ilen, iat, err := p.header()
		if err != nil {
			if err == io.EOF {
				return p.fail(el.Tag, at, "sequence without delimiter: %w", io.ErrUnexpectedEOF)
			}
			return err
		}
		switch tag {
		case 0xFFFEE0DD:
			return nil
		case 0xFFFEE000:
		default:
			return p.fail(tag, iat, "expected an item in sequence (%04X,%04X)", el.Tag>>16, el.Tag&0xFFFF)
		}
		var item *Dataset
		if ilen == undefinedLength {
			item, err = p.dataset(-1, true)
		} else {
			if rem := p.remaining(); rem >= 0 && int64(ilen) > rem {
				return p.fail(tag, iat, "item length %d runs past the end of the file", ilen)
			}
			item, err = p.dataset(int64(ilen), true)
		}
		if err != nil {
			return err
		}
		el.Items = append(el.Items, item)
	}
}

// encapsulated records the extent of encapsulated pixel data: the items
// (offset table and fragments) up to and including the sequence delimiter.
func (p *p10reader) encapsulated(el *Element, at int64) error {
	start := p.off
	var frags [][]byte
	for {
		tag, _, n, iat, err := p.header()
		if err != nil {
			if err == io.EOF {
				return p.fail(el.Tag, at, "encapsulated pixel data without delimiter: %w", io.ErrUnexpectedEOF)
			}
			return err
		}
		if tag == 0xFFFEE0DD {
			break
		}
		if tag != 0xFFFEE000 {
			return p.fail(tag, iat, "expected a pixel data item")
		}
		if rem := p.remaining(); rem >= 0 && int64(n) > rem {
			return p.fail(tag, iat, "fragment length %d runs past the end of the file", n)
		}
		if p.f != nil {
			if err := p.skip(int64(n)); err != nil {
				return err
			}
			continue
		}
		b, err := p.readValue(int64(n))
		if err != nil {
			return p.fail(tag, iat, "fragment: %w", io.ErrUnexpectedEOF)
		}
		frags = append(frags, b)
	}
	if p.f != nil {
		el.Src = &srcInfo{ref: &valueRef{offset: start, length: p.off - start, undefined: true}}
		return nil
	}
	// Inflated stream: keep the raw item bytes in memory.
	var buf bytes.Buffer
	ord := p.ts.order()
	for _, f := range frags {
		var h [8]byte
		ord.PutUint16(h[0:], 0xFFFE)
		ord.PutUint16(h[2:], 0xE000)
		ord.PutUint32(h[4:], uint32(len(f)))
		buf.Write(h[:])
		buf.Write(f)
	}
	var h [8]byte
	ord.PutUint16(h[0:], 0xFFFE)
	ord.PutUint16(h[2:], 0xE0DD)
	buf.Write(h[:])
	el.Value = buf.Bytes()
	el.Src = &srcInfo{ref: &valueRef{undefined: true, length: -1}}
	return nil
}

// isEncapsulated reports whether a pixel data element holds fragments.
func isEncapsulated(el *Element) bool {
	s, ok := el.Src.(*srcInfo)
	return ok && s.ref != nil && s.ref.undefined
}

func trimUID(s string) string { return strings.TrimRight(s, "\x00 ") }
