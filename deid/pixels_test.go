package deid_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestCleanPixelData blanks a region of the canary CT (BurnedInAnnotation
// YES, 512 x 512, 16-bit, pixel data streamed from the file): the
// instance is written instead of quarantined, the region is zero and
// every other pixel is unchanged.
func TestCleanPixelData(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	src := filepath.Join(testenv.DICOMDir(t), "canary", "shard0", "ct_00000.dcm")
	p, err := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"modality":"CT","rows":512,"columns":512,"rects":[[0,0,100,20],[500,500,50,50]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)
	out := filepath.Join(t.TempDir(), "out.dcm")
	if b := process(t, e, src, out); b == nil {
		t.Fatal("not written")
	}
	before := pixelFiles(t, dcmdump, src)
	after := pixelFiles(t, dcmdump, out)
	if len(before) != 1 || len(after) != 1 || len(before[0]) != 512*512*2 || len(after[0]) != len(before[0]) {
		t.Fatalf("pixel values: %d before, %d after", len(before), len(after))
	}
	in, got := before[0], after[0]
	changed := 0
	for y := range 512 {
		for x := range 512 {
			i := (y*512 + x) * 2
			inRect := (x < 100 && y < 20) || (x >= 500 && y >= 500)
			v := binary.LittleEndian.Uint16(got[i:])
			switch {
			case inRect && v != 0:
				t.Fatalf("pixel (%d,%d) = %d inside a blanked region", x, y, v)
			case !inRect && !bytes.Equal(got[i:i+2], in[i:i+2]):
				t.Fatalf("pixel (%d,%d) changed outside the regions", x, y)
			case inRect && v != binary.LittleEndian.Uint16(in[i:]):
				changed++
			}
		}
	}
	if changed == 0 {
		t.Error("the blanked regions were already zero: the test proves nothing")
	}
	dump, _ := exec.Command(dcmdump, "-q", "+P", "0012,0064", "+P", "0028,0301", out).Output()
	if !strings.Contains(string(dump), "[NO]") {
		t.Errorf("BurnedInAnnotation not set to NO after cleaning:\n%s", dump)
	}
	codes, _ := exec.Command(dcmdump, "-q", "+P", "0008,0100", out).Output()
	if !strings.Contains(string(codes), "113101") {
		t.Errorf("Clean Pixel Data code 113101 missing:\n%s", codes)
	}
}

// TestDeflatedRoundTrip cleans the deflated secondary capture of the
// corpus (quarantined by default: no BurnedInAnnotation) with a pixel
// rule: it is read inflated, cleaned in memory and written deflated again.
func TestDeflatedRoundTrip(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	src := filepath.Join(testenv.DICOMDir(t), "pydicom", "image_dfl.dcm")
	p, _ := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"rects":[[0,0,4,4]]}]}`))
	e := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)
	out := filepath.Join(t.TempDir(), "out.dcm")
	if b := process(t, e, src, out); b == nil {
		t.Fatal("not written")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(dcmdump, "-q", "+P", "0002,0010", "+P", "0012,0062", out)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dcmdump: %v %s", err, stderr.Bytes())
	}
	if !strings.Contains(string(b), "Deflated") || !strings.Contains(string(b), "[YES]") {
		t.Errorf("output is not deflated or lacks PatientIdentityRemoved:\n%s", b)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
