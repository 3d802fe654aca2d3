package fileblob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var secret = bytes.Repeat([]byte("k"), 32)

func subject(tb testing.TB, id string) ethos.SubjectKey {
	tb.Helper()
	k, err := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: "test", Value: id})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

type env struct {
	dir, keyPath string
	master       *fileblob.MasterKey
	ks           *fileblob.FileKeyStore
	store        *fileblob.Store
}

func mustStore(tb testing.TB, segSize int) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{dir: filepath.Join(dir, "blobs"), keyPath: filepath.Join(dir, "keys.json"), master: fileblob.GenerateMasterKey()}
	e.reopen(tb, e.master, segSize)
	tb.Cleanup(func() { e.ks.Close() })
	return e
}

// reopen builds a new Store over the same directories, as a new process
// would: the previous store's key file is closed first (one process at a
// time holds its lock), and the new store becomes e.store.
func (e *env) reopen(tb testing.TB, m *fileblob.MasterKey, segSize int) *fileblob.Store {
	tb.Helper()
	if e.ks != nil {
		if err := e.ks.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	ks := fileblob.NewFileKeyStore(e.keyPath)
	if err := ks.Open(); err != nil {
		tb.Fatal(err)
	}
	s := fileblob.NewStore(e.dir, ks, m)
	if segSize > 0 {
		s.SegmentSize = segSize
	}
	if err := s.Init(); err != nil {
		tb.Fatal(err)
	}
	e.ks, e.store = ks, s
	return s
}

func corpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(testenv.DICOMDir(tb), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, ".dcm") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[p] = b
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) < 20 {
		tb.Fatalf("only %d DICOM files in the corpus", len(files))
	}
	return files
}

