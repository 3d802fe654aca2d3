package deid_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/deid/batch"
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

// BenchmarkBatchDigest runs a whole batch as `ethos deid` does (SHA-256 of
// inputs and outputs, no sync) over the directory named by
// $ETHOS_DEID_BENCH (the corpus bench/deid/mkcorpus.py builds); skipped
// when it is not set. For profiling: go test -run X -bench BatchDigest
// -benchtime 1x -cpuprofile cpu.out ./deid
func BenchmarkBatchDigest(b *testing.B) {
	benchBatch(b, toProcessor{digest: true}, false)
}

// BenchmarkBatchNoHash is BenchmarkBatchDigest without digests and
// without a processing record, as `ethos deid --sync none` runs.
func BenchmarkBatchNoHash(b *testing.B) {
	benchBatch(b, toProcessor{}, true)
}

// toProcessor runs the engine as `ethos deid` does: each output created
// in its final directory once named (batch.ProcessorTo).
type toProcessor struct {
	engineProcessor
	digest bool
}

func (p toProcessor) ProcessTo(ctx context.Context, in *os.File, create func(string) (*os.File, error)) (batch.Result, error) {
	r, err := p.e.ProcessFileTo(ctx, in, create, p.digest)
	return batch.Result{Quarantine: r.Quarantine, Skip: r.Skip, Reasons: r.Reasons, Name: r.Name, Counts: r.Counts, Group: r.Group,
		InputSHA256: r.InputSHA256, OutputSHA256: r.OutputSHA256}, err
}

func benchBatch(b *testing.B, proc toProcessor, noHash bool) {
	in := os.Getenv("ETHOS_DEID_BENCH")
	if in == "" {
		b.Skip("ETHOS_DEID_BENCH not set")
	}
	cfg, err := deid.NewConfig(nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	e := deid.NewEngine(cfg, mustKeys(b, "bench secret 0123456789abcdef"))
	e.NoCounts = noHash // as ethos deid without --report
	proc.e = e
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: proc, Sync: batch.SyncNone, NoHash: noHash, NoRecord: noHash, Workers: runtime.NumCPU()})
		if err != nil {
			b.Fatal(err)
		}
		if res.Summary.Failed > 0 {
			b.Fatalf("%d files failed", res.Summary.Failed)
		}
	}
}
