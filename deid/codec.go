package deid

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

// This file adapts the project's codec (package dicom) to the engine:
// the codec's streaming reader gives the top-level elements, large values
// (pixel data first) stay in the file as bulk references, the elements are
// converted to the engine's Dataset (each keeps its codec element in Src),
// and after the engine has run they are converted back — unchanged
// elements exactly as read, changed ones with their new value — and
// written with the codec's writer, bulk values copied file to file.

// ErrNotDICOM is returned for input that is not a DICOM file.
var ErrNotDICOM = errors.New("not a DICOM file")

// lazyMinBytes is the size from which a top-level value stays in the input
// file (a bulk value) instead of being read.
const lazyMinBytes = 64 << 10

// isEncapsulated reports whether a pixel data element holds fragments.
func isEncapsulated(el *Element) bool {
	s, ok := el.Src.(*dicom.Element)
	return ok && s.IsEncapsulated()
}

// dictVR returns the VR the dictionary gives a tag ("" when unknown).
func dictVR(t uint32) string {
	info, ok := tag.Find(tag.Tag(t))
	if !ok || len(info.VRs) == 0 {
		return ""
	}
	return info.VR().String()
}

// codecFile is one input read through the codec.
type codecFile struct {
	header dicom.Header
	meta   *Dataset
	ds     *Dataset
	big    bool
	slab   *elemSlab
}

// elemSlab hands out the engine's elements and datasets, the codec
// elements and items written back, and the slices that list them, from
// chunks (one allocation for many), and keeps its chunks over a reset for
// the next file.
type elemSlab struct {
	elems    chunks[Element]
	datasets chunks[Dataset]
	elemPtrs chunks[*Element]
	dsPtrs   chunks[*Dataset]
	// for writing
	codecElems chunks[dicom.Element]
	codecItems chunks[dicom.Item]
	codecPtrs  chunks[*dicom.Element]
	itemPtrs   chunks[*dicom.Item]
}

func (s *elemSlab) get() *Element { return s.elems.one() }

// reset makes every chunk available again; everything handed out so far
// becomes invalid.
func (s *elemSlab) reset() {
	s.elems.reset()
	s.datasets.reset()
	s.elemPtrs.reset()
	s.dsPtrs.reset()
	s.codecElems.reset()
	s.codecItems.reset()
	s.codecPtrs.reset()
	s.itemPtrs.reset()
}

// chunks hands out values and short slices of T from chunks of
// chunkLen. (A nil *elemSlab allocates instead: its methods below check
// it, as a field of a nil slab cannot be reached.)
type chunks[T any] struct {
	free []T
	all  [][]T
	n    int // chunks in use
}

const chunkLen = 64

func (c *chunks[T]) refill() {
	if c.n == len(c.all) {
		c.all = append(c.all, make([]T, chunkLen))
	}
	c.free = c.all[c.n]
	c.n++
}

// one returns a zero T.
func (c *chunks[T]) one() *T {
	if len(c.free) == 0 {
		c.refill()
	}
	v := &c.free[0]
	c.free = c.free[1:]
	return v
}

// list returns a slice of n zero Ts (not nil), whose capacity is its
// length: appending to it copies.
func (c *chunks[T]) list(n int) []T {
	if n == 0 || n > chunkLen/4 {
		return make([]T, n)
	}
	if len(c.free) < n {
		c.refill()
	}
	v := c.free[:n:n]
	c.free = c.free[n:]
	return v
}

func (c *chunks[T]) reset() {
	for _, ch := range c.all[:c.n] {
		clear(ch)
	}
	if len(c.all) > 64 {
		clear(c.all[64:])
		c.all = c.all[:64]
	}
	c.n, c.free = 0, nil
}

// fileScratch is the memory one file's elements and small values are
// carved from. It is reused from file to file (a pool holds about one per
// busy worker): a batch then allocates, and leaves to the garbage
// collector, a fraction of what it would. Nothing of it may outlive the
// file: results hold strings, never values.
type fileScratch struct {
	codec dicom.Scratch
	slab  elemSlab
	// top and meta keep the arrays of the top-level and meta element
	// lists for the next file.
	top, meta []*Element
}

var scratchPool = sync.Pool{New: func() any { return new(fileScratch) }}

func getScratch() *fileScratch { return scratchPool.Get().(*fileScratch) }

