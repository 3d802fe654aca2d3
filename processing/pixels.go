package processing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
)

// The pixel integrity check of a run (QC-PRO-1): unless Clean Pixel Data
// changed the pixels, every written output's pixel data must be the
// input's, byte for byte. The check does not trust the engine: it reads
// both files' headers itself (the output's read is the one that also
// describes the output for the record), locates the top-level Pixel Data,
// Float Pixel Data and Double Float Pixel Data values in each, and
// compares the values' bytes. For a native value those are the value's
// bytes; for an encapsulated one its items (Basic Offset Table and
// fragments, each with its item header) and the sequence delimiter. The
// bytes are compared where they lie, in memory or in the staged files, so
// the check costs a memory compare of the pixel data, not a digest of it;
// the record's output digest (of the whole output) then covers the pixels
// the check found identical.

// ErrPixelMismatch is returned (wrapped in a *PixelError) when a
// de-identified output's pixel data differs from its input's although no
// pixel cleaning was applied.
var ErrPixelMismatch = errors.New("pixel data changed without Clean Pixel Data")

// PixelError names the instance whose pixel data failed the integrity
// check (by Ethos instance id, never by UID or patient) and what differs
// (tags and byte offsets only).
type PixelError struct {
	InstanceID string
	Detail     string
}

func (e *PixelError) Error() string {
	return fmt.Sprintf("instance %s: %v: %s", e.InstanceID, ErrPixelMismatch, e.Detail)
}

func (e *PixelError) Unwrap() error { return ErrPixelMismatch }

// pixelValue is one top-level pixel data element of a file: where its
// value lies in the file (off, n), or, in a deflated data set, where
// values have no file offset, the value as read (value or frags).
type pixelValue struct {
	tag    tag.Tag
	off, n int64
	inline bool
	value  []byte
	frags  [][]byte
}

// scanBulk is the value size from which a header read leaves values in
// place (pixel data always): none of the attributes the record keeps is
// near it.
const scanBulk = 4096

// scanFile reads the header of the DICOM file src (the whole data set,
// values of scanBulk bytes and more left unread) and returns its
// top-level pixel data values located in src. When it is set, it gets
// the output's pseudonymous identifiers and retained characteristics.
func scanFile(src io.ReadSeeker, it *ethos.ProcessingItem) ([]pixelValue, error) {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	sc := dicom.GetScratch()
	defer dicom.PutScratch(sc)
	rd, err := dicom.NewReader(src, dicom.SkipPixelData(), dicom.WithBulkThreshold(scanBulk), dicom.WithScratch(sc))
	if err != nil {
		return nil, err
	}
	if rd.Header.Syntax.Deflated {
		// Offsets in an inflated data set are not file offsets: read
		// it whole instead (deflated files are small and rare).
		rd.Close()
		return scanDeflated(src, it)
	}
	defer rd.Close()
	var px []pixelValue
	var d describer
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Tag.IsPixelData() {
			if e.Bulk == nil || e.Bulk.Length < 0 {
				return nil, fmt.Errorf("tag %s at byte %d: pixel data not located", e.Tag, e.Offset)
			}
			px = append(px, pixelValue{tag: e.Tag, off: e.Bulk.Offset, n: e.Bulk.Length})
			continue
		}
		if it != nil {
			d.element(e)
		}
	}
	if it != nil {
		d.fill(it, rd.Header.Meta)
	}
	return px, nil
}

// scanDeflated is scanFile for a deflated data set: every value is read.
func scanDeflated(src io.ReadSeeker, it *ethos.ProcessingItem) ([]pixelValue, error) {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	f, err := dicom.Parse(src)
	if err != nil {
		return nil, err
	}
	var px []pixelValue
	var d describer
	for _, e := range f.Dataset.Elements {
		if e.Tag.IsPixelData() {
			px = append(px, pixelValue{tag: e.Tag, inline: true, value: e.Value, frags: e.Fragments})
			continue
		}
		if it != nil {
			d.element(e)
		}
	}
	if it != nil {
		d.fill(it, f.Header.Meta)
	}
	return px, nil
}

// describer gathers the pseudonymous identifiers and the retained patient
// characteristics of an output as its elements are read.
type describer struct {
	uid, pseudo string
	attrs       map[string]string
}

func (d *describer) element(e *dicom.Element) {
	switch e.Tag {
	case tag.SOPInstanceUID:
		d.uid = strings.Trim(e.Text(), " \x00")
		return
	case tag.PatientID:
		d.pseudo = strings.TrimSpace(e.Text())
		return
	}
	for _, r := range retained {
		if r.tag == e.Tag {
			if v := strings.TrimSpace(e.Text()); v != "" {
				if d.attrs == nil {
					d.attrs = map[string]string{}
				}
				d.attrs[r.name] = v
			}
			return
		}
	}
}

func (d *describer) fill(it *ethos.ProcessingItem, meta *dicom.Dataset) {
	it.OutputUID, it.PseudoID, it.Attributes = d.uid, d.pseudo, d.attrs
	if it.OutputUID == "" && meta != nil {
		it.OutputUID = strings.Trim(meta.Text(tag.MediaStorageSOPInstanceUID), " \x00")
	}
}

