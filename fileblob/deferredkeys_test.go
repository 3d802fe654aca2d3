package fileblob_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
)

// keyCalls wraps the FileKeyStore of a store and records how keys are
// created and synced.
type keyCalls struct {
	*fileblob.FileKeyStore
	mu                       sync.Mutex
	created, deferred, syncs int
	failSync                 error
}

func (k *keyCalls) CreateDataKey(ctx context.Context, d *ethos.DataKey) error {
	k.mu.Lock()
	k.created++
	k.mu.Unlock()
	return k.FileKeyStore.CreateDataKey(ctx, d)
}

func (k *keyCalls) CreateDataKeyDeferred(ctx context.Context, d *ethos.DataKey) error {
	k.mu.Lock()
	k.deferred++
	k.mu.Unlock()
	return k.FileKeyStore.CreateDataKeyDeferred(ctx, d)
}

func (k *keyCalls) SyncKeys(ctx context.Context) error {
	k.mu.Lock()
	k.syncs++
	fail := k.failSync
	k.mu.Unlock()
	if fail != nil {
		return fail
	}
	return k.FileKeyStore.SyncKeys(ctx)
}

func TestDeferredKeys(t *testing.T) {
	newStore := func(t *testing.T) (*fileblob.Store, *keyCalls, string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys.json")
		fks := fileblob.NewFileKeyStore(path)
		if err := fks.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fks.Close() })
		kc := &keyCalls{FileKeyStore: fks}
		s := fileblob.NewStore(filepath.Join(dir, "blobs"), kc, fileblob.GenerateMasterKey())
		if err := s.Init(); err != nil {
			t.Fatal(err)
		}
		return s, kc, path
	}
	t.Run("deferred_puts_create_keys_unsynced_and_flush_syncs_them", func(t *testing.T) {
		s, kc, path := newStore(t)
		for _, id := range []string{"A", "B", "C"} {
			if _, err := s.PutDeferred(ctx, subject(t, id), strings.NewReader("blob of "+id)); err != nil {
				t.Fatal(err)
			}
		}
		if kc.deferred != 3 || kc.created != 0 || kc.syncs != 0 {
			t.Fatalf("before flush: %d deferred, %d synced creations, %d syncs", kc.deferred, kc.created, kc.syncs)
		}
		// The keys are in the journal already (a killed process loses
		// nothing the kernel has); the flush makes them durable.
		j, err := os.ReadFile(path + ".journal")
		if err != nil || bytes.Count(j, []byte("\n")) != 3 {
			t.Fatalf("journal holds %d lines (%v), want 3", bytes.Count(j, []byte("\n")), err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if kc.syncs != 1 {
			t.Errorf("%d key syncs for one flush, want 1", kc.syncs)
		}
	})
	t.Run("durable_put_creates_its_key_synced", func(t *testing.T) {
		s, kc, _ := newStore(t)
		if _, err := s.Put(ctx, subject(t, "A"), strings.NewReader("durable")); err != nil {
			t.Fatal(err)
		}
		if kc.created != 1 || kc.deferred != 0 {
			t.Fatalf("%d synced, %d deferred creations, want the key synced", kc.created, kc.deferred)
		}
	})
	t.Run("durable_put_syncs_a_key_a_deferred_put_created", func(t *testing.T) {
		s, kc, _ := newStore(t)
		sub := subject(t, "A")
		if _, err := s.PutDeferred(ctx, sub, strings.NewReader("first")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, sub, strings.NewReader("second")); err != nil {
			t.Fatal(err)
		}
		if kc.syncs == 0 {
			t.Fatal("a durable put returned with its subject's key never synced")
		}
	})
	t.Run("ErrKeySyncFailsFlush", func(t *testing.T) {
		s, kc, _ := newStore(t)
		if _, err := s.PutDeferred(ctx, subject(t, "A"), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		kc.failSync = errors.New("disk gone")
		if err := s.Flush(ctx); !errors.Is(err, kc.failSync) {
			t.Fatalf("flush: %v, want the key sync's error", err)
		}
	})
	t.Run("deferred_keys_survive_reopen", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys.json")
		ks := fileblob.NewFileKeyStore(path)
		if err := ks.Open(); err != nil {
			t.Fatal(err)
		}
		k := &ethos.DataKey{ID: strings.Repeat("ab", 16), Subject: subject(t, "A"), MasterKeyID: "m", Wrapped: bytes.Repeat([]byte{1}, 60)}
		if err := ks.CreateDataKeyDeferred(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := ks.SyncKeys(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ks.SyncKeys(ctx); err != nil {
			t.Fatalf("second sync with nothing pending: %v", err)
		}
		// As after a kill: a copy of the files taken while the store is
		// open (Close would compact the journal into the snapshot) is
		// opened, so the key comes from replaying the journal.
		killed := filepath.Join(t.TempDir(), "keys.json")
		for _, suffix := range []string{"", ".journal"} {
			b, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(killed+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		ks.Close()
		ks2 := fileblob.NewFileKeyStore(killed)
		if err := ks2.Open(); err != nil {
			t.Fatal(err)
		}
		defer ks2.Close()
		got, err := ks2.DataKey(ctx, k.Subject)
		if err != nil || got.ID != k.ID {
			t.Fatalf("after reopen: %v %v", got, err)
		}
	})
}
