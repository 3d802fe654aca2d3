package processing

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"unsafe"
)

// An output de-identified in memory is kept as pieces rather than one
// buffer: the bytes the engine wrote itself (element headers, changed
// values), copied, and the large values it passed through unchanged
// (pixel data), which deid.Engine.ProcessBytes writes as slices of the
// input itself. Those are kept as they are, not copied: the output is
// hashed, checked and sealed from the pieces, and a pixel value the
// engine passed through is compared with the input's where both are the
// same memory, so that comparison costs nothing while still locating the
// output's pixel data by reading the output's header and the input's by
// the record (or header), independently of the engine.

// minShared is the smallest write of input bytes that piecesWriter keeps
// by reference instead of copying.
const minShared = 16 << 10

// piece is a run of output bytes: in the input (shared) or in the
// writer's own buffer, at off, n bytes long.
type piece struct {
	shared bool
	off, n int
}

// piecesWriter collects an output as pieces (see above). The input (in)
// must not change while the output is in use.
type piecesWriter struct {
	in     []byte
	own    *[]byte // pooled
	pieces []piece
	size   int
}

func newPiecesWriter(in []byte) *piecesWriter {
	return &piecesWriter{in: in, own: getBuf(0)}
}

// Write keeps p by reference when it lies within the input (and is large
// enough to be worth it), and copies it otherwise.
func (w *piecesWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if off, ok := within(w.in, p); ok && len(p) >= minShared {
		w.add(piece{shared: true, off: off, n: len(p)})
	} else {
		w.add(piece{off: len(*w.own), n: len(p)})
		*w.own = append(*w.own, p...)
	}
	w.size += len(p)
	return len(p), nil
}

func (w *piecesWriter) add(p piece) {
	if k := len(w.pieces) - 1; k >= 0 {
		if last := &w.pieces[k]; last.shared == p.shared && last.off+last.n == p.off {
			last.n += p.n
			return
		}
	}
	w.pieces = append(w.pieces, p)
}

// within reports whether p is a slice of the memory of in, and where.
func within(in, p []byte) (int, bool) {
	if len(in) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	if at < base || at-base > uintptr(len(in)) || uintptr(len(p)) > uintptr(len(in))-(at-base) {
		return 0, false
	}
	return int(at - base), true
}

// release returns the writer's own buffer to the pool.
func (w *piecesWriter) release() {
	putBuf(w.own)
	w.own = nil
}

// output is the written output, read in place.
func (w *piecesWriter) output() *pieces {
	ps := &pieces{size: int64(w.size)}
	var at int64
	for _, p := range w.pieces {
		src := *w.own
		if p.shared {
			src = w.in
		}
		ps.parts = append(ps.parts, part{at: at, b: src[p.off : p.off+p.n : p.off+p.n]})
		at += int64(p.n)
	}
	return ps
}

// part is one piece of an output at its offset in the output.
type part struct {
	at int64
	b  []byte
}

// pieces is an output made of parts, read as one file (ReaderAt and
// ReadSeeker, for the header read and the pixel check) and handed to the
// blob store as one stream.
type pieces struct {
	parts []part
	size  int64
	pos   int64
	sha   []byte // the SHA-256, once sum computed it
}

// UnreadPieces hands the output from the read position on to a blob
// store, in place (fileblob.UnreadPieces).
func (ps *pieces) UnreadPieces() [][]byte {
	var b [][]byte
	for _, p := range ps.parts {
		if end := p.at + int64(len(p.b)); end > ps.pos {
			b = append(b, p.b[max(ps.pos-p.at, 0):])
		}
	}
	return b
}

// PlainSHA256 is the output's SHA-256 (fileblob.KnownDigest), nil before
// sum is called.
func (ps *pieces) PlainSHA256() []byte { return ps.sha }

// sum is the SHA-256 of the output.
func (ps *pieces) sum() []byte {
	h := sha256.New()
	for _, p := range ps.parts {
		h.Write(p.b)
	}
	ps.sha = h.Sum(nil)
	return ps.sha
}

// find returns the index of the part holding offset off (off < size).
func (ps *pieces) find(off int64) int {
	lo, hi := 0, len(ps.parts)
	for lo+1 < hi {
		m := (lo + hi) / 2
		if ps.parts[m].at <= off {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

func (ps *pieces) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= ps.size {
		return 0, io.EOF
	}
	n := 0
	for i := ps.find(off); i < len(ps.parts) && n < len(b); i++ {
		p := ps.parts[i]
		n += copy(b[n:], p.b[off+int64(n)-p.at:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (ps *pieces) Read(b []byte) (int, error) {
	n, err := ps.ReadAt(b, ps.pos)
	ps.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (ps *pieces) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += ps.pos
	case io.SeekEnd:
		offset += ps.size
	default:
		return 0, errors.New("bad whence")
	}
	if offset < 0 {
		return 0, errors.New("negative position")
	}
	ps.pos = offset
	return offset, nil
}

// firstDiffIn compares n bytes of the output at off with want (the
// input's bytes, held in memory) part by part, in place: it returns the
// offset within the range of the first difference, or -1. A part that is
// the input's own memory at the same place compares equal at once.
func (ps *pieces) firstDiffIn(off int64, want []byte) int64 {
	n := int64(len(want))
	if n == 0 {
		return -1
	}
	done := int64(0)
	for i := ps.find(off); i < len(ps.parts) && done < n; i++ {
		p := ps.parts[i]
		from := off + done - p.at
		k := min(int64(len(p.b))-from, n-done)
		x, y := p.b[from:from+k], want[done:done+k]
		if !bytes.Equal(x, y) {
			return done + firstDiff(x, y)
		}
		done += k
	}
	return -1
}
