package fileblob

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
)

// Blob file format, version 1:
//
//	magic      "ETHOSBLB" (8 bytes)
//	version    1 (1 byte)
//	segment    plaintext segment size, uint32 big endian
//	key id     16 bytes (the data key id, binary)
//	salt       32 bytes (per-blob key derivation)
//	prefix     7 bytes (nonce prefix)
//	segments   each: ciphertext of up to <segment> bytes + 16-byte tag
//
// The header (68 bytes) is the additional data of every segment but the
// last, whose additional data is the header followed by the blob's 32-byte
// address (binding the file to the address it is stored under).
const (
	magic         = "ETHOSBLB"
	formatVersion = 1
	headerSize    = 8 + 1 + 4 + 16 + 32 + 7
	saltOff       = 8 + 1 + 4 + 16
	prefixOff     = saltOff + 32
	// SegmentSize is the plaintext size of every segment but the last.
	SegmentSize = 64 << 10
	tagSize     = 16
	maxSegment  = 1 << 24
)

// ErrCorrupt is the sentinel of every authentication failure: a blob that
// was modified, truncated, extended or sealed under another key.
var ErrCorrupt = errors.New("blob fails authentication")

// CorruptError says which blob failed and where.
type CorruptError struct {
	Ref     string // ethos.BlobRef.String()
	Segment int64  // index of the failing segment, -1 for the header
	Offset  int64  // byte offset of the segment in the file
	Reason  string
}

func (e *CorruptError) Error() string {
	if e.Segment < 0 {
		return fmt.Sprintf("blob %s: header: %s", e.Ref, e.Reason)
	}
	return fmt.Sprintf("blob %s: segment %d at byte %d: %s", e.Ref, e.Segment, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// keys derived from a subject's data key.
//
// A blob's address is HMAC-SHA-256, under the address key, of the
// plaintext's SHA-256 (since 2026-11-27; label "v2"). Before, it was the
// HMAC of the plaintext itself (label "v1"). Both are keyed, so an address
// tells nothing to whoever lacks the key, and both dedupe identical
// plaintexts of a subject; the v2 form lets a caller that already hashed
// the plaintext (a de-identified output and its recorded SHA-256) hand the
// digest over instead of the store hashing every byte again. Readers never
// recompute an address (the final segment authenticates it), so blobs of
// either form read alike; a v1 and a v2 blob of the same bytes are simply
// two blobs.
func addressKey(dataKey []byte) []byte {
	k, _ := hkdf.Key(sha256.New, dataKey, nil, "ethos blob address v2", 32)
	return k
}

func blobAddress(addrKey, plainSum []byte) []byte {
	m := hmac.New(sha256.New, addrKey)
	m.Write(plainSum)
	return m.Sum(nil)
}

func blobAEAD(dataKey, salt []byte) cipher.AEAD {
	k, _ := hkdf.Key(sha256.New, dataKey, salt, "ethos blob segment key v1", 32)
	b, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(b)
	return g
}

func segmentNonce(nonce, prefix []byte, i uint32, last bool) {
	copy(nonce, prefix)
	binary.BigEndian.PutUint32(nonce[7:11], i)
	nonce[11] = 0
	if last {
		nonce[11] = 1
	}
}

// sealer encrypts a plaintext stream into a blob file and computes its
// address. Each segment is sealed straight into the file's staging buffer.
type sealer struct {
	w       *blobFile
	header  []byte
	aead    cipher.AEAD
	addrKey []byte
	sha     hash.Hash // SHA-256 of the plaintext; nil when known
	known   []byte    // the plaintext's SHA-256 given by the caller
	sum     []byte    // the address, once the final segment is sealed
	segSize int
	buf     []byte  // plaintext of the pending segment (readFrom, and sealPieces for a segment across pieces)
	bufP    *[]byte // buf's pool entry (segPool), if it came from there
	nonce   [12]byte
	seg     uint32
	size    int64
}

// newSealer starts a blob; known, when not nil, is the plaintext's
// SHA-256, which the sealer then trusts instead of computing it.
func newSealer(w *blobFile, keyID []byte, dataKey []byte, segSize int, known []byte) (*sealer, error) {
	h := make([]byte, headerSize)
	copy(h, magic)
	h[8] = formatVersion
	binary.BigEndian.PutUint32(h[9:13], uint32(segSize))
	copy(h[13:29], keyID)
	rand.Read(h[saltOff:headerSize])
	s := &sealer{
		w: w, header: h,
		aead:    blobAEAD(dataKey, h[saltOff:prefixOff]),
		addrKey: addressKey(dataKey),
		known:   known,
		segSize: segSize,
	}
	if known == nil {
		s.sha = sha256.New()
	}
	if err := w.add(h); err != nil {
		return nil, err
	}
	return s, nil
}

// readFrom encrypts everything r yields. The last segment is sealed only
// once r reports EOF, so a full final segment is followed by no empty one.
func (s *sealer) readFrom(r io.Reader) error {
	segSize := s.segSize
	s.segmentBuffer()
	for {
		n, err := io.ReadFull(r, s.buf[len(s.buf):segSize])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return s.flush(true)
		}
		if err != nil {
			return err
		}
		// The segment is full; it is the last one only if r is exhausted,
		// which we learn on the next read. Peek one byte.
		var one [1]byte
		m, err := io.ReadFull(r, one[:])
		if m == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return s.flush(true)
		}
		if err != nil && m == 0 {
			return err
		}
		if err := s.flush(false); err != nil {
			return err
		}
		s.buf = append(s.buf, one[0])
	}
}

