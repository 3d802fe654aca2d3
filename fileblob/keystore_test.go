package fileblob_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/fileblob/keystoretest"
)

func TestFileKeyStoreConformance(t *testing.T) {
	open := func(t *testing.T) ethos.KeyStore {
		ks := fileblob.NewFileKeyStore(filepath.Join(t.TempDir(), "keys.json"))
		if err := ks.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ks.Close() })
		return ks
	}
	reopen := func(t *testing.T, old ethos.KeyStore) ethos.KeyStore {
		old.(*fileblob.FileKeyStore).Close()
		ks := fileblob.NewFileKeyStore(old.(*fileblob.FileKeyStore).Path)
		if err := ks.Open(); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	keystoretest.Run(t, open, reopen)
}

func TestFileKeyStoreRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"ErrInvalidMode", `{"version":1,"keys":[]}`, 0o644},
		{"ErrInvalidJSON", `{"version":1,"keys":[`, 0o600},
		{"ErrInvalidVersion", `{"version":2,"keys":[]}`, 0o600},
		{"ErrInvalidUnknownField", `{"version":1,"keys":[],"x":1}`, 0o600},
		{"ErrInvalidKeyID", `{"version":1,"keys":[{"id":"../x","subject":"` + string(make64('a')) + `","master_key_id":"m","wrapped":"AAAA"}]}`, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if err := fileblob.NewFileKeyStore(p).Open(); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("open: %v, want EINVALID", err)
			}
		})
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

func testKey(c byte, id string) *ethos.DataKey {
	return &ethos.DataKey{ID: id, Subject: ethos.SubjectKey(make64(c)), MasterKeyID: "m1", Wrapped: []byte{c, 1, 2, 3}}
}

// crashImage copies the key store's files as a crash would leave them
// (the store still open) into a new directory and returns the new path.
func crashImage(t *testing.T, path string, editJournal func([]byte) []byte) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "keys.json")
	if b, err := os.ReadFile(path); err == nil {
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	j, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if editJournal != nil {
		j = editJournal(j)
	}
	if err := os.WriteFile(dst+".journal", j, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestFileKeyStoreJournal(t *testing.T) {
	ctx := t.Context()
	p := filepath.Join(t.TempDir(), "keys.json")
	ks := fileblob.NewFileKeyStore(p)
	if err := ks.Open(); err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	a, b := testKey('a', "0000000000000000000000000000000a"), testKey('b', "0000000000000000000000000000000b")
	for _, k := range []*ethos.DataKey{a, b} {
		if err := ks.CreateDataKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	open := func(t *testing.T, path string) (*fileblob.FileKeyStore, error) {
		s := fileblob.NewFileKeyStore(path)
		err := s.Open()
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
	tests := []struct {
		name     string
		edit     func([]byte) []byte
		want     int
		wantCode string
	}{
		{"synced_appends_survive_a_crash", nil, 2, ""},
		{"torn_last_append_dropped", func(j []byte) []byte { return append(j, `{"seq":3,"create":{"id":"0000`...) }, 2, ""},
		{"ErrInvalid_corrupt_record", func(j []byte) []byte { return append([]byte("{\"seq\":1,\"create\":null}\n"), j...) }, 0, ethos.EINVALID},
		{"ErrInvalid_second_key_for_a_subject", func(j []byte) []byte {
			return append(j, `{"seq":9,"create":{"id":"000000000000000000000000000000ff","subject":"`+string(make64('a'))+`","master_key_id":"m1","wrapped":"AQID","created_at":"0001-01-01T00:00:00Z"}}`+"\n"...)
		}, 0, ethos.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := open(t, crashImage(t, p, tt.edit))
			if ethos.ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
				t.Fatalf("open: %v, want %q", err, tt.wantCode)
			}
			if err != nil {
				return
			}
			keys, err := s.DataKeys(ctx)
			if err != nil || len(keys) != tt.want {
				t.Fatalf("%d keys (%v), want %d", len(keys), err, tt.want)
			}
			// Opening folded the journal into the snapshot.
			if fi, err := os.Stat(s.Path + ".journal"); err != nil || fi.Size() != 0 {
				t.Fatalf("journal after open: %v %v", fi, err)
			}
		})
	}
	t.Run("destroyed_key_not_brought_back_by_a_stale_journal", func(t *testing.T) {
		stale, err := os.ReadFile(p + ".journal")
		if err != nil || len(stale) == 0 {
			t.Fatalf("journal: %d bytes, %v", len(stale), err)
		}
		if _, err := ks.DestroyDataKey(ctx, a.Subject); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p, p + ".journal"} {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(a.ID)) {
				t.Fatalf("%s still holds the destroyed key", filepath.Base(f))
			}
		}
		// A crash after the snapshot was written but before the journal
		// was emptied: the journal still holds the old create record.
		s, err := open(t, crashImage(t, p, func([]byte) []byte { return stale }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DataKey(ctx, a.Subject); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("destroyed key after replay: %v, want ENOTFOUND", err)
		}
		if _, err := s.DataKey(ctx, b.Subject); err != nil {
			t.Fatalf("other key after replay: %v", err)
		}
	})
}