func (sc *fileScratch) release() {
	sc.codec.Reset()
	sc.slab.reset()
	clear(sc.top[:cap(sc.top)])
	clear(sc.meta[:cap(sc.meta)])
	if cap(sc.top) > 4096 {
		sc.top = nil // an unusual file does not pin its list
	}
	scratchPool.Put(sc)
}

// readCodec reads the file in (or its mapping data) up to the end,
// leaving values of at least lazyMinBytes in the file. Elements and small
// values are carved from sc.
func readCodec(in *os.File, data []byte, sc *fileScratch) (*codecFile, error) {
	var src io.Reader = in
	if data != nil {
		src = bytes.NewReader(data)
	}
	rd, err := dicom.NewReader(src, dicom.WithBulkThreshold(lazyMinBytes), dicom.WithScratch(&sc.codec))
	if err != nil {
		if errors.Is(err, dicom.ErrNotDICOM) {
			return nil, ErrNotDICOM
		}
		return nil, err
	}
	if rd.Header.Syntax.Deflated {
		// Offsets in an inflated stream are not file offsets: read the
		// whole (small, compressed) data set into memory instead.
		rd.Close()
		if data != nil {
			src = bytes.NewReader(data)
		} else if _, err := in.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if rd, err = dicom.NewReader(src, dicom.WithScratch(&sc.codec)); err != nil {
			return nil, err
		}
	}
	defer rd.Close()
	cf := &codecFile{ds: &Dataset{Elements: sc.top[:0]}, slab: &sc.slab}
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		cf.ds.Elements = append(cf.ds.Elements, cf.slab.fromCodec(el))
	}
	sc.top = cf.ds.Elements[:0]
	if len(cf.ds.Elements) == 0 {
		cf.ds.Elements = nil
	}
	cf.ds.ordered = inOrder(cf.ds.Elements)
	cf.header = rd.Header
	cf.big = cf.header.Syntax.BigEndian
	cf.meta = &Dataset{}
	if cf.header.Meta != nil {
		cf.meta.Elements = sc.meta[:0]
		for _, el := range cf.header.Meta.Elements {
			cf.meta.Elements = append(cf.meta.Elements, cf.slab.fromCodec(el))
		}
		sc.meta = cf.meta.Elements[:0]
		if len(cf.meta.Elements) == 0 {
			cf.meta.Elements = nil
		}
		cf.meta.ordered = inOrder(cf.meta.Elements)
	}
	return cf, nil
}

// fromCodec converts a codec element (and its items) to the engine's form.
func (s *elemSlab) fromCodec(el *dicom.Element) *Element {
	e := s.get()
	code, ok := el.VR.Code()
	if !ok {
		code = el.VR.String()
	}
	*e = Element{Tag: uint32(el.Tag), VR: code, Value: el.Value, Src: el}
	if el.VR == vr.UN && !el.IsSequence() && el.Bulk == nil && uint32(el.Tag)>>16&1 == 0 {
		// A standard text attribute sent as UN is handled (and scanned)
		// as the text its dictionary VR says it is; it is written back as
		// it came.
		if dv := dictVR(uint32(el.Tag)); textVR(dv) {
			e.VR = dv
		}
	}
	if el.IsSequence() {
		e.VR = "SQ"
		if el.VR == vr.UN {
			e.VR = "UN"
		}
		if len(el.Items) > 0 {
			e.Items = s.dsPtrs.list(len(el.Items))
		}
		for i, it := range el.Items {
			d := s.datasets.one()
			d.Src = it
			d.Elements = s.elemPtrs.list(len(it.Elements))
			for j, c := range it.Elements {
				d.Elements[j] = s.fromCodec(c)
			}
			d.ordered = inOrder(d.Elements)
			e.Items[i] = d
		}
	}
	return e
}

// toCodec converts an engine element back; copies are carved from s
// (nil: allocated).
func toCodec(e *Element, s *elemSlab) (*dicom.Element, error) {
	if src, ok := e.Src.(*dicom.Element); ok && !e.Dirty && len(e.Items) == 0 && !src.IsSequence() && e.Tag != uint32(tag.PixelData) {
		// Unchanged: written exactly as read, no copy.
		return src, nil
	}
	return toCodecCopy(e, s)
}