// segPool holds plaintext segment buffers of the default segment size.
var segPool = sync.Pool{New: func() any { b := make([]byte, 0, SegmentSize); return &b }}

// segmentBuffer gives the sealer a segment buffer (s.buf), from segPool for
// the default segment size; release returns it.
func (s *sealer) segmentBuffer() {
	if cap(s.buf) >= s.segSize {
		return
	}
	if s.segSize == SegmentSize {
		s.bufP = segPool.Get().(*[]byte)
		s.buf = (*s.bufP)[:0]
		return
	}
	s.buf = make([]byte, 0, s.segSize)
}

// release returns the sealer's pooled segment buffer; the sealer is not
// used after.
func (s *sealer) release() {
	if s.bufP != nil {
		segPool.Put(s.bufP)
		s.bufP, s.buf = nil, nil
	}
}

// sealBytes encrypts data, the whole plaintext, sealing each segment
// straight from data (readFrom copies into the segment buffer first). The
// segments are those readFrom makes of the same bytes.
func (s *sealer) sealBytes(data []byte) error {
	segSize := s.segSize
	for {
		n := min(len(data), segSize)
		last := n == len(data)
		if err := s.seal(data[:n], last); err != nil {
			return err
		}
		if last {
			return nil
		}
		data = data[n:]
	}
}

// sealPieces is sealBytes for a plaintext in pieces (their
// concatenation): a segment within one piece is sealed straight from it,
// one that spans pieces is gathered into the segment buffer first. The
// segments are those readFrom makes of the same bytes.
func (s *sealer) sealPieces(parts [][]byte) error {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	segSize := s.segSize
	i, off, done := 0, 0, 0
	for {
		for i < len(parts) && off == len(parts[i]) {
			i, off = i+1, 0
		}
		n := min(total-done, segSize)
		last := done+n == total
		var seg []byte
		if n == 0 || len(parts[i])-off >= n {
			if n > 0 {
				seg = parts[i][off : off+n]
				off += n
			}
		} else {
			s.segmentBuffer()
			seg = s.buf[:0]
			for len(seg) < n {
				for off == len(parts[i]) {
					i, off = i+1, 0
				}
				k := min(n-len(seg), len(parts[i])-off)
				seg = append(seg, parts[i][off:off+k]...)
				off += k
			}
		}
		if err := s.seal(seg, last); err != nil {
			return err
		}
		if last {
			return nil
		}
		done += n
	}
}

