package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// uiKeyFile holds the key that signs the web UI's session cookies and
// CSRF tokens (hex, 0600). Deleting it ends every UI session.
const uiKeyFile = "ui-session.key"

// uiSessionKey reads the UI session key from the data directory, making
// one (256 random bits, written atomically with mode 0600) on first use.
func uiSessionKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, uiKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, fmt.Errorf("ui session key: %w", err)
		}
		if err := writeAtomic(p, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		return k[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v); chmod 600 it", p, fi.Mode().Perm())
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 32 {
		return nil, fmt.Errorf("%s: want at least 32 bytes in hex", p)
	}
	return k, nil
}
