package fileblob_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
)

// TestDeferredPutFinishesInBackground covers what a deferred put that
// completes in the background must still guarantee: the blob reads back as
// soon as PutDeferred returns, every blob is in place once Flush returns,
// and more puts than may finish at once neither block forever nor lose a
// blob.
func TestDeferredPutFinishesInBackground(t *testing.T) {
	e := mustStore(t, 4096)
	const n = 12 // more than the store finishes at a time
	refs := make([]ethos.BlobRef, n)
	data := make([][]byte, n)
	for i := range n {
		data[i] = bytes.Repeat(fmt.Appendf(nil, "blob %d ", i), 1000*(i+1))
		ref, err := e.store.PutDeferred(ctx, subject(t, fmt.Sprint("S", i%3)), bytes.NewReader(data[i]))
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = ref
		// Read before any Flush: Open waits for the put to complete.
		got, err := readAll(t, e.store, ref)
		if err != nil {
			t.Fatalf("blob %d read before flush: %v", i, err)
		}
		if !bytes.Equal(got, data[i]) {
			t.Fatalf("blob %d: read %d bytes before flush, want the %d put", i, len(got), len(data[i]))
		}
	}
	if err := e.store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, e.dir); len(files) != n {
		t.Fatalf("%d blob files after flush, want %d", len(files), n)
	}
	for i, ref := range refs {
		if got, err := readAll(t, e.store, ref); err != nil || !bytes.Equal(got, data[i]) {
			t.Fatalf("blob %d after flush: %d bytes, %v", i, len(got), err)
		}
	}
}

// shreddingKeys is a key store in which the victim's key disappears right
// after a put fetched it, as if the subject were crypto-shredded while the
// blob was being written.
type shreddingKeys struct {
	*fileblob.FileKeyStore
	victim ethos.SubjectKey
	calls  atomic.Int32
}

func (k *shreddingKeys) DataKey(ctx context.Context, s ethos.SubjectKey) (*ethos.DataKey, error) {
	if s == k.victim && k.calls.Add(1) > 1 { // the first: the put finds none and creates it
		return nil, ethos.Errorf(ethos.ENOTFOUND, "no data key")
	}
	return k.FileKeyStore.DataKey(ctx, s)
}

func shreddingStore(t *testing.T, victim ethos.SubjectKey) (*fileblob.Store, string) {
	t.Helper()
	dir := t.TempDir()
	fks := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := fks.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fks.Close() })
	s := fileblob.NewStore(filepath.Join(dir, "blobs"), &shreddingKeys{FileKeyStore: fks, victim: victim}, fileblob.GenerateMasterKey())
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	return s, filepath.Join(dir, "blobs")
}

func (k *shreddingKeys) CreateDataKeyDeferred(ctx context.Context, d *ethos.DataKey) error {
	return k.FileKeyStore.CreateDataKeyDeferred(ctx, d)
}

func (k *shreddingKeys) SyncKeys(ctx context.Context) error { return k.FileKeyStore.SyncKeys(ctx) }

// TestErrFlushReportsBackgroundFailure: a deferred put that fails while it
// completes in the background (here: its subject was shredded meanwhile)
// fails the next Flush, leaves no blob file, and is reported once.
func TestErrFlushReportsBackgroundFailure(t *testing.T) {
	s, dir := shreddingStore(t, subject(t, "A"))
	if _, err := s.PutDeferred(ctx, subject(t, "A"), bytes.NewReader([]byte("shredded while written"))); err != nil {
		t.Fatalf("put: %v (the failure belongs to the flush)", err)
	}
	err := s.Flush(ctx)
	if ethos.ErrorCode(err) != ethos.ECONFLICT {
		t.Fatalf("flush: %v, want the put's conflict", err)
	}
	if files := blobFiles(t, dir); len(files) != 0 {
		t.Fatalf("%d blob files left, want none: %v", len(files), files)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second flush reports the failure again: %v", err)
	}
}

// TestFlushRefs: two callers share a store; one's put fails in the
// background and the other's Flush collects the failure first. FlushRefs
// still fails for the caller whose put failed (every time it is asked:
// the blob is not there) and not for the other.
func TestFlushRefs(t *testing.T) {
	s, _ := shreddingStore(t, subject(t, "A"))
	bad, err := s.PutDeferred(ctx, subject(t, "A"), bytes.NewReader([]byte("shredded while written")))
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.PutDeferred(ctx, subject(t, "B"), bytes.NewReader([]byte("kept")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); ethos.ErrorCode(err) != ethos.ECONFLICT {
		t.Fatalf("a third caller's flush: %v, want the conflict it collected", err)
	}
	tests := []struct {
		name string
		refs []ethos.BlobRef
		fail bool
	}{
		{"caller_of_the_good_put_is_not_failed", []ethos.BlobRef{good}, false},
		{"caller_of_the_failed_put_is_failed", []ethos.BlobRef{good, bad}, true},
		{"failed_blob_still_not_durable_when_asked_again", []ethos.BlobRef{bad}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.FlushRefs(ctx, tt.refs)
			if tt.fail != (err != nil) || (tt.fail && ethos.ErrorCode(err) != ethos.ECONFLICT) {
				t.Fatalf("FlushRefs: %v, want failure %t", err, tt.fail)
			}
		})
	}
	if got, err := readAll(t, s, good); err != nil || string(got) != "kept" {
		t.Fatalf("good blob: %q, %v", got, err)
	}
}

// TestFlushRefsFailureExpires: a failed completion that no FlushRefs
// claims (its caller used Flush, which reported it, or went away) is
// dropped after a while instead of being kept for the life of the store;
// a FlushRefs after that still fails, because the blob is not on disk.
func TestFlushRefsFailureExpires(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		fail  bool
	}{{"ClaimedInTime", time.Minute, true}, {"AfterTheFailureIsDropped", time.Hour, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := shreddingStore(t, subject(t, "A"))
			now := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
			s.Now = func() time.Time { return now }
			bad, err := s.PutDeferred(ctx, subject(t, "A"), bytes.NewReader([]byte("shredded while written")))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(ctx); ethos.ErrorCode(err) != ethos.ECONFLICT {
				t.Fatalf("flush: %v, want the conflict", err)
			}
			now = now.Add(tc.after)
			if err := s.FlushRefs(ctx, []ethos.BlobRef{bad}); (err != nil) != tc.fail {
				t.Fatalf("FlushRefs %s later: %v, want failure %t", tc.after, err, tc.fail)
			}
		})
	}
}

// TestKeyDirRemovedBehindTheStore: the store remembers the key directories
// it made and does not make them again; one removed by someone else is
// made again by the next put, deferred or not.
func TestKeyDirRemovedBehindTheStore(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprint("deferred=", deferred), func(t *testing.T) {
			e := mustStore(t, 4096)
			put := e.store.Put
			if deferred {
				put = e.store.PutDeferred
			}
			first, err := put(ctx, subject(t, "P"), bytes.NewReader([]byte("first")))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Dir(blobPath(t, e, first))); err != nil {
				t.Fatal(err)
			}
			data := []byte("second, after the key directory was removed")
			ref, err := put(ctx, subject(t, "P"), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, err := readAll(t, e.store, ref); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %q, %v", got, err)
			}
		})
	}
}
