package auditbench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	auditbench "github.com/ethos-imaging/ethos/bench/audit"
	"golang.org/x/mod/sumdb/tlog"
)

func openStore(tb testing.TB, path string) *auditbench.FileStore {
	tb.Helper()
	s, err := auditbench.OpenFileStore(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// The benchmark store must itself be a correct Storage, or its numbers
// mean nothing.
func TestFileStoreConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Storage {
		return openStore(t, filepath.Join(t.TempDir(), "audit.log"))
	})
}

func TestFileStoreSurvivesReopenAndTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.log")
	s := openStore(t, path)
	l := audittest.Fill(t, s, 250)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash in the middle of the next write leaves a torn record.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{1, 250, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Close()
	s2 := openStore(t, path)
	rep, err := audit.Verify(ctx, s2, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 250 || rep.CheckpointSize != 250 {
		t.Fatalf("after reopen: %+v", rep)
	}
	l2 := audittest.MustLog(t, s2)
	if idx, err := l2.Append(ctx, audittest.Event(250)); err != nil || idx != 250 {
		t.Fatalf("append after reopen = %d, %v", idx, err)
	}
}

// BenchmarkDurableAppend measures events acknowledged per second when W
// goroutines append one event at a time, each waiting for durability,
// against FileStore (one fsync per batch).
func BenchmarkDurableAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 64, 256, 1024} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			durableAppend(b, openStore(b, filepath.Join(b.TempDir(), "audit.log")), writers)
		})
	}
}

// durableAppend appends b.N events from the given number of goroutines,
// one event per Append, each waiting for durability.
func durableAppend(b *testing.B, s audit.Storage, writers int) {
	ctx := context.Background()
	counter := &countingStore{Storage: s}
	l := audittest.MustLog(b, counter)
	var next sync.Mutex
	i := 0
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				next.Lock()
				if i >= b.N {
					next.Unlock()
					return
				}
				n := i
				i++
				next.Unlock()
				if _, err := l.Append(ctx, audittest.Event(n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(counter.appends, 1)), "events/commit")
}

// BenchmarkFsync is the floor under every durable append: one 4 KiB
// write and one fsync of a file in the same directory the stores use.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

type countingStore struct {
	audit.Storage
	mu      sync.Mutex
	appends int
}

func (c *countingStore) Append(ctx context.Context, start int64, leaves [][]byte, hs int64, hashes []tlog.Hash) error {
	c.mu.Lock()
	c.appends++
	c.mu.Unlock()
	return c.Storage.Append(ctx, start, leaves, hs, hashes)
}

// fill appends n test events to s in batches of 4096 and signs a
// checkpoint.
func fill(b *testing.B, s audit.Storage, n int) {
	ctx := context.Background()
	l := audittest.MustLog(b, s)
	const batch = 4096
	evs := make([]audit.Event, 0, batch)
	for i := 0; i < n; i += batch {
		evs = evs[:0]
		for j := i; j < min(n, i+batch); j++ {
			evs = append(evs, audittest.Event(j))
		}
		if _, err := l.AppendBatch(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify1M measures Verify over 10^6 events: a FileStore (leaves
// read from the file, through the page cache; stored hashes in memory),
// a MemStorage and the real SQLite adapter (both scans are SQL queries).
// Each store is built before the timer starts.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	k := audittest.TestKey(b)
	for _, tc := range []struct {
		name string
		open func(b *testing.B) audit.Storage
		opts audit.VerifyOptions
	}{
		{"store=file", func(b *testing.B) audit.Storage { return openStore(b, filepath.Join(b.TempDir(), "audit.log")) }, audit.VerifyOptions{}},
		{"store=file/skip-decode", func(b *testing.B) audit.Storage { return openStore(b, filepath.Join(b.TempDir(), "audit.log")) }, audit.VerifyOptions{SkipDecode: true}},
		{"store=mem", func(b *testing.B) audit.Storage { return audit.NewMemStorage() }, audit.VerifyOptions{}},
		{"store=sqlite-adapter", openAdapter, audit.VerifyOptions{}},
		{"store=sqlite-adapter/deep", openAdapter, audit.VerifyOptions{Deep: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.open(b)
			fill(b, s, n)
			runtime.GC()
			cpu0 := cpuTime()
			for b.Loop() {
				rep, err := audit.Verify(ctx, s, k.Verifier, tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Size != n {
					b.Fatalf("verified %d events", rep.Size)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
			// CPU seconds used by the process: on a shared machine the wall
			// time above depends on what else runs, this does much less.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/verify")
		})
	}
}

// cpuTime returns the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openAdapter opens the real sqlite adapter (package sqlite) in a fresh
// data directory and returns its audit storage.
func openAdapter(b *testing.B) audit.Storage {
	s, _ := openSQLite(b, filepath.Join(b.TempDir(), "data"))
	return s
}