func readAll(tb testing.TB, s ethos.BlobStore, ref ethos.BlobRef) ([]byte, error) {
	tb.Helper()
	rc, err := s.Open(context.Background(), ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func blobFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && ethos.ValidBlobDigest(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestPutOpen(t *testing.T) {
	files := corpus(t)
	for _, seg := range []int{0, 4096} {
		t.Run(fmt.Sprintf("ByteIdentical/segment%d", seg), func(t *testing.T) {
			e := mustStore(t, seg)
			ctx := context.Background()
			a, b := subject(t, "A"), subject(t, "B")
			refs := map[string]ethos.BlobRef{}
			for p, data := range files {
				ref, err := e.store.Put(ctx, a, bytes.NewReader(data))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if ref.Size != int64(len(data)) || ref.Subject != a {
					t.Fatalf("%s: ref %+v, want size %d", p, ref, len(data))
				}
				refs[p] = ref
			}
			for p, data := range files {
				got, err := readAll(t, e.store, refs[p])
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: read back %d bytes, differ from the %d stored", p, len(got), len(data))
				}
				if bytes.Contains(mustRead(t, blobPath(t, e, refs[p])), data[min(len(data), 132):min(len(data), 400)]) {
					t.Fatalf("%s: plaintext visible in the blob file", p)
				}
			}
			// Identical bytes of the same subject dedupe; another subject's
			// copy gets an unrelated address.
			var any string
			for p := range files {
				any = p
				break
			}
			before := len(blobFiles(t, e.dir))
			again, err := e.store.Put(ctx, a, bytes.NewReader(files[any]))
			if err != nil || again != refs[any] {
				t.Fatalf("second put: %+v %v, want %+v", again, err, refs[any])
			}
			if n := len(blobFiles(t, e.dir)); n != before {
				t.Fatalf("second put of the same bytes: %d blob files, want %d", n, before)
			}
			other, err := e.store.Put(ctx, b, bytes.NewReader(files[any]))
			if err != nil {
				t.Fatal(err)
			}
			if other.Digest == refs[any].Digest {
				t.Fatal("two subjects share a blob address")
			}
		})
	}
	t.Run("SegmentBoundaries", func(t *testing.T) {
		const seg = 100
		e := mustStore(t, seg)
		s := subject(t, "A")
		for _, n := range []int{0, 1, seg - 1, seg, seg + 1, 2 * seg, 2*seg + 1, 10 * seg} {
			data := bytes.Repeat([]byte{byte(n)}, n)
			ref, err := e.store.Put(context.Background(), s, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			got, err := readAll(t, e.store, ref)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: got %d bytes, err %v", n, len(got), err)
			}
		}
	})
}

func mustRead(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// keyDir returns the key directory (the store's first level) that holds
// the blob file p.
func keyDir(tb testing.TB, e *env, p string) string {
	tb.Helper()
	rel, err := filepath.Rel(e.dir, p)
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(e.dir, strings.Split(filepath.ToSlash(rel), "/")[0])
}

// blobPath finds a blob's file by its digest (the layout is the store's
// business; the test only needs the file to damage it).
func blobPath(tb testing.TB, e *env, ref ethos.BlobRef) string {
	tb.Helper()
	for _, p := range blobFiles(tb, e.dir) {
		if filepath.Base(p) == ref.Digest {
			return p
		}
	}
	tb.Fatalf("no file for blob %s", ref)
	return ""
}

func TestPermissions(t *testing.T) {
	e := mustStore(t, 0)
	if _, err := e.store.Put(context.Background(), subject(t, "A"), strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// New keys go to the journal; reopening folds it into the snapshot.
	journal := e.keyPath + ".journal"
	if fi, err := os.Stat(journal); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("journal after a new key: %v %v", fi, err)
	}
	e.reopen(t, e.master, 0)
	for _, p := range append(blobFiles(t, e.dir), e.keyPath, journal) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", p, fi.Mode().Perm())
		}
	}
	fi, _ := os.Stat(e.dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store dir mode %04o, want 0700", fi.Mode().Perm())
	}
	t.Run("ErrOpenKeyFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(p, []byte(fileblob.GenerateMasterKey().Encode()), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := fileblob.LoadMasterKey(p)
		if ethos.ErrorCode(err) != ethos.EINVALID {
			t.Fatalf("loading a 0644 key file: %v, want EINVALID", err)
		}
	})
	t.Run("KeyFileAndEnvAgree", func(t *testing.T) {
		m := fileblob.GenerateMasterKey()
		p := filepath.Join(t.TempDir(), "master.key")
		if err := fileblob.WriteMasterKeyFile(p, m); err != nil {
			t.Fatal(err)
		}
		fromFile, err := fileblob.LoadMasterKey(p)
		if err != nil {
			t.Fatal(err)
		}
		fromEnv, err := fileblob.MasterKeyFromEnv(func(string) string { return m.Encode() }, "K")
		if err != nil {
			t.Fatal(err)
		}
		if fromFile.ID() != m.ID() || fromEnv.ID() != m.ID() {
			t.Fatalf("ids %s %s, want %s", fromFile.ID(), fromEnv.ID(), m.ID())
		}
		if strings.Contains(fmt.Sprint(m), m.Encode()) {
			t.Fatal("master key printed")
		}
		if _, err := fileblob.MasterKeyFromEnv(func(string) string { return "" }, "K"); err == nil {
			t.Fatal("empty variable accepted")
		}
		if _, err := fileblob.ParseMasterKey("c2hvcnQ="); err == nil {
			t.Fatal("short key accepted")
		}
	})
}