func toCodecCopy(e *Element, s *elemSlab) (*dicom.Element, error) {
	ne := s.codecElemsOne()
	if src, ok := e.Src.(*dicom.Element); ok {
		*ne = *src
		if e.Dirty {
			ne.Value, ne.Length, ne.Bulk, ne.Fragments = e.Value, uint32(len(e.Value)), nil, nil
		}
	} else {
		v, ok := vr.FromString(e.VR)
		if !ok {
			return nil, fmt.Errorf("deid: tag %s: unknown VR %q", tag.Tag(e.Tag), e.VR)
		}
		*ne = dicom.Element{Tag: tag.Tag(e.Tag), VR: v, Value: e.Value, Length: uint32(len(e.Value)), Offset: -1}
		if v == vr.SQ {
			ne.Length = dicom.UndefinedLength
		}
	}
	if ne.IsSequence() || len(e.Items) > 0 {
		items := s.itemPtrsList(len(e.Items))
		for i, d := range e.Items {
			it := s.codecItemsOne()
			if src, ok := d.Src.(*dicom.Item); ok {
				*it = *src
			} else {
				*it = dicom.Item{Undefined: true, Offset: -1}
			}
			it.Elements = nil
			if len(d.Elements) > 0 {
				it.Elements = s.codecPtrsList(len(d.Elements))
			}
			for j, c := range d.Elements {
				ce, err := toCodec(c, s)
				if err != nil {
					return nil, err
				}
				it.Elements[j] = ce
			}
			items[i] = it
		}
		ne.Items = items
	}
	return ne, nil
}

// The slab's chunks for the engine, allocated when the slab is nil.
func (s *elemSlab) elementsOne() *Element {
	if s == nil {
		return new(Element)
	}
	return s.elems.one()
}

func (s *elemSlab) datasetsOne() *Dataset {
	if s == nil {
		return new(Dataset)
	}
	return s.datasets.one()
}

func (s *elemSlab) elemPtrsList(n int) []*Element {
	if s == nil {
		return make([]*Element, n)
	}
	return s.elemPtrs.list(n)
}

func (s *elemSlab) dsPtrsList(n int) []*Dataset {
	if s == nil {
		return make([]*Dataset, n)
	}
	return s.dsPtrs.list(n)
}

// The slab's chunks for writing, allocated when the slab is nil.
func (s *elemSlab) codecElemsOne() *dicom.Element {
	if s == nil {
		return new(dicom.Element)
	}
	return s.codecElems.one()
}

func (s *elemSlab) codecItemsOne() *dicom.Item {
	if s == nil {
		return new(dicom.Item)
	}
	return s.codecItems.one()
}

func (s *elemSlab) codecPtrsList(n int) []*dicom.Element {
	if s == nil {
		return make([]*dicom.Element, n)
	}
	return s.codecPtrs.list(n)
}

func (s *elemSlab) itemPtrsList(n int) []*dicom.Item {
	if s == nil {
		return make([]*dicom.Item, n)
	}
	return s.itemPtrs.list(n)
}

// hashingFile is the output file seen by the codec's writer: every byte
// written goes to the hash too. Bulk copies arrive through ReadFrom; when
// the input is mapped the kernel copies them (copy_file_range) and the
// hash takes the same bytes from the mapping.
type hashingFile struct {
	f    io.Writer
	h    hash.Hash // nil: no hashing
	data []byte    // the input's mapping, or nil
	in   *os.File
	// pix, when set, also receives the bytes of bulk values copied
	// through ReadFrom (a pixel data value; never the element headers,
	// which arrive through Write).
	pix     hash.Hash
	copying bool
}

func (w *hashingFile) Write(p []byte) (int, error) {
	if w.h != nil {
		w.h.Write(p)
	}
	if w.copying && w.pix != nil {
		w.pix.Write(p)
	}
	return w.f.Write(p)
}

func (w *hashingFile) ReadFrom(r io.Reader) (int64, error) {
	w.copying = true
	defer func() { w.copying = false }()
	lr, ok := r.(*io.LimitedReader)
	if ok {
		if span, isSpan := lr.R.(*byteSpan); isSpan && int64(len(*span)) >= lr.N {
			// A value of an input held in memory: one write, no copy.
			n, err := w.Write((*span)[:lr.N])
			*span = (*span)[n:]
			lr.N -= int64(n)
			return int64(n), err
		}
		of, isOutFile := w.f.(*os.File)
		if f, isFile := lr.R.(*os.File); isFile && isOutFile && w.in != nil && f == w.in && (w.h == nil || w.data != nil) {
			if w.h == nil {
				return of.ReadFrom(lr) // copy_file_range
			}
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return 0, err
			}
			n, err := of.ReadFrom(lr)
			if off+n <= int64(len(w.data)) {
				w.h.Write(w.data[off : off+n])
				if w.pix != nil {
					w.pix.Write(w.data[off : off+n])
				}
			}
			return n, err
		}
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}

