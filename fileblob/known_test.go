package fileblob_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"

	"github.com/ethos-imaging/ethos"
)

// knownDigest hands the store the plaintext's SHA-256 (fileblob.KnownDigest),
// optionally also its bytes whole (fileblob.UnreadBytes).
type knownDigest struct {
	*bytes.Reader
	sum []byte
}

func (k knownDigest) PlainSHA256() []byte { return k.sum }

type knownUnread struct {
	knownDigest
	data []byte
}

func (k knownUnread) Unread() []byte { return k.data[len(k.data)-k.Len():] }

// A Put given the plaintext's digest files the blob at the address a Put
// that hashes the bytes itself computes, in both write paths.
func TestPutKnownDigest(t *testing.T) {
	for _, size := range []int{0, 100, 1024, 5000} {
		data := bytes.Repeat([]byte{byte(size)}, size)
		sum := sha256.Sum256(data)
		readers := map[string]func() io.Reader{
			"reader":                               func() io.Reader { return knownDigest{bytes.NewReader(data), sum[:]} },
			"unread_bytes":                         func() io.Reader { return knownUnread{knownDigest{bytes.NewReader(data), sum[:]}, data} },
			"hashed_by_put":                        func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} },
			"blob_bytes":                           func() io.Reader { return ethos.NewBlobBytes(data, sum[:]) },
			"blob_bytes_without_sum_hashed_by_put": func() io.Reader { return ethos.NewBlobBytes(data, nil) },
		}
		e := mustStore(t, 1024)
		sub := subject(t, "P1")
		want, err := e.store.Put(ctx, sub, readers["hashed_by_put"]())
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range readers {
			t.Run(fmt.Sprintf("%s_%d_bytes_same_address", name, size), func(t *testing.T) {
				if err := e.store.Delete(ctx, want); err != nil {
					t.Fatal(err)
				}
				got, err := e.store.PutDeferred(ctx, sub, r())
				if err != nil || got != want {
					t.Fatalf("put: %v %v, want %v", got, err, want)
				}
				if err := e.store.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				back, err := readAll(t, e.store, got)
				if err != nil || !bytes.Equal(back, data) {
					t.Fatalf("read back %d bytes (%v)", len(back), err)
				}
			})
		}
	}
	t.Run("ErrDigestLength", func(t *testing.T) {
		e := mustStore(t, 1024)
		if _, err := e.store.Put(ctx, subject(t, "P1"), knownDigest{bytes.NewReader([]byte("x")), []byte("short")}); err == nil {
			t.Fatal("a 5-byte digest was accepted")
		}
		if files := blobFiles(t, e.dir); len(files) != 0 {
			t.Fatalf("files left: %v", files)
		}
	})
}

// AddressedBy confirms the plaintext digest a blob's address derives from,
// and no other: not another plaintext's, not under another subject's key.
func TestAddressedBy(t *testing.T) {
	e := mustStore(t, 1024)
	data := []byte("a stored instance")
	sum := sha256.Sum256(data)
	ref, err := e.store.Put(ctx, subject(t, "P1"), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("another instance"))
	moved := ref
	moved.Subject = subject(t, "P2")
	if _, err := e.store.Put(ctx, moved.Subject, bytes.NewReader([]byte("P2 has a key"))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  ethos.BlobRef
		sum  []byte
		want bool
	}{
		{"TrueForItsDigest", ref, sum[:], true},
		{"FalseForAnotherDigest", ref, other[:], false},
		{"FalseForAShortDigest", ref, sum[:16], false},
		{"FalseUnderAnotherSubject", moved, sum[:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.store.AddressedBy(ctx, tc.ref, tc.sum)
			if err != nil || got != tc.want {
				t.Fatalf("AddressedBy = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("ErrNoDataKey", func(t *testing.T) {
		r := ref
		r.Subject = subject(t, "P3")
		if _, err := e.store.AddressedBy(ctx, r, sum[:]); err == nil {
			t.Fatal("no error for a subject without a data key")
		}
	})
}
