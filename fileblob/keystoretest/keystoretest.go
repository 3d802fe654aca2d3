// Package keystoretest is the conformance suite of ethos.KeyStore: every
// implementation (the file key store here, the SQLite store later) runs
// Run against a fresh, empty store.
package keystoretest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Run checks the behaviour every ethos.KeyStore must have. open returns a
// new, empty store; reopen, when not nil, returns the same store as a new
// process would see it (to check durability).
func Run(t *testing.T, open func(t *testing.T) ethos.KeyStore, reopen func(t *testing.T, ks ethos.KeyStore) ethos.KeyStore) {
	ctx := context.Background()
	subject := func(i int) ethos.SubjectKey { return ethos.SubjectKey(fmt.Sprintf("%064x", i+1)) }
	key := func(i int) *ethos.DataKey {
		return &ethos.DataKey{ID: fmt.Sprintf("%032x", i+1), Subject: subject(i), MasterKeyID: "m1",
			Wrapped: bytes.Repeat([]byte{byte(i)}, 60), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	}
	same := func(t *testing.T, got, want *ethos.DataKey) {
		t.Helper()
		if got.ID != want.ID || got.Subject != want.Subject || got.MasterKeyID != want.MasterKeyID ||
			!bytes.Equal(got.Wrapped, want.Wrapped) || !got.CreatedAt.Equal(want.CreatedAt) || !got.RewrappedAt.Equal(want.RewrappedAt) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}

	t.Run("CreateAndGet", func(t *testing.T) {
		ks := open(t)
		if _, err := ks.DataKey(ctx, subject(0)); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("empty store: %v, want ENOTFOUND", err)
		}
		if err := ks.CreateDataKey(ctx, key(0)); err != nil {
			t.Fatal(err)
		}
		got, err := ks.DataKey(ctx, subject(0))
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, key(0))
		got.Wrapped[0] ^= 0xff // the caller's copy; the store's must not change
		again, _ := ks.DataKey(ctx, subject(0))
		same(t, again, key(0))
		if reopen != nil {
			got, err := reopen(t, ks).DataKey(ctx, subject(0))
			if err != nil {
				t.Fatalf("after reopening: %v", err)
			}
			same(t, got, key(0))
		}
	})
	t.Run("ErrConflictSecondKey", func(t *testing.T) {
		ks := open(t)
		if err := ks.CreateDataKey(ctx, key(0)); err != nil {
			t.Fatal(err)
		}
		k := key(1)
		k.Subject = subject(0)
		if err := ks.CreateDataKey(ctx, k); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Fatalf("second key for a subject: %v, want ECONFLICT", err)
		}
	})
	t.Run("ErrInvalidKey", func(t *testing.T) {
		ks := open(t)
		for _, bad := range []func(k *ethos.DataKey){
			func(k *ethos.DataKey) { k.Subject = "x" },
			func(k *ethos.DataKey) { k.ID = "../../x" },
			func(k *ethos.DataKey) { k.Wrapped = nil },
		} {
			k := key(0)
			bad(k)
			if err := ks.CreateDataKey(ctx, k); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("bad key %+v: %v, want EINVALID", k, err)
			}
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		ks := open(t)
		ks.CreateDataKey(ctx, key(0))
		ks.CreateDataKey(ctx, key(1))
		got, err := ks.DestroyDataKey(ctx, subject(0))
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, key(0))
		if _, err := ks.DataKey(ctx, subject(0)); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("after destroy: %v", err)
		}
		if _, err := ks.DestroyDataKey(ctx, subject(0)); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("second destroy: %v", err)
		}
		if reopen != nil {
			ks = reopen(t, ks)
			if _, err := ks.DataKey(ctx, subject(0)); ethos.ErrorCode(err) != ethos.ENOTFOUND {
				t.Fatalf("destroyed key back after reopening: %v", err)
			}
			if _, err := ks.DataKey(ctx, subject(1)); err != nil {
				t.Fatalf("other key lost: %v", err)
			}
		}
	})
	t.Run("ReplaceAllOrNothing", func(t *testing.T) {
		ks := open(t)
		for i := range 3 {
			ks.CreateDataKey(ctx, key(i))
		}
		keys, err := ks.DataKeys(ctx)
		if err != nil || len(keys) != 3 {
			t.Fatalf("DataKeys: %d, %v", len(keys), err)
		}
		for i := 1; i < len(keys); i++ {
			if strings.Compare(string(keys[i-1].Subject), string(keys[i].Subject)) >= 0 {
				t.Fatal("DataKeys not ordered by subject")
			}
		}
		at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		for _, k := range keys {
			k.MasterKeyID, k.Wrapped, k.RewrappedAt = "m2", append(k.Wrapped, 1), at
		}
		// One unknown key in the set: nothing is replaced.
		bad := append(keys[:len(keys):len(keys)], key(9))
		if err := ks.ReplaceDataKeys(ctx, bad); err == nil {
			t.Fatal("replace with an unknown key accepted")
		}
		for i := range 3 {
			got, _ := ks.DataKey(ctx, subject(i))
			if got.MasterKeyID != "m1" {
				t.Fatal("a failed replace changed a key")
			}
		}
		if err := ks.ReplaceDataKeys(ctx, keys); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			got, _ := ks.DataKey(ctx, k.Subject)
			same(t, got, k)
		}
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		ks := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 8 {
			wg.Go(func() {
				k := key(i)
				k.Subject = subject(100)
				if err := ks.CreateDataKey(ctx, k); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if ethos.ErrorCode(err) != ethos.ECONFLICT {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent creates won, want 1", wins)
		}
	})
}
