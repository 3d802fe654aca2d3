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

// elemSlab hands out engine elements from chunks (one allocation for
// many elements), and keeps its chunks over a reset for the next file.
type elemSlab struct {
	free   []Element
	chunks [][]Element
	n      int // chunks in use
}

func (s *elemSlab) get() *Element {
	if len(s.free) == 0 {
		if s.n == len(s.chunks) {
			s.chunks = append(s.chunks, make([]Element, 64))
		}
		s.free = s.chunks[s.n]
		s.n++
	}
	e := &s.free[0]
	s.free = s.free[1:]
	return e
}

// reset makes every chunk available again; the elements handed out so
// far become invalid.
func (s *elemSlab) reset() {
	for _, c := range s.chunks[:s.n] {
		clear(c)
	}
	if len(s.chunks) > 64 {
		clear(s.chunks[64:])
		s.chunks = s.chunks[:64]
	}
	s.n, s.free = 0, nil
}

// fileScratch is the memory one file's elements and small values are
// carved from. It is reused from file to file (a pool holds about one per
// busy worker): a batch then allocates, and leaves to the garbage
// collector, a fraction of what it would. Nothing of it may outlive the
// file: results hold strings, never values.
type fileScratch struct {
	codec dicom.Scratch
	slab  elemSlab
}

var scratchPool = sync.Pool{New: func() any { return new(fileScratch) }}

func getScratch() *fileScratch { return scratchPool.Get().(*fileScratch) }

func (sc *fileScratch) release() {
	sc.codec.Reset()
	sc.slab.reset()
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
	cf := &codecFile{ds: &Dataset{}, slab: &sc.slab}
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
	cf.header = rd.Header
	cf.big = cf.header.Syntax.BigEndian
	cf.meta = &Dataset{}
	if cf.header.Meta != nil {
		for _, el := range cf.header.Meta.Elements {
			cf.meta.Elements = append(cf.meta.Elements, cf.slab.fromCodec(el))
		}
	}
	return cf, nil
}

// fromCodec converts a codec element (and its items) to the engine's form.
func (s *elemSlab) fromCodec(el *dicom.Element) *Element {
	e := s.get()
	*e = Element{Tag: uint32(el.Tag), VR: el.VR.String(), Value: el.Value, Src: el}
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
		for _, it := range el.Items {
			d := &Dataset{Src: it}
			d.Elements = make([]*Element, 0, len(it.Elements))
			for _, c := range it.Elements {
				d.Elements = append(d.Elements, s.fromCodec(c))
			}
			e.Items = append(e.Items, d)
		}
	}
	return e
}

// toCodec converts an engine element back.
func toCodec(e *Element) (*dicom.Element, error) {
	if src, ok := e.Src.(*dicom.Element); ok && !e.Dirty && len(e.Items) == 0 && !src.IsSequence() && e.Tag != uint32(tag.PixelData) {
		// Unchanged: written exactly as read, no copy.
		return src, nil
	}
	return toCodecCopy(e)
}

func toCodecCopy(e *Element) (*dicom.Element, error) {
	var ne dicom.Element
	if src, ok := e.Src.(*dicom.Element); ok {
		ne = *src
		if e.Dirty {
			ne.Value, ne.Length, ne.Bulk, ne.Fragments = e.Value, uint32(len(e.Value)), nil, nil
		}
	} else {
		v, ok := vr.FromString(e.VR)
		if !ok {
			return nil, fmt.Errorf("deid: tag %s: unknown VR %q", tag.Tag(e.Tag), e.VR)
		}
		ne = dicom.Element{Tag: tag.Tag(e.Tag), VR: v, Value: e.Value, Length: uint32(len(e.Value)), Offset: -1}
		if v == vr.SQ {
			ne.Length = dicom.UndefinedLength
		}
	}
	if ne.IsSequence() || len(e.Items) > 0 {
		items := make([]*dicom.Item, 0, len(e.Items))
		for _, d := range e.Items {
			var it dicom.Item
			if src, ok := d.Src.(*dicom.Item); ok {
				it = *src
			} else {
				it = dicom.Item{Undefined: true, Offset: -1}
			}
			it.Elements = nil
			for _, c := range d.Elements {
				ce, err := toCodec(c)
				if err != nil {
					return nil, err
				}
				it.Elements = append(it.Elements, ce)
			}
			items = append(items, &it)
		}
		ne.Items = items
	}
	return &ne, nil
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

// writeCodec writes the de-identified file: a zeroed preamble, the meta
// group and the data set in the input's transfer syntax. Bulk values come
// from in, or from data when in is nil (an input held in memory). When pd
// is set, the pixel data values written are hashed into it.
func writeCodec(out io.Writer, in *os.File, cf *codecFile, pc *pixelCleaner, data []byte, h hash.Hash, pd *pixelDigest) error {
	hdr := dicom.Header{Preamble: make([]byte, 128), Syntax: cf.header.Syntax}
	hdr.Meta = &dicom.Dataset{}
	for _, e := range cf.meta.Elements {
		ce, err := toCodec(e)
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
		ce, err := toCodec(e)
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
