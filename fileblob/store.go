package fileblob

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Store is the file-system ethos.BlobStore. Set Dir, Keys and the master
// key with NewStore, adjust fields, then call Init (not Open: that name
// is taken by ethos.BlobStore's Open of a blob).
type Store struct {
	Dir  string
	Keys ethos.KeyStore
	// Now is the clock of shred records and rewraps.
	Now func() time.Time
	// SegmentSize is the plaintext size of a sealed segment (SegmentSize
	// by default). Readers take it from each blob's header.
	SegmentSize int
	// BufferedIO writes blob files through the page cache. By default
	// they are written with direct I/O where the file system allows it
	// (Linux): the ciphertext is not copied into the page cache, which
	// saves CPU on ingest; reading a blob back soon after then comes from
	// the device rather than from memory.
	BufferedIO bool

	mu      sync.RWMutex
	master  *MasterKey
	retired map[string]*MasterKey // older master keys, for unwrapping only

	pendMu  sync.Mutex
	pending map[string]bool // PutDeferred's unsynced paths; true for a directory

	dirs sync.Map // key directories made or seen by puts

	finMu    sync.Mutex
	fins     []*finishing            // deferred puts completing in the background, until a Flush collects them
	finPath  map[string][]*finishing // fins by the blob's final path (Open and Delete wait for those of one blob)
	finSlots chan struct{}           // bounds them (maxFinishing)
	failed   map[string][]failedPut  // failed completions a flush collected, by blob ref, until FlushRefs reports them or they expire
	flushMu  sync.Mutex              // one flush syncs at a time
}

var _ ethos.BlobStore = (*Store)(nil)

// NewStore returns a store of blobs under dir whose data keys live in keys
// and are wrapped under master.
func NewStore(dir string, keys ethos.KeyStore, master *MasterKey) *Store {
	return &Store{Dir: dir, Keys: keys, Now: time.Now, SegmentSize: SegmentSize, master: master, retired: map[string]*MasterKey{}}
}

// Init creates the store directory (mode 0700) or checks that an existing
// one is not accessible to group or others.
func (s *Store) Init() error {
	if s.master == nil {
		return ethos.Errorf(ethos.EINVALID, "blob store: no master key")
	}
	if s.Keys == nil {
		return ethos.Errorf(ethos.EINVALID, "blob store: no key store")
	}
	if s.SegmentSize <= 0 || s.SegmentSize > maxSegment {
		return ethos.Errorf(ethos.EINVALID, "blob store: segment size %d out of range (1..%d)", s.SegmentSize, maxSegment)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	fi, err := os.Stat(s.Dir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return ethos.Errorf(ethos.EINVALID, "blob store directory %s has mode %04o: it must not be accessible to group or others (chmod 700)", s.Dir, fi.Mode().Perm())
	}
	return nil
}

// RemoveStaleTemp deletes the temporary files of Puts that never finished
// (a process killed between writing and renaming) and returns how many it
// removed. Call it only while holding the key store exclusively (as
// FileKeyStore.Open does), so that no Put is under way.
func (s *Store) RemoveStaleTemp() (int, error) {
	keyDirs, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("blob store: %w", err)
	}
	n := 0
	for _, d := range keyDirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(s.Dir, d.Name())
		stale, err := filepath.Glob(filepath.Join(dir, ".put-*"))
		if err != nil {
			return n, err
		}
		for _, p := range stale {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("blob store: remove stale %s: %w", filepath.Base(p), err)
			}
			n++
		}
		if len(stale) > 0 {
			if err := syncDir(dir); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// AddRetiredMasterKey lets the store unwrap data keys still wrapped under
// an older master key (during a rotation). New keys are always wrapped
// under the current master key.
func (s *Store) AddRetiredMasterKey(m *MasterKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired[m.ID()] = m
}

// MasterKeyID returns the id of the current master key.
func (s *Store) MasterKeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.master.ID()
}

func (s *Store) unwrap(k *ethos.DataKey) ([]byte, error) {
	s.mu.RLock()
	m := s.master
	if k.MasterKeyID != m.ID() {
		if r, ok := s.retired[k.MasterKeyID]; ok {
			m = r
		}
	}
	s.mu.RUnlock()
	return m.unwrap(k)
}

