package dicom

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"

	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

// Writer writes a Part 10 file element by element: NewWriter writes the
// preamble and meta group, WriteElement and WriteBulk write top-level
// elements in the order given, Close flushes (and ends the deflate stream).
//
// Lengths are computed from the content: a value is written with
// len(Value) bytes (odd lengths as given), sequences and items keep the
// defined or undefined form recorded in Length / Undefined, and the meta
// group length (0002,0000) is recomputed. Values read in the other byte
// order are swapped by VR.
type Writer struct {
	dst io.Writer
	bw  *bufio.Writer
	fl  *flate.Writer
	enc encoding
	n   int64 // bytes written to bw since the header (for error offsets)
	err error
	hdr [12]byte // room for the element header being written
}

// NewWriter writes h's preamble (when not nil) and meta group (when not
// nil) to w and returns a Writer for the data set in h.Syntax.
func NewWriter(w io.Writer, h *Header) (*Writer, error) {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	wr := &Writer{dst: w, bw: bw}
	if err := wr.header(h); err != nil {
		wr.release()
		return nil, err
	}
	wr.enc = encoding{implicit: h.Syntax.Implicit, bigEndian: h.Syntax.BigEndian}
	if h.Syntax.Deflated {
		if err := wr.bw.Flush(); err != nil {
			wr.release()
			return nil, err
		}
		fl := flatePool.Get().(*flate.Writer)
		fl.Reset(w)
		wr.fl = fl
		wr.bw.Reset(fl)
	}
	return wr, nil
}

// release returns the buffers to their pools; the Writer is unusable after.
func (w *Writer) release() {
	if w.bw != nil {
		w.bw.Reset(nil)
		writerPool.Put(w.bw)
		w.bw = nil
	}
	if w.fl != nil {
		w.fl.Reset(nil)
		flatePool.Put(w.fl)
		w.fl = nil
	}
	if w.err == nil {
		w.err = errAt(0, w.n, ErrClosed, "writer closed")
	}
}

func (w *Writer) header(h *Header) error {
	if h.Syntax.UID == "" {
		return errAt(0, 0, ErrCannotEncode, "no transfer syntax")
	}
	if h.Preamble != nil {
		if len(h.Preamble) != 128 {
			return errAt(0, 0, ErrCannotEncode, "preamble of %d bytes, want 128", len(h.Preamble))
		}
		w.bw.Write(h.Preamble)
		w.bw.WriteString("DICM")
	}
	if h.Meta == nil {
		w.bw.Write(h.Leading)
		return nil
	}
	// An empty or absent TransferSyntaxUID is written as it is (a reader
	// guesses the syntax, as this package did); a different one is refused.
	if ts := h.Meta.Get(tag.TransferSyntaxUID); ts != nil && uid.Trim(string(ts.Value)) != "" && uid.Trim(string(ts.Value)) != h.Syntax.UID {
		return errAt(tag.TransferSyntaxUID, 0, ErrCannotEncode, "meta group names transfer syntax %s but the header says %s", uid.Trim(string(ts.Value)), h.Syntax.UID)
	}
	le := encoding{}
	var groupLen int64
	for _, e := range h.Meta.Elements {
		if e.Tag != tag.FileMetaInformationGroupLength {
			n, err := encodedLen(e, le)
			if err != nil {
				return err
			}
			groupLen += n
		}
	}
	for _, e := range h.Meta.Elements {
		if e.Tag.Group() != tag.MetaGroup {
			return errAt(e.Tag, 0, ErrCannotEncode, "element outside group 0002 in the meta group")
		}
		if e.Tag == tag.FileMetaInformationGroupLength {
			gl := *e
			gl.VR, gl.Value, gl.bigEndian = vr.UL, binary.LittleEndian.AppendUint32(nil, uint32(groupLen)), false
			e = &gl
		}
		if err := w.element(e, le); err != nil {
			return err
		}
	}
	return nil
}

// WriteElement writes one top-level element (with its items or fragments).
func (w *Writer) WriteElement(e *Element) error {
	if w.err != nil {
		return w.err
	}
	if err := w.element(e, w.enc); err != nil {
		w.err = err
		return err
	}
	return nil
}

