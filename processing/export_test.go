package processing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

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
	b, rerr := os.ReadFile(out.Name())
	if rerr != nil || len(b) == 0 {
		return res, rerr
	}
	t.fn(b)
	_, werr := out.WriteAt(b, 0)
	return res, werr
}

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
