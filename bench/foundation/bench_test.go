package foundation_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/sqlite"
)

func openDB(tb testing.TB, dir string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(dir, "ethos.db"))
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkSQLiteAuditAppend measures durable appends through audit.Log
// (group commit) into the SQLite store (WAL, synchronous=FULL: one fsync
// per committed batch). Each operation is one event whose Append
// returned, that is, one durable event.
func BenchmarkSQLiteAuditAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := openDB(b, b.TempDir())
			l := audittest.MustLog(b, sqlite.NewAuditStorage(db))
			ctx := context.Background()
			events := make([]audit.Event, 1024)
			for i := range events {
				events[i] = audittest.Event(i)
			}
			var wg sync.WaitGroup
			per := b.N / writers
			start := time.Now()
			b.ResetTimer()
			for w := range writers {
				n := per
				if w == 0 {
					n += b.N % writers
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n {
						if _, err := l.Append(ctx, events[i%len(events)]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkSQLiteAuditVerify measures audit.Verify over a SQLite log of
// 10^6 events (filled once, outside the timer, with AppendBatch).
func BenchmarkSQLiteAuditVerify(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	db := openDB(b, b.TempDir())
	store := sqlite.NewAuditStorage(db)
	l := audittest.MustLog(b, store)
	batch := make([]audit.Event, 0, 4096)
	for i := range n {
		batch = append(batch, audittest.Event(i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := l.AppendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	key := audittest.TestKey(b).Verifier
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.Verify(ctx, store, key, audit.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Size != n {
			b.Fatalf("verified %d events", rep.Size)
		}
	}
	b.ReportMetric(float64(n), "events")
}
