package processing_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
)

// syncCounting is the fixture's blob store, watching how a run stores its
// outputs: unsynced puts, then one flush before anything names them.
type syncCounting struct {
	*fileblob.Store
	f         *fixture
	failFlush error

	mu       sync.Mutex // the workers put concurrently
	puts     int        // Put calls (each synced on its own)
	deferred int        // PutDeferred and PutDeferredBuffered calls
	flushes  int
	atFlush  struct{ deferred, edges, runs int }
}

func (s *syncCounting) Put(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	s.mu.Lock()
	s.puts++
	s.mu.Unlock()
	return s.Store.Put(ctx, subject, r)
}

func (s *syncCounting) PutDeferred(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	s.mu.Lock()
	s.deferred++
	s.mu.Unlock()
	return s.Store.PutDeferred(ctx, subject, r)
}

func (s *syncCounting) PutDeferredBuffered(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	s.mu.Lock()
	s.deferred++
	s.mu.Unlock()
	return s.Store.PutDeferredBuffered(ctx, subject, r)
}

func (s *syncCounting) Flush(ctx context.Context) error {
	return s.flush(ctx, func() error { return s.Store.Flush(ctx) })
}

// FlushRefs is the flush a run uses (only its own puts judged).
func (s *syncCounting) FlushRefs(ctx context.Context, refs []ethos.BlobRef) error {
	return s.flush(ctx, func() error { return s.Store.FlushRefs(ctx, refs) })
}

// flush notes what was stored when the run flushed, then flushes.
func (s *syncCounting) flush(ctx context.Context, flush func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, n, err := s.f.runs.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{})
	if err != nil {
		return err
	}
	s.atFlush.deferred, s.atFlush.edges, s.atFlush.runs = s.deferred, len(s.f.lineage.edges), n
	if s.failFlush != nil {
		return s.failFlush
	}
	s.flushes++
	return flush()
}

func TestRunOutputsDurableBeforeRecord(t *testing.T) {
	for _, limit := range []int64{0, -1} {
		name := map[int64]string{0: "InMemory", -1: "Staged"}[limit]
		t.Run(name+"/FlushedOnceBeforeLineageAndRecord", func(t *testing.T) {
			ctx := context.Background()
			f := setup(t, "canary/shard0/ct_00000.dcm", "canary/shard1/ct_00001.dcm", "pydicom/CT_small.dcm")
			store := &syncCounting{Store: f.blobs, f: f}
			f.proc.Blobs, f.proc.MaxInMemory = store, limit
			run, err := f.proc.Run(ctx, f.request(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			if store.puts != 0 || store.deferred != run.Written || run.Written == 0 {
				t.Errorf("%d synced and %d deferred puts for %d outputs, want every output deferred", store.puts, store.deferred, run.Written)
			}
			if store.flushes != 1 {
				t.Errorf("%d flushes, want 1", store.flushes)
			}
			if store.atFlush.deferred != run.Written || store.atFlush.edges != 0 || store.atFlush.runs != 0 {
				t.Errorf("at the flush: %+v; want every output written and no lineage or record yet", store.atFlush)
			}
			for _, it := range run.Items {
				if it.Output == nil {
					continue
				}
				if got := blobSHA(t, f, *it.Output); got != it.OutputSHA256 {
					t.Errorf("%s: stored output hashes to %.12s, record says %.12s", it.InstanceID, got, it.OutputSHA256)
				}
				// The address came from the engine's digest: storing the
				// same bytes with the store hashing them must land on it.
				rc, err := f.blobs.Open(ctx, *it.Output)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				again, err := f.blobs.Put(ctx, it.Subject, struct{ io.Reader }{bytes.NewReader(b)})
				if err != nil || again != *it.Output {
					t.Errorf("%s: the output stored again is %v (%v), the run stored %v", it.InstanceID, again, err, *it.Output)
				}
			}
		})
		t.Run(name+"/ErrFlushRecordsNothing", func(t *testing.T) {
			ctx := context.Background()
			f := setup(t, "canary/shard0/ct_00000.dcm", "pydicom/CT_small.dcm")
			failed := errors.New("device gone")
			store := &syncCounting{Store: f.blobs, f: f, failFlush: failed}
			f.proc.Blobs, f.proc.MaxInMemory = store, limit
			if _, err := f.proc.Run(ctx, f.request(t, "")); !errors.Is(err, failed) {
				t.Fatalf("err %v, want the flush's error", err)
			}
			if n := f.recordedRuns(t); n != 0 {
				t.Errorf("%d runs recorded after a failed flush", n)
			}
			if len(f.lineage.edges) != 0 {
				t.Errorf("%d lineage edges recorded after a failed flush", len(f.lineage.edges))
			}
		})
	}
}
