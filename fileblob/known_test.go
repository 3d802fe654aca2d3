package fileblob_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
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
			"reader":        func() io.Reader { return knownDigest{bytes.NewReader(data), sum[:]} },
			"unread_bytes":  func() io.Reader { return knownUnread{knownDigest{bytes.NewReader(data), sum[:]}, data} },
			"hashed_by_put": func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} },
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
