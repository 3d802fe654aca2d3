package fileblob_test

import (
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
