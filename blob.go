package ethos

import (
	"bytes"
	"context"
	"io"
	"time"
)

// Encrypted image store (QC-COL-2: "storage is encrypted").
//
// Images are kept as content-addressed blobs, each subject's under its own
// data key; data keys are wrapped by a master key that lives outside the
// database and outside the blob directory. Destroying a subject's data key
// (crypto-shredding) makes every copy of that subject's ciphertext,
// including copies in backups, undecryptable.

// BlobDigestLen is the length in hex digits of a blob digest.
const BlobDigestLen = 64

// BlobRef names one stored blob. Digest is a keyed hash of the plaintext
// under a key that belongs to the subject (so the same file of two subjects
// has two unrelated addresses, and nobody without the subject's key can
// test whether a given file is stored); see docs/fileblob.md.
type BlobRef struct {
	Subject SubjectKey `json:"subject"`
	Digest  string     `json:"digest"` // 64 lowercase hex digits
	Size    int64      `json:"size"`   // plaintext bytes
}

// String names the blob without the subject: the first 12 digits of the
// subject key and the digest.
func (r BlobRef) String() string { return r.Subject.Short() + "/" + r.Digest }

// Validate checks the form of the reference (it is used to build a path).
func (r BlobRef) Validate() error {
	if !r.Subject.Valid() {
		return Errorf(EINVALID, "blob ref: subject is not a subject key")
	}
	if !ValidBlobDigest(r.Digest) {
		return Errorf(EINVALID, "blob ref: digest must be %d lowercase hex digits", BlobDigestLen)
	}
	if r.Size < 0 {
		return Errorf(EINVALID, "blob ref: negative size")
	}
	return nil
}

// ValidBlobDigest reports whether s is 64 lowercase hex digits.
func ValidBlobDigest(s string) bool {
	if len(s) != BlobDigestLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ShredRecord is what a crypto-shredding leaves behind: which key was
// destroyed, how much was deleted, when. It names the subject by key only
// and is meant for the audit log.
type ShredRecord struct {
	Subject      SubjectKey `json:"subject"`
	KeyID        string     `json:"key_id"`
	BlobsDeleted int        `json:"blobs_deleted"`
	BytesDeleted int64      `json:"bytes_deleted"` // on-disk (ciphertext) bytes
	At           time.Time  `json:"at"`
}

// BlobStore keeps image bytes encrypted per subject.
//
// Put stores the plaintext read from r under subject's data key (created on
// first use) and returns its reference; storing the same bytes again for the
// same subject returns the same reference and stores nothing twice. Open
// returns a reader of the plaintext that authenticates every segment before
// releasing it; tampering or truncation surfaces as an error from Read that
// names the blob, never as silently shortened data. Delete removes one blob.
// ShredSubject destroys the subject's data key first and then deletes its
// blobs: once it returns, no copy of the subject's ciphertext can be
// decrypted with anything the store holds.
type BlobStore interface {
	Put(ctx context.Context, subject SubjectKey, r io.Reader) (BlobRef, error)
	Open(ctx context.Context, ref BlobRef) (io.ReadCloser, error)
	Delete(ctx context.Context, ref BlobRef) error
	ShredSubject(ctx context.Context, subject SubjectKey) (ShredRecord, error)
}

// DataKey is a subject's data key as stored: wrapped (encrypted) under the
// master key named by MasterKeyID. The plaintext key never leaves the blob
// store's memory.
type DataKey struct {
	ID          string     `json:"id"` // random, 32 hex digits; names the key in blobs and records
	Subject     SubjectKey `json:"subject"`
	MasterKeyID string     `json:"master_key_id"`
	Wrapped     []byte     `json:"wrapped"`
	CreatedAt   time.Time  `json:"created_at"`
	RewrappedAt time.Time  `json:"rewrapped_at,omitzero"`
}

// KeyStore keeps wrapped data keys, one per subject. It never sees a master
// key or a plaintext data key.
//
// DataKey returns ENOTFOUND when the subject has none. CreateDataKey returns
// ECONFLICT when the subject already has one (two concurrent first puts: the
// loser reads the winner's key). DestroyDataKey removes the subject's key
// durably and returns what it removed (ENOTFOUND when there was none).
// DataKeys lists every key (for rewrapping under a new master key) and
// ReplaceDataKeys stores a rewrapped set all at once: either every key is
// replaced or none is.
type KeyStore interface {
	DataKey(ctx context.Context, subject SubjectKey) (*DataKey, error)
	CreateDataKey(ctx context.Context, k *DataKey) error
	DestroyDataKey(ctx context.Context, subject SubjectKey) (*DataKey, error)
	DataKeys(ctx context.Context) ([]*DataKey, error)
	ReplaceDataKeys(ctx context.Context, keys []*DataKey) error
}

// BlobBytes is a file in memory handed to a BlobStore's Put: a reader
// that also hands over its unread bytes whole (fileblob.UnreadBytes), so
// that a store may seal them in place instead of copying them first, and,
// when Sum is set, the plaintext's SHA-256 the caller already computed
// (fileblob.KnownDigest), so that the store does not hash them again.
type BlobBytes struct {
	r   bytes.Reader
	buf []byte
	Sum []byte // SHA-256 of the bytes, or nil
}

// NewBlobBytes returns a BlobBytes over data with its SHA-256 sum (nil
// when not known). data must not change until the Put returns.
func NewBlobBytes(data, sum []byte) *BlobBytes {
	b := &BlobBytes{buf: data, Sum: sum}
	b.r.Reset(data)
	return b
}

func (b *BlobBytes) Read(p []byte) (int, error) { return b.r.Read(p) }

// Unread returns the bytes a Read would still return.
func (b *BlobBytes) Unread() []byte { return b.buf[len(b.buf)-b.r.Len():] }

// PlainSHA256 returns Sum.
func (b *BlobBytes) PlainSHA256() []byte { return b.Sum }
