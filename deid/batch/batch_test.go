package batch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ethos-imaging/ethos/deid/batch"
)

// fakeProcessor copies the input, quarantines files that start with "Q",
// fails those that start with "BAD" and names outputs by their content.
type fakeProcessor struct {
	calls  atomic.Int64
	cancel func()
	after  int64
}

func (p *fakeProcessor) Process(ctx context.Context, in, out *os.File) (batch.Result, error) {
	n := p.calls.Add(1)
	if p.cancel != nil && n == p.after {
		p.cancel()
	}
	if err := ctx.Err(); err != nil {
		return batch.Result{}, err
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return batch.Result{}, err
	}
	switch {
	case bytes.HasPrefix(b, []byte("BAD")):
		return batch.Result{}, errors.New("not DICOM")
	case bytes.HasPrefix(b, []byte("Q")):
		return batch.Result{Quarantine: true, Reasons: []string{"burned-in text"}}, nil
	}
	if _, err := out.Write(bytes.ToUpper(b)); err != nil {
		return batch.Result{}, err
	}
	return batch.Result{Name: "o/" + strings.TrimSpace(string(b)) + ".out", Counts: map[string]map[string]int{"(0010,0010)": {"zero": 1}}}, nil
}

func mustTree(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func TestRun(t *testing.T) {
	files := map[string]string{"a/1": "one", "a/2": "two", "b/q": "Qsecret", "c/bad": "BADBAD"}
	for i := range 20 {
		files[fmt.Sprintf("d/%02d", i)] = fmt.Sprintf("f%02d", i)
	}
	in := mustTree(t, files)
	root := t.TempDir()
	out, quar := filepath.Join(root, "out"), filepath.Join(root, "quar")
	p := &fakeProcessor{}
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Quarantine: quar, Workers: 3, Processor: p, RunKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Files != 24 || s.Written != 22 || s.Quarantined != 1 || s.Failed != 1 {
		t.Fatalf("summary = %+v", s)
	}
	if got := res.Counts["(0010,0010)"]["zero"]; got != 22 {
		t.Errorf("counts = %d, want 22", got)
	}
	b, err := os.ReadFile(filepath.Join(out, "o", "one.out"))
	if err != nil || string(b) != "ONE" {
		t.Errorf("output = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(quar, "b", "q")); err != nil {
		t.Errorf("quarantine copy missing: %v", err)
	}
	for _, f := range res.Files {
		if f.Status == batch.Written && (len(f.InputSHA256) != 64 || len(f.OutSHA256) != 64) {
			t.Errorf("%s: hashes %q %q", f.Input, f.InputSHA256, f.OutSHA256)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, "o"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ethos-tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}

	t.Run("ReRunResumesEverythingButFailures", func(t *testing.T) {
		p2 := &fakeProcessor{}
		res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Quarantine: quar, Workers: 2, Processor: p2, RunKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := p2.calls.Load(); got != 1 {
			t.Errorf("processor called %d times, want 1 (the failed file)", got)
		}
		if res.Summary.Resumed != 23 || res.Counts["(0010,0010)"]["zero"] != 22 {
			t.Errorf("summary = %+v counts %v", res.Summary, res.Counts["(0010,0010)"])
		}
	})
	t.Run("OtherRunKeyProcessesAgain", func(t *testing.T) {
		p3 := &fakeProcessor{}
		if _, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: p3, RunKey: "k2"}); err != nil {
			t.Fatal(err)
		}
		if got := p3.calls.Load(); got != 24 {
			t.Errorf("processor called %d times, want 24", got)
		}
		// Every output already existed: each was replaced in place, whole,
		// readable by others and with no temporary left beside it.
		p := filepath.Join(out, "o", "two.out")
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "TWO" {
			t.Errorf("replaced output = %q, %v", b, err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("replaced output mode = %v, %v; want 0644", st.Mode().Perm(), err)
		}
		entries, _ := os.ReadDir(filepath.Join(out, "o"))
		if len(entries) != 22 {
			t.Errorf("output directory holds %d entries, want 22", len(entries))
		}
	})
}

func TestRunInterruptedThenFinished(t *testing.T) {
	files := map[string]string{}
	for i := range 30 {
		files[fmt.Sprintf("%02d", i)] = fmt.Sprintf("f%02d", i)
	}
	in := mustTree(t, files)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakeProcessor{cancel: cancel, after: 10}
	_, err := batch.Run(ctx, batch.Options{In: in, Out: out, Workers: 1, Processor: p, RunKey: "k"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	p2 := &fakeProcessor{}
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Workers: 2, Processor: p2, RunKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Written != 30 {
		t.Fatalf("written = %d, want 30", res.Summary.Written)
	}
	if got := p2.calls.Load(); got < 20 || got > 21 {
		t.Errorf("second run processed %d files, want the 20 or 21 not finished", got)
	}
}

// TestRunInputSymlink: an input directory named through a symbolic link
// is walked.
func TestRunInputSymlink(t *testing.T) {
	in := mustTree(t, map[string]string{"a/1": "one", "2": "two"})
	link := filepath.Join(t.TempDir(), "in")
	if err := os.Symlink(in, link); err != nil {
		t.Skip(err)
	}
	res, err := batch.Run(context.Background(), batch.Options{In: link, Out: filepath.Join(t.TempDir(), "out"), Processor: &fakeProcessor{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Written != 2 {
		t.Errorf("written = %d, want 2", res.Summary.Written)
	}
}

func TestRunErrOverlappingDirs(t *testing.T) {
	in := mustTree(t, map[string]string{"x": "x"})
	_, err := batch.Run(context.Background(), batch.Options{In: in, Out: filepath.Join(in, "out"), Processor: &fakeProcessor{}})
	if !errors.Is(err, batch.ErrSameTree) {
		t.Errorf("err = %v, want ErrSameTree", err)
	}
}

// TestJournalLineMatchesEncodingJSON: the hand-written journal line is
// the bytes encoding/json gives, escaping included.
func TestJournalLineMatchesEncodingJSON(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		rec  batch.FileRecord
	}{
		{"NoCounts", batch.FileRecord{Input: "a/b.dcm", Status: batch.Failed, Reasons: []string{"not DICOM"}, InputSize: 12}},
		{"Written", batch.FileRecord{Input: "a/b \"c\".dcm", Output: "1.2/3.4/5.6.dcm", Status: batch.Written, InputSize: 531530,
			InputSHA256: sha, OutputSize: 526028, OutSHA256: sha, Group: map[string]string{"sex": "F", "ageBand": "40-49"},
			Counts: map[string]map[string]int{"(0010,0010)": {"dummy": 1}, "(0008,0020)": {"zero": 1, "clean": 2}, "(gggg,eeee) private": {"remove": 7}}}},
		{"Resumed", batch.FileRecord{Input: "x", Status: batch.Quarantined, Reasons: []string{"burned-in <text> & more", "b"}, Resumed: true}},
		{"EscapedKeys", batch.FileRecord{Input: "é\x01\xff/\u2028", Status: batch.Skipped, Group: map[string]string{"<k>": "v\"\\"},
			Counts: map[string]map[string]int{"a\"<b>\x01é": {"keep": 1, "k\tx": -3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := batch.JournalLine(tt.rec)
			if !bytes.Equal(got, want) {
				t.Errorf("journal line\n got %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzJournalLine holds the hand-written journal line to encoding/json
// for arbitrary text in every string field.
func FuzzJournalLine(f *testing.F) {
	f.Add("a/b.dcm", "1.2/3.dcm", "not DICOM", "(0010,0010)", "dummy", "sex", "F", int64(531530))
	f.Add("é\x00<&>\u2028", "", "\"\\", "", "", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, in, out, reason, tag, action, gk, gv string, size int64) {
		rec := batch.FileRecord{Input: in, Output: out, Status: batch.Written, Reasons: []string{reason}, InputSize: size, OutputSize: size,
			InputSHA256: reason, Group: map[string]string{gk: gv}, Counts: map[string]map[string]int{tag: {action: int(size % 1000)}}}
		got, want := batch.JournalLine(rec)
		if !bytes.Equal(got, want) {
			t.Fatalf("journal line\n got %s\nwant %s", got, want)
		}
	})
}

// toProcessor is fakeProcessor as a batch.ProcessorTo: it creates its
// output only for an input it writes. Inputs starting with "LATE" fail
// after their output was created; "DUP" inputs all name one output.
type toProcessor struct {
	fakeProcessor
	creates atomic.Int64
}

func (p *toProcessor) ProcessTo(ctx context.Context, in *os.File, create func(string) (*os.File, error)) (batch.Result, error) {
	p.calls.Add(1)
	b, err := io.ReadAll(in)
	if err != nil {
		return batch.Result{}, err
	}
	name := "o/" + strings.TrimSpace(string(b)) + ".out"
	switch {
	case bytes.HasPrefix(b, []byte("Q")):
		return batch.Result{Quarantine: true, Reasons: []string{"burned-in text"}}, nil
	case bytes.HasPrefix(b, []byte("DUP")):
		name = "o/dup.out"
	}
	p.creates.Add(1)
	out, err := create(name)
	if err != nil {
		return batch.Result{}, err
	}
	if _, err := out.Write(bytes.ToUpper(b)); err != nil {
		return batch.Result{}, err
	}
	if bytes.HasPrefix(b, []byte("LATE")) {
		return batch.Result{}, errors.New("failed while writing")
	}
	return batch.Result{Name: name}, nil
}

func TestRunProcessorTo(t *testing.T) {
	in := mustTree(t, map[string]string{"a/1": "one", "a/2": "two", "b/q": "Qsecret", "c/late": "LATE", "d/1": "DUP1", "d/2": "DUP2"})
	out := filepath.Join(t.TempDir(), "out")
	p := &toProcessor{}
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Workers: 1, Processor: p, RunKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Files != 6 || s.Written != 3 || s.Quarantined != 1 || s.Failed != 1 || s.Skipped != 1 {
		t.Fatalf("summary = %+v", s)
	}
	if got := p.creates.Load(); got != 5 {
		t.Errorf("create called %d times, want 5 (never for the quarantined input)", got)
	}
	for name, want := range map[string]string{"one.out": "ONE", "two.out": "TWO", "dup.out": "DUP1"} {
		p := filepath.Join(out, "o", name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v; want 0644", name, st.Mode().Perm(), err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, "o"))
	if len(entries) != 3 {
		t.Errorf("output directory holds %d entries, want the 3 outputs (nothing of the failed input)", len(entries))
	}
	for _, f := range res.Files {
		if f.Input == "d/2" && (f.Status != batch.Skipped || !strings.Contains(strings.Join(f.Reasons, ""), "d/1")) {
			t.Errorf("d/2: %s %v, want skipped as a duplicate of d/1", f.Status, f.Reasons)
		}
	}
}

// TestRunProcessorToFailureReleasesName: an input whose output failed
// after it was created does not keep its name from another input.
func TestRunProcessorToFailureReleasesName(t *testing.T) {
	in := mustTree(t, map[string]string{"1": "DUPLATE", "2": "DUP2"})
	p := &lateDup{}
	out := filepath.Join(t.TempDir(), "out")
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Workers: 1, Processor: p, RunKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Written != 1 || s.Failed != 1 {
		t.Fatalf("summary = %+v, want 1 written, 1 failed", s)
	}
	if b, err := os.ReadFile(filepath.Join(out, "o", "dup.out")); err != nil || string(b) != "DUP2" {
		t.Errorf("dup.out = %q, %v", b, err)
	}
}

// lateDup names every output o/dup.out and fails, after creating it, for
// inputs containing "LATE".
type lateDup struct{ fakeProcessor }

func (p *lateDup) ProcessTo(ctx context.Context, in *os.File, create func(string) (*os.File, error)) (batch.Result, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return batch.Result{}, err
	}
	out, err := create("o/dup.out")
	if err != nil {
		return batch.Result{}, err
	}
	out.Write(b)
	if bytes.Contains(b, []byte("LATE")) {
		return batch.Result{}, errors.New("failed while writing")
	}
	return batch.Result{Name: "o/dup.out"}, nil
}

// TestRunResumeDuplicateFoundFirst: a new input that duplicates a
// journalled output and comes first in walk order (processed while the
// walk goes on) leaves one consistent record: one input written, whose
// digest is that of the output on disk, the other skipped.
func TestRunResumeDuplicateFoundFirst(t *testing.T) {
	in := mustTree(t, map[string]string{"b/a": "dup"})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: &fakeProcessor{}, RunKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(in, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "a", "c"), []byte("dup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Workers: 1, Processor: &fakeProcessor{}, RunKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Written != 1 || s.Skipped != 1 {
		t.Fatalf("summary = %+v, want 1 written and 1 skipped", s)
	}
	b, err := os.ReadFile(filepath.Join(out, "o", "dup.out"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	for _, f := range res.Files {
		if f.Status == batch.Written && f.OutSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: recorded output digest %s, the file on disk has %x", f.Input, f.OutSHA256, sum)
		}
	}
}

// TestJoinCleanMatchesFilepath holds the runner's path shortcuts to
// filepath.Join and filepath.Dir, for clean roots and any relative name.
func TestJoinCleanMatchesFilepath(t *testing.T) {
	for _, dir := range []string{"/", "/out", "/a/b"} {
		for _, rel := range []string{"x.dcm", "s/e/i.dcm", "a//b", "./a", "a/./b", "a/..", "..", ".", "", "/abs", "a/", "a/b/", ".hidden/x", "a..b/c"} {
			got, want := batch.JoinClean(dir, rel), filepath.Join(dir, filepath.FromSlash(rel))
			if got != want {
				t.Errorf("JoinClean(%q, %q) = %q, want %q", dir, rel, got, want)
			}
			if got, want := batch.ParentDir(want), filepath.Dir(want); got != want {
				t.Errorf("ParentDir(%q) = %q, want %q", filepath.Join(dir, rel), got, want)
			}
		}
	}
}

// TestWalkOrderMatchesWalkDir holds the runner's walk to
// filepath.WalkDir: the same regular files in the same order (names
// sorted, directories entered where they sort, links not followed).
func TestWalkOrderMatchesWalkDir(t *testing.T) {
	in := t.TempDir()
	for _, f := range []string{"b.dcm", "a/z.dcm", "a/b/c.dcm", "a.dcm", "a-b/x", "ab/y", "A/q", ".hidden/h", "a/b.dcm"} {
		p := filepath.Join(in, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(in, "a"), filepath.Join(in, "link")); err != nil {
		t.Fatal(err)
	}
	var want []string
	filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(in, p)
			want = append(want, filepath.ToSlash(rel))
		}
		return err
	})
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: filepath.Join(t.TempDir(), "out"), Processor: &fakeProcessor{}, Sync: batch.SyncNone, NoHash: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Files {
		got = append(got, f.Input)
		// The link below the input is recorded, not followed.
		if isLink := f.Input == "link"; isLink != (len(f.Reasons) == 1 && strings.HasPrefix(f.Reasons[0], "symbolic link")) {
			t.Errorf("%s: status %s %v", f.Input, f.Status, f.Reasons)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("walk order:\n got %v\nwant %v", got, want)
	}
}

// TestRunAccountsForEntriesNotRead: entries that are not regular files
// (a link to a file, a link leading out of the tree, a dangling link, a
// named pipe) are recorded as skipped with the reason and never opened
// (a pipe would block), in a second run over the same output too.
func TestRunAccountsForEntriesNotRead(t *testing.T) {
	outside := mustTree(t, map[string]string{"secret": "outside"})
	in := mustTree(t, map[string]string{"a/1": "one", "2": "two"})
	for name, target := range map[string]string{
		"a/to-file": filepath.Join(in, "2"),
		"out-link":  filepath.Join(outside, "secret"),
		"dangling":  filepath.Join(in, "missing"),
	} {
		if err := os.Symlink(target, filepath.Join(in, filepath.FromSlash(name))); err != nil {
			t.Skip(err)
		}
	}
	if err := mkfifo(filepath.Join(in, "pipe")); err != nil {
		t.Logf("no named pipe: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	p := &fakeProcessor{}
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: p})
	if err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 2 {
		t.Errorf("processor called %d times, want 2 (the regular files)", p.calls.Load())
	}
	for _, f := range res.Files {
		regular := f.Input == "a/1" || f.Input == "2"
		switch {
		case regular && f.Status != batch.Written:
			t.Errorf("%s: %s %v, want written", f.Input, f.Status, f.Reasons)
		case !regular && (f.Status != batch.Skipped || len(f.Reasons) != 1 || !strings.Contains(f.Reasons[0], "not")):
			t.Errorf("%s: %s %v, want skipped with the reason", f.Input, f.Status, f.Reasons)
		case !regular && strings.Contains(f.Reasons[0], in):
			t.Errorf("%s: reason names a path: %q", f.Input, f.Reasons[0])
		}
	}
	if res.Summary.Written != 2 || res.Summary.Skipped != len(res.Files)-2 || len(res.Files) < 5 {
		t.Errorf("summary %+v over %d entries, want 2 written and the rest skipped", res.Summary, len(res.Files))
	}
	if _, err := os.Stat(filepath.Join(out, "o", "outside.out")); err == nil {
		t.Error("a link out of the input tree was followed")
	}
	again, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: p})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.InputBytes != int64(len("one")+len("two")) {
		t.Errorf("input bytes %d, want 6 (entries not read count nothing)", res.Summary.InputBytes)
	}
	if a, r := again.Summary, res.Summary; a.Files != r.Files || a.Skipped != r.Skipped || a.Written != r.Written || p.calls.Load() != 2 {
		t.Errorf("second run: summary %+v, processor called %d times in all; want %+v and 2", again.Summary, p.calls.Load(), res.Summary)
	}
}

// TestWalkErrorNamesNoPath: an error from reading the input tree keeps
// its cause but not the path, whose folder names may be patient names.
func TestWalkErrorNamesNoPath(t *testing.T) {
	in := filepath.Join(t.TempDir(), "DOE^JANE 19700101")
	_, err := os.ReadDir(in)
	if err == nil {
		t.Fatal("reading a missing directory succeeded")
	}
	got := batch.WalkError(err)
	if strings.Contains(got.Error(), "DOE") || strings.Contains(got.Error(), "19700101") {
		t.Errorf("walk error names the path: %v", got)
	}
	if !errors.Is(got, fs.ErrNotExist) {
		t.Errorf("walk error lost its cause: %v", got)
	}
	if other := errors.New("visit failed"); batch.WalkError(other) != other {
		t.Errorf("an error without a path was changed")
	}
}
