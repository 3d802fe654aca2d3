package processing_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
