package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestProcessBytesDigestMatchesFile runs every file of the corpus through
// the in-memory entry point and through the file one: same decision,
// reasons, counts, digests and output bytes. The cleaning engine blanks
// a rectangle of every 512×512 and 64×64 image, so native and RLE
// cleaning read their pixel data from memory too.
func TestProcessBytesDigestMatchesFile(t *testing.T) {
	dir := testenv.DICOMDir(t)
	engines := corpusEngines(t)
	files := corpusFiles(t, dir)
	tmp := t.TempDir()
	ctx := context.Background()
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			written, cleaned, withheld := 0, 0, 0
			for _, src := range files {
				rel, _ := filepath.Rel(dir, src)
				data, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				var mem bytes.Buffer
				rb, errB := eng.e.ProcessBytesDigest(ctx, data, &mem)

				outPath := filepath.Join(tmp, "out.dcm")
				rf, errF := processFileDigest(t, eng.e, src, outPath)
				if (errB == nil) != (errF == nil) || errB != nil && errB.Error() != errF.Error() {
					t.Errorf("%s: bytes error %v, file error %v", rel, errB, errF)
					continue
				}
				if errB != nil {
					continue
				}
				if rb.Quarantine != rf.Quarantine || rb.Skip != rf.Skip || !slices.Equal(rb.Reasons, rf.Reasons) || rb.Name != rf.Name ||
					rb.InputSHA256 != rf.InputSHA256 || rb.OutputSHA256 != rf.OutputSHA256 || len(rb.Counts) != len(rf.Counts) {
					t.Errorf("%s: bytes result %+v, file result %+v", rel, rb, rf)
					continue
				}
				if rb.Quarantine || rb.Skip {
					// No output is created for a withheld instance.
					if _, rt := processTo(t, eng.e, src, filepath.Join(tmp, "to.dcm"), true); rt.Quarantine != rb.Quarantine || rt.Skip != rb.Skip {
						t.Errorf("%s: ProcessFileTo quarantine %v skip %v, want %v %v", rel, rt.Quarantine, rt.Skip, rb.Quarantine, rb.Skip)
					}
					withheld++
					continue
				}
				want, err := os.ReadFile(outPath)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(mem.Bytes(), want) {
					t.Errorf("%s: bytes path wrote %d bytes, file path %d, contents differ", rel, mem.Len(), len(want))
				}
				for _, digest := range []bool{true, false} {
					got, rt := processTo(t, eng.e, src, filepath.Join(tmp, "to.dcm"), digest)
					wantIn, wantOut := rf.InputSHA256, rf.OutputSHA256
					if !digest {
						wantIn, wantOut = "", ""
					}
					if rt.Name != rf.Name || rt.InputSHA256 != wantIn || rt.OutputSHA256 != wantOut || !bytes.Equal(got, want) {
						t.Errorf("%s: ProcessFileTo (digest %v) gave %s %s %s and %d bytes, ProcessFileDigest %s %s %s and %d bytes",
							rel, digest, rt.Name, rt.InputSHA256, rt.OutputSHA256, len(got), rf.Name, wantIn, wantOut, len(want))
					}
				}
				written++
				if _, ok := rb.Counts["(7FE0,0010)"]; ok {
					cleaned++
				}
			}
			if written == 0 {
				t.Fatal("no file written")
			}
			if eng.name == "CleanPixelData" && cleaned == 0 {
				t.Error("no file had its pixel data cleaned")
			}
			t.Logf("%d files, %d written, %d cleaned, %d withheld", len(files), written, cleaned, withheld)
		})
	}
}

// namedEngine is an engine of a table-driven test.
type namedEngine struct {
	name string
	e    *deid.Engine
}

// corpusEngines returns the engines the corpus-wide tests run: the basic
// profile, and one that also cleans a rectangle of every 512×512 and
// 64×64 image (native and RLE cleaning).
func corpusEngines(t *testing.T) []namedEngine {
	t.Helper()
	p, err := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"rows":512,"columns":512,"rects":[[0,0,100,20]]},{"rows":64,"columns":64,"rects":[[1,1,5,5]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return []namedEngine{
		{"Basic", mustEngine(t, 0, nil)},
		{"CleanPixelData", mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p)},
	}
}

