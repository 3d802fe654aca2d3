package deid_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

// aliasWriter records what is written, and how many bytes arrived as
// slices of in's own memory.
type aliasWriter struct {
	in     []byte
	buf    bytes.Buffer
	shared int
}

func (w *aliasWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && len(w.in) > 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(w.in)))
		at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
		if at >= base && at+uintptr(len(p)) <= base+uintptr(len(w.in)) {
			w.shared += len(p)
		}
	}
	return w.buf.Write(p)
}

// TestProcessBytesMatchesDigest runs every file of the corpus through
// ProcessBytes and ProcessBytesDigest: the same decision, reasons and
// output bytes, no digests from ProcessBytes, the input left unchanged,
// and the pixel data of files whose pixels pass through unchanged written
// as slices of the input itself (what a processing run relies on to keep
// them without copying).
func TestProcessBytesMatchesDigest(t *testing.T) {
	dir := testenv.DICOMDir(t)
	ctx := context.Background()
	for _, eng := range corpusEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			written, sharing := 0, 0
			for _, src := range corpusFiles(t, dir) {
				rel, _ := filepath.Rel(dir, src)
				data, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				orig := bytes.Clone(data)
				var want bytes.Buffer
				rd, errD := eng.e.ProcessBytesDigest(ctx, orig, &want)
				w := &aliasWriter{in: data}
				rb, errB := eng.e.ProcessBytes(ctx, data, w)
				if !bytes.Equal(data, orig) {
					t.Fatalf("%s: ProcessBytes changed its input", rel)
				}
				if (errB == nil) != (errD == nil) || errB != nil && errB.Error() != errD.Error() {
					t.Errorf("%s: ProcessBytes error %v, ProcessBytesDigest error %v", rel, errB, errD)
					continue
				}
				if errB != nil {
					continue
				}
				if rb.Quarantine != rd.Quarantine || rb.Skip != rd.Skip || !slices.Equal(rb.Reasons, rd.Reasons) || rb.Name != rd.Name {
					t.Errorf("%s: ProcessBytes result %+v, ProcessBytesDigest %+v", rel, rb, rd)
					continue
				}
				if rb.InputSHA256 != "" || rb.OutputSHA256 != "" || rb.InputPixelSHA256 != "" {
					t.Errorf("%s: ProcessBytes reported digests %+v", rel, rb)
				}
				if rb.Quarantine || rb.Skip {
					continue
				}
				if !bytes.Equal(w.buf.Bytes(), want.Bytes()) {
					t.Errorf("%s: ProcessBytes wrote %d bytes, ProcessBytesDigest %d, contents differ", rel, w.buf.Len(), want.Len())
				}
				written++
				if _, cleaned := rb.Counts["(7FE0,0010)"]; !cleaned && w.shared > 0 {
					sharing++
				}
			}
			if written == 0 || sharing == 0 {
				t.Fatalf("%d files written, %d of them with values written from the input's memory; want some of each", written, sharing)
			}
			t.Logf("%d written, %d sharing the input's memory", written, sharing)
		})
	}
}
