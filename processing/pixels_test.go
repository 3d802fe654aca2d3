package processing_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/processing"
)

// TestComparePixelFiles runs the pixel check on real files of every
// pixel data form (native, encapsulated RLE, deflated data set, none) as
// they are and altered: it finds identical pixel data identical and names
// the tag of a difference.
func TestComparePixelFiles(t *testing.T) {
	root := testenv.DICOMDir(t)
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flipAt := func(b []byte, off int) []byte {
		c := bytes.Clone(b)
		c[off] ^= 0x01
		return c
	}
	// pixelEnd is the offset of the last byte of a file's Pixel Data
	// value, found by an independent parse (a file may end with trailing
	// padding after it).
	pixelEnd := func(b []byte) int {
		f, err := dicom.Parse(bytes.NewReader(b), dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		px := f.Dataset.Get(0x7FE00010)
		if px == nil || px.Bulk == nil {
			t.Fatal("pixel data not located")
		}
		return int(px.Bulk.Offset + px.Bulk.Length - 1)
	}
	ct, rle := read("pydicom/CT_small.dcm"), read("pydicom/MR_small_RLE.dcm")
	tests := []struct {
		name      string
		in, out   []byte
		wantEqual bool
		want      string // in the detail of a difference
	}{
		{"NativeIdentical", read("pydicom/CT_small.dcm"), read("pydicom/CT_small.dcm"), true, ""},
		{"NativeLastByteDiffers", ct, flipAt(ct, pixelEnd(ct)), false, "(7FE0,0010)"},
		{"TrailingPaddingIgnored", ct, flipAt(ct, len(ct)-1), true, ""},
		{"HeaderChangeIgnored", read("pydicom/CT_small.dcm"), flipAt(read("pydicom/CT_small.dcm"), 200), true, ""},
		{"EncapsulatedIdentical", read("pydicom/MR_small_RLE.dcm"), read("pydicom/MR_small_RLE.dcm"), true, ""},
		{"EncapsulatedFragmentDiffers", rle, flipAt(rle, pixelEnd(rle)-20), false, "(7FE0,0010)"},
		{"DeflatedIdentical", read("pydicom/image_dfl.dcm"), read("pydicom/image_dfl.dcm"), true, ""},
		{"DeflatedPixelsDiffer", read("pydicom/image_dfl.dcm"), redeflated(t, read("pydicom/image_dfl.dcm")), false, "(7FE0,0010)"},
		{"NativeAgainstOtherPixels", read("pydicom/CT_small.dcm"), read("pydicom/MR_small.dcm"), false, "(7FE0,0010)"},
		{"NoPixelData", read("canary/shard0/sr_00008.dcm"), read("canary/shard0/sr_00008.dcm"), true, ""},
		{"PixelDataDropped", read("pydicom/CT_small.dcm"), read("canary/shard0/sr_00008.dcm"), false, "1 pixel data elements, the output 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := processing.ComparePixelFiles(tt.in, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if (detail == "") != tt.wantEqual || !strings.Contains(detail, tt.want) {
				t.Fatalf("detail %q, want equal %t (containing %q)", detail, tt.wantEqual, tt.want)
			}
		})
	}
}

// redeflated is a deflated file whose inflated pixel data has its last
// byte changed, deflated again: the check must compare inflated values.
func redeflated(t *testing.T, b []byte) []byte {
	t.Helper()
	f, err := dicom.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	px := f.Dataset.Get(0x7FE00010)
	if px == nil || len(px.Value) == 0 {
		t.Fatal("no native pixel data in the deflated file")
	}
	px.Value[len(px.Value)-1] ^= 0x01
	var out bytes.Buffer
	if err := dicom.Write(&out, f); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestRecordedPixels: the location of the pixel data recorded at ingest
// is used only where the bytes before it are that element's header, in
// every transfer syntax form (explicit and implicit VR, big endian,
// encapsulated); a location off by a few bytes, with another length, tag
// or syntax is not.
func TestRecordedPixels(t *testing.T) {
	root := testenv.DICOMDir(t)
	for _, rel := range []string{"pydicom/CT_small.dcm", "pydicom/MR_small_implicit.dcm", "pydicom/MR_small_bigendian.dcm",
		"pydicom/MR_small_RLE.dcm", "pydicom/JPEG2000.dcm", "canary/shard0/ct_00000.dcm"} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		rec := pixelValueOf(t, data)
		if rec == nil {
			t.Fatalf("%s: no pixel data located", rel)
		}
		alter := []struct {
			name string
			edit func(p *ethos.PixelValue)
			ok   bool
		}{
			{"as_recorded", func(*ethos.PixelValue) {}, true},
			{"refused_offset_plus_2", func(p *ethos.PixelValue) { p.Offset += 2 }, false},
			{"refused_offset_minus_4", func(p *ethos.PixelValue) { p.Offset -= 4 }, false},
			{"refused_offset_past_end", func(p *ethos.PixelValue) { p.Offset = int64(len(data)) + 12 }, false},
			{"refused_other_length", func(p *ethos.PixelValue) { p.Length += 2 }, false},
			{"refused_other_tag", func(p *ethos.PixelValue) { p.Tag = 0x7FE00008 }, false},
			{"refused_encapsulation_flipped", func(p *ethos.PixelValue) { p.Encapsulated = !p.Encapsulated }, false},
			{"refused_unknown_syntax", func(p *ethos.PixelValue) { p.Syntax = "1.2.3.4" }, false},
			{"refused_deflated_syntax", func(p *ethos.PixelValue) { p.Syntax = "1.2.840.10008.1.2.1.99" }, false},
		}
		for _, a := range alter {
			t.Run(filepath.Base(rel)+"/"+a.name, func(t *testing.T) {
				p := *rec
				a.edit(&p)
				if got := processing.RecordedPixelsOK(data, &p); got != a.ok {
					t.Fatalf("%+v used: %v, want %v", p, got, a.ok)
				}
			})
		}
	}
}

