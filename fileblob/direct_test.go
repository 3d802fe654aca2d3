package fileblob_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/fileblob"
)

// Blob files are written through a 1 MiB staging buffer, by default with
// direct I/O in aligned blocks and an unaligned tail through the page
// cache. Whatever the size and the I/O mode, the file must be the format's
// exact size and read back whole.
func TestPutStagedWrites(t *testing.T) {
	const stage = 1 << 20
	seg := fileblob.SegmentSize
	sizes := []int{0, 1, 4096 - 68 - 16, 4096 - 68 - 15, seg - 1, seg, seg + 1, stage - 1, stage, stage + 1, 3*stage + 4093, 5 * seg}
	for _, segSize := range []int{1024, seg} {
		for _, buffered := range []bool{false, true} {
			for _, size := range sizes {
				name := fmt.Sprintf("segment_%d_buffered_%v_%d_bytes_round_trip", segSize, buffered, size)
				t.Run(name, func(t *testing.T) {
					e := mustStore(t, segSize)
					e.store.BufferedIO = buffered
					data := make([]byte, size)
					for i := range data {
						data[i] = byte(i*31 + i>>9)
					}
					sub := subject(t, "P1")
					// Put, PutDeferred, and PutDeferredBuffered (through
					// the page cache whatever BufferedIO says).
					for mode := range 3 {
						put := e.store.Put
						switch mode {
						case 1:
							put = e.store.PutDeferred
						case 2:
							put = e.store.PutDeferredBuffered
						}
						ref, err := put(ctx, sub, struct{ io.Reader }{bytes.NewReader(data)})
						if err != nil {
							t.Fatal(err)
						}
						if err := e.store.Flush(ctx); err != nil {
							t.Fatal(err)
						}
						fi, err := os.Stat(blobPath(t, e, ref))
						if err != nil {
							t.Fatal(err)
						}
						segs := max(1, (size+segSize-1)/segSize)
						if want := int64(68 + size + 16*segs); fi.Size() != want {
							t.Fatalf("blob file is %d bytes, want %d", fi.Size(), want)
						}
						got, err := readAll(t, e.store, ref)
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
						}
						if err := e.store.Delete(ctx, ref); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// A file system that refuses O_DIRECT (tmpfs) gets blobs through the page
// cache.
func TestPutWithoutDirectIO(t *testing.T) {
	shm := "/dev/shm"
	if fi, err := os.Stat(shm); err != nil || !fi.IsDir() {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp(shm, "ethos-fileblob-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ks := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := ks.Open(); err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	s := fileblob.NewStore(filepath.Join(dir, "blobs"), ks, fileblob.GenerateMasterKey())
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("tmpfs"), 300_001)
	ref, err := s.Put(ctx, subject(t, "P1"), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("put on tmpfs: %v", err)
	}
	rc, err := s.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
}

// Reads of any size give the plaintext: small reads go through the
// opener's segment buffer, reads of at least a segment are decrypted
// straight into the caller's buffer.
func TestOpenReadSizes(t *testing.T) {
	const seg = 1024
	e := mustStore(t, seg)
	data := make([]byte, 5*seg+333)
	for i := range data {
		data[i] = byte(i * 13)
	}
	ref, err := e.store.Put(ctx, subject(t, "P1"), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 7, seg - 1, seg, seg + 1, 3 * seg, len(data), len(data) + 1} {
		t.Run(fmt.Sprintf("reads_of_%d_bytes", size), func(t *testing.T) {
			rc, err := e.store.Open(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var got []byte
			buf := make([]byte, size)
			for {
				n, err := rc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, not the %d stored", len(got), len(data))
			}
		})
	}
}
