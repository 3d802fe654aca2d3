package fileblob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// FuzzOpen stores a small real DICOM file, then replaces its blob file
// with the fuzzer's bytes (seeded with the genuine ciphertext). Reading
// must either return exactly the original plaintext or fail with an error
// — never a panic and never other bytes without an error.
func FuzzOpen(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(testenv.DICOMDir(f), "pydicom", "MR_small.dcm"))
	if err != nil {
		f.Fatal(err)
	}
	e := mustStore(f, 512)
	ref, err := e.store.Put(context.Background(), subject(f, "A"), bytes.NewReader(data))
	if err != nil {
		f.Fatal(err)
	}
	p := blobPath(f, e, ref)
	genuine := mustRead(f, p)
	f.Add(genuine)
	f.Add(genuine[:len(genuine)/2])
	f.Add(append(bytes.Clone(genuine), 0))
	f.Fuzz(func(t *testing.T, blob []byte) {
		if err := os.WriteFile(p, blob, 0o600); err != nil {
			t.Fatal(err)
		}
		rc, err := e.store.Open(context.Background(), ref)
		if err != nil {
			if !errors.Is(err, fileblob.ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
			return
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil && !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes without error that are not the stored plaintext", len(got))
		}
		if err != nil && !errors.Is(err, fileblob.ErrCorrupt) {
			t.Fatalf("read: %v, want ErrCorrupt", err)
		}
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("released bytes that are not a prefix of the plaintext")
		}
	})
}

// FuzzRoundTrip: any plaintext, under several segment sizes, reads back
// identical.
func FuzzRoundTrip(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(testenv.DICOMDir(f), "pydicom", "CT_small.dcm"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:4096], uint16(2))
	f.Add([]byte{}, uint16(0))
	var stores []*env
	for _, seg := range []int{1, 7, 100, 4096} {
		stores = append(stores, mustStore(f, seg))
	}
	s := subject(f, "A")
	f.Fuzz(func(t *testing.T, plain []byte, which uint16) {
		e := stores[int(which)%len(stores)]
		ref, err := e.store.Put(context.Background(), s, bytes.NewReader(plain))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, e.store, ref)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

var _ ethos.BlobStore = (*fileblob.Store)(nil)

// FuzzKeyJournal opens a key store whose journal is the fuzzer's bytes,
// seeded with a real journal written by Put for the subjects of real DICOM
// files. Open must never panic; it either refuses with EINVALID or opens
// a store whose keys are all valid, and a second open of what the first
// left behind gives the same keys (the fold into the snapshot is exact).
func FuzzKeyJournal(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(testenv.DICOMDir(f), "pydicom", "MR_small.dcm"))
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	ks := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := ks.Open(); err != nil {
		f.Fatal(err)
	}
	s := fileblob.NewStore(filepath.Join(dir, "blobs"), ks, fileblob.GenerateMasterKey())
	if err := s.Init(); err != nil {
		f.Fatal(err)
	}
	for _, id := range []string{"A", "B", "C"} {
		if _, err := s.Put(context.Background(), subject(f, id), bytes.NewReader(data)); err != nil {
			f.Fatal(err)
		}
	}
	genuine, err := os.ReadFile(filepath.Join(dir, "keys.json.journal"))
	if err != nil || len(genuine) == 0 {
		f.Fatalf("journal: %d bytes, %v", len(genuine), err)
	}
	ks.Close()
	f.Add(genuine)
	f.Add(genuine[:len(genuine)-1])
	f.Add(genuine[:len(genuine)/2])
	f.Add(append(bytes.Clone(genuine), genuine...))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, journal []byte) {
		p := filepath.Join(t.TempDir(), "keys.json")
		if err := os.WriteFile(p+".journal", journal, 0o600); err != nil {
			t.Fatal(err)
		}
		ks := fileblob.NewFileKeyStore(p)
		err := ks.Open()
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("open: %v, want EINVALID or success", err)
			}
			return
		}
		first, err := ks.DataKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ks.Close()
		again := fileblob.NewFileKeyStore(p)
		if err := again.Open(); err != nil {
			t.Fatalf("reopen after a successful open: %v", err)
		}
		defer again.Close()
		second, _ := again.DataKeys(context.Background())
		if len(first) != len(second) {
			t.Fatalf("%d keys, %d after reopening", len(first), len(second))
		}
		for i := range first {
			if first[i].ID != second[i].ID || first[i].Subject != second[i].Subject || !bytes.Equal(first[i].Wrapped, second[i].Wrapped) {
				t.Fatalf("key %d changed on reopening", i)
			}
		}
	})
}