// DeferredKeyStore is a key store that can add data keys without making
// each durable at once (FileKeyStore). PutDeferred creates keys that way,
// and Flush calls SyncKeys before it syncs the blobs, so a new subject's
// key is durable before any of its blobs is acknowledged.
type DeferredKeyStore interface {
	CreateDataKeyDeferred(ctx context.Context, k *ethos.DataKey) error
	SyncKeys(ctx context.Context) error
}

// syncKeys makes keys created for deferred puts durable.
func (s *Store) syncKeys(ctx context.Context) error {
	if dk, ok := s.Keys.(DeferredKeyStore); ok {
		return dk.SyncKeys(ctx)
	}
	return nil
}

// dataKey returns the subject's data key record and plaintext key,
// creating one when create is set and the subject has none; a key created
// for a deferred put is synced only by the next Flush (or durable Put).
func (s *Store) dataKey(ctx context.Context, subject ethos.SubjectKey, create, deferred bool) (*ethos.DataKey, []byte, error) {
	for range 2 {
		k, err := s.Keys.DataKey(ctx, subject)
		if err == nil {
			p, err := s.unwrap(k)
			if err != nil {
				return nil, nil, err
			}
			return k, p, nil
		}
		if ethos.ErrorCode(err) != ethos.ENOTFOUND || !create {
			return nil, nil, err
		}
		id := make([]byte, 16)
		rand.Read(id)
		plain := make([]byte, dataKeySize)
		rand.Read(plain)
		k = &ethos.DataKey{ID: hex.EncodeToString(id), Subject: subject, CreatedAt: s.Now().UTC()}
		s.mu.RLock()
		s.master.wrap(k, plain)
		s.mu.RUnlock()
		if dk, ok := s.Keys.(DeferredKeyStore); ok && deferred {
			err = dk.CreateDataKeyDeferred(ctx, k)
		} else {
			err = s.Keys.CreateDataKey(ctx, k)
		}
		if err == nil {
			return k, plain, nil
		}
		if ethos.ErrorCode(err) != ethos.ECONFLICT {
			return nil, nil, err
		}
		// Another Put created the subject's key first: use that one.
	}
	return nil, nil, fmt.Errorf("data key for subject %s: created and lost twice", subject.Short())
}

// mkdir creates directory dir (mode 0700) unless it exists, and reports
// whether it did: a new directory's entry in its parent must be synced.
func mkdir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return false, nil
		}
	}
	return false, err
}

// blobPath is where Put writes a blob: straight in its key's directory.
// Stores written before 2026-11-27 put each blob one level deeper, in a
// directory named by the digest's first two hex digits (legacyPath); that
// level cost a directory per blob on ingest and bought nothing, since the
// key directories already split a store by subject. Both layouts are read.
func (s *Store) blobPath(keyID, digest string) string {
	return filepath.Join(s.Dir, keyID, digest)
}

func (s *Store) legacyPath(keyID, digest string) string {
	return filepath.Join(s.Dir, keyID, digest[:2], digest)
}

// stored reports, for FlushRefs, whether ref's blob file is in the store
// (its subject's data key still there, the file in either layout).
func (s *Store) stored(ctx context.Context, ref ethos.BlobRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	k, _, err := s.dataKey(ctx, ref.Subject, false, false)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return ethos.Errorf(ethos.ECONFLICT, "blob %s: the subject's data key is gone (crypto-shredded while written)", ref)
		}
		return fmt.Errorf("blob %s: %w", ref, err)
	}
	if _, err := s.existingPath(k.ID, ref.Digest); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ethos.Errorf(ethos.ECONFLICT, "blob %s: not in the store (its write failed or it was deleted)", ref)
		}
		return fmt.Errorf("blob %s: %w", ref, err)
	}
	return nil
}

// existingPath returns the path of a stored blob in either layout, or
// fs.ErrNotExist.
func (s *Store) existingPath(keyID, digest string) (string, error) {
	p := s.blobPath(keyID, digest)
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		p = s.legacyPath(keyID, digest)
		_, err = os.Lstat(p)
	}
	return p, err
}

// UnreadBytes is a reader over bytes already in memory that can hand
// them over whole: Put and PutDeferred seal such a reader's Unread bytes
// in place instead of copying them into a segment buffer first, and do not
// read from it.
type UnreadBytes interface {
	io.Reader
	Unread() []byte // the bytes a Read would still return, not to be modified during Put
}

