package fileblob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/ethos-imaging/ethos"
)

// BenchmarkPut stores an 8 MiB blob per iteration (fresh content each
// time, so nothing dedupes); the cost includes the fsyncs.
func BenchmarkPut(b *testing.B) {
	e := mustStore(b, 0)
	s := subject(b, "A")
	data := make([]byte, 8<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rand.Read(data[:32])
		if _, err := e.store.Put(context.Background(), s, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen reads an 8 MiB blob back (decrypt and verify) per
// iteration.
func BenchmarkOpen(b *testing.B) {
	e := mustStore(b, 0)
	data := make([]byte, 8<<20)
	rand.Read(data)
	ref, err := e.store.Put(context.Background(), subject(b, "A"), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rc, err := e.store.Open(context.Background(), ref)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

var _ ethos.BlobStore
