package ethos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the parties and users of Ethos: the organisations that
// take part in a project and the people (or services) that act for them.
// The access matrix of the framework (access-matrix.json) grants access per
// party type, so every user belongs to exactly one party.

// PartyType is the kind of organisation a party is; the access matrix has
// one column per type.
type PartyType string

// The three party types of the framework's access matrix.
const (
	PartyPublic     PartyType = "public"      // public hospitals, universities, public health bodies
	PartyPrivate    PartyType = "private"     // private clinics, companies that build or sell AI
	PartyThirdParty PartyType = "third_party" // independent auditors, registries, processors under contract
)

// PartyTypes lists the party types in the order of the access matrix.
var PartyTypes = []PartyType{PartyPublic, PartyPrivate, PartyThirdParty}

// Valid reports whether t is one of PartyTypes.
func (t PartyType) Valid() bool { return t.Index() >= 0 }

// Index returns the column of t in the access matrix, or -1.
func (t PartyType) Index() int {
	switch t {
	case PartyPublic:
		return 0
	case PartyPrivate:
		return 1
	case PartyThirdParty:
		return 2
	}
	return -1
}

// ParsePartyType returns the party type named s.
func ParsePartyType(s string) (PartyType, error) {
	t := PartyType(s)
	if !t.Valid() {
		return "", Errorf(EINVALID, "unknown party type (want public, private or third_party)")
	}
	return t, nil
}

// Party is an organisation taking part in Ethos projects.
type Party struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      PartyType `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the fields a caller sets.
func (p *Party) Validate() error {
	if err := validName("party name", p.Name); err != nil {
		return err
	}
	if !p.Type.Valid() {
		return Errorf(EINVALID, "party type: unknown value (want public, private or third_party)")
	}
	return nil
}

// PartyFilter selects parties. Nil fields select everything.
type PartyFilter struct {
	ID   *string
	Type *PartyType
	Name *string

	Offset int
	Limit  int // 0 means the store's default page size
}

// PartyService stores parties. Parties are never deleted: audit events
// name them for ever.
type PartyService interface {
	// FindPartyByID returns the party with the given id (ENOTFOUND if none).
	FindPartyByID(ctx context.Context, id string) (*Party, error)
	// FindParties returns the parties matching filter and the total count.
	FindParties(ctx context.Context, filter PartyFilter) ([]*Party, int, error)
	// CreateParty validates and stores p, assigning an id when p.ID is empty.
	CreateParty(ctx context.Context, p *Party) error
}

// NewID returns a new random identifier with the given prefix, such as
// "prj_3f9a…": 16 random bytes in hex. Identifiers carry no meaning and no
// personal data.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ethos: crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form of an identifier: 1 to 64
// characters of letters, digits, '_', '-' and '.'.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// validName checks a human-readable name: non-empty, at most 200
// characters, valid UTF-8, no control characters.
func validName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return Errorf(EINVALID, "%s: required", field)
	}
	return validText(field, s, 200)
}

// validText checks free text: at most max characters, valid UTF-8, no
// control characters other than newline and tab.
func validText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s: not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Errorf(EINVALID, "%s: %d characters, at most %d allowed", field, n, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(EINVALID, "%s: contains a control character", field)
		}
	}
	return nil
}
