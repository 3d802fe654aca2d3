package fileblob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ethos-imaging/ethos"
)

// FileKeyStore is an ethos.KeyStore kept in a snapshot file of wrapped
// data keys (JSON, mode 0600) and a journal beside it (<path>.journal):
// a new key is appended to the journal and synced, so adding the keys of
// n subjects costs O(n), not the O(n²) of rewriting the whole file each
// time. Open replays the journal (a torn last line, from a crash in the
// middle of an append that was never acknowledged, is dropped) and folds
// it into a new snapshot; so do Close and every 1024 appends. Destroying
// or rewrapping keys rewrites the snapshot at once and empties the
// journal, so a destroyed key's wrapped bytes leave both files before
// DestroyDataKey returns. The snapshot records the sequence number of the
// last change it holds; journal records at or below it are skipped on
// replay, which keeps a crash between writing a snapshot and emptying the
// journal from bringing a destroyed key back.
//
// One process at a time may use a key file: Open takes an exclusive lock
// on <path>.lock (flock) and Close releases it, because two writers would
// each lose the other's new keys — and a lost data key is lost data.
type FileKeyStore struct {
	Path string

	mu       sync.Mutex
	keys     map[ethos.SubjectKey]*ethos.DataKey
	lock     *os.File
	journal  *os.File
	seq      uint64 // last change applied
	durable  uint64 // last change known to be on disk (seq, or less after CreateDataKeyDeferred)
	appended int    // records in the journal
}

var _ ethos.KeyStore = (*FileKeyStore)(nil)

type keyFile struct {
	Version int              `json:"version"`
	Seq     uint64           `json:"seq,omitempty"`
	Keys    []*ethos.DataKey `json:"keys"`
}

// journalRecord is one line of the journal: a created key.
type journalRecord struct {
	Seq    uint64         `json:"seq"`
	Create *ethos.DataKey `json:"create"`
}

// compactEvery bounds the journal between snapshots.
const compactEvery = 1024

func (s *FileKeyStore) journalPath() string { return s.Path + ".journal" }

// NewFileKeyStore returns a key store backed by the file at path.
func NewFileKeyStore(path string) *FileKeyStore { return &FileKeyStore{Path: path} }

// Open reads the key file; a missing file is an empty store (the file is
// created by the first change).
func (s *FileKeyStore) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		return ethos.Errorf(ethos.ECONFLICT, "key store %s: already open", s.Path)
	}
	lf, err := os.OpenFile(s.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return ethos.Errorf(ethos.ECONFLICT, "key store %s is in use by another process", s.Path)
	}
	s.lock = lf
	if err := s.load(); err != nil {
		s.lock.Close()
		s.lock, s.keys = nil, nil
		return err
	}
	s.durable = s.seq // what was read is on disk
	return nil
}

// Close releases the key file's lock. The store must not be used
// afterwards.
func (s *FileKeyStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	var errs []error
	if s.journal != nil {
		if s.appended > 0 {
			errs = append(errs, s.compact())
		}
		errs = append(errs, s.journal.Close())
		s.journal = nil
	}
	errs = append(errs, s.lock.Close()) // closing the descriptor releases the flock
	s.lock = nil
	s.keys = nil
	return errors.Join(errs...)
}

func (s *FileKeyStore) load() error {
	s.keys = make(map[ethos.SubjectKey]*ethos.DataKey)
	s.seq = 0
	fi, err := os.Stat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.replay()
	}
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return ethos.Errorf(ethos.EINVALID, "key store %s has mode %04o: it must not be readable by group or others", s.Path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var kf keyFile
	if err := dec.Decode(&kf); err != nil {
		return ethos.Errorf(ethos.EINVALID, "key store %s: %v", s.Path, err)
	}
	if kf.Version != 1 {
		return ethos.Errorf(ethos.EINVALID, "key store %s: unknown version %d", s.Path, kf.Version)
	}
	for i, k := range kf.Keys {
		if err := validDataKey(k); err != nil {
			return ethos.Errorf(ethos.EINVALID, "key store %s: keys[%d]: %s", s.Path, i, ethos.ErrorMessage(err))
		}
		if _, dup := s.keys[k.Subject]; dup {
			return ethos.Errorf(ethos.EINVALID, "key store %s: keys[%d]: second key for subject %s", s.Path, i, k.Subject.Short())
		}
		s.keys[k.Subject] = k
	}
	s.seq = kf.Seq
	return s.replay()
}