// WriteBulk writes the header of e, whose value a Reader left in its
// source (e.Bulk), then copies exactly e.Bulk.Length bytes from r. Unless
// the output is deflated, the bytes go straight to the underlying writer:
// from an *os.File (Reader.BulkReader) to an *os.File the kernel copies them.
func (w *Writer) WriteBulk(e *Element, r io.Reader) error {
	if w.err != nil {
		return w.err
	}
	b := e.Bulk
	if b == nil {
		return w.WriteElement(e)
	}
	if b.BigEndian != w.enc.bigEndian && (b.Encapsulated || e.VR.WordSize() > 1) {
		w.err = errAt(e.Tag, e.Offset, ErrCannotEncode, "bulk value in the other byte order cannot be copied as is")
		return w.err
	}
	if b.Length < 0 && !b.Encapsulated {
		w.err = errAt(e.Tag, e.Offset, ErrCannotEncode, "bulk value of unknown length")
		return w.err
	}
	length := uint32(b.Length)
	if b.Encapsulated {
		length = UndefinedLength
	} else if b.Length >= int64(UndefinedLength) {
		w.err = errAt(e.Tag, e.Offset, ErrCannotEncode, "value of %d bytes exceeds the 32-bit length", b.Length)
		return w.err
	}
	if err := w.writeHeader(e.Tag, e.VR, length, w.enc); err != nil {
		w.err = err
		return err
	}
	var dst io.Writer = w.bw
	if w.fl == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = err
			return err
		}
		dst = w.dst
	}
	var n int64
	var err error
	switch lr, ok := r.(*io.LimitedReader); {
	case b.Length < 0:
		n, err = io.Copy(dst, r) // encapsulated, from a stream: up to its delimiter
	case ok && lr.N == b.Length:
		n, err = io.Copy(dst, lr)
	default:
		n, err = io.CopyN(dst, r, b.Length)
	}
	w.n += n
	if err == nil && b.Length >= 0 && n != b.Length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		w.err = &Error{Tag: e.Tag, Offset: e.Offset, Msg: "copy bulk value", Err: err}
		return w.err
	}
	return nil
}

// Close flushes buffered output, ends a deflate stream and releases the
// Writer's buffers (also after an error). It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		err := w.err
		w.release()
		return err
	}
	err := w.bw.Flush()
	if err == nil && w.fl != nil {
		err = w.fl.Close()
	}
	w.release()
	return err
}

func (w *Writer) writeHeader(t tag.Tag, v vr.VR, length uint32, enc encoding) error {
	b, err := w.appendHeader(w.hdr[:0], t, v, length, enc)
	if err != nil {
		return err
	}
	_, err = w.bw.Write(b)
	w.n += int64(len(b))
	return err
}

// appendHeader appends the header of an element (or item or delimiter).
func (w *Writer) appendHeader(b []byte, t tag.Tag, v vr.VR, length uint32, enc encoding) ([]byte, error) {
	big := enc.bigEndian
	b = app16(app16(b, t.Group(), big), t.Element(), big)
	if enc.implicit || t.Group() == 0xFFFE {
		return app32(b, length, big), nil
	}
	vb := v.Bytes()
	b = append(b, vb[0], vb[1])
	if v.LongLength() {
		return app32(append(b, 0, 0), length, big), nil // two reserved bytes
	}
	if length > 0xFFFF {
		return b, errAt(t, w.n, ErrCannotEncode, "value of %d bytes does not fit the 16-bit length of VR %s", length, v)
	}
	return app16(b, uint16(length), big), nil
}

func app16(b []byte, v uint16, big bool) []byte {
	if big {
		return binary.BigEndian.AppendUint16(b, v)
	}
	return binary.LittleEndian.AppendUint16(b, v)
}

func app32(b []byte, v uint32, big bool) []byte {
	if big {
		return binary.BigEndian.AppendUint32(b, v)
	}
	return binary.LittleEndian.AppendUint32(b, v)
}

func headerLen(t tag.Tag, v vr.VR, enc encoding) int64 {
	if enc.implicit || t.Group() == 0xFFFE || !v.LongLength() {
		return 8
	}
	return 12
}

// itemEncoding is the encoding of the items of sequence e.
func itemEncoding(e *Element, enc encoding) encoding {
	if e.VR != vr.SQ {
		return implicitLE
	}
	return enc
}

// encodedLen returns the number of bytes e takes, header included.
func encodedLen(e *Element, enc encoding) (int64, error) {
	h := headerLen(e.Tag, e.VR, enc)
	switch {
	case e.Bulk != nil:
		if e.Bulk.Length < 0 {
			return 0, errAt(e.Tag, e.Offset, ErrCannotEncode, "bulk value of unknown length inside a measured structure")
		}
		return h + e.Bulk.Length, nil
	case e.IsSequence():
		n, err := itemsLen(e, itemEncoding(e, enc))
		if err != nil {
			return 0, err
		}
		if e.Length == UndefinedLength {
			n += 8
		}
		return h + n, nil
	case e.Fragments != nil:
		n := int64(8)
		for _, f := range e.Fragments {
			n += 8 + int64(len(f))
		}
		return h + n, nil
	}
	return h + int64(len(e.Value)), nil
}

func itemsLen(e *Element, enc encoding) (int64, error) {
	var n int64
	for _, it := range e.Items {
		m, err := datasetLen(&it.Dataset, enc)
		if err != nil {
			return 0, err
		}
		n += 8 + m
		if it.Undefined {
			n += 8
		}
	}
	return n, nil
}