// comparePixels checks that the output's pixel data values (out, located
// in outSrc) are the input's (in, located in inSrc): the same elements in
// the same order with the same bytes. The detail of a difference names
// tags and byte offsets only.
func comparePixels(inSrc io.ReaderAt, in []pixelValue, outSrc io.ReaderAt, out []pixelValue) (detail string, err error) {
	if len(in) != len(out) {
		return fmt.Sprintf("the input has %d pixel data elements, the output %d", len(in), len(out)), nil
	}
	for i := range in {
		a, b := &in[i], &out[i]
		if a.tag != b.tag {
			return fmt.Sprintf("pixel data element %d is %s in the input, %s in the output", i+1, a.tag, b.tag), nil
		}
		if a.inline || b.inline {
			if !a.inline || !b.inline {
				return fmt.Sprintf("tag %s: one file deflated, the other not", a.tag), nil
			}
			if !bytes.Equal(a.value, b.value) || len(a.frags) != len(b.frags) {
				return fmt.Sprintf("tag %s: values differ", a.tag), nil
			}
			for k := range a.frags {
				if !bytes.Equal(a.frags[k], b.frags[k]) {
					return fmt.Sprintf("tag %s: fragment %d differs", a.tag, k), nil
				}
			}
			continue
		}
		if a.n != b.n {
			return fmt.Sprintf("tag %s: %d bytes in the input, %d in the output", a.tag, a.n, b.n), nil
		}
		at, err := sameRange(inSrc, a.off, outSrc, b.off, a.n)
		if err != nil {
			return "", fmt.Errorf("compare pixel data: tag %s: %w", a.tag, err)
		}
		if at >= 0 {
			return fmt.Sprintf("tag %s: value differs from byte %d of %d (input offset %d, output offset %d)", a.tag, at, a.n, a.off, b.off), nil
		}
	}
	return "", nil
}

// bytesAt is a file held in memory, read in place by sameRange.
type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// compareChunk is the size of the pieces in which sameRange reads files.
const compareChunk = 256 << 10

// sameRange compares n bytes at aoff of a with n bytes at boff of b; it
// returns the offset (within the range) of the first difference, or -1
// when they are equal. Ranges past the end of either are an error.
func sameRange(a io.ReaderAt, aoff int64, b io.ReaderAt, boff, n int64) (int64, error) {
	if am, ok := a.(bytesAt); ok {
		if ps, ok := b.(*pieces); ok {
			if aoff < 0 || boff < 0 || n < 0 || aoff > int64(len(am))-n || boff > ps.size-n {
				return 0, fmt.Errorf("%d bytes at %d and %d run past the ends (%d and %d bytes)", n, aoff, boff, len(am), ps.size)
			}
			return ps.firstDiffIn(boff, am[aoff:aoff+n]), nil
		}
		if bm, ok := b.(bytesAt); ok {
			if aoff < 0 || boff < 0 || n < 0 || aoff > int64(len(am))-n || boff > int64(len(bm))-n {
				return 0, fmt.Errorf("%d bytes at %d and %d run past the ends (%d and %d bytes)", n, aoff, boff, len(am), len(bm))
			}
			x, y := am[aoff:aoff+n], bm[boff:boff+n]
			if bytes.Equal(x, y) {
				return -1, nil
			}
			return firstDiff(x, y), nil
		}
	}
	size := min(n, compareChunk)
	x, y := make([]byte, size), make([]byte, size)
	for done := int64(0); done < n; {
		k := min(size, n-done)
		if _, err := a.ReadAt(x[:k], aoff+done); err != nil {
			return 0, fmt.Errorf("read input at %d: %w", aoff+done, err)
		}
		if _, err := b.ReadAt(y[:k], boff+done); err != nil {
			return 0, fmt.Errorf("read output at %d: %w", boff+done, err)
		}
		if !bytes.Equal(x[:k], y[:k]) {
			return done + firstDiff(x[:k], y[:k]), nil
		}
		done += k
	}
	return -1, nil
}

func firstDiff(x, y []byte) int64 {
	for i := range x {
		if x[i] != y[i] {
			return int64(i)
		}
	}
	return int64(len(x))
}

// file is an input or output that verifyOutput reads: in memory
// (bytesAt and a bytes.Reader over the same bytes) or a staged file.
type file interface {
	io.ReaderAt
	io.ReadSeeker
}

// memFile is a file held in memory; sameRange compares its bytes in
// place.
type memFile struct {
	*bytes.Reader
	b []byte
}

func newMemFile(b []byte) memFile { return memFile{bytes.NewReader(b), b} }

// verifyOutput reads back a written output: its description for the
// record (describer) and the pixel check against its input. rec, when
// not nil, is where ingest recorded the input's pixel data value: it is
// used instead of reading the input's header again once the bytes before
// it are its element header (recordedPixels).
func verifyOutput(it *ethos.ProcessingItem, in, out file, rec *ethos.PixelValue) error {
	outPx, err := scanFile(out, it)
	if err != nil {
		return fmt.Errorf("read back output: %w", err)
	}
	var inPx []pixelValue
	if !it.PixelCleaned {
		if inPx, err = inputPixels(in, rec); err != nil {
			return err
		}
	}
	return checkPixels(it, inAt(in), inPx, inAt(out), outPx)
}