func (s *sealer) flush(last bool) error {
	if err := s.seal(s.buf, last); err != nil {
		return err
	}
	s.buf = s.buf[:0]
	return nil
}

// seal encrypts one segment of plaintext p and writes it.
func (s *sealer) seal(p []byte, last bool) error {
	if s.seg == ^uint32(0) {
		return errors.New("blob too large for the segment counter")
	}
	if s.sha != nil {
		s.sha.Write(p)
	}
	s.size += int64(len(p))
	segmentNonce(s.nonce[:], s.header[prefixOff:], s.seg, last)
	aad := s.header
	if last {
		// The final segment also authenticates the blob's address, so a
		// blob file moved to another address fails on read without the
		// reader hashing the plaintext again.
		plainSum := s.known
		if s.sha != nil {
			plainSum = s.sha.Sum(nil)
		}
		s.sum = blobAddress(s.addrKey, plainSum)
		aad = finalAAD(s.header, s.sum)
	}
	dst, err := s.w.reserve(len(p) + tagSize)
	if err != nil {
		return err
	}
	s.w.staged(len(s.aead.Seal(dst, s.nonce[:], p, aad)))
	s.seg++
	return nil
}

func (s *sealer) digest() string { return hex.EncodeToString(s.sum) }

func finalAAD(header, digest []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(digest)), header...), digest...)
}

// opener decrypts a blob file segment by segment; it releases a segment's
// plaintext only after the segment authenticated, and reports an error
// instead of EOF when the file ends without a final segment or the final
// segment does not authenticate the expected address. The file's size,
// taken when it is opened, says which segment is the last. Ciphertext is
// read ahead in chunks of up to readChunk bytes (pooled), and a segment is
// decrypted straight into the caller's buffer when it has room for it.
type opener struct {
	ref     string
	r       io.Reader
	c       io.Closer
	header  []byte
	aead    cipher.AEAD
	final   []byte // additional data of the final segment
	segSize int
	size    int64  // file size
	chunk   []byte // ciphertext read ahead: chunk[cpos:] is not decrypted yet
	pooled  *[]byte
	cpos    int
	rd      int64 // file bytes read into chunks so far
	plain   []byte
	pos     int
	seg     uint32
	off     int64 // file offset of the next segment
	done    bool
	err     error
}

// readChunk is the read-ahead of an opener of the default segment size.
const readChunk = 1 << 20

var chunkPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

func newOpener(ref string, f *os.File, keyID []byte, dataKey []byte, digest string) (*opener, error) {
	sum, err := hex.DecodeString(digest)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("blob %s: malformed digest", ref)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", ref, err)
	}
	o := &opener{ref: ref, r: f, c: f, size: fi.Size()}
	o.pooled = chunkPool.Get().(*[]byte)
	o.chunk = (*o.pooled)[:0]
	if o.size < headerSize {
		o.release()
		return nil, &CorruptError{Ref: ref, Segment: -1, Reason: "file shorter than the header"}
	}
	if err := o.fill(headerSize); err != nil {
		o.release()
		return nil, err
	}
	h := bytes.Clone(o.chunk[:headerSize])
	o.cpos = headerSize
	fail := func(reason string) (*opener, error) {
		o.release()
		return nil, &CorruptError{Ref: ref, Segment: -1, Reason: reason}
	}
	if string(h[:8]) != magic {
		return fail("not an Ethos blob (bad magic)")
	}
	if h[8] != formatVersion {
		return fail(fmt.Sprintf("unknown format version %d", h[8]))
	}
	seg := binary.BigEndian.Uint32(h[9:13])
	if seg == 0 || seg > maxSegment {
		return fail(fmt.Sprintf("segment size %d out of range", seg))
	}
	if !hmac.Equal(h[13:29], keyID) {
		return fail("sealed under another data key")
	}
	o.header = h
	o.aead = blobAEAD(dataKey, h[saltOff:prefixOff])
	o.final = finalAAD(h, sum)
	o.segSize = int(seg)
	o.off = headerSize
	return o, nil
}

