package processing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// SetTamper makes the processor alter every output (in place) after the
// engine wrote it and before its pixel data is checked. The check then
// compares the input's digest with the altered output's, computed here by
// parsing the output again (what the engine would report had it written
// those bytes).
func SetTamper(p *Processor, fn func(out []byte)) {
	p.tamper = func(out []byte) string {
		fn(out)
		return pixelSum(out)
	}
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
