package fileblob

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// Blob files are written through a staging buffer: every segment is sealed
// straight into it (no separate ciphertext buffer, no copy), and it goes to
// the file in large blocks. Where the file system takes it (Linux, ext4,
// XFS, …) the blocks are written with O_DIRECT: the kernel moves them to
// the device from the buffer without copying them into the page cache,
// which on this project's machines cost more CPU than AES-GCM
// (docs/benchmarks-fileblob.md). Durability is unchanged: a direct write
// is not durable until the file's metadata is synced (Put's fsync, or
// Flush's syncfs), exactly like a buffered one.
const (
	// directAlign is the alignment of O_DIRECT offsets, lengths and
	// buffer addresses: 4 KiB covers every common logical block size.
	directAlign = 4096
	// stageSize is the staging buffer of the default segment size: large
	// writes, bounded memory (one buffer per Put in flight).
	stageSize = 1 << 20
)

var stagePool = sync.Pool{New: func() any { b := alignedBuffer(stageSize); return &b }}

// alignedBuffer returns an empty slice of capacity n whose first byte is
// aligned to directAlign.
func alignedBuffer(n int) []byte {
	raw := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % directAlign); r != 0 {
		off = directAlign - r
	}
	return raw[off : off : off+n]
}

// blobFile is a temporary blob file being written.
type blobFile struct {
	f      *os.File
	direct bool   // O_DIRECT is set on f
	buf    []byte // staged bytes not yet written; aligned
	pooled *[]byte
	n      int64 // bytes handed to the file so far
}

// createBlobFile creates a new temporary file in dir for a blob whose
// segments hold segSize plaintext bytes, opening it for direct I/O when
// direct is set and the file system allows it.
func createBlobFile(dir string, segSize int, direct bool) (*blobFile, error) {
	var name [12]byte
	for range 100 {
		rand.Read(name[:])
		p := filepath.Join(dir, ".put-"+hex.EncodeToString(name[:]))
		flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		f, err := os.OpenFile(p, flag|oDirectIf(direct), 0o600)
		if err != nil && direct && !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrPermission) {
			// The file system refuses O_DIRECT (tmpfs, some FUSE): write
			// through the page cache.
			direct = false
			f, err = os.OpenFile(p, flag, 0o600)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		b := &blobFile{f: f, direct: direct && oDirect != 0}
		if need := 2 * (segSize + tagSize + directAlign); need <= stageSize {
			b.pooled = stagePool.Get().(*[]byte)
			b.buf = (*b.pooled)[:0]
		} else {
			b.buf = alignedBuffer(need)
		}
		return b, nil
	}
	return nil, errors.New("no free temporary name")
}

func (b *blobFile) Name() string { return b.f.Name() }

// reserve returns the free space after the staged bytes, at least n bytes
// long, writing staged bytes out first if needed.
func (b *blobFile) reserve(n int) ([]byte, error) {
	if cap(b.buf)-len(b.buf) < n {
		if err := b.writeOut(false); err != nil {
			return nil, err
		}
	}
	return b.buf[len(b.buf):len(b.buf)], nil
}

// add appends p to the staged bytes (the header).
func (b *blobFile) add(p []byte) error {
	if _, err := b.reserve(len(p)); err != nil {
		return err
	}
	b.buf = append(b.buf, p...) // within capacity: no reallocation
	return nil
}

// staged extends the staged bytes by the n bytes written into the space
// reserve returned.
func (b *blobFile) staged(n int) { b.buf = b.buf[:len(b.buf)+n] }

// writeOut writes the staged bytes: all of them when final, otherwise (for
// direct I/O) only a whole number of aligned blocks, keeping the rest
// staged at the start of the buffer.
func (b *blobFile) writeOut(final bool) error {
	k := len(b.buf)
	if b.direct {
		k &^= directAlign - 1
	}
	if k > 0 {
		if err := b.write(b.buf[:k]); err != nil {
			return err
		}
		rest := copy(b.buf, b.buf[k:])
		b.buf = b.buf[:rest]
	}
	if final && len(b.buf) > 0 {
		// The unaligned tail goes through the page cache.
		if b.direct {
			if err := setDirect(b.f, false); err != nil {
				return err
			}
			b.direct = false
		}
		if err := b.write(b.buf); err != nil {
			return err
		}
		b.buf = b.buf[:0]
	}
	return nil
}

func (b *blobFile) write(p []byte) error {
	m, err := b.f.Write(p)
	b.n += int64(m)
	if err != nil && b.direct && m == 0 && isInvalid(err) {
		// Accepted at open, refused on write: fall back to the page cache.
		if err := setDirect(b.f, false); err != nil {
			return err
		}
		b.direct = false
		m, err = b.f.Write(p)
		b.n += int64(m)
	}
	return err
}

// release returns the staging buffer to the pool; the file stays open.
func (b *blobFile) release() {
	if b.pooled != nil {
		*b.pooled = (*b.pooled)[:0]
		stagePool.Put(b.pooled)
		b.pooled = nil
	}
	b.buf = nil
}
