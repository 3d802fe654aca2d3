package dicom_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/uid"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// implicit encodes one implicit VR little endian header.
func implicit(t tag.Tag, length uint32) []byte {
	b := binary.LittleEndian.AppendUint16(nil, t.Group())
	b = binary.LittleEndian.AppendUint16(b, t.Element())
	return binary.LittleEndian.AppendUint32(b, length)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// onlyReader hides Seek so the reader cannot know the input size.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestMalformed(t *testing.T) {
	mr, err := os.ReadFile(filepath.Join(testenv.DICOMDir(t), "pydicom", "MR_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	f := MustParse(t, filepath.Join(testenv.DICOMDir(t), "pydicom", "MR_small.dcm"))
	pn := f.Dataset.Get(tag.PatientName)
	badVR := bytes.Clone(mr)
	copy(badVR[pn.Offset+4:], "zz")

	start := implicit(tag.PatientID, 4)
	start = append(start, "ID01"...)
	var deep []byte
	for range 100 {
		deep = cat(deep, implicit(tag.ReferencedSeriesSequence, dicom.UndefinedLength), implicit(tag.ItemTag, dicom.UndefinedLength))
	}
	tests := []struct {
		name   string
		in     []byte
		seek   bool
		want   error
		tag    tag.Tag
		offset int64 // -1: not checked
	}{
		{"ErrBadVR", badVR, true, dicom.ErrBadVR, tag.PatientName, pn.Offset + 4},
		{"ErrTruncatedKnownSize", cat(start, implicit(tag.PatientName, 0xFFFFFFF0), []byte("Doe^")), true, dicom.ErrTruncated, tag.PatientName, 12},
		{"ErrTruncatedStream", cat(start, implicit(tag.PatientName, 0xFFFFFFF0), []byte("Doe^")), false, dicom.ErrTruncated, tag.PatientName, -1},
		{"ErrTruncatedHeader", cat(start, []byte{0x10, 0x00, 0x10}), true, dicom.ErrTruncated, 0, 12},
		{"ErrTooDeep", cat(start, deep), true, dicom.ErrTooDeep, tag.ReferencedSeriesSequence, -1},
		{"ErrBadLengthItemPastSequence", cat(start, implicit(tag.ReferencedSeriesSequence, 8), implicit(tag.ItemTag, 16), implicit(tag.PatientAge, 4), []byte("045Y")), true, dicom.ErrBadLength, tag.ReferencedSeriesSequence, 20},
		{"ErrBadLengthElementPastItem", cat(start, implicit(tag.ReferencedSeriesSequence, 20), implicit(tag.ItemTag, 12), implicit(tag.PatientAge, 8), []byte("045Y1234")), true, dicom.ErrBadLength, tag.PatientAge, 28},
		{"ErrUnexpectedTagInSequence", cat(start, implicit(tag.ReferencedSeriesSequence, dicom.UndefinedLength), implicit(tag.PatientAge, 4), []byte("045Y")), true, dicom.ErrUnexpectedTag, tag.ReferencedSeriesSequence, 20},
		{"ErrUnexpectedTagStrayItem", cat(start, implicit(tag.ItemTag, 0)), true, dicom.ErrUnexpectedTag, tag.ItemTag, 12},
		{"ErrTruncatedNoDelimiter", cat(start, implicit(tag.ReferencedSeriesSequence, dicom.UndefinedLength), implicit(tag.ItemTag, dicom.UndefinedLength)), true, dicom.ErrTruncated, 0, -1},
		{"ErrNotDICOM", []byte("this is a plain text file, not DICOM at all"), true, dicom.ErrNotDICOM, 0, 0},
		{"ErrNotDICOMEmpty", nil, true, dicom.ErrNotDICOM, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tc.in)
			if !tc.seek {
				r = onlyReader{r}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := dicom.Parse(r)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			e, ok := errors.AsType[*dicom.Error](err)
			if !ok {
				t.Fatalf("%T is not a *dicom.Error", err)
			}
			if e.Tag != tc.tag {
				t.Errorf("tag %s, want %s (%v)", e.Tag, tc.tag, err)
			}
			if tc.offset >= 0 && e.Offset != tc.offset {
				t.Errorf("offset %d, want %d (%v)", e.Offset, tc.offset, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("Doe")) || bytes.Contains([]byte(err.Error()), []byte("ID01")) {
				t.Errorf("error message holds a value: %v", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", grew, len(tc.in))
			}
		})
	}
}

// TestLenient covers the non-conformant files the corpus README lists and
// how they are accepted.
func TestLenient(t *testing.T) {
	dir := testenv.DICOMDir(t)
	tests := []struct {
		file     string
		warnings int
		check    func(t *testing.T, f *dicom.File)
	}{
		{"pydicom/no_meta.dcm", 3, func(t *testing.T, f *dicom.File) {
			if f.Meta != nil || f.Preamble != nil || len(f.Leading) != 1 {
				t.Errorf("meta %v preamble %v leading %d", f.Meta != nil, f.Preamble != nil, len(f.Leading))
			}
			if f.Dataset.Text(tag.Modality) != "CT" {
				t.Errorf("Modality %q", f.Dataset.Text(tag.Modality))
			}
		}},
		{"pydicom/ExplVR_BigEndNoMeta.dcm", 2, func(t *testing.T, f *dicom.File) {
			if !f.Syntax.BigEndian || f.Syntax.Implicit {
				t.Errorf("syntax %s", f.Syntax.Name)
			}
		}},
		{"pydicom/rtstruct.dcm", 2, func(t *testing.T, f *dicom.File) {
			if !f.Syntax.Implicit {
				t.Errorf("syntax %s", f.Syntax.Name)
			}
		}},
		{"pydicom/badVR.dcm", 0, func(t *testing.T, f *dicom.File) {
			// An IS value "1A" is kept as read; parsing it as a number skips it.
			for _, e := range f.Dataset.Elements {
				if e.VR.String() == "IS" && e.Text() == "1A" && len(e.Ints()) != 0 {
					t.Error("1A parsed as an integer")
				}
			}
		}},
		{"gdcm/00191113.dcm", 0, func(t *testing.T, f *dicom.File) {
			px := f.Dataset.Get(tag.PixelData)
			odd := 0
			for _, fr := range px.Fragments {
				odd += len(fr) % 2
			}
			if !px.IsEncapsulated() || odd == 0 {
				t.Errorf("want encapsulated pixel data with an odd-length fragment, got %d fragments, %d odd", len(px.Fragments), odd)
			}
		}},
		{"pydicom/UN_sequence.dcm", 0, func(t *testing.T, f *dicom.File) {
			n := 0
			f.Dataset.Walk(func(p dicom.Path, e *dicom.Element) error {
				if e.VR.String() == "UN" && e.IsSequence() && len(e.Items) > 0 {
					n++
				}
				return nil
			})
			if n == 0 {
				t.Error("no UN element read as a sequence")
			}
		}},
		{"pydicom/nested_priv_SQ.dcm", 0, func(t *testing.T, f *dicom.File) {
			depth := 0
			f.Dataset.Walk(func(p dicom.Path, e *dicom.Element) error {
				// Group 0001 is odd but reserved, so not IsPrivate.
				if e.Tag.Group()%2 == 1 && len(p) > depth {
					depth = len(p)
				}
				return nil
			})
			if depth < 2 {
				t.Errorf("odd-group elements found at depth %d, want 2", depth)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f := MustParse(t, filepath.Join(dir, tc.file))
			if len(f.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", f.Warnings, tc.warnings)
			}
			tc.check(t, f)
		})
	}
}

func TestSkipPixelData(t *testing.T) {
	for _, name := range []string{"pydicom/MR_small.dcm", "pydicom/JPEG2000.dcm"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(testenv.DICOMDir(t), name)
			f := MustParse(t, p, dicom.SkipPixelData())
			px := f.Dataset.Get(tag.PixelData)
			if px == nil || px.Bulk == nil || px.Value != nil || px.Fragments != nil {
				t.Fatalf("pixel data read: %+v", px)
			}
			full := MustParse(t, p)
			if last := full.Dataset.Elements[len(full.Dataset.Elements)-1]; f.Dataset.Get(last.Tag) == nil {
				t.Errorf("elements after pixel data lost")
			}
			err := dicom.Write(io.Discard, f)
			if !errors.Is(err, dicom.ErrBulkNotLoaded) {
				t.Errorf("writing skipped pixel data: %v, want ErrBulkNotLoaded", err)
			}
			// From a stream, the value is passed over item by item.
			in, _ := os.ReadFile(p)
			fs, err := dicom.Parse(onlyReader{bytes.NewReader(in)}, dicom.SkipPixelData())
			if err != nil {
				t.Fatal(err)
			}
			if len(fs.Dataset.Elements) != len(full.Dataset.Elements) || fs.Dataset.Get(tag.PixelData).Bulk == nil {
				t.Errorf("from a stream: %d elements, want %d", len(fs.Dataset.Elements), len(full.Dataset.Elements))
			}
		})
	}
}

// TestDeflateBomb bounds what a small deflated input may inflate to.
func TestDeflateBomb(t *testing.T) {
	f := build(t, syntax(uid.DeflatedExplicitVRLittleEndian))
	f.Dataset.Set(dicom.NewBytes(tag.New(0x0029, 0x1003), vr.OB, make([]byte, 4<<20)))
	var buf bytes.Buffer
	if err := dicom.Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 64<<10 {
		t.Fatalf("4 MiB of zeros deflated to %d bytes", buf.Len())
	}
	_, err := dicom.Parse(bytes.NewReader(buf.Bytes()), dicom.WithMaxInflated(1<<20))
	if !errors.Is(err, dicom.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if _, err := dicom.Parse(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("within the default limit: %v", err)
	}
}

// TestStreamedFragmentsTruncated: encapsulated pixel data passed through
// from a stream that ends inside a fragment fails with ErrTruncated at
// (7FE0,0010), both when copied and when skipped.
func TestStreamedFragmentsTruncated(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(testenv.DICOMDir(t), "pydicom", "JPEG2000.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	in = in[:len(in)-100]
	for _, copyIt := range []bool{true, false} {
		rd, err := dicom.NewReader(onlyReader{bytes.NewReader(in)}, dicom.WithBulkThreshold(1))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := dicom.NewWriter(io.Discard, &rd.Header)
		for err == nil {
			var el *dicom.Element
			el, err = rd.Next()
			if err == nil && el.Bulk != nil && el.Bulk.Encapsulated && copyIt {
				r, _ := rd.BulkReader()
				err = w.WriteBulk(el, r)
			}
		}
		if !errors.Is(err, dicom.ErrTruncated) {
			t.Fatalf("copy=%v: got %v, want ErrTruncated", copyIt, err)
		}
		if e, _ := errors.AsType[*dicom.Error](err); e.Tag != tag.PixelData {
			t.Errorf("copy=%v: error at %s, want (7FE0,0010): %v", copyIt, e.Tag, err)
		}
		rd.Close()
	}
}

// TestErrorPath: an error inside nested items names the enclosing items.
func TestErrorPath(t *testing.T) {
	in := cat(
		implicit(tag.ReferencedSeriesSequence, dicom.UndefinedLength),
		implicit(tag.ItemTag, dicom.UndefinedLength), implicit(tag.ItemDelimTag, 0),
		implicit(tag.ItemTag, dicom.UndefinedLength),
		implicit(tag.ReferencedSOPSequence, dicom.UndefinedLength),
		implicit(tag.ItemTag, dicom.UndefinedLength),
		implicit(tag.ReferencedSOPInstanceUID, 0xFFFFFF00), []byte("1.2.3"),
	)
	in = cat(implicit(tag.PatientID, 4), []byte("ID01"), in)
	_, err := dicom.Parse(bytes.NewReader(in))
	e, ok := errors.AsType[*dicom.Error](err)
	if !ok || e.Tag != tag.ReferencedSOPInstanceUID {
		t.Fatalf("got %v", err)
	}
	want := "(0008,1115)[1].(0008,1199)[0]"
	if e.Path.String() != want || !strings.Contains(err.Error(), want+" > (0008,1155) at byte") {
		t.Errorf("path %q in %q, want %q", e.Path, err, want)
	}
}