// UnreadPieces is UnreadBytes for bytes in memory in several pieces (an
// output assembled from its own bytes and slices of its input): Put and
// PutDeferred seal the concatenation of the pieces in place, copying only
// the few segments that span two pieces, and do not read from it.
type UnreadPieces interface {
	io.Reader
	UnreadPieces() [][]byte // not to be modified during Put
}

// KnownDigest is a reader that knows the SHA-256 of the bytes it yields
// (an output whose writer hashed it, as the de-identification engine
// does): Put and PutDeferred then derive the blob's address from that
// digest instead of hashing the bytes again. The digest must be of exactly
// the bytes the reader yields (the Unread bytes, for an UnreadBytes); a
// wrong one files the blob under a wrong address, where a later Put of
// other bytes with the same wrong digest would be taken for it.
type KnownDigest interface {
	io.Reader
	PlainSHA256() []byte // 32 bytes, or nil when not known after all (the store hashes)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// Put implements ethos.BlobStore. The blob is sealed into a temporary file
// beside its final place, synced and renamed, so a crash leaves either no
// blob or a whole one.
func (s *Store) Put(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return s.put(ctx, subject, r, true, s.BufferedIO)
}

// PutDeferred is Put without its syncs: the blob is sealed into a
// temporary file and renamed into place, and the file, the directories
// it changed and a data key created for a new subject become durable only
// at the next Flush. A caller must not
// acknowledge the blob (record it, answer for it) before Flush returns
// nil. Once the plaintext is sealed PutDeferred returns: the last write,
// the rename and the checks complete in the background (a few puts at a
// time), Open and Delete of the blob wait for them, and Flush waits for
// them and returns their errors (a failed put leaves no blob). Unlike Put it keeps a blob already at the address only if it
// authenticates whole, and replaces it otherwise, since a crash before a
// Flush may have left that file incomplete.
func (s *Store) PutDeferred(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return s.put(ctx, subject, r, false, s.BufferedIO)
}

// PutDeferredBuffered is PutDeferred writing through the page cache
// whatever BufferedIO says, for a caller that writes many blobs and
// flushes them together: a processing run's outputs. The kernel then
// writes them back in the background, and the Flush that makes them
// durable (syncfs) waits for that; with direct I/O each write waits for
// the device while the caller's goroutines go on, which measured more CPU
// in the writing process for a run's outputs (docs/benchmarks-processing.md,
// session 6). Durability is the same: nothing is durable before the
// Flush.
func (s *Store) PutDeferredBuffered(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return s.put(ctx, subject, r, false, true)
}

// Flush makes every blob written by PutDeferred before it was called
// durable: first the data keys created for them (DeferredKeyStore), then
// the blobs, on Linux with one syncfs(2) of the store's file system,
// elsewhere with an fsync of each pending file and directory. It fails
// when the background completion of any of those puts failed (see
// FlushRefs for a store shared by several callers).
func (s *Store) Flush(ctx context.Context) error {
	failed, err := s.flush(ctx)
	if err != nil {
		return err
	}
	if failed != nil {
		return fmt.Errorf("blob store: flush: %w", failed)
	}
	return nil
}

// FlushRefs is Flush for a caller that knows which deferred puts it made
// (refs): it fails when the background completion of the put of any of
// refs failed, even when another caller's Flush running at the same time
// collected that failure, and not for the failures of other callers'
// puts. Callers sharing a store (concurrent STOW-RS requests, a
// processing run) should use it rather than Flush.
func (s *Store) FlushRefs(ctx context.Context, refs []ethos.BlobRef) error {
	if _, err := s.flush(ctx); err != nil {
		return err
	}
	s.finMu.Lock()
	s.expireFailed()
	var errs []error
	var check []ethos.BlobRef
	for _, r := range refs {
		k := r.String()
		if e := s.failed[k]; len(e) > 0 {
			errs = append(errs, e[0].err)
			if s.failed[k] = e[1:]; len(e) == 1 {
				delete(s.failed, k)
			}
			continue
		}
		check = append(check, r)
	}
	s.finMu.Unlock()
	// A failure is kept for its caller only so long (failedKeep), and
	// another caller's Flush may have collected it: a ref with no failure
	// on file is therefore confirmed on disk, so that FlushRefs never
	// answers that a blob is durable when its write failed.
	for _, r := range check {
		if err := s.stored(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("blob store: flush: %w", errors.Join(errs...))
	}
	return nil
}

// flush waits for the background completions of the deferred puts
// started before it (their failures are failed) and makes the keys and
// every pending path durable. One flush syncs at a time, so that a
// flush that finds nothing pending because a concurrent one took its
// paths still returns only once those are durable.
func (s *Store) flush(ctx context.Context) (failed, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Deferred puts still completing in the background finish first:
	// their files and directories become pending paths.
	failed = s.awaitFinishing("", true)
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	// Keys first: a blob is useless without its key.
	if err := s.syncKeys(ctx); err != nil {
		return failed, fmt.Errorf("blob store: flush: %w", err)
	}
	s.pendMu.Lock()
	paths := make([]string, 0, len(s.pending))
	files := 0
	for p, isDir := range s.pending {
		if !isDir {
			paths = append(paths, p)
			files++
		}
	}
	for p, isDir := range s.pending {
		if isDir {
			paths = append(paths, p)
		}
	}
	clear(s.pending)
	s.pendMu.Unlock()
	if len(paths) == 0 {
		return failed, nil
	}
	if err := syncFS(s.Dir, paths); err != nil {
		// Nothing is known to be durable: keep the paths pending so the
		// caller's retry (or the next Flush) covers them again.
		s.pendMu.Lock()
		for i, p := range paths {
			if _, ok := s.pending[p]; !ok {
				s.pending[p] = i >= files
			}
		}
		s.pendMu.Unlock()
		return failed, fmt.Errorf("blob store: flush %d blobs: %w", files, err)
	}
	return failed, nil
}

// intact reports whether the stored blob ref opens and authenticates to
// its end.
func (s *Store) intact(ctx context.Context, ref ethos.BlobRef) bool {
	rc, err := s.open(ctx, ref, false)
	if err != nil {
		return false
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	return err == nil && n == ref.Size
}

func (s *Store) addPending(paths map[string]bool) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if s.pending == nil {
		s.pending = map[string]bool{}
	}
	for p, isDir := range paths {
		s.pending[p] = isDir
	}
}

func (s *Store) put(ctx context.Context, subject ethos.SubjectKey, r io.Reader, durable, buffered bool) (ethos.BlobRef, error) {
	if !subject.Valid() {
		return ethos.BlobRef{}, ethos.Errorf(ethos.EINVALID, "put blob: subject is not a subject key")
	}
	k, plain, err := s.dataKey(ctx, subject, true, !durable)
	if err != nil {
		return ethos.BlobRef{}, fmt.Errorf("put blob: %w", err)
	}
	if durable {
		// The key may have been created by a deferred put not yet
		// flushed: a durable blob needs a durable key.
		if err := s.syncKeys(ctx); err != nil {
			return ethos.BlobRef{}, fmt.Errorf("put blob: %w", err)
		}
	}
	kid, _ := hex.DecodeString(k.ID)
	bf := newBlobFile(filepath.Join(s.Dir, k.ID), s.SegmentSize, !buffered, &s.dirs)
	fail := func(err error) (ethos.BlobRef, error) {
		bf.discard()
		return ethos.BlobRef{}, fmt.Errorf("put blob for subject %s: %w", subject.Short(), err)
	}
	var known []byte
	if kd, ok := r.(KnownDigest); ok {
		// nil: the reader does not know it after all (ethos.BlobBytes
		// without a sum); the store hashes the bytes.
		if known = kd.PlainSHA256(); known != nil && len(known) != sha256.Size {
			return fail(fmt.Errorf("known digest of %d bytes, want %d", len(known), sha256.Size))
		}
	}
	seal, err := newSealer(bf, kid, plain, s.SegmentSize, known)
	if err != nil {
		return fail(err)
	}
	if u, ok := r.(UnreadPieces); ok {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		err = seal.sealPieces(u.UnreadPieces())
	} else if u, ok := r.(UnreadBytes); ok {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		err = seal.sealBytes(u.Unread())
	} else {
		err = seal.readFrom(ctxReader{ctx, r})
	}
	seal.release()
	if err != nil {
		return fail(err)
	}
	ref := ethos.BlobRef{Subject: subject, Digest: seal.digest(), Size: seal.size}
	final := s.blobPath(k.ID, ref.Digest)
	if !durable {
		// The plaintext is sealed: what is left (the last write, the
		// rename, the checks) needs only the staging buffer, and runs in
		// the background while the caller goes on with its next blob.
		// Flush waits for it; Open, Delete and a later durable Put of
		// the same address wait for it too, so the blob reads as stored
		// once PutDeferred returns.
		s.startFinish(final, ref, func() error {
			return s.finish(context.WithoutCancel(ctx), bf, ref, k.ID, false)
		})
		return ref, nil
	}
	// A deferred put of the same address still completing could rename
	// its unsynced file over the one this Put syncs: let it finish first
	// (its failure is its own caller's, reported by a Flush).
	s.awaitFinishing(final, false)
	if err := s.finish(ctx, bf, ref, k.ID, true); err != nil {
		return ethos.BlobRef{}, err
	}
	return ref, nil
}

// finish writes out a sealed blob's staged bytes and moves the temporary
// file to the blob's address (or drops it when the address already holds
// the blob), syncing as a durable Put does or leaving the paths pending
// for the next Flush.
func (s *Store) finish(ctx context.Context, bf *blobFile, ref ethos.BlobRef, keyID string, durable bool) error {
	if err := bf.writeOut(true); err != nil {
		bf.discard()
		return fmt.Errorf("put blob for subject %s: %w", ref.Subject.Short(), err)
	}
	bf.release()
	f, tmp, dir := bf.f, bf.Name(), bf.dir
	final := s.blobPath(keyID, ref.Digest)
	if old, err := s.existingPath(keyID, ref.Digest); err == nil && (durable || s.intact(ctx, ref)) {
		// Same bytes for the same subject: already stored. A deferred Put
		// trusts the file only once it authenticates whole (a crash
		// before a Flush can leave it incomplete), and syncs it with the
		// batch, as it would its own.
		f.Close()
		os.Remove(tmp)
		if !durable {
			s.addPending(map[string]bool{old: false})
		}
		return nil
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(tmp)
			return fmt.Errorf("put blob for subject %s: %w", ref.Subject.Short(), err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put blob %s: %w", ref, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put blob %s: %w", ref, err)
	}
	if !durable {
		paths := map[string]bool{final: false, dir: true}
		if bf.newDir {
			paths[s.Dir] = true
		}
		s.addPending(paths)
	} else {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("put blob %s: %w", ref, err)
		}
		if bf.newDir {
			if err := syncDir(s.Dir); err != nil {
				return fmt.Errorf("put blob %s: %w", ref, err)
			}
		}
	}
	// A shredding of this subject that ran while the blob was written has
	// destroyed the key it is sealed under: the blob is unreadable, remove
	// it and say so rather than acknowledge it.
	if now, err := s.Keys.DataKey(ctx, ref.Subject); err != nil || now.ID != keyID {
		os.Remove(final)
		return ethos.Errorf(ethos.ECONFLICT, "put blob: subject %s was crypto-shredded while the blob was written", ref.Subject.Short())
	}
	return nil
}

// maxFinishing bounds the deferred puts finishing in the background, each
// holding a staging buffer (1 MiB) and an open file. Direct writes wait
// for the device, so several in flight keep it busy: on this project's
// virtual disk (docs/benchmarks-ingest.md) parallel 512 KiB direct writes
// gave about 510 MB/s from one stream, 850 from four, 930 from eight and no
// more from sixteen.
const maxFinishing = 8

// finishing is a deferred put completing in the background.
type finishing struct {
	path string // the blob's final path
	ref  string // the blob's reference (BlobRef.String)
	done chan struct{}
	err  error // set before done is closed
	// collected is set (under Store.finMu) when a flush has taken the
	// completion off Store.fins.
	collected bool
}

// startFinish runs fn in the background as the completion of the
// deferred put of the blob at path, waiting first while maxFinishing
// others are under way.
func (s *Store) startFinish(path string, ref ethos.BlobRef, fn func() error) {
	s.finMu.Lock()
	if s.finSlots == nil {
		s.finSlots = make(chan struct{}, maxFinishing)
	}
	slots := s.finSlots
	s.finMu.Unlock()
	slots <- struct{}{}
	f := &finishing{path: path, ref: ref.String(), done: make(chan struct{})}
	s.finMu.Lock()
	s.fins = append(s.fins, f)
	if s.finPath == nil {
		s.finPath = map[string][]*finishing{}
	}
	s.finPath[path] = append(s.finPath[path], f)
	s.finMu.Unlock()
	go func() {
		defer func() { <-slots }()
		f.err = fn()
		close(f.done)
	}()
}

// failedPut is the failure of a deferred put's completion, kept for the
// caller's FlushRefs.
type failedPut struct {
	err error
	at  time.Time
}

// failedKeep is how long a failure waits in Store.failed for its caller:
// a caller flushes its puts right after making them, so one unclaimed
// that long belongs to a caller that used Flush (which reported it) or
// gave up; it is dropped, so that such failures do not pile up in a
// long-running server.
const failedKeep = 10 * time.Minute

// expireFailed drops failures older than failedKeep. s.finMu is held.
func (s *Store) expireFailed() {
	if len(s.failed) == 0 {
		return
	}
	old := s.Now().Add(-failedKeep)
	for k, fs := range s.failed {
		fs = slices.DeleteFunc(fs, func(f failedPut) bool { return f.at.Before(old) })
		if len(fs) == 0 {
			delete(s.failed, k)
		} else {
			s.failed[k] = fs
		}
	}
}

// awaitFinishing waits for the background completions of deferred puts
// started before it was called (only of the blob at path, when path is not
// empty) and returns their errors; when collect is set the completions are
// then forgotten, the failed ones kept in s.failed for FlushRefs.
func (s *Store) awaitFinishing(path string, collect bool) error {
	s.finMu.Lock()
	// A copy: the lists change once finMu is released.
	var wait []*finishing
	if path == "" {
		wait = slices.Clone(s.fins)
	} else {
		wait = slices.Clone(s.finPath[path])
	}
	s.finMu.Unlock()
	var errs []error
	for _, f := range wait {
		<-f.done
		if f.err != nil {
			errs = append(errs, f.err)
		}
	}
	if collect && len(wait) > 0 {
		s.finMu.Lock()
		for _, f := range wait {
			f.collected = true
		}
		// By mark, not by a search of wait: a flush collects every
		// completion, and the list is as long as the puts since the last.
		collected := func(f *finishing) bool { return f.collected }
		s.fins = slices.DeleteFunc(s.fins, collected)
		for _, f := range wait {
			if fs := slices.DeleteFunc(s.finPath[f.path], collected); len(fs) > 0 {
				s.finPath[f.path] = fs
			} else {
				delete(s.finPath, f.path)
			}
		}
		for _, f := range wait {
			if f.err == nil {
				delete(s.failed, f.ref)
				continue
			}
			if s.failed == nil {
				s.failed = map[string][]failedPut{}
			}
			s.failed[f.ref] = append(s.failed[f.ref], failedPut{f.err, s.Now()})
		}
		s.expireFailed()
		s.finMu.Unlock()
	}
	return errors.Join(errs...)
}

// Open implements ethos.BlobStore. Reads fail with a *CorruptError (which
// wraps ErrCorrupt) as soon as a segment does not authenticate.
func (s *Store) Open(ctx context.Context, ref ethos.BlobRef) (io.ReadCloser, error) {
	return s.open(ctx, ref, true)
}

// open is Open; await waits first for a deferred put of the same blob
// still completing (not from within that completion).
func (s *Store) open(ctx context.Context, ref ethos.BlobRef, await bool) (io.ReadCloser, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, plain, err := s.dataKey(ctx, ref.Subject, false, false)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return nil, ethos.Errorf(ethos.ENOTFOUND, "blob %s: the subject has no data key (never stored or crypto-shredded)", ref)
		}
		return nil, fmt.Errorf("open blob %s: %w", ref, err)
	}
	if await {
		// A deferred put of this blob may still be completing.
		s.awaitFinishing(s.blobPath(k.ID, ref.Digest), false)
	}
	f, err := os.Open(s.blobPath(k.ID, ref.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(s.legacyPath(k.ID, ref.Digest))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "blob %s not found", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", ref, err)
	}
	kid, _ := hex.DecodeString(k.ID)
	o, err := newOpener(ref.String(), f, kid, plain, ref.Digest)
	if err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

// AddressedBy reports whether sum is the plaintext SHA-256 that ref's
// address was derived from: whether HMAC-SHA-256 of sum under the
// subject's address key is the address (blobs stored since 2026-11-27;
// an older blob's address is the HMAC of the plaintext itself, and
// AddressedBy reports false for it). The blob's last segment
// authenticates its address (AES-GCM additional data), so a caller that
// then reads the blob whole without error has read the very plaintext
// the store sealed under that address, and may take sum as its SHA-256
// without hashing it again (a processing run's input digest, recorded at
// ingest). What this rests on is the writer: the store takes a
// KnownDigest from its caller on trust, and ingest computes it from the
// bytes it stores.
func (s *Store) AddressedBy(ctx context.Context, ref ethos.BlobRef, sum []byte) (bool, error) {
	if err := ref.Validate(); err != nil {
		return false, err
	}
	if len(sum) != sha256.Size {
		return false, nil
	}
	_, plain, err := s.dataKey(ctx, ref.Subject, false, false)
	if err != nil {
		return false, fmt.Errorf("blob %s: %w", ref, err)
	}
	want, err := hex.DecodeString(ref.Digest)
	if err != nil {
		return false, err
	}
	return hmac.Equal(blobAddress(addressKey(plain), sum), want), nil
}

// Delete implements ethos.BlobStore.
func (s *Store) Delete(ctx context.Context, ref ethos.BlobRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	k, err := s.Keys.DataKey(ctx, ref.Subject)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return ethos.Errorf(ethos.ENOTFOUND, "blob %s not found", ref)
		}
		return fmt.Errorf("delete blob %s: %w", ref, err)
	}
	s.awaitFinishing(s.blobPath(k.ID, ref.Digest), false)
	p, err := s.existingPath(k.ID, ref.Digest)
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ethos.Errorf(ethos.ENOTFOUND, "blob %s not found", ref)
		}
		return fmt.Errorf("delete blob %s: %w", ref, err)
	}
	return syncDir(filepath.Dir(p))
}

