package fileblob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
)

var ctx = context.Background()

func TestPutDeferred(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, e *env, data []byte) // before the deferred Put of data
		want    string                                  // what must be at the blob's path afterwards
	}{
		{name: "new blob is readable after flush", want: "new"},
		{name: "intact blob already stored is kept", prepare: func(t *testing.T, e *env, data []byte) {
			if _, err := e.store.Put(ctx, subject(t, "P1"), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}, want: "kept"},
		{name: "truncated blob left by a crash is replaced", prepare: func(t *testing.T, e *env, data []byte) {
			ref, err := e.store.Put(ctx, subject(t, "P1"), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			p := blobPath(t, e, ref)
			if err := os.Truncate(p, 100); err != nil {
				t.Fatal(err)
			}
		}, want: "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustStore(t, 1024)
			data := bytes.Repeat([]byte("deferred blob bytes "), 500)
			var before os.FileInfo
			if tt.prepare != nil {
				tt.prepare(t, e, data)
				files := blobFiles(t, e.dir)
				if len(files) != 1 {
					t.Fatalf("prepared store holds %d files, want 1", len(files))
				}
				before, _ = os.Stat(files[0])
			}
			ref, err := e.store.PutDeferred(ctx, subject(t, "P1"), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			// The blob's file is in place once Flush returns (the
			// put completes in the background until then).
			if err := e.store.Flush(ctx); err != nil {
				t.Fatalf("flush: %v", err)
			}
			p := blobPath(t, e, ref)
			if err := e.store.Flush(ctx); err != nil {
				t.Fatalf("second flush, nothing pending: %v", err)
			}
			got, err := readAll(t, e.store, ref)
			if err != nil {
				t.Fatalf("read after flush: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, want the %d put", len(got), len(data))
			}
			if before != nil {
				after, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if kept := os.SameFile(before, after); kept != (tt.want == "kept") {
					t.Errorf("stored blob kept = %v, want %v", kept, tt.want == "kept")
				}
			}
			if files := blobFiles(t, e.dir); len(files) != 1 {
				t.Errorf("store holds %d files, want 1: %v", len(files), files)
			}
		})
	}
}

// unread is a reader that hands over its bytes, as fileblob.UnreadBytes.
type unread struct {
	*bytes.Reader
	data []byte
}

func (u unread) Unread() []byte { return u.data[len(u.data)-u.Len():] }

func TestPutUnreadBytesSealsAsReader(t *testing.T) {
	const seg = 1024
	for _, size := range []int{0, 1, seg - 1, seg, seg + 1, 3 * seg, 3*seg + 7} {
		t.Run(fmt.Sprintf("same_blob_for_%d_bytes", size), func(t *testing.T) {
			e := mustStore(t, seg)
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*7 + 3)
			}
			sub := subject(t, "P1")
			viaReader, err := e.store.Put(ctx, sub, struct{ io.Reader }{bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			readerFile, err := os.Stat(blobPath(t, e, viaReader))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Delete(ctx, viaReader); err != nil {
				t.Fatal(err)
			}
			viaBytes, err := e.store.PutDeferred(ctx, sub, unread{bytes.NewReader(data), data})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if viaBytes != viaReader {
				t.Fatalf("sealed from bytes as %v, from a reader as %v", viaBytes, viaReader)
			}
			bytesFile, err := os.Stat(blobPath(t, e, viaBytes))
			if err != nil {
				t.Fatal(err)
			}
			if bytesFile.Size() != readerFile.Size() {
				t.Errorf("blob file of %d bytes from bytes, %d from a reader: segments differ", bytesFile.Size(), readerFile.Size())
			}
			got, err := readAll(t, e.store, viaBytes)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
			}
		})
	}
}