// corpusFiles lists the regular files under dir.
func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// processFileDigest runs ProcessFileDigest from the file src to a new
// file out.
func processFileDigest(t *testing.T, e *deid.Engine, src, out string) (deid.FileResult, error) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return e.ProcessFileDigest(context.Background(), in, f)
}

// processTo runs ProcessFileTo on src, its output created at out, and
// returns what it wrote. It fails the test when create is called for an
// instance that is not written, with another name than the result's, or
// more than once.
func processTo(t *testing.T, e *deid.Engine, src, out string, digest bool) ([]byte, deid.FileResult) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var created []string
	var f *os.File
	r, err := e.ProcessFileTo(context.Background(), in, func(name string) (*os.File, error) {
		created = append(created, name)
		var err error
		f, err = os.Create(out)
		return f, err
	}, digest)
	if f != nil {
		defer f.Close()
	}
	if err != nil {
		t.Fatalf("ProcessFileTo: %v", err)
	}
	written := !r.Quarantine && !r.Skip
	if written != (len(created) == 1) || len(created) > 1 || written && created[0] != r.Name {
		t.Fatalf("create called with %q for a result named %q (quarantine %v, skip %v)", created, r.Name, r.Quarantine, r.Skip)
	}
	if !written {
		return nil, r
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

// FuzzProcessBytesDigest feeds arbitrary bytes to the in-memory entry
// point: it must return an error or a result, never panic, and its
// digests must be those of its input and of what it wrote; when the file
// path writes too, both outputs must be identical.
func FuzzProcessBytesDigest(f *testing.F) {
	seedCorpus(f)
	e := mustEngine(f, 0, nil)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var mem bytes.Buffer
		r, err := e.ProcessBytesDigest(context.Background(), data, &mem)
		if s := sha256.Sum256(data); r.InputSHA256 != hex.EncodeToString(s[:]) {
			t.Fatalf("input digest %q, want the input's", r.InputSHA256)
		}
		if err != nil || r.Quarantine || r.Skip {
			return
		}
		if s := sha256.Sum256(mem.Bytes()); r.OutputSHA256 != hex.EncodeToString(s[:]) {
			t.Fatalf("output digest %q, want the output's", r.OutputSHA256)
		}
		in := filepath.Join(dir, "in.dcm")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if fromFile := process(t, e, in, filepath.Join(dir, "out.dcm")); fromFile != nil && !bytes.Equal(fromFile, mem.Bytes()) {
			t.Fatalf("file path wrote %d bytes, bytes path %d, contents differ", len(fromFile), mem.Len())
		}
	})
}

// TestCountsIndependentOfOtherFiles: an engine shares its per-tag count
// maps between results; the counts of a file must be the same whether it
// is processed first, after every other corpus file, or by a fresh
// engine, and must not change while other files are processed.
func TestCountsIndependentOfOtherFiles(t *testing.T) {
	dir := testenv.DICOMDir(t)
	files := slices.DeleteFunc(corpusFiles(t, dir), func(path string) bool { return !strings.HasSuffix(path, ".dcm") })
	counted := 0
	run := func(e *deid.Engine, path string) map[string]map[string]int {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		r, _ := e.ProcessBytesDigest(context.Background(), data, &out)
		if len(r.Counts) > 0 {
			counted++
		}
		return r.Counts
	}
	clone := func(c map[string]map[string]int) map[string]map[string]int {
		if c == nil {
			return nil
		}
		d := map[string]map[string]int{}
		for k, m := range c {
			d[k] = maps.Clone(m)
		}
		return d
	}
	shared := mustEngine(t, 0, nil)
	first := map[string]map[string]map[string]int{}
	kept := map[string]map[string]map[string]int{}
	for _, f := range files {
		c := run(shared, f)
		first[f], kept[f] = clone(c), c
	}
	for _, f := range files {
		again, fresh := run(shared, f), run(mustEngine(t, 0, nil), f)
		if !reflect.DeepEqual(again, first[f]) || !reflect.DeepEqual(fresh, first[f]) || !reflect.DeepEqual(kept[f], first[f]) {
			t.Errorf("%s: counts first %v, again %v, by a fresh engine %v, first result now %v", f, first[f], again, fresh, kept[f])
		}
	}
	if counted == 0 {
		t.Fatalf("no action counted in %d corpus files: nothing was compared", len(files))
	}
}
