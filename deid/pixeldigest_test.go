package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// pixelSum computes a file's pixel data digest independently of the
// engine: the file is parsed again and the values of its pixel data
// elements are hashed where they lie in the file, or, for a deflated data
// set, re-encoded from the parsed values.
func pixelSum(tb testing.TB, b []byte) string {
	tb.Helper()
	pixel := func(t tag.Tag) bool {
		return t == tag.PixelData || t == tag.FloatPixelData || t == tag.DoubleFloatPixelData
	}
	f, err := dicom.Parse(bytes.NewReader(b), dicom.SkipPixelData())
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	h := sha256.New()
	found := false
	if !f.Header.Syntax.Deflated {
		for _, el := range f.Dataset.Elements {
			if !pixel(el.Tag) {
				continue
			}
			found = true
			if el.Bulk == nil || el.Bulk.Length < 0 {
				tb.Fatalf("%s not located in the file", el.Tag)
			}
			h.Write(b[el.Bulk.Offset : el.Bulk.Offset+el.Bulk.Length])
		}
	} else {
		if f, err = dicom.Parse(bytes.NewReader(b)); err != nil {
			tb.Fatalf("parse: %v", err)
		}
		for _, el := range f.Dataset.Elements {
			if !pixel(el.Tag) {
				continue
			}
			found = true
			if !el.IsEncapsulated() {
				h.Write(el.Value)
				continue
			}
			var item [8]byte
			for _, fr := range el.Fragments {
				binary.LittleEndian.PutUint16(item[0:], 0xFFFE)
				binary.LittleEndian.PutUint16(item[2:], 0xE000)
				binary.LittleEndian.PutUint32(item[4:], uint32(len(fr)))
				h.Write(item[:])
				h.Write(fr)
			}
			h.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
		}
	}
	if !found {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPixelDigests checks the engine's pixel digests against pixelSum
// over the whole corpus, through the in-memory and the file entry
// points, with and without pixel cleaning: the input's digest is the
// input file's, the output's the written output's, and the two are equal
// exactly when the pixels were not cleaned.
func TestPixelDigests(t *testing.T) {
	dir := testenv.DICOMDir(t)
	engines := corpusEngines(t)
	for _, e := range engines {
		e.e.PixelDigests = true
	}
	files := corpusFiles(t, dir)
	tmp := t.TempDir()
	ctx := context.Background()
	deflated := 0
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			checked, cleaned, noPixels := 0, 0, 0
			for _, src := range files {
				rel, _ := filepath.Rel(dir, src)
				data, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				var mem bytes.Buffer
				rb, err := eng.e.ProcessBytesDigest(ctx, data, &mem)
				if err != nil || rb.Quarantine || rb.Skip {
					continue
				}
				rf, err := processFileDigest(t, eng.e, src, filepath.Join(tmp, "out.dcm"))
				if err != nil {
					t.Fatalf("%s: file path: %v", rel, err)
				}
				if rf.InputPixelSHA256 != rb.InputPixelSHA256 || rf.OutputPixelSHA256 != rb.OutputPixelSHA256 {
					t.Errorf("%s: file path pixel digests %.12s %.12s, bytes path %.12s %.12s", rel,
						rf.InputPixelSHA256, rf.OutputPixelSHA256, rb.InputPixelSHA256, rb.OutputPixelSHA256)
				}
				wantIn, wantOut := pixelSum(t, data), pixelSum(t, mem.Bytes())
				if rb.InputPixelSHA256 != wantIn || rb.OutputPixelSHA256 != wantOut {
					t.Errorf("%s: pixel digests in %.12s out %.12s, want in %.12s out %.12s", rel,
						rb.InputPixelSHA256, rb.OutputPixelSHA256, wantIn, wantOut)
				}
				_, isCleaned := rb.Counts["(7FE0,0010)"]
				if !isCleaned && rb.InputPixelSHA256 != rb.OutputPixelSHA256 {
					t.Errorf("%s: pixels not cleaned but digests differ", rel)
				}
				if isCleaned && rb.InputPixelSHA256 == rb.OutputPixelSHA256 {
					t.Errorf("%s: pixels cleaned but digests equal", rel)
				}
				if isCleaned {
					cleaned++
				}
				if wantIn == "" {
					noPixels++
				}
				if f, err := dicom.Parse(bytes.NewReader(data), dicom.SkipPixelData()); err == nil && f.Header.Syntax.Deflated && wantIn != "" {
					deflated++
				}
				checked++
			}
			t.Logf("%d written files checked: %d cleaned, %d without pixel data", checked, cleaned, noPixels)
			if checked < 30 || noPixels == 0 {
				t.Errorf("corpus too thin: %d checked, %d without pixel data", checked, noPixels)
			}
			if eng.name == "CleanPixelData" && cleaned == 0 {
				t.Error("no file cleaned")
			}
		})
	}
	if deflated == 0 {
		t.Error("no deflated file with pixel data was written")
	}
}

// TestPixelDigestsOnlyWhenAsked checks that no entry point reports pixel
// digests unless the engine's PixelDigests is set (ethos deid does not
// pay for them), and that the plain entry point never does.
func TestPixelDigestsOnlyWhenAsked(t *testing.T) {
	src := filepath.Join(testenv.DICOMDir(t), "pydicom", "CT_small.dcm")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(t.TempDir(), "out.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, 0, nil)
	res, err := e.ProcessBytesDigest(context.Background(), data, io.Discard)
	if err != nil || res.OutputSHA256 == "" {
		t.Fatalf("%+v %v", res, err)
	}
	if res.InputPixelSHA256 != "" || res.OutputPixelSHA256 != "" {
		t.Errorf("ProcessBytesDigest without PixelDigests reported %q %q", res.InputPixelSHA256, res.OutputPixelSHA256)
	}
	e.PixelDigests = true
	res, err = e.ProcessFile(context.Background(), in, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.InputPixelSHA256 != "" || res.OutputPixelSHA256 != "" {
		t.Errorf("ProcessFile reported pixel digests %q %q", res.InputPixelSHA256, res.OutputPixelSHA256)
	}
}