// inputPixels locates the input's pixel data values: where ingest
// recorded the one value when the file confirms it (recordedPixels),
// otherwise by reading the input's header. A recorded location the
// header read then refutes fails the instance: the record and the stored
// file disagree.
func inputPixels(in file, rec *ethos.PixelValue) ([]pixelValue, error) {
	if rec != nil {
		if px, ok := recordedPixels(inAt(in), rec); ok {
			return px, nil
		}
	}
	px, err := scanFile(in, nil)
	if err != nil {
		return nil, fmt.Errorf("read input's pixel data: %w", err)
	}
	if rec != nil && (len(px) != 1 || px[0].inline || px[0].tag != tag.Tag(rec.Tag) || px[0].off != rec.Offset || px[0].n != rec.Length) {
		return nil, fmt.Errorf("the pixel data location recorded at ingest (tag %s, %d bytes at offset %d) is not the stored file's", tag.Tag(rec.Tag), rec.Length, rec.Offset)
	}
	return px, nil
}

// recordedPixels is the input's pixel data value where ingest recorded
// it (rec), if the bytes just before rec.Offset in src are that element's
// header in the form the recorded transfer syntax gives it: its tag, in
// explicit VR a VR of two capital letters and two zero bytes, and a
// length that is the recorded one (undefined for encapsulated pixel data,
// whose recorded length must then end with the sequence delimiter). The
// record is a database row, not part of the authenticated
// blob: this check of 8 or 12 bytes is what keeps a wrong row from
// pointing the comparison at other bytes; the blob's bytes themselves are
// the ones its authenticated read gave. ok is false when they are not
// (the caller reads the header instead).
func recordedPixels(src io.ReaderAt, rec *ethos.PixelValue) (px []pixelValue, ok bool) {
	syn, known := uid.LookupSyntax(rec.Syntax)
	t := tag.Tag(rec.Tag)
	if !known || syn.Deflated || !t.IsPixelData() || rec.Length < 0 || rec.Length > math.MaxUint32-1 {
		return nil, false
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if syn.BigEndian {
		order = binary.BigEndian
	}
	size := int64(12)
	if syn.Implicit {
		size = 8
	}
	if rec.Offset < size {
		return nil, false
	}
	var h [12]byte
	if _, err := src.ReadAt(h[:size], rec.Offset-size); err != nil {
		return nil, false
	}
	if order.Uint16(h[0:]) != t.Group() || order.Uint16(h[2:]) != t.Element() {
		return nil, false
	}
	if !syn.Implicit && (h[4] < 'A' || h[4] > 'Z' || h[5] < 'A' || h[5] > 'Z' || h[6] != 0 || h[7] != 0) {
		return nil, false
	}
	n := order.Uint32(h[size-4:])
	if rec.Encapsulated && n != math.MaxUint32 || !rec.Encapsulated && int64(n) != rec.Length {
		return nil, false
	}
	if rec.Length > 0 {
		// The value lies within the file.
		var last [1]byte
		if _, err := src.ReadAt(last[:], rec.Offset+rec.Length-1); err != nil {
			return nil, false
		}
	}
	if rec.Encapsulated {
		// The length is not in the header: the value must end with the
		// sequence delimitation item (FFFE,E0DD), of length 0.
		var d [8]byte
		if rec.Length < 8 {
			return nil, false
		}
		if _, err := src.ReadAt(d[:], rec.Offset+rec.Length-8); err != nil ||
			order.Uint16(d[0:]) != 0xFFFE || order.Uint16(d[2:]) != 0xE0DD || order.Uint32(d[4:]) != 0 {
			return nil, false
		}
	}
	return []pixelValue{{tag: t, off: rec.Offset, n: rec.Length}}, true
}

// inAt is the ReaderAt of f that sameRange compares in place.
func inAt(f file) io.ReaderAt {
	if m, ok := f.(memFile); ok {
		return bytesAt(m.b)
	}
	return f
}

// checkPixels runs the pixel check of a written output (the same for
// instances in memory and staged ones) and notes its outcome in the item.
// in and out are the two files' located pixel data values.
func checkPixels(it *ethos.ProcessingItem, inSrc io.ReaderAt, in []pixelValue, outSrc io.ReaderAt, out []pixelValue) error {
	switch {
	case it.PixelCleaned:
		it.PixelCheck = ethos.PixelCheckCleaned
		return nil
	case len(in) == 0 && len(out) == 0:
		it.PixelCheck = ethos.PixelCheckNone
		return nil
	}
	detail, err := comparePixels(inSrc, in, outSrc, out)
	if err != nil {
		return err
	}
	if detail != "" {
		return &PixelError{InstanceID: it.InstanceID, Detail: detail}
	}
	it.PixelCheck = ethos.PixelCheckIdentical
	return nil
}
