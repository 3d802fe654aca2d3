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

func (t tamperer) ProcessFileDigest(ctx context.Context, in, out *os.File) (deid.FileResult, error) {
	res, err := t.e.ProcessFileDigest(ctx, in, out)
	if err != nil {
		return res, err
	}
	return res, t.alter(out)
}

func (t tamperer) ProcessFile(ctx context.Context, in, out *os.File) (deid.FileResult, error) {
	res, err := t.e.ProcessFile(ctx, in, out)
	if err != nil {
		return res, err
	}
	return res, t.alter(out)
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

// NoMemFD keeps the processor's runs off files in memory: the engine gets
// every input as bytes and hashes it (the path of instances without a
// digest recorded at ingest, and of systems without memfd_create).
func NoMemFD(p *Processor) { p.noMemFD = true }

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