// replay applies the journal's records newer than the snapshot, folds
// them into a new snapshot and opens the journal for appending.
func (s *FileKeyStore) replay() error {
	b, err := os.ReadFile(s.journalPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("key store journal: %w", err)
	}
	applied := 0
	for line, off := 1, 0; off < len(b); line++ {
		end := bytes.IndexByte(b[off:], '\n')
		if end < 0 {
			// A torn append: the process died before the record was
			// synced, so the key was never used.
			break
		}
		rec := b[off : off+end]
		off += end + 1
		dec := json.NewDecoder(bytes.NewReader(rec))
		dec.DisallowUnknownFields()
		var r journalRecord
		if err := dec.Decode(&r); err != nil {
			return ethos.Errorf(ethos.EINVALID, "key store journal %s: line %d: %v", s.journalPath(), line, err)
		}
		if err := validDataKey(r.Create); err != nil {
			return ethos.Errorf(ethos.EINVALID, "key store journal %s: line %d: %s", s.journalPath(), line, ethos.ErrorMessage(err))
		}
		if r.Seq <= s.seq {
			continue // already in the snapshot (or destroyed after it)
		}
		if old, ok := s.keys[r.Create.Subject]; ok && old.ID != r.Create.ID {
			return ethos.Errorf(ethos.EINVALID, "key store journal %s: line %d: second key for subject %s", s.journalPath(), line, r.Create.Subject.Short())
		}
		s.keys[r.Create.Subject] = r.Create
		s.seq = r.Seq
		applied++
	}
	j, err := os.OpenFile(s.journalPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("key store journal: %w", err)
	}
	s.journal = j
	if applied > 0 || len(b) > 0 {
		if err := s.compact(); err != nil {
			j.Close()
			s.journal = nil
			return err
		}
	}
	return nil
}

// compact writes the keys as a new snapshot and empties the journal.
func (s *FileKeyStore) compact() error {
	if err := s.save(); err != nil {
		return err
	}
	if err := s.journal.Truncate(0); err != nil {
		return fmt.Errorf("key store journal: %w", err)
	}
	if err := s.journal.Sync(); err != nil {
		return fmt.Errorf("key store journal: %w", err)
	}
	s.appended = 0
	s.durable = s.seq // the snapshot holds every change
	return nil
}

func validDataKey(k *ethos.DataKey) error {
	if k == nil {
		return ethos.Errorf(ethos.EINVALID, "null key")
	}
	if !k.Subject.Valid() {
		return ethos.Errorf(ethos.EINVALID, "subject is not a subject key")
	}
	if !validKeyID(k.ID) {
		return ethos.Errorf(ethos.EINVALID, "key id must be 32 lowercase hex digits")
	}
	if k.MasterKeyID == "" || len(k.Wrapped) == 0 {
		return ethos.Errorf(ethos.EINVALID, "key %s: master key id and wrapped key are required", k.ID)
	}
	return nil
}

func validKeyID(s string) bool {
	return len(s) == 32 && strings.Trim(s, "0123456789abcdef") == ""
}

func clone(k *ethos.DataKey) *ethos.DataKey {
	c := *k
	c.Wrapped = slices.Clone(k.Wrapped)
	return &c
}

func (s *FileKeyStore) notOpen() error {
	if s.keys == nil {
		return fmt.Errorf("key store %s is not open", s.Path)
	}
	return nil
}

// DataKey implements ethos.KeyStore.
func (s *FileKeyStore) DataKey(ctx context.Context, subject ethos.SubjectKey) (*ethos.DataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.notOpen(); err != nil {
		return nil, err
	}
	k, ok := s.keys[subject]
	if !ok {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "no data key for subject %s", subject.Short())
	}
	return clone(k), nil
}

// CreateDataKey implements ethos.KeyStore: the key is durable when it
// returns.
func (s *FileKeyStore) CreateDataKey(ctx context.Context, k *ethos.DataKey) error {
	return s.create(k, true)
}

// CreateDataKeyDeferred adds a key as CreateDataKey does but does not sync
// the journal: the key is durable only after the next SyncKeys (or a
// CreateDataKey, or any change that rewrites the snapshot). The blob store
// uses it for PutDeferred, whose blobs are acknowledged only after Flush,
// which calls SyncKeys first: a burst of new subjects then costs one
// journal sync per group instead of one each, all taken under the store's
// lock.
func (s *FileKeyStore) CreateDataKeyDeferred(ctx context.Context, k *ethos.DataKey) error {
	return s.create(k, false)
}

