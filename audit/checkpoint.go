package audit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a tree head: the number of events in the log and the RFC
// 6962 root hash of the tree over them. Signed, it is the log's commitment
// that an auditor keeps.
//
// Its text form (the body of the signed note) is the checkpoint format of
// transparency logs (C2SP tlog-checkpoint), which is also the one
// golang.org/x/mod/sumdb/tlog.FormatTree writes, with the Ethos key name
// as the first line where FormatTree writes "go.sum database tree":
//
//	<origin: the signing key's name>
//	<size in decimal>
//	<root hash, standard base64>
//
// followed by a blank line and the note signature line(s):
//
//	— <key name> <base64 of 4-byte key hash and 64-byte Ed25519 signature>
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the checkpoint's note body.
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, c.Root)
}

// ErrCheckpoint marks a checkpoint that is malformed, unsigned or signed
// by another key.
var ErrCheckpoint = errors.New("audit: bad checkpoint")

// ParseCheckpointText parses a checkpoint note body (without signatures).
func ParseCheckpointText(text []byte) (Checkpoint, error) {
	if len(text) > 4096 || !bytes.HasSuffix(text, []byte("\n")) {
		return Checkpoint{}, fmt.Errorf("%w: not three lines", ErrCheckpoint)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: not three lines", ErrCheckpoint)
	}
	// Lines after the third are extensions; none is defined yet, so a
	// checkpoint that carries some is refused rather than half-understood.
	if len(lines) > 3 {
		return Checkpoint{}, fmt.Errorf("%w: unexpected extension lines", ErrCheckpoint)
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return Checkpoint{}, fmt.Errorf("%w: empty origin line", ErrCheckpoint)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: size line is not a decimal number", ErrCheckpoint)
	}
	c.Size = n
	c.Root, err = tlog.ParseHash(lines[2])
	if err != nil || c.Root.String() != lines[2] {
		return Checkpoint{}, fmt.Errorf("%w: root line is not a base64 SHA-256 hash", ErrCheckpoint)
	}
	return c, nil
}

// OpenCheckpoint checks the signature of a signed checkpoint against
// verifierKey (a note verifier key string, as GenerateKey returns) and
// parses it. The checkpoint's origin line must be the key's name.
func OpenCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: signature: %w", ErrCheckpoint, err)
	}
	c, err := ParseCheckpointText([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q is not the key name %q", ErrCheckpoint, c.Origin, v.Name())
	}
	return c, nil
}

// SignCheckpoint signs c with signer. c.Origin must be the signer's name
// (it is set when empty).
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	if c.Origin == "" {
		c.Origin = signer.Name()
	}
	if c.Origin != signer.Name() {
		return nil, fmt.Errorf("%w: origin %q is not the key name %q", ErrCheckpoint, c.Origin, signer.Name())
	}
	return note.Sign(&note.Note{Text: string(c.Text())}, signer)
}

// unverifiedCheckpoint parses a signed checkpoint without checking its
// signature: the Log reads back its own checkpoints with it, having no
// verifier key.
func unverifiedCheckpoint(signed []byte) (Checkpoint, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: no signature block", ErrCheckpoint)
	}
	return ParseCheckpointText(append(text, '\n'))
}

// GenerateKey returns a new Ed25519 key pair in sumdb note format:
// signerKey ("PRIVATE+KEY+name+hash+key", keep it secret, give it to
// NewSigner) and verifierKey ("name+hash+key", publish it to auditors).
// name identifies the log (for example "ethos-audit.example-hospital.org");
// it must not contain spaces or '+'.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// NewSigner parses a signer key from GenerateKey.
func NewSigner(signerKey string) (note.Signer, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("audit: signer key: %w", err)
	}
	return s, nil
}