// ShredSubject implements ethos.BlobStore. The data key is destroyed first:
// from that moment every copy of the subject's ciphertext is unreadable,
// even if deleting the files fails afterwards (the error says so and the
// record is still returned).
func (s *Store) ShredSubject(ctx context.Context, subject ethos.SubjectKey) (ethos.ShredRecord, error) {
	if !subject.Valid() {
		return ethos.ShredRecord{}, ethos.Errorf(ethos.EINVALID, "shred: subject is not a subject key")
	}
	// Deferred puts completing in the background finish first, so that
	// none renames a blob into the directory about to be removed.
	s.awaitFinishing("", false)
	k, err := s.Keys.DestroyDataKey(ctx, subject)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return ethos.ShredRecord{}, ethos.Errorf(ethos.ENOTFOUND, "shred: subject %s has no data key", subject.Short())
		}
		return ethos.ShredRecord{}, fmt.Errorf("shred subject %s: %w", subject.Short(), err)
	}
	rec := ethos.ShredRecord{Subject: subject, KeyID: k.ID, At: s.Now().UTC()}
	dir := filepath.Join(s.Dir, k.ID)
	s.dirs.Delete(dir)
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && ethos.ValidBlobDigest(d.Name()) {
			if fi, err := d.Info(); err == nil {
				rec.BlobsDeleted++
				rec.BytesDeleted += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return rec, fmt.Errorf("shred subject %s: key %s destroyed, deleting its blobs failed: %w", subject.Short(), k.ID, err)
	}
	if err := syncDir(s.Dir); err != nil {
		return rec, fmt.Errorf("shred subject %s: key %s destroyed: %w", subject.Short(), k.ID, err)
	}
	if walkErr != nil {
		return rec, fmt.Errorf("shred subject %s: key %s destroyed, counting blobs: %w", subject.Short(), k.ID, walkErr)
	}
	return rec, nil
}

// Rewrap wraps every data key under next and makes next the current master
// key; the previous one is kept as retired (for unwrapping only) until the
// process ends. The key store is updated in one atomic step, so a failure
// leaves every key wrapped as before. It returns the number of keys
// rewrapped. Data keys, and therefore blobs, do not change.
func (s *Store) Rewrap(ctx context.Context, next *MasterKey) (int, error) {
	keys, err := s.Keys.DataKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	now := s.Now().UTC()
	for _, k := range keys {
		p, err := s.unwrap(k)
		if err != nil {
			return 0, fmt.Errorf("rewrap: %w", err)
		}
		next.wrap(k, p)
		k.RewrappedAt = now
	}
	if err := s.Keys.ReplaceDataKeys(ctx, keys); err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	s.mu.Lock()
	s.retired[s.master.ID()] = s.master
	s.master = next
	s.mu.Unlock()
	return len(keys), nil
}
