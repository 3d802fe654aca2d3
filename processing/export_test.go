package processing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// SetTamper wraps the processor's engine in one that alters every output
// (fn, in place) after the engine wrote it, as a faulty engine would: the
// run's own check must catch what fn changes.
func SetTamper(p *Processor, fn func(out []byte)) {
	p.wrapEngine = func(e deidentifier) deidentifier { return tamperer{e, fn} }
}

type tamperer struct {
	e  deidentifier
	fn func([]byte)
}

func (t tamperer) ProcessBytesDigest(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error) {
	var buf bytes.Buffer
	res, err := t.e.ProcessBytesDigest(ctx, data, &buf)
	if err == nil && buf.Len() > 0 {
		t.fn(buf.Bytes())
	}
	if _, werr := out.Write(buf.Bytes()); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

func (t tamperer) ProcessBytes(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error) {
	var buf bytes.Buffer
	res, err := t.e.ProcessBytes(ctx, data, &buf)
	if err == nil && buf.Len() > 0 {
		t.fn(buf.Bytes())
	}
	if _, werr := out.Write(buf.Bytes()); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

func (t tamperer) ProcessFileDigest(ctx context.Context, in, out *os.File) (deid.FileResult, error) {
	res, err := t.e.ProcessFileDigest(ctx, in, out)
	if err != nil {
		return res, err
	}
	return res, t.alter(out)
}

// SetShift wraps the processor's engine in one that, for an input held in
// memory, passes on every large write of the input's own bytes shifted by
// k bytes (k < 0: back) within the input (still the input's memory, as a faulty engine
// copying the wrong range would): the run's check must catch it.
func SetShift(p *Processor, k int) {
	p.wrapEngine = func(e deidentifier) deidentifier { return shifter{e, k} }
}

type shifter struct {
	deidentifier
	k int
}

func (s shifter) ProcessBytes(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error) {
	return s.deidentifier.ProcessBytes(ctx, data, shiftWriter{out, data, s.k})
}

func (s shifter) ProcessBytesDigest(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error) {
	return s.deidentifier.ProcessBytesDigest(ctx, data, shiftWriter{out, data, s.k})
}

type shiftWriter struct {
	w    io.Writer
	data []byte
	k    int
}

func (s shiftWriter) Write(p []byte) (int, error) {
	if off, ok := within(s.data, p); ok && len(p) >= minShared && off+s.k >= 0 && off+s.k+len(p) <= len(s.data) {
		return s.w.Write(s.data[off+s.k : off+s.k+len(p)])
	}
	return s.w.Write(p)
}

// alter applies fn to what was written to out, in place.
func (t tamperer) alter(out *os.File) error {
	n, err := out.Seek(0, io.SeekCurrent)
	if err != nil || n == 0 {
		return err
	}
	b := make([]byte, n)
	if _, err := out.ReadAt(b, 0); err != nil {
		return err
	}
	t.fn(b)
	_, err = out.WriteAt(b, 0)
	return err
}

// HashInputs has the engine hash every input held in memory, as it does
// the inputs of instances stored before ingest recorded their digest.
func HashInputs(p *Processor) { p.hashInputs = true }

// PixelSum is pixelSum for the external tests.
var PixelSum = pixelSum

// pixelSum is the SHA-256 of a file's pixel data values where they lie in
// the file ("" without pixel data or when they cannot be located).
func pixelSum(b []byte) string {
	f, err := dicom.Parse(bytes.NewReader(b), dicom.SkipPixelData())
	if err != nil || f.Header.Syntax.Deflated {
		return ""
	}
	h := sha256.New()
	found := false
	for _, el := range f.Dataset.Elements {
		switch el.Tag {
		case tag.PixelData, tag.FloatPixelData, tag.DoubleFloatPixelData:
			if el.Bulk == nil || el.Bulk.Length < 0 || el.Bulk.Offset+el.Bulk.Length > int64(len(b)) {
				return ""
			}
			found = true
			h.Write(b[el.Bulk.Offset : el.Bulk.Offset+el.Bulk.Length])
		}
	}
	if !found {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ComparePixelFiles runs the run's pixel check on two files held in
// memory: it reads both headers, locates their pixel data values and
// compares them. detail is "" when they are identical.
func ComparePixelFiles(in, out []byte) (detail string, err error) {
	inPx, err := scanFile(newMemFile(in), nil)
	if err != nil {
		return "", err
	}
	outPx, err := scanFile(newMemFile(out), nil)
	if err != nil {
		return "", err
	}
	return comparePixels(bytesAt(in), inPx, bytesAt(out), outPx)
}

// RecordedPixelsOK reports whether the run would use the pixel data
// location rec, recorded at ingest, for the file data without reading its
// header: whether the bytes before it are its element header.
func RecordedPixelsOK(data []byte, rec *ethos.PixelValue) bool {
	_, ok := recordedPixels(bytesAt(data), rec)
	return ok
}

// Pieces is an output held as pieces (pieces.go), for the external tests.
type Pieces = pieces

// WritePieces writes writes in turn to a pieces writer over the input in,
// and returns the output and the writer's release.
func WritePieces(in []byte, writes ...[]byte) (*Pieces, func()) {
	w := newPiecesWriter(in)
	for _, p := range writes {
		w.Write(p)
	}
	return w.output(), w.release
}

// SharedBytes is how many bytes of ps are the memory of in.
func (ps *pieces) SharedBytes(in []byte) int {
	n := 0
	for _, p := range ps.parts {
		if _, ok := within(in, p.b); ok {
			n += len(p.b)
		}
	}
	return n
}

// Sum is sum, FirstDiffIn firstDiffIn, for the external tests.
func (ps *pieces) Sum() []byte                              { return ps.sum() }
func (ps *pieces) FirstDiffIn(off int64, want []byte) int64 { return ps.firstDiffIn(off, want) }
