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

// blobFile is a temporary blob file being written. The file (and its key
// directory) is created only when the first bytes go out, and every write
// but the last runs in the background from one staging buffer while the
// sealer fills the other: a blob that fits in the staging buffer touches
// the file system only in Store.finish, which a deferred put runs in the
// background, and a larger one is written while it is being sealed.
type blobFile struct {
	dir     string // the key directory the file goes in
	newDir  bool   // dir was created for this blob (its parent needs a sync)
	f       *os.File
	direct  bool // O_DIRECT is wanted, then: is set on f
	segSize int
	dirs    *sync.Map // key directories known to exist (Store.dirs); nil: none

	buf    []byte // staged bytes not yet written; aligned
	pooled *[]byte
	alt    []byte // the other staging buffer (nil until needed); aligned
	altP   *[]byte
	// inflight, when not nil, delivers the result of the background write
	// of the buffer that is now alt; alt is not touched until it has.
	inflight chan error
}

// newBlobFile prepares a temporary file in dir for a blob whose segments
// hold segSize plaintext bytes, to be opened for direct I/O when direct is
// set and the file system allows it. Nothing is created yet.
func newBlobFile(dir string, segSize int, direct bool, dirs *sync.Map) *blobFile {
	b := &blobFile{dir: dir, direct: direct && oDirect != 0, segSize: segSize, dirs: dirs}
	b.buf, b.pooled = stagingBuffer(segSize)
	return b
}

// stagingBuffer returns an empty aligned buffer for segments of segSize,
// from the pool when it is of the default size (pooled is then not nil).
func stagingBuffer(segSize int) (buf []byte, pooled *[]byte) {
	need := 2 * (segSize + tagSize + directAlign)
	if need <= stageSize {
		p := stagePool.Get().(*[]byte)
		return (*p)[:0], p
	}
	return alignedBuffer(need), nil
}

// open creates the key directory unless it exists and the temporary file.
func (b *blobFile) open() error {
	if b.f != nil {
		return nil
	}
	// A key directory this store made or saw is not made again (two
	// system calls a blob); should it be gone, the create says so and it
	// is made.
	known := false
	if b.dirs != nil {
		_, known = b.dirs.Load(b.dir)
	}
	if !known {
		var err error
		if b.newDir, err = mkdir(b.dir); err != nil {
			return err
		}
		if b.dirs != nil {
			b.dirs.Store(b.dir, true)
		}
	}
	var name [12]byte
	for range 100 {
		rand.Read(name[:])
		p := filepath.Join(b.dir, ".put-"+hex.EncodeToString(name[:]))
		flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		f, err := os.OpenFile(p, flag|oDirectIf(b.direct), 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if known && errors.Is(err, fs.ErrNotExist) {
			// The key directory was removed behind the store: make it
			// again (and keep direct I/O, which was not what failed).
			b.dirs.Delete(b.dir)
			known = false
			if b.newDir, err = mkdir(b.dir); err != nil {
				return err
			}
			b.dirs.Store(b.dir, true)
			continue
		}
		if err != nil && b.direct && !errors.Is(err, fs.ErrPermission) {
			// The file system refuses O_DIRECT (tmpfs, some FUSE): write
			// through the page cache.
			b.direct = false
			f, err = os.OpenFile(p, flag, 0o600)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
		}
		if err != nil {
			return err
		}
		b.f = f
		return nil
	}
	return errors.New("no free temporary name")
}

// Name is the temporary file's path, "" before it is created.
func (b *blobFile) Name() string {
	if b.f == nil {
		return ""
	}
	return b.f.Name()
}

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

// wait waits for the background write, if any, and returns its error.
func (b *blobFile) wait() error {
	if b.inflight == nil {
		return nil
	}
	err := <-b.inflight
	b.inflight = nil
	return err
}

// writeOut writes the staged bytes: all of them when final (and waits for
// every write), otherwise (for direct I/O) only a whole number of aligned
// blocks, in the background, keeping the rest staged at the start of the
// other buffer.
func (b *blobFile) writeOut(final bool) error {
	if err := b.wait(); err != nil {
		return err
	}
	if err := b.open(); err != nil {
		return err
	}
	if final {
		return b.writeFinal()
	}
	k := len(b.buf)
	if b.direct {
		k &^= directAlign - 1
	}
	if k == 0 {
		return nil
	}
	if b.alt == nil {
		b.alt, b.altP = stagingBuffer(b.segSize)
	}
	out := b.buf[:k]
	rest := copy(b.alt[:cap(b.alt)], b.buf[k:])
	b.buf, b.alt = b.alt[:rest], b.buf[:0]
	b.pooled, b.altP = b.altP, b.pooled
	ch := make(chan error, 1)
	b.inflight = ch
	go func() { ch <- b.write(out) }()
	return nil
}

// writeFinal writes every staged byte, the unaligned tail through the
// page cache.
func (b *blobFile) writeFinal() error {
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
	if len(b.buf) > 0 {
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

// write writes p to the file. It runs on one goroutine at a time (the
// background write is waited for before the next).
func (b *blobFile) write(p []byte) error {
	m, err := b.f.Write(p)
	if err != nil && b.direct && m == 0 && isInvalid(err) {
		// Accepted at open, refused on write: fall back to the page cache.
		if err := setDirect(b.f, false); err != nil {
			return err
		}
		b.direct = false
		_, err = b.f.Write(p)
	}
	return err
}

// discard ends a blob that is not kept: it waits for the background
// write, releases the buffers and closes and removes the temporary file.
func (b *blobFile) discard() {
	b.release()
	if b.f != nil {
		b.f.Close()
		os.Remove(b.f.Name())
	}
}

// release waits for the background write and returns the staging
// buffers to the pool; the file stays open.
func (b *blobFile) release() {
	b.wait()
	for _, p := range []*[]byte{b.pooled, b.altP} {
		if p != nil {
			*p = (*p)[:0]
			stagePool.Put(p)
		}
	}
	b.pooled, b.altP, b.buf, b.alt = nil, nil, nil, nil
}