// fill makes at least n undecrypted bytes available at chunk[cpos:],
// reading ahead as far as the chunk (grown for large segments) and the
// file allow.
func (o *opener) fill(n int) error {
	if len(o.chunk)-o.cpos >= n {
		return nil
	}
	rest := copy(o.chunk[:cap(o.chunk)], o.chunk[o.cpos:])
	o.chunk, o.cpos = o.chunk[:rest], 0
	if cap(o.chunk) < n {
		o.chunk = append(make([]byte, 0, n), o.chunk...)
	}
	want := int(min(int64(cap(o.chunk)-rest), o.size-o.rd))
	if want < n-rest {
		return o.corrupt("missing: the blob is truncated")
	}
	m, err := io.ReadAtLeast(o.r, o.chunk[rest:rest+want], n-rest)
	o.chunk = o.chunk[:rest+m]
	o.rd += int64(m)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// Shorter than when it was opened.
		return o.corrupt("missing: the blob is truncated")
	}
	if err != nil {
		return fmt.Errorf("blob %s: read: %w", o.ref, err)
	}
	return nil
}

func (o *opener) release() {
	if o.pooled != nil {
		chunkPool.Put(o.pooled)
		o.pooled = nil
	}
	o.chunk = nil
}

func (o *opener) corrupt(reason string) error {
	return &CorruptError{Ref: o.ref, Segment: int64(o.seg), Offset: o.off, Reason: reason}
}

// next authenticates the next segment and decrypts it into dst when dst
// has room for a whole segment (returning the length written there), or
// into o.plain.
func (o *opener) next(dst []byte) (int, error) {
	left := o.size - o.off
	if left <= 0 {
		return 0, o.corrupt("missing: the blob is truncated")
	}
	n := int(min(left, int64(o.segSize+tagSize)))
	if n < tagSize {
		return 0, o.corrupt("truncated segment")
	}
	last := int64(n) == left
	if err := o.fill(n); err != nil {
		return 0, err
	}
	in := o.chunk[o.cpos : o.cpos+n]
	var nonce [12]byte
	segmentNonce(nonce[:], o.header[prefixOff:], o.seg, last)
	aad := o.header
	if last {
		aad = o.final
	}
	direct := len(dst) >= n-tagSize
	out := o.plain[:0]
	if direct {
		out = dst[:0]
	} else if cap(out) < o.segSize {
		out = make([]byte, 0, o.segSize)
	}
	p, aerr := o.aead.Open(out, nonce[:], in, aad)
	if aerr != nil {
		if direct {
			clear(dst[:n-tagSize]) // Open may have left unauthenticated bytes there
		}
		// Tell the reader what most likely happened.
		if !last {
			segmentNonce(nonce[:], o.header[prefixOff:], o.seg, true)
			if _, e2 := o.aead.Open(nil, nonce[:], in, o.final); e2 == nil {
				return 0, o.corrupt("bytes follow the final segment: data was appended")
			}
		} else {
			segmentNonce(nonce[:], o.header[prefixOff:], o.seg, false)
			if _, e2 := o.aead.Open(nil, nonce[:], in, o.header); e2 == nil {
				return 0, o.corrupt("stream ends after a non-final segment: the blob is truncated")
			}
		}
		return 0, o.corrupt("authentication failed: the blob was modified, sealed under another key, or is not the blob of this address")
	}
	o.cpos += n
	o.off += int64(n)
	o.seg++
	o.done = last
	if direct {
		return len(p), nil
	}
	o.plain, o.pos = p, 0
	return 0, nil
}

func (o *opener) Read(b []byte) (int, error) {
	for o.pos == len(o.plain) {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		if o.chunk == nil {
			return 0, fmt.Errorf("blob %s: read after close", o.ref)
		}
		n, err := o.next(b)
		if err != nil {
			o.err = err
			o.plain, o.pos = nil, 0
			return 0, err
		}
		if n > 0 || len(b) == 0 {
			return n, nil
		}
	}
	n := copy(b, o.plain[o.pos:])
	o.pos += n
	return n, nil
}

func (o *opener) Close() error {
	o.release()
	return o.c.Close()
}
