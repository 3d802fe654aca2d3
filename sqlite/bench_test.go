package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/sqlite"
	"golang.org/x/mod/sumdb/tlog"
)

// countingStorage counts Storage.Append calls (transactions, each one
// fsync of the WAL).
type countingStorage struct {
	*sqlite.AuditStorage
	appends atomic.Int64
}

func (c *countingStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	c.appends.Add(1)
	return c.AuditStorage.Append(ctx, start, leaves, hashStart, hashes)
}

// BenchmarkAuditAppend measures durable, group-committed appends to the
// SQLite audit storage (WAL, synchronous=FULL: every transaction is
// fsynced) from concurrent writers, as the server produces them.
func BenchmarkAuditAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := context.Background()
			st := &countingStorage{AuditStorage: sqlite.NewAuditStorage(MustOpenDB(b))}
			l := audittest.MustLog(b, st)
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for {
						n := next.Add(1) - 1
						if n >= int64(b.N) {
							return
						}
						if _, err := l.Append(ctx, audittest.Event(int(n))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/float64(max(st.appends.Load(), 1)), "events/fsync")
		})
	}
}

// BenchmarkAuditVerify1M verifies a log of 10^6 events stored in SQLite,
// as "ethos audit verify" does.
func BenchmarkAuditVerify1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	k := audittest.TestKey(b)
	st := sqlite.NewAuditStorage(MustOpenDB(b))
	l := audittest.MustLog(b, st)
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
	for _, opts := range []audit.VerifyOptions{{}, {SkipDecode: true}, {Deep: true}} {
		b.Run(fmt.Sprintf("skip-decode=%v/deep=%v", opts.SkipDecode, opts.Deep), func(b *testing.B) {
			for b.Loop() {
				rep, err := audit.Verify(ctx, st, k.Verifier, opts)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Size != n {
					b.Fatalf("verified %d events", rep.Size)
				}
			}
		})
	}
}
