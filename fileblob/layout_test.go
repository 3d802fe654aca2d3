package fileblob_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Blobs of a store written with the earlier layout (one more directory,
// named by the digest's first two hex digits) are read, verified,
// deduplicated against and deleted like new ones.
func TestLegacyLayout(t *testing.T) {
	e := mustStore(t, 1024)
	sub := subject(t, "P1")
	data := bytes.Repeat([]byte("legacy layout "), 500)
	ref, err := e.store.Put(ctx, sub, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	flat := blobPath(t, e, ref)
	if got, want := filepath.Dir(flat), keyDir(t, e, flat); got != want {
		t.Fatalf("new blob in %s, want it straight in its key directory %s", got, want)
	}
	legacy := filepath.Join(filepath.Dir(flat), ref.Digest[:2], ref.Digest)
	if err := os.Mkdir(filepath.Dir(legacy), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(flat, legacy); err != nil {
		t.Fatal(err)
	}
	t.Run("read", func(t *testing.T) {
		got, err := readAll(t, e.store, ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
		}
	})
	t.Run("verify", func(t *testing.T) {
		rep, err := e.store.Verify(ctx)
		if err != nil || !rep.OK() || rep.Blobs != 1 {
			t.Fatalf("verify: %+v %v, want one intact blob", rep, err)
		}
	})
	for _, deferred := range []bool{false, true} {
		name := "put_again_dedupes"
		put := e.store.Put
		if deferred {
			name, put = "deferred_put_again_dedupes", e.store.PutDeferred
		}
		t.Run(name, func(t *testing.T) {
			again, err := put(ctx, sub, bytes.NewReader(data))
			if err != nil || again != ref {
				t.Fatalf("put again: %v %v, want %v", again, err, ref)
			}
			if err := e.store.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(flat); err == nil {
				t.Fatal("a second copy was written in the new layout")
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		if err := e.store.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(legacy); !os.IsNotExist(err) {
			t.Fatalf("legacy file still there: %v", err)
		}
	})
}
