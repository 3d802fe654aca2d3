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

// FileKeyStore is an ethos.KeyStore kept in one JSON file of wrapped data
// keys (mode 0600), rewritten atomically on every change. One process at a
// time may use a key file: Open takes an exclusive lock on <path>.lock
// (flock) and Close releases it, because two writers would each rewrite
// the file without the other's new keys — and a lost data key is lost
// data. Every change rewrites the whole file, which suits thousands of
// subjects, not millions; the SQLite store implements the same interface
// for the server.
type FileKeyStore struct {
	Path string

	mu   sync.Mutex
	keys map[ethos.SubjectKey]*ethos.DataKey
	lock *os.File
}

var _ ethos.KeyStore = (*FileKeyStore)(nil)

type keyFile struct {
	Version int              `json:"version"`
	Keys    []*ethos.DataKey `json:"keys"`
}

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
		s.lock = nil
		return err
	}
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
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	s.keys = nil
	return err
}

func (s *FileKeyStore) load() error {
	s.keys = make(map[ethos.SubjectKey]*ethos.DataKey)
	fi, err := os.Stat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
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

// CreateDataKey implements ethos.KeyStore.
func (s *FileKeyStore) CreateDataKey(ctx context.Context, k *ethos.DataKey) error {
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
	s.keys[k.Subject] = clone(k)
	if err := s.save(); err != nil {
		delete(s.keys, k.Subject)
		return err
	}
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
	if err := s.save(); err != nil {
		s.keys[subject] = k
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
	if err := s.save(); err != nil {
		s.keys = prev
		return err
	}
	return nil
}

// save rewrites the key file: temp file in the same directory, Sync,
// Rename, directory Sync.
func (s *FileKeyStore) save() error {
	b, err := json.MarshalIndent(keyFile{Version: 1, Keys: s.sorted()}, "", "  ")
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
