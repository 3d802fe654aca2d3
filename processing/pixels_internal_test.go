package processing

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestPixelCheckPaths checks that the in-place check and the parsed
// fallback (used for deflated data sets) hash pixel data the same way,
// native and encapsulated, and that both see a difference.
func TestPixelCheckPaths(t *testing.T) {
	dir := filepath.Join(testenv.DICOMDir(t), "pydicom")
	for _, name := range []string{"CT_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_bigendian.dcm"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			inPlace, err := checkPixels(p, p)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := checkPixelsParsed(p, p)
			if err != nil {
				t.Fatal(err)
			}
			if !inPlace.equal || !parsed.equal || inPlace.sum == "" || inPlace.sum != parsed.sum {
				t.Errorf("in place %+v, parsed %+v", inPlace, parsed)
			}
			if mem := checkBytes(t, p, p); mem != inPlace {
				t.Errorf("in memory %+v, in place %+v", mem, inPlace)
			}
		})
	}
	t.Run("DeflatedUsesParsedPath", func(t *testing.T) {
		p := filepath.Join(dir, "image_dfl.dcm")
		if _, ok, err := pixelRegions(p); err != nil || ok {
			t.Fatalf("regions of a deflated file: ok %v, err %v", ok, err)
		}
		pc, err := checkPixels(p, p)
		if err != nil || !pc.equal || pc.sum == "" {
			t.Errorf("%+v %v", pc, err)
		}
		if mem := checkBytes(t, p, p); mem != pc {
			t.Errorf("in memory %+v, from files %+v", mem, pc)
		}
	})
	t.Run("DifferentPixelsNotEqual", func(t *testing.T) {
		a, b := filepath.Join(dir, "MR_small.dcm"), filepath.Join(dir, "CT_small.dcm")
		pc, err := checkPixels(a, b)
		if err != nil || pc.equal || pc.outSum == "" || pc.outSum == pc.sum {
			t.Errorf("%+v %v", pc, err)
		}
		pp, err := checkPixelsParsed(a, b)
		if err != nil || pp.equal || pp.outSum != pc.outSum {
			t.Errorf("parsed %+v vs in place %+v (%v)", pp, pc, err)
		}
		if mem := checkBytes(t, a, b); mem != pc {
			t.Errorf("in memory %+v vs in place %+v", mem, pc)
		}
	})
	t.Run("TruncatedOutputIsAnError", func(t *testing.T) {
		p := filepath.Join(dir, "CT_small.dcm")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.Parse(bytes.NewReader(b), dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		if pc, err := checkPixelsBytes(b, b[:len(b)/2], f); err == nil {
			t.Errorf("truncated output checked without error: %+v", pc)
		}
	})
}

// checkBytes runs the in-memory check over two files read whole.
func checkBytes(t *testing.T, inPath, outPath string) pixelCheck {
	t.Helper()
	in, err := os.ReadFile(inPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.Parse(bytes.NewReader(out), dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	pc, err := checkPixelsBytes(in, out, f)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}
