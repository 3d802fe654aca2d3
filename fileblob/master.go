package fileblob

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// MasterKeySize is the size of a master key in bytes (AES-256).
const MasterKeySize = 32

// MasterKey wraps data keys. Its ID is derived from the key (a hash), so a
// wrapped data key names the master key that can unwrap it without the key
// itself being stored anywhere.
type MasterKey struct {
	id  string
	key [MasterKeySize]byte
}

// ID returns the key id: 16 hex digits of SHA-256 over a fixed label and
// the key.
func (m *MasterKey) ID() string { return m.id }

// String never prints the key.
func (m *MasterKey) String() string { return "master key " + m.id }

// NewMasterKey returns the master key made of the 32 bytes b.
func NewMasterKey(b []byte) (*MasterKey, error) {
	if len(b) != MasterKeySize {
		return nil, ethos.Errorf(ethos.EINVALID, "master key is %d bytes, want %d", len(b), MasterKeySize)
	}
	m := &MasterKey{}
	copy(m.key[:], b)
	h := sha256.New()
	h.Write([]byte("ethos master key id v1\x00"))
	h.Write(b)
	m.id = hex.EncodeToString(h.Sum(nil))[:16]
	return m, nil
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() *MasterKey {
	b := make([]byte, MasterKeySize)
	rand.Read(b)
	m, _ := NewMasterKey(b)
	return m
}

// Encode returns the key's text form as read by ParseMasterKey and
// LoadMasterKey: standard base64 of the 32 bytes.
func (m *MasterKey) Encode() string { return base64.StdEncoding.EncodeToString(m.key[:]) }

// ParseMasterKey reads a master key from text: 64 hex digits or the base64
// (standard or URL alphabet, padded or not) of 32 bytes; surrounding white
// space is ignored.
func ParseMasterKey(text string) (*MasterKey, error) {
	s := strings.TrimSpace(text)
	if len(s) == 2*MasterKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return NewMasterKey(b)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeySize {
			return NewMasterKey(b)
		}
	}
	return nil, ethos.Errorf(ethos.EINVALID, "master key: want 64 hex digits or base64 of %d bytes", MasterKeySize)
}

// LoadMasterKey reads a master key from a file that only its owner may read
// (mode 0600 or stricter); a key file readable by group or others is
// refused.
func LoadMasterKey(path string) (*MasterKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "master key file %s has mode %04o: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	m, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// MasterKeyFromEnv reads a master key from the environment variable name
// through getenv (os.Getenv when nil).
func MasterKeyFromEnv(getenv func(string) string, name string) (*MasterKey, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(name)
	if v == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "master key: environment variable %s is not set", name)
	}
	m, err := ParseMasterKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// WriteMasterKeyFile writes m to a new file at path with mode 0600; it
// refuses to overwrite an existing file.
func WriteMasterKeyFile(path string, m *MasterKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	if _, err := f.WriteString(m.Encode() + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("master key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("master key file: %w", err)
	}
	return f.Close()
}

// ErrUnwrap is returned when a wrapped data key does not open under the
// master key it names: the wrong master key, or a modified key record.
var ErrUnwrap = errors.New("data key does not unwrap under the master key")

const dataKeySize = 32

func (m *MasterKey) aead() cipher.AEAD {
	b, _ := aes.NewCipher(m.key[:])
	g, _ := cipher.NewGCM(b)
	return g
}

// wrapAAD binds a wrapped key to its subject and id, so a wrapped key
// copied onto another subject's record does not unwrap.
func wrapAAD(k *ethos.DataKey) []byte {
	return []byte("ethos data key v1\x00" + string(k.Subject) + "\x00" + k.ID)
}

func (m *MasterKey) wrap(k *ethos.DataKey, plain []byte) {
	g := m.aead()
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	k.Wrapped = g.Seal(nonce, nonce, plain, wrapAAD(k))
	k.MasterKeyID = m.id
}

func (m *MasterKey) unwrap(k *ethos.DataKey) ([]byte, error) {
	g := m.aead()
	if k.MasterKeyID != m.id {
		return nil, fmt.Errorf("data key %s is wrapped under master key %s, not %s: %w", k.ID, k.MasterKeyID, m.id, ErrUnwrap)
	}
	if len(k.Wrapped) < g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("data key %s: wrapped key too short: %w", k.ID, ErrUnwrap)
	}
	p, err := g.Open(nil, k.Wrapped[:g.NonceSize()], k.Wrapped[g.NonceSize():], wrapAAD(k))
	if err != nil || len(p) != dataKeySize {
		return nil, fmt.Errorf("data key %s: %w", k.ID, ErrUnwrap)
	}
	return p, nil
}