// TestRunRecordedPixels: a run compares pixel data where ingest recorded
// it, and fails, recording nothing, when the file's header refutes the
// recorded location; instances recorded without one are read as before.
func TestRunRecordedPixels(t *testing.T) {
	ctx := context.Background()
	root := testenv.DICOMDir(t)
	for _, path := range []struct {
		name  string
		limit int64
		hash  bool
	}{{"InMemoryDigestKnown", 0, false}, {"InMemoryEngineHashes", 0, true}, {"Staged", -1, false}} {
		t.Run(path.name+"/ErrRefutedByHeader", func(t *testing.T) {
			f := setup(t, "canary/shard0/mr_00002.dcm")
			f.proc.MaxInMemory = path.limit
			if path.hash {
				processing.HashInputs(f.proc)
			}
			f.putEdit(t, root, "pydicom/CT_small.dcm", func(in *ethos.Instance) { in.Pixels.Offset -= 2 })
			_, err := f.proc.Run(ctx, f.request(t, ""))
			if err == nil || !strings.Contains(err.Error(), "pixel data location recorded at ingest") {
				t.Fatalf("err %v, want the recorded location refuted", err)
			}
			if n := f.recordedRuns(t); n != 0 {
				t.Errorf("%d runs recorded", n)
			}
		})
		t.Run(path.name+"/NotRecordedRead", func(t *testing.T) {
			f := setup(t, "canary/shard0/mr_00002.dcm")
			f.proc.MaxInMemory = path.limit
			if path.hash {
				processing.HashInputs(f.proc)
			}
			in := f.putEdit(t, root, "pydicom/CT_small.dcm", func(in *ethos.Instance) { in.Pixels = nil })
			run, err := f.proc.Run(ctx, f.request(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			if it := item(t, run, in.ID); it.PixelCheck != ethos.PixelCheckIdentical {
				t.Fatalf("pixel check %q, want identical", it.PixelCheck)
			}
		})
	}
}

// FuzzRecordedPixels: whatever the file and the recorded location, the
// check of the location neither panics nor accepts one whose value is not
// within the file, after its element's tag.
func FuzzRecordedPixels(f *testing.F) {
	root := testenv.DICOMDir(f)
	for _, rel := range []string{"pydicom/CT_small.dcm", "pydicom/MR_small_implicit.dcm", "pydicom/MR_small_bigendian.dcm", "pydicom/MR_small_RLE.dcm"} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			f.Fatal(err)
		}
		rec := pixelValueOf(f, data)
		f.Add(data, rec.Tag, rec.Offset, rec.Length, rec.Encapsulated, rec.Syntax)
	}
	f.Fuzz(func(t *testing.T, data []byte, tg uint32, off, n int64, enc bool, syntax string) {
		rec := &ethos.PixelValue{Tag: tg, Offset: off, Length: n, Encapsulated: enc, Syntax: syntax}
		if !processing.RecordedPixelsOK(data, rec) {
			return
		}
		if off < 8 || n < 0 || off+n > int64(len(data)) {
			t.Fatalf("accepted %+v in a file of %d bytes", rec, len(data))
		}
		if tg>>16 != 0x7FE0 {
			t.Fatalf("accepted tag %08X", tg)
		}
	})
}
