package deid_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// BenchmarkProcessFile de-identifies the canary CT instance (531 kB,
// native pixel data) into a temporary file, as one worker of a run does.
func BenchmarkProcessFile(b *testing.B) {
	src := filepath.Join(testenv.DICOMDir(b), "canary", "shard1", "ct_00001.dcm")
	st, err := os.Stat(src)
	if err != nil {
		b.Fatal(err)
	}
	e := mustEngine(b, 0, nil)
	dir := b.TempDir()
	b.SetBytes(st.Size())
	for b.Loop() {
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, "out.dcm"))
		if err != nil {
			b.Fatal(err)
		}
		r, err := e.ProcessFile(context.Background(), in, out)
		if err != nil || r.Quarantine {
			b.Fatalf("%v %v", err, r.Reasons)
		}
		in.Close()
		out.Close()
	}
}

var _ = deid.NewEngine