func (s *FileKeyStore) create(k *ethos.DataKey, sync bool) error {
	if err := validDataKey(k); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.notOpen(); err != nil {
		return err
	}
	if _, ok := s.keys[k.Subject]; ok {
		return ethos.Errorf(ethos.ECONFLICT, "subject %s already has a data key", k.Subject.Short())
	}
	line, err := json.Marshal(journalRecord{Seq: s.seq + 1, Create: k})
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if _, err := s.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("key store journal: %w", err)
	}
	if sync {
		if err := s.journal.Sync(); err != nil {
			return fmt.Errorf("key store journal: %w", err)
		}
	}
	s.seq++
	if sync {
		s.durable = s.seq // one fsync covers every earlier append too
	}
	s.appended++
	s.keys[k.Subject] = clone(k)
	if s.appended >= compactEvery {
		if err := s.compact(); err != nil {
			return err // the key is in the journal (durable if sync)
		}
	}
	return nil
}

// SyncKeys makes every key added by CreateDataKeyDeferred durable. The
// journal is synced outside the store's lock, so look-ups and new keys go
// on meanwhile.
func (s *FileKeyStore) SyncKeys(ctx context.Context) error {
	s.mu.Lock()
	if err := s.notOpen(); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.durable >= s.seq {
		s.mu.Unlock()
		return nil
	}
	target, j := s.seq, s.journal
	s.mu.Unlock()
	err := j.Sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.durable >= target {
		return nil // a snapshot written meanwhile (compaction, Close) holds them
	}
	if err != nil {
		return fmt.Errorf("key store journal: %w", err)
	}
	s.durable = target
	return nil
}

// DestroyDataKey implements ethos.KeyStore.
func (s *FileKeyStore) DestroyDataKey(ctx context.Context, subject ethos.SubjectKey) (*ethos.DataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.notOpen(); err != nil {
		return nil, err
	}
	k, ok := s.keys[subject]
	if !ok {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "no data key for subject %s", subject.Short())
	}
	delete(s.keys, subject)
	s.seq++
	if err := s.compact(); err != nil {
		s.keys[subject] = k
		s.seq--
		return nil, err
	}
	return clone(k), nil
}

// DataKeys implements ethos.KeyStore, ordered by subject.
func (s *FileKeyStore) DataKeys(ctx context.Context) ([]*ethos.DataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.notOpen(); err != nil {
		return nil, err
	}
	return s.sorted(), nil
}

func (s *FileKeyStore) sorted() []*ethos.DataKey {
	out := make([]*ethos.DataKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, clone(k))
	}
	slices.SortFunc(out, func(a, b *ethos.DataKey) int { return strings.Compare(string(a.Subject), string(b.Subject)) })
	return out
}

// ReplaceDataKeys implements ethos.KeyStore: every key must already exist
// (same subject and id); all are replaced in one atomic rewrite.
func (s *FileKeyStore) ReplaceDataKeys(ctx context.Context, keys []*ethos.DataKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.notOpen(); err != nil {
		return err
	}
	next := make(map[ethos.SubjectKey]*ethos.DataKey, len(s.keys))
	for sk, k := range s.keys {
		next[sk] = k
	}
	for i, k := range keys {
		if err := validDataKey(k); err != nil {
			return ethos.Errorf(ethos.EINVALID, "keys[%d]: %s", i, ethos.ErrorMessage(err))
		}
		old, ok := s.keys[k.Subject]
		if !ok || old.ID != k.ID {
			return ethos.Errorf(ethos.ECONFLICT, "keys[%d]: data key %s is not in the store", i, k.ID)
		}
		next[k.Subject] = clone(k)
	}
	prev := s.keys
	s.keys = next
	s.seq++
	if err := s.compact(); err != nil {
		s.keys = prev
		s.seq--
		return err
	}
	return nil
}

// save rewrites the snapshot: temp file in the same directory, Sync,
// Rename, directory Sync.
func (s *FileKeyStore) save() error {
	b, err := json.MarshalIndent(keyFile{Version: 1, Seq: s.seq, Keys: s.sorted()}, "", "  ")
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	return writeFileAtomic(s.Path, append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
