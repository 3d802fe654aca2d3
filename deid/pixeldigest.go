package deid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// The pixel digests let a caller prove that de-identification left the
// pixel data alone (a processing run's integrity check, QC-PRO-1) without
// parsing and hashing the files again. The digest of a file's pixel data
// is the SHA-256 of the values of its top-level Pixel Data, Float Pixel
// Data and Double Float Pixel Data elements, in file order, each as
// encoded after its element header: a native value's bytes; for an
// encapsulated value its items (Basic Offset Table and fragments, each
// with its 8-byte item header) and the sequence delimiter. For a deflated
// file the value is taken from the inflated data set. A file without such
// an element has no digest ("").
//
// The output's digest is taken from the bytes the engine writes for those
// values, as it writes them. The input's is shared with it when every
// output value was copied from exactly the input value's bytes (same
// region of the input, nothing cleaned): the two are then the same bytes
// and hashing them twice would only cost time. Otherwise (Clean Pixel
// Data, an element dropped, added or changed) the input's values are
// hashed on their own.

// isPixelTag reports whether t is one of the pixel data elements that the
// digests cover.
func isPixelTag(t uint32) bool { return tag.Tag(t).IsPixelData() }

// pixelDigest gathers one instance's input and output pixel digests.
type pixelDigest struct {
	in     []*dicom.Element // the input's pixel data elements, file order
	out    hash.Hash        // the output's values, as written
	nOut   int              // output pixel data elements written
	shared bool             // so far every output value is the input's own bytes
	inSum  []byte           // the input's digest once computed
}

// newPixelDigest returns the digests to gather for one instance, or nil
// when the engine does not report them.
func (e *Engine) newPixelDigest() *pixelDigest {
	if !e.PixelDigests {
		return nil
	}
	return &pixelDigest{out: sha256.New(), shared: true}
}

// collect records the input's pixel data elements (top level, before the
// engine changes anything).
func (pd *pixelDigest) collect(ds *Dataset) {
	for _, e := range ds.Elements {
		if !isPixelTag(e.Tag) {
			continue
		}
		src, ok := e.Src.(*dicom.Element)
		if !ok {
			pd.shared = false
			continue
		}
		pd.in = append(pd.in, src)
	}
}

// sameSource reports whether the output element ce, written unchanged,
// takes its value from exactly the bytes of the input element src.
func sameSource(ce, src *dicom.Element) bool {
	if ce.Tag != src.Tag {
		return false
	}
	switch {
	case ce.Bulk != nil || src.Bulk != nil:
		return ce.Bulk != nil && src.Bulk != nil && *ce.Bulk == *src.Bulk && ce.Bulk.Length >= 0
	case ce.Fragments != nil || src.Fragments != nil:
		if len(ce.Fragments) != len(src.Fragments) {
			return false
		}
		for i := range ce.Fragments {
			if !sameBytes(ce.Fragments[i], src.Fragments[i]) {
				return false
			}
		}
		return ce.Fragments != nil && src.Fragments != nil
	default:
		return sameBytes(ce.Value, src.Value)
	}
}

// sameBytes reports whether a and b are the same memory (not merely
// equal contents).
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// wrote notes that the output element ce was written; unchanged reports
// whether its value was copied as read (no pixel cleaning).
func (pd *pixelDigest) wrote(ce *dicom.Element, unchanged bool) {
	k := pd.nOut
	pd.nOut++
	if !unchanged || k >= len(pd.in) || !sameSource(ce, pd.in[k]) {
		pd.shared = false
	}
}

// hashInline adds the value of an element written from memory (not a bulk
// copy) to h, as the writer encodes it.
func hashInline(h hash.Hash, ce *dicom.Element) {
	if ce.Fragments != nil {
		hashItems(h, ce.Fragments)
		return
	}
	h.Write(ce.Value)
}

// hashItems adds an encapsulated value's encoding to h: each fragment
// with its item header, then the sequence delimiter (little endian, as
// encapsulated values are).
func hashItems(h hash.Hash, frags [][]byte) {
	var item [8]byte
	binary.LittleEndian.PutUint32(item[:], 0xE000FFFE)
	for _, f := range frags {
		binary.LittleEndian.PutUint32(item[4:], uint32(len(f)))
		h.Write(item[:])
		h.Write(f)
	}
	binary.LittleEndian.PutUint32(item[:], 0xE0DDFFFE)
	binary.LittleEndian.PutUint32(item[4:], 0)
	h.Write(item[:])
}

// hashInput computes the input's digest from its own bytes: data when the
// input is in memory (or mapped), else in.
func (pd *pixelDigest) hashInput(in *os.File, data []byte) error {
	if pd.inSum != nil || len(pd.in) == 0 {
		return nil
	}
	h := sha256.New()
	for _, src := range pd.in {
		if src.Bulk == nil {
			hashInline(h, src)
			continue
		}
		off, n := src.Bulk.Offset, src.Bulk.Length
		switch {
		case n < 0:
			return fmt.Errorf("deid: tag %s: pixel data of unknown length", src.Tag)
		case data != nil:
			if off < 0 || off > int64(len(data)) || n > int64(len(data))-off {
				return fmt.Errorf("deid: tag %s: pixel data at byte %d (%d bytes) is outside the input", src.Tag, off, n)
			}
			h.Write(data[off : off+n])
		case in != nil:
			if _, err := io.Copy(h, io.NewSectionReader(in, off, n)); err != nil {
				return fmt.Errorf("deid: tag %s: read pixel data at byte %d: %w", src.Tag, off, err)
			}
		default:
			return fmt.Errorf("deid: tag %s: pixel data not readable", src.Tag)
		}
	}
	pd.inSum = h.Sum(nil)
	return nil
}

// sums returns the input's and the output's digests in hex ("" for a file
// without pixel data), hashing the input now unless its values were
// shared with the output.
func (pd *pixelDigest) sums(in *os.File, data []byte) (inSum, outSum string, err error) {
	var out []byte
	if pd.nOut > 0 {
		out = pd.out.Sum(nil)
	}
	if pd.inSum == nil && len(pd.in) > 0 {
		if pd.shared && pd.nOut == len(pd.in) {
			pd.inSum = out
		} else if err := pd.hashInput(in, data); err != nil {
			return "", "", err
		}
	}
	if pd.inSum != nil {
		inSum = hex.EncodeToString(pd.inSum)
	}
	if out != nil {
		outSum = hex.EncodeToString(out)
	}
	return inSum, outSum, nil
}
