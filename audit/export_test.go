package audit_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenKey is a fixed key, so the golden export (signature included)
// is reproducible. It signs nothing outside these tests.
func goldenKey(t testing.TB) (signer note.Signer, verifierKey string) {
	seed := bytes.Repeat([]byte{7}, 32)
	sk, vk, err := note.GenerateKey(bytes.NewReader(seed), "ethos-audit-golden")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(sk)
	if err != nil {
		t.Fatal(err)
	}
	return s, vk
}

func exportOf(t *testing.T, s audit.Storage) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := audit.Export(context.Background(), s, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportGolden(t *testing.T) {
	ctx := context.Background()
	signer, vk := goldenKey(t)
	s := audit.NewMemStorage()
	l := audit.NewLog(s, signer)
	if err := l.Open(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := l.Append(ctx, audittest.Event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := exportOf(t, s)
	golden := filepath.Join("testdata", "export.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("export differs from %s:\n%s", golden, got)
	}
	rep, err := audit.VerifyExport(bytes.NewReader(want), vk, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 5 || rep.CheckpointSize != 5 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestVerifyExportTampered(t *testing.T) {
	ctx := context.Background()
	k := audittest.TestKey(t)
	s := audit.NewMemStorage()
	audittest.Fill(t, s, 60)
	good := exportOf(t, s)
	if _, err := audit.VerifyExport(bytes.NewReader(good), k.Verifier, audit.VerifyOptions{}); err != nil {
		t.Fatalf("untouched export: %v", err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	// lines[0] is the header; event i is lines[i+1].
	edit := func(f func(ls []string) []string) []byte {
		ls := f(append([]string(nil), lines...))
		return []byte(strings.Join(ls, ""))
	}
	tests := []struct {
		name   string
		export []byte
		index  int64
	}{
		{"ModifiedEvent", edit(func(ls []string) []string {
			ls[11] = strings.Replace(ls[11], `"decision":"allow"`, `"decision":"deny"`, 1)
			return ls
		}), 10},
		{"DeletedEvent", edit(func(ls []string) []string { return append(ls[:21], ls[22:]...) }), 20},
		{"DeletedLastEvent", edit(func(ls []string) []string { return ls[:len(ls)-1] }), 59},
		{"SwappedLines", edit(func(ls []string) []string { ls[31], ls[32] = ls[32], ls[31]; return ls }), 30},
		{"ReorderedEventsIndexesKept", edit(func(ls []string) []string {
			// Swap the events but keep the index and leaf_hash fields.
			a, b := ls[41], ls[44]
			ea, eb := a[strings.Index(a, `"event":`):], b[strings.Index(b, `"event":`):]
			ls[41] = a[:strings.Index(a, `"event":`)] + eb
			ls[44] = b[:strings.Index(b, `"event":`)] + ea
			return ls
		}), 40},
		{"InsertedEvent", edit(func(ls []string) []string {
			return append(ls[:6], append([]string{ls[6]}, ls[6:]...)...)
		}), 5},
		{"ExtraEventAfterCheckpoint", edit(func(ls []string) []string {
			return append(ls, strings.Replace(ls[60], `"index":59`, `"index":60`, 1))
		}), 60},
		{"NotJSON", edit(func(ls []string) []string { ls[3] = "garbage\n"; return ls }), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.VerifyExport(bytes.NewReader(tc.export), k.Verifier, audit.VerifyOptions{})
			ve, ok := errors.AsType[*audit.VerifyError](err)
			if !ok {
				t.Fatalf("err = %v, want *audit.VerifyError", err)
			}
			if ve.Index != tc.index {
				t.Fatalf("named index %d (%v), want %d", ve.Index, err, tc.index)
			}
		})
	}

	t.Run("ErrCheckpointForgedHeader", func(t *testing.T) {
		forged := bytes.Replace(good, []byte(`\n60\n`), []byte(`\n59\n`), 1)
		_, err := audit.VerifyExport(bytes.NewReader(forged), k.Verifier, audit.VerifyOptions{})
		if !errors.Is(err, audit.ErrCheckpoint) {
			t.Fatalf("err = %v, want ErrCheckpoint", err)
		}
	})

	t.Run("DatabaseTamperShowsInExport", func(t *testing.T) {
		e := audittest.Event(33)
		e.Reason = "edited in the database"
		b, _ := e.MarshalCanonical()
		if err := s.TamperSetLeaf(ctx, 33, b); err != nil {
			t.Fatal(err)
		}
		_, err := audit.VerifyExport(bytes.NewReader(exportOf(t, s)), k.Verifier, audit.VerifyOptions{})
		if ve, ok := errors.AsType[*audit.VerifyError](err); !ok || ve.Index != 33 {
			t.Fatalf("err = %v, want a VerifyError at 33", err)
		}
	})
}

func TestVerifyNeverQuotesEventContent(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	audittest.Fill(t, s, 10)
	// A leaf someone wrote with a patient's name in it must not come back
	// in the error text.
	e := audittest.Event(4)
	e.Reason = "DOE^JANE 1970-01-01"
	b, _ := e.MarshalCanonical()
	for _, leaf := range [][]byte{b, append(b, '!')} {
		if err := s.TamperSetLeaf(ctx, 4, leaf); err != nil {
			t.Fatal(err)
		}
		_, err := audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
		if err == nil || strings.Contains(err.Error(), "DOE") {
			t.Fatalf("err = %v", err)
		}
		_, err = audit.VerifyExport(bytes.NewReader(exportOf(t, s)), audittest.TestKey(t).Verifier, audit.VerifyOptions{})
		if err == nil || strings.Contains(err.Error(), "DOE") {
			t.Fatalf("export err = %v", err)
		}
	}
}

// hideHash is a store whose ScanHashes skips one stored hash, as if its
// row were deleted.
type hideHash struct {
	*audit.MemStorage
	hide int64
}

func (h hideHash) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	return h.MemStorage.ScanHashes(ctx, start, end, func(i int64, x tlog.Hash) error {
		if i == h.hide {
			return nil
		}
		return fn(i, x)
	})
}

func TestExportMissingLeafHashNamed(t *testing.T) {
	s := audit.NewMemStorage()
	audittest.Fill(t, s, 40)
	var buf bytes.Buffer
	if err := audit.Export(context.Background(), hideHash{s, tlog.StoredHashIndex(0, 21)}, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`{"index":21,"leaf_hash":null,`)) {
		t.Fatalf("export does not mark the missing leaf hash of event 21")
	}
	_, err := audit.VerifyExport(&buf, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if ve, ok := errors.AsType[*audit.VerifyError](err); !ok || ve.Index != 21 {
		t.Fatalf("err = %v, want a VerifyError at 21", err)
	}
}