func TestShredSubject(t *testing.T) {
	files := corpus(t)
	e := mustStore(t, 0)
	ctx := context.Background()
	a, b := subject(t, "A"), subject(t, "B")
	var refsA, refsB []ethos.BlobRef
	n := 0
	for _, data := range files {
		ref, err := e.store.Put(ctx, a, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		refsA = append(refsA, ref)
		if n++; n <= 3 {
			ref, err := e.store.Put(ctx, b, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			refsB = append(refsB, ref)
		}
	}
	// A backup of the whole store taken before the shredding: blob files
	// and key file (reopening folds the journal into the key file).
	e.reopen(t, e.master, 0)
	backup := map[string][]byte{}
	var bytesA int64
	for _, p := range blobFiles(t, e.dir) {
		backup[p] = mustRead(t, p)
	}
	for _, r := range refsA {
		bytesA += int64(len(mustRead(t, blobPath(t, e, r))))
	}
	keysBackup := mustRead(t, e.keyPath)

	rec, err := e.store.ShredSubject(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Subject != a || rec.BlobsDeleted != len(refsA) || rec.BytesDeleted != bytesA || rec.KeyID == "" || rec.At.IsZero() {
		t.Fatalf("record %+v, want %d blobs, %d bytes", rec, len(refsA), bytesA)
	}
	if bytes.Contains(mustRead(t, e.keyPath), []byte(a)) {
		t.Fatal("key file still names the shredded subject")
	}

	t.Run("ErrNotFoundAfterShred", func(t *testing.T) {
		_, err := readAll(t, e.store, refsA[0])
		if ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("open after shred: %v, want ENOTFOUND", err)
		}
		if _, err := e.store.ShredSubject(ctx, a); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("second shred: %v, want ENOTFOUND", err)
		}
	})
	t.Run("OtherSubjectIntact", func(t *testing.T) {
		for _, r := range refsB {
			if _, err := readAll(t, e.store, r); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("ErrCorruptBackupUnderNewKey", func(t *testing.T) {
		// The subject comes back (new consent): a new data key. The old
		// ciphertext from the backup, placed where the new key's blobs
		// live, with its header rewritten to claim the new key, still
		// does not decrypt.
		ref, err := e.store.Put(ctx, a, strings.NewReader("new data"))
		if err != nil {
			t.Fatal(err)
		}
		newFile := blobPath(t, e, ref)
		newHeader := mustRead(t, newFile)[:29]
		restored := 0
		for p, data := range backup {
			if !strings.HasPrefix(p, keyDir(t, e, blobPath(t, e, refsB[0]))) {
				// a blob of subject A
				forged := slices.Clone(data)
				copy(forged[13:29], newHeader[13:29])
				dst := filepath.Join(keyDir(t, e, newFile), filepath.Base(p))
				os.MkdirAll(filepath.Dir(dst), 0o700)
				if err := os.WriteFile(dst, forged, 0o600); err != nil {
					t.Fatal(err)
				}
				restored++
			}
		}
		if restored != len(refsA) {
			t.Fatalf("restored %d blobs, want %d", restored, len(refsA))
		}
		for _, r := range refsA {
			_, err := readAll(t, e.store, r)
			if !errors.Is(err, fileblob.ErrCorrupt) {
				t.Fatalf("backup blob %s under the new key: %v, want ErrCorrupt", r, err)
			}
		}
	})
	t.Run("ErrBackupKeyFileWithoutMaster", func(t *testing.T) {
		// The old key file from the backup does hold A's wrapped key; it
		// is useless once the master key it was wrapped under is gone,
		// which is why docs/fileblob.md pairs shredding with a master key
		// rotation for backed-up key files.
		p := filepath.Join(t.TempDir(), "keys.json")
		if err := os.WriteFile(p, keysBackup, 0o600); err != nil {
			t.Fatal(err)
		}
		ks := fileblob.NewFileKeyStore(p)
		if err := ks.Open(); err != nil {
			t.Fatal(err)
		}
		s := fileblob.NewStore(filepath.Join(t.TempDir(), "b"), ks, fileblob.GenerateMasterKey())
		if err := s.Init(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Open(ctx, refsA[0])
		if !errors.Is(err, fileblob.ErrUnwrap) {
			t.Fatalf("backup key file under another master key: %v, want ErrUnwrap", err)
		}
	})
}

func TestTamper(t *testing.T) {
	const seg = 1024
	files := corpus(t)
	data := files[filepath.Join(testenv.DICOMDir(t), "pydicom", "CT_small.dcm")]
	if len(data) < 4*seg {
		t.Fatalf("CT_small.dcm is %d bytes", len(data))
	}
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"ErrCorruptHeaderSalt", func(b []byte) []byte { b[40] ^= 1; return b }},
		{"ErrCorruptMagic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"ErrCorruptFirstSegment", func(b []byte) []byte { b[100] ^= 0x80; return b }},
		{"ErrCorruptMiddleSegment", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"ErrCorruptLastTag", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"ErrCorruptTruncatedMidSegment", func(b []byte) []byte { return b[:len(b)-7] }},
		{"ErrCorruptTruncatedAtBoundary", func(b []byte) []byte { return b[:68+2*(seg+16)] }},
		{"ErrCorruptHeaderOnly", func(b []byte) []byte { return b[:68] }},
		{"ErrCorruptEmptyFile", func(b []byte) []byte { return b[:0] }},
		{"ErrCorruptAppended", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0}, seg+16)...) }},
		{"ErrCorruptSegmentsSwapped", func(b []byte) []byte {
			s1 := slices.Clone(b[68 : 68+seg+16])
			copy(b[68:], b[68+seg+16:68+2*(seg+16)])
			copy(b[68+seg+16:], s1)
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustStore(t, seg)
			ref, err := e.store.Put(context.Background(), subject(t, "A"), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			p := blobPath(t, e, ref)
			if err := os.WriteFile(p, tc.damage(mustRead(t, p)), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, e.store, ref)
			if !errors.Is(err, fileblob.ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
			ce, ok := errors.AsType[*fileblob.CorruptError](err)
			if !ok || ce.Ref != ref.String() || !strings.Contains(err.Error(), ref.String()) {
				t.Fatalf("error %q does not name blob %s", err, ref)
			}
			// Whatever was released authenticated: whole segments of the
			// original.
			if len(got)%seg != 0 || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("released %d bytes before the error, not whole authentic segments", len(got))
			}
		})
	}
	t.Run("ErrCorruptFilesSwapped", func(t *testing.T) {
		e := mustStore(t, seg)
		s := subject(t, "A")
		r1, _ := e.store.Put(context.Background(), s, strings.NewReader("first"))
		r2, _ := e.store.Put(context.Background(), s, strings.NewReader("second"))
		p1, p2 := blobPath(t, e, r1), blobPath(t, e, r2)
		b1, b2 := mustRead(t, p1), mustRead(t, p2)
		os.WriteFile(p1, b2, 0o600)
		os.WriteFile(p2, b1, 0o600)
		if _, err := readAll(t, e.store, r1); !errors.Is(err, fileblob.ErrCorrupt) {
			t.Fatalf("swapped file: %v, want ErrCorrupt", err)
		}
	})
}

func TestMasterKey(t *testing.T) {
	ctx := context.Background()
	files := corpus(t)
	e := mustStore(t, 0)
	s := subject(t, "A")
	refs := map[string]ethos.BlobRef{}
	for p, data := range files {
		r, err := e.store.Put(ctx, s, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		refs[p] = r
	}
	t.Run("ErrUnwrapWrongMasterKey", func(t *testing.T) {
		other := e.reopen(t, fileblob.GenerateMasterKey(), 0)
		for _, r := range refs {
			_, err := readAll(t, other, r)
			if !errors.Is(err, fileblob.ErrUnwrap) {
				t.Fatalf("wrong master key: %v, want ErrUnwrap", err)
			}
			break
		}
		e.reopen(t, e.master, 0)
	})
	t.Run("ErrConflictKeyFileInUse", func(t *testing.T) {
		ks := fileblob.NewFileKeyStore(e.keyPath)
		if err := ks.Open(); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Fatalf("second open of a key file in use: %v, want ECONFLICT", err)
		}
	})
	t.Run("Rewrap", func(t *testing.T) {
		next := fileblob.GenerateMasterKey()
		n, err := e.store.Rewrap(ctx, next)
		if err != nil || n != 1 {
			t.Fatalf("rewrap: %d keys, %v", n, err)
		}
		if e.store.MasterKeyID() != next.ID() {
			t.Fatal("current master key not switched")
		}
		// A new process with only the new master key reads everything.
		fresh := e.reopen(t, next, 0)
		for p, r := range refs {
			got, err := readAll(t, fresh, r)
			if err != nil || !bytes.Equal(got, files[p]) {
				t.Fatalf("%s after rewrap: %v", p, err)
			}
		}
		// The old master key no longer opens the key file.
		old := e.reopen(t, e.master, 0)
		for _, r := range refs {
			if _, err := readAll(t, old, r); !errors.Is(err, fileblob.ErrUnwrap) {
				t.Fatalf("old master key after rewrap: %v, want ErrUnwrap", err)
			}
			break
		}
	})
}

func TestConcurrentPuts(t *testing.T) {
	files := corpus(t)
	e := mustStore(t, 0)
	ctx := context.Background()
	subjects := []ethos.SubjectKey{subject(t, "A"), subject(t, "B")}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]map[ethos.BlobRef]bool{}
		errs []error
	)
	for w := range 8 {
		wg.Go(func() {
			s := subjects[w%2]
			for p, data := range files {
				ref, err := e.store.Put(ctx, s, bytes.NewReader(data))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					if seen[p] == nil {
						seen[p] = map[ethos.BlobRef]bool{}
					}
					seen[p][ref] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	keys, _ := e.store.Keys.DataKeys(ctx)
	if len(keys) != 2 {
		t.Fatalf("%d data keys, want 2 (one per subject)", len(keys))
	}
	distinct := map[string]bool{}
	for _, data := range files {
		distinct[string(data)] = true
	}
	if n := len(blobFiles(t, e.dir)); n != 2*len(distinct) {
		t.Fatalf("%d blob files, want %d", n, 2*len(distinct))
	}
	for p, refs := range seen {
		if len(refs) != 2 {
			t.Fatalf("%s: %d refs, want 2", p, len(refs))
		}
		for r := range refs {
			got, err := readAll(t, e.store, r)
			if err != nil || !bytes.Equal(got, files[p]) {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	// No temporary files left behind.
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".put-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestBadRefs(t *testing.T) {
	e := mustStore(t, 0)
	ctx := context.Background()
	s := subject(t, "A")
	ref, err := e.store.Put(ctx, s, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  ethos.BlobRef
		code string
	}{
		{"ErrInvalidTraversal", ethos.BlobRef{Subject: s, Digest: "../../../../etc/passwd"}, ethos.EINVALID},
		{"ErrInvalidSubject", ethos.BlobRef{Subject: "x", Digest: ref.Digest}, ethos.EINVALID},
		{"ErrNotFoundDigest", ethos.BlobRef{Subject: s, Digest: strings.Repeat("0", 64)}, ethos.ENOTFOUND},
		{"ErrNotFoundSubject", ethos.BlobRef{Subject: subject(t, "Z"), Digest: ref.Digest}, ethos.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.store.Open(ctx, tc.ref); ethos.ErrorCode(err) != tc.code {
				t.Fatalf("open: %v, want %s", err, tc.code)
			}
		})
	}
	t.Run("Delete", func(t *testing.T) {
		if err := e.store.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Open(ctx, ref); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("open after delete: %v", err)
		}
		if err := e.store.Delete(ctx, ref); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.store.Put(cctx, s, strings.NewReader("y")); !errors.Is(err, context.Canceled) {
			t.Fatalf("put with cancelled context: %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	files := corpus(t)
	e := mustStore(t, 0)
	ctx := context.Background()
	var refs []ethos.BlobRef
	var total int64
	distinct := map[string]bool{}
	for _, data := range files {
		for _, s := range []string{"A", "B"} {
			ref, err := e.store.Put(ctx, subject(t, s), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, ref)
		}
		if !distinct[string(data)] {
			distinct[string(data)] = true
			total += 2 * int64(len(data))
		}
	}
	t.Run("OK", func(t *testing.T) {
		rep, err := e.store.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Subjects != 2 || rep.Blobs != 2*len(distinct) || rep.Bytes != total {
			t.Fatalf("report %+v, want 2 subjects, %d blobs, %d bytes", rep, 2*len(distinct), total)
		}
	})
	t.Run("CorruptAndOrphan", func(t *testing.T) {
		p := blobPath(t, e, refs[0])
		b := mustRead(t, p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o600)
		os.MkdirAll(filepath.Join(e.dir, strings.Repeat("ab", 16)), 0o700)
		rep, err := e.store.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || len(rep.Corrupt) != 1 || !strings.Contains(rep.Corrupt[0], refs[0].String()) || len(rep.Orphans) != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestRemoveStaleTemp(t *testing.T) {
	e := mustStore(t, fileblob.SegmentSize)
	ctx := context.Background()
	ref, err := e.store.Put(ctx, subject(t, "a"), strings.NewReader("kept bytes"))
	if err != nil {
		t.Fatal(err)
	}
	dir := keyDir(t, e, blobPath(t, e, ref))
	for _, name := range []string{".put-123", ".put-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half a blob"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.store.RemoveStaleTemp()
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want 2", n, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".put-*")); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
	if got, err := readAll(t, e.store, ref); err != nil || string(got) != "kept bytes" {
		t.Fatalf("finished blob after cleaning: %q %v", got, err)
	}
	if n, err := e.store.RemoveStaleTemp(); err != nil || n != 0 {
		t.Fatalf("second run removed %d (%v)", n, err)
	}
}
