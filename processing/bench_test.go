package processing_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
)

// The benchmarks compare, over the same files, the engine alone (what
// 'ethos deid' does per file: de-identify with both SHA-256 digests, plain
// files in and out) with a whole processing run, once over the encrypted
// blob store and once over an in-memory store without encryption, which
// isolates the processing bookkeeping (pixel integrity check, record,
// lineage, audit) from encryption at rest; run-fileblob-staged is
// run-fileblob with every instance staged in files (MaxInMemory < 0, the
// path of instances above 32 MiB and of every instance before the
// in-memory path). Each reports CPU seconds per
// run (user + system of the process, from getrusage). Files: those below
// $ETHOS_BENCH_CORPUS (e.g. built by bench/deid/mkcorpus.py), or the
// shared corpus's canary series.

func benchFiles(b *testing.B) (string, []string) {
	root := os.Getenv("ETHOS_BENCH_CORPUS")
	var files []string
	if root != "" {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				files = append(files, rel)
			}
			return nil
		})
	} else {
		files = writtenFiles
	}
	return root, files
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuNow()-start).Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkProcessing(b *testing.B) {
	root, files := benchFiles(b)
	b.Run("deid-engine", func(b *testing.B) {
		dir := root
		if dir == "" {
			dir = "../../shared/testdata/dicom"
		}
		keys, _ := deid.NewKeys([]byte("project-secret-for-processing-tests"))
		cfg, _ := deid.NewConfig(nil, 0)
		e := deid.NewEngine(cfg, keys)
		out := b.TempDir()
		start := cpuNow()
		for b.Loop() {
			var wg sync.WaitGroup
			next := make(chan int)
			for range 2 * runtime.NumCPU() {
				wg.Go(func() {
					for i := range next {
						in, err := os.Open(filepath.Join(dir, files[i]))
						if err != nil {
							b.Error(err)
							continue
						}
						o, _ := os.Create(filepath.Join(out, fmt.Sprint(i)))
						if _, err := e.ProcessFileDigest(context.Background(), in, o); err != nil {
							b.Error(err)
						}
						in.Close()
						o.Close()
					}
				})
			}
			for i := range files {
				next <- i
			}
			close(next)
			wg.Wait()
		}
		reportCPU(b, start)
	})
	for _, v := range []struct {
		name        string
		maxInMemory int64
	}{{"run-fileblob", 0}, {"run-fileblob-staged", -1}} {
		b.Run(v.name, func(b *testing.B) {
			f := setupCorpus(b, root, files)
			f.proc.MaxInMemory = v.maxInMemory
			start := cpuNow()
			for b.Loop() {
				if _, err := f.proc.Run(context.Background(), f.request(b, "")); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
	b.Run("run-plainstore", func(b *testing.B) {
		f := setupCorpus(b, root, files)
		mem := &memBlobs{m: map[string][]byte{}}
		for _, in := range f.byFile {
			rc, err := f.blobs.Open(context.Background(), *in.Blob)
			if err != nil {
				b.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			mem.m[in.Blob.String()] = data
		}
		f.proc.Blobs = mem
		start := cpuNow()
		for b.Loop() {
			if _, err := f.proc.Run(context.Background(), f.request(b, "")); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	})
}

// memBlobs is a BlobStore without encryption, for the benchmark only.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memBlobs) Put(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return ethos.BlobRef{}, err
	}
	sum := sha256.Sum256(data)
	ref := ethos.BlobRef{Subject: subject, Digest: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	s.mu.Lock()
	s.m[ref.String()] = data
	s.mu.Unlock()
	return ref, nil
}

func (s *memBlobs) Open(ctx context.Context, ref ethos.BlobRef) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return io.NopCloser(bytes.NewReader(s.m[ref.String()])), nil
}

func (s *memBlobs) Delete(ctx context.Context, ref ethos.BlobRef) error { return nil }

func (s *memBlobs) ShredSubject(ctx context.Context, subject ethos.SubjectKey) (ethos.ShredRecord, error) {
	return ethos.ShredRecord{}, nil
}