func datasetLen(ds *Dataset, enc encoding) (int64, error) {
	var n int64
	for _, e := range ds.Elements {
		m, err := encodedLen(e, enc)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (w *Writer) element(e *Element, enc encoding) error {
	if e.Bulk != nil {
		return errAt(e.Tag, e.Offset, ErrBulkNotLoaded, "write it with WriteBulk")
	}
	switch {
	case e.IsSequence():
		ienc := itemEncoding(e, enc)
		length := UndefinedLength
		if e.Length != UndefinedLength {
			n, err := itemsLen(e, ienc)
			if err != nil {
				return err
			}
			if n >= int64(UndefinedLength) {
				return errAt(e.Tag, e.Offset, ErrCannotEncode, "sequence of %d bytes exceeds the 32-bit length", n)
			}
			length = uint32(n)
		}
		v := e.VR
		if v != vr.SQ && !enc.implicit {
			v = vr.UN
		}
		if err := w.writeHeader(e.Tag, v, length, enc); err != nil {
			return err
		}
		for _, it := range e.Items {
			ilen := UndefinedLength
			if !it.Undefined {
				n, err := datasetLen(&it.Dataset, ienc)
				if err != nil {
					return err
				}
				ilen = uint32(n)
			}
			if err := w.writeHeader(tag.ItemTag, 0, ilen, ienc); err != nil {
				return err
			}
			for _, c := range it.Elements {
				if err := w.element(c, ienc); err != nil {
					return err
				}
			}
			if it.Undefined {
				if err := w.writeHeader(tag.ItemDelimTag, 0, 0, ienc); err != nil {
					return err
				}
			}
		}
		if length == UndefinedLength {
			return w.writeHeader(tag.SeqDelimTag, 0, 0, ienc)
		}
		return nil
	case e.Fragments != nil:
		if err := w.writeHeader(e.Tag, e.VR, UndefinedLength, enc); err != nil {
			return err
		}
		for _, f := range e.Fragments {
			if err := w.writeHeader(tag.ItemTag, 0, uint32(len(f)), enc); err != nil {
				return err
			}
			if _, err := w.bw.Write(f); err != nil {
				return err
			}
			w.n += int64(len(f))
		}
		return w.writeHeader(tag.SeqDelimTag, 0, 0, enc)
	}
	if int64(len(e.Value)) >= int64(UndefinedLength) {
		return errAt(e.Tag, e.Offset, ErrCannotEncode, "value exceeds the 32-bit length")
	}
	val := e.Value
	if ws := e.VR.WordSize(); ws > 1 && e.bigEndian != enc.bigEndian {
		val = swapped(val, ws)
	}
	if buf := w.bw.AvailableBuffer(); cap(buf) >= 12+len(val) {
		// Header and value in one write to the buffer.
		buf, err := w.appendHeader(buf, e.Tag, e.VR, uint32(len(e.Value)), enc)
		if err != nil {
			return err
		}
		buf = append(buf, val...)
		_, err = w.bw.Write(buf)
		w.n += int64(len(buf))
		return err
	}
	if err := w.writeHeader(e.Tag, e.VR, uint32(len(e.Value)), enc); err != nil {
		return err
	}
	_, err := w.bw.Write(val)
	w.n += int64(len(val))
	return err
}

// swapped returns a copy of b with every ws-byte word reversed; a trailing
// partial word is copied unchanged.
func swapped(b []byte, ws int) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	for i := 0; i+ws <= len(out); i += ws {
		for j := 0; j < ws/2; j++ {
			out[i+j], out[i+ws-1-j] = out[i+ws-1-j], out[i+j]
		}
	}
	return out
}

// Write writes f to w in f.Syntax. A file read by Parse and not changed
// comes out byte for byte as read (for a deflated file, the original
// compressed stream is reused when the data set re-encodes to the same
// inflated bytes).
func Write(w io.Writer, f *File) error {
	if f.Syntax.Deflated && f.deflatedRaw != nil {
		var buf bytes.Buffer
		h := f.Header
		h.Preamble, h.Meta = nil, nil
		h.Syntax.Deflated = false
		inner, err := NewWriter(&buf, &h)
		if err != nil {
			return err
		}
		for _, e := range f.Dataset.Elements {
			if err := inner.WriteElement(e); err != nil {
				return err
			}
		}
		if err := inner.Close(); err != nil {
			return err
		}
		if sha256.Sum256(buf.Bytes()) == f.inflatedSum {
			wr := &Writer{dst: w, bw: bufio.NewWriter(w)}
			if err := wr.header(&f.Header); err != nil {
				return err
			}
			if _, err := wr.bw.Write(f.deflatedRaw); err != nil {
				return err
			}
			return wr.bw.Flush()
		}
	}
	wr, err := NewWriter(w, &f.Header)
	if err != nil {
		return err
	}
	for _, e := range f.Dataset.Elements {
		if err := wr.WriteElement(e); err != nil {
			return err
		}
	}
	return wr.Close()
}

// WriteFile writes f to path atomically: a temporary file in the same
// directory, synced, then renamed over path.
func WriteFile(path string, f *File, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := Write(tmp, f); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}