// byteSpan is a value of an input held in memory, read once.
type byteSpan []byte

func (b *byteSpan) Read(p []byte) (int, error) {
	if len(*b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, *b)
	*b = (*b)[n:]
	return n, nil
}

// zeroPreamble is the preamble of every output (the writer only reads it).
var zeroPreamble [128]byte

// writeCodec writes the de-identified file: a zeroed preamble, the meta
// group and the data set in the input's transfer syntax. Bulk values come
// from in, or from data when in is nil (an input held in memory). When pd
// is set, the pixel data values written are hashed into it.
func writeCodec(out io.Writer, in *os.File, cf *codecFile, pc *pixelCleaner, data []byte, h hash.Hash, pd *pixelDigest) error {
	hdr := dicom.Header{Preamble: zeroPreamble[:], Syntax: cf.header.Syntax}
	hdr.Meta = &dicom.Dataset{}
	for _, e := range cf.meta.Elements {
		ce, err := toCodec(e, cf.slab)
		if err != nil {
			return err
		}
		hdr.Meta.Elements = append(hdr.Meta.Elements, ce)
	}
	if hdr.Meta.Get(tag.FileMetaInformationGroupLength) == nil {
		hdr.Meta.Elements = append([]*dicom.Element{{Tag: tag.FileMetaInformationGroupLength, VR: vr.UL, Value: make([]byte, 4), Length: 4, Offset: -1}}, hdr.Meta.Elements...)
	}
	hw := &hashingFile{f: out, h: h, data: data, in: in}
	w, err := dicom.NewWriter(hw, &hdr)
	if err != nil {
		return err
	}
	for _, e := range cf.ds.Elements {
		ce, err := toCodec(e, cf.slab)
		if err != nil {
			return err
		}
		pix := pd != nil && isPixelTag(uint32(ce.Tag))
		cleaned := ce.Tag == tag.PixelData && pc != nil
		if pix {
			if ce.Bulk != nil && cf.header.Syntax.Deflated {
				// Bulk values are never read from a deflated data set
				// (readCodec reads it whole), so this cannot happen; the
				// value would be hashed compressed if it did.
				return fmt.Errorf("deid: tag %s: bulk pixel data in a deflated data set", ce.Tag)
			}
			pd.wrote(ce, !cleaned && !e.Dirty)
			hw.pix = pd.out
		}
		if ce.Tag == tag.PixelData && pc != nil && pc.rle != nil && ce.Bulk != nil {
			ce.Bulk = &dicom.Bulk{Offset: ce.Bulk.Offset, Length: pc.rleLen, Encapsulated: true}
			err := w.WriteBulk(ce, pc.rle)
			hw.pix = nil
			if err != nil {
				return err
			}
			continue
		}
		if ce.Bulk == nil {
			switch {
			case ce.Tag != tag.PixelData || pc == nil:
			case ce.IsEncapsulated():
				if pc.rleFrags == nil {
					return fmt.Errorf("deid: encapsulated pixel data to clean was not prepared")
				}
				ce.Fragments = pc.rleFrags
			default:
				ce.Value = pc.cleanInMemory(ce.Value)
			}
			if pix {
				hw.pix = nil
				hashInline(pd.out, ce)
			}
			if err := w.WriteElement(ce); err != nil {
				return err
			}
			continue
		}
		if ce.Tag == tag.PixelData && pc != nil && ce.Bulk.Encapsulated {
			return fmt.Errorf("deid: encapsulated pixel data to clean was not prepared")
		}
		var from io.Reader = in
		if in == nil {
			// Input held in memory only.
			off, n := ce.Bulk.Offset, max(ce.Bulk.Length, 0)
			if off < 0 || off > int64(len(data)) || n > int64(len(data))-off {
				return fmt.Errorf("deid: tag %s: bulk value at byte %d (%d bytes) is outside the input", ce.Tag, off, n)
			}
			span := byteSpan(data[off : off+n])
			from = &span
		} else if _, err := in.Seek(ce.Bulk.Offset, io.SeekStart); err != nil {
			return err
		}
		var src io.Reader = &io.LimitedReader{R: from, N: ce.Bulk.Length}
		if ce.Tag == tag.PixelData && pc != nil && !ce.Bulk.Encapsulated {
			src = pc.reader(from, ce.Bulk.Length)
		}
		err = w.WriteBulk(ce, src)
		hw.pix = nil
		if err != nil {
			return err
		}
	}
	return w.Close()
}
