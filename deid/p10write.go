package deid

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
)

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// p10writer writes a dataset in one transfer syntax. Values left in the
// input file are copied from in to out with io.Copy between two files,
// which Linux serves with copy_file_range: the bytes never enter this
// process.
type p10writer struct {
	w      *bufio.Writer
	out    *os.File // nil when writing into a deflate stream
	in     *os.File
	pixels *pixelCleaner
	err    error
	hdr    [12]byte
}

// writeFile writes meta and ds as a Part 10 file to out.
func writeFile(out, in *os.File, f *p10File, pc *pixelCleaner) error {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(out)
	defer func() { bw.Reset(nil); writerPool.Put(bw) }()
	w := &p10writer{w: bw, out: out, in: in, pixels: pc}
	var pre [132]byte
	copy(pre[128:], "DICM")
	w.write(pre[:]) // the preamble is zeroed: it may hold application data
	// File meta: explicit VR little endian with a recomputed group length.
	metaSyntax := syntax{explicit: true}
	meta := &Dataset{}
	for _, el := range f.meta.Elements {
		if el.Tag != 0x00020000 {
			meta.Elements = append(meta.Elements, el)
		}
	}
	var n int64
	for _, el := range meta.Elements {
		n += elementSize(el, metaSyntax)
	}
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(n))
	w.element(&Element{Tag: 0x00020000, VR: "UL", Value: gl}, metaSyntax)
	for _, el := range meta.Elements {
		w.element(el, metaSyntax)
	}
	if w.err != nil {
		return w.err
	}
	if f.ts.deflate {
		if err := bw.Flush(); err != nil {
			return err
		}
		fw, err := flate.NewWriter(out, flate.DefaultCompression)
		if err != nil {
			return err
		}
		w.w = bufio.NewWriterSize(fw, 64<<10)
		w.out = nil
		w.dataset(f.ds, f.ts)
		if w.err == nil {
			w.err = w.w.Flush()
		}
		if err := fw.Close(); err != nil && w.err == nil {
			w.err = err
		}
		return w.err
	}
	w.dataset(f.ds, f.ts)
	if w.err == nil {
		w.err = bw.Flush()
	}
	return w.err
}

func (w *p10writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *p10writer) dataset(ds *Dataset, ts syntax) {
	for _, el := range ds.Elements {
		w.element(el, ts)
	}
}

func (w *p10writer) header(tag uint32, vr string, length uint32, ts syntax) {
	ord := ts.order()
	if tag>>16 == 0x0002 {
		ord = binary.LittleEndian
	}
	b := w.hdr[:]
	ord.PutUint16(b[0:], uint16(tag>>16))
	ord.PutUint16(b[2:], uint16(tag))
	if tag>>16 == 0xFFFE || !ts.explicit {
		ord.PutUint32(b[4:], length)
		w.write(b[:8])
		return
	}
	b[4], b[5] = vr[0], vr[1]
	if longLength(vr) {
		b[6], b[7] = 0, 0
		ord.PutUint32(b[8:], length)
		w.write(b[:12])
		return
	}
	ord.PutUint16(b[6:], uint16(length))
	w.write(b[:8])
}

func longLength(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

func (w *p10writer) element(el *Element, ts syntax) {
	if w.err != nil {
		return
	}
	src, _ := el.Src.(*srcInfo)
	vr := el.VR
	if vr == "" || len(vr) != 2 {
		vr = "UN"
	}
	if vr == "SQ" || len(el.Items) > 0 || (src != nil && src.implicit) {
		// Sequences are written with undefined lengths.
		w.header(el.Tag, vr, undefinedLength, ts)
		its := ts
		if src != nil && src.implicit {
			its = syntax{uid: tsImplicitLE}
		}
		for _, it := range el.Items {
			w.header(0xFFFEE000, "", undefinedLength, its)
			w.dataset(it, its)
			w.header(0xFFFEE00D, "", 0, its)
		}
		w.header(0xFFFEE0DD, "", 0, its)
		return
	}
	if src != nil && src.ref != nil && !el.Dirty {
		ref := src.ref
		if ref.undefined {
			w.header(el.Tag, vr, undefinedLength, ts)
			if ref.length < 0 { // items kept in memory (inflated input)
				w.write(el.Value)
				return
			}
		} else {
			w.header(el.Tag, vr, uint32(ref.length), ts)
		}
		if el.Tag == tagPixelData && w.pixels != nil && !ref.undefined {
			w.err = w.pixels.copy(w, ref, ts)
			return
		}
		w.copyRange(ref.offset, ref.length)
		return
	}
	v := el.Value
	if el.Tag == tagPixelData && w.pixels != nil && !isEncapsulated(el) {
		v = w.pixels.cleanInMemory(v, ts)
	}
	if ts.explicit && !longLength(vr) && len(v) > 0xFFFF {
		w.err = fmt.Errorf("dicom: tag (%04X,%04X): %s value of %d bytes does not fit a 16-bit length", el.Tag>>16, el.Tag&0xFFFF, vr, len(v))
		return
	}
	w.header(el.Tag, vr, uint32(len(v)), ts)
	w.write(v)
}

// copyRange copies bytes of the input file to the output.
func (w *p10writer) copyRange(off, n int64) {
	if w.err != nil {
		return
	}
	if w.err = w.w.Flush(); w.err != nil {
		return
	}
	if _, w.err = w.in.Seek(off, io.SeekStart); w.err != nil {
		return
	}
	lr := &io.LimitedReader{R: w.in, N: n}
	var dst io.Writer = w.w
	if w.out != nil {
		dst = w.out // *os.File to *os.File: copy_file_range
	}
	m, err := io.Copy(dst, lr)
	if err == nil && m != n {
		err = fmt.Errorf("dicom: input shrank while copying (%d of %d bytes)", m, n)
	}
	w.err = err
}

// elementSize is the encoded size of a (non-sequence) meta element.
func elementSize(el *Element, ts syntax) int64 {
	h := int64(8)
	if ts.explicit && longLength(el.VR) {
		h = 12
	}
	return h + int64(len(el.Value))
}
