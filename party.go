package ethos

import (
	"context"
	"strings"
	"time"
)

// PartyType is the kind of organisation a party is. The access matrix of the
// framework (access-matrix.json) gives each stage one accessibility level
// per party type.
type PartyType string

// The three party types of the framework.
const (
	PartyPublic     PartyType = "public"      // public hospitals, universities, public research bodies
	PartyPrivate    PartyType = "private"     // companies developing or selling AI products
	PartyThirdParty PartyType = "third_party" // contracted processors, auditors, other outside bodies
)

// PartyTypes lists the party types in the order of the access matrix.
var PartyTypes = []PartyType{PartyPublic, PartyPrivate, PartyThirdParty}

// Valid reports whether t is one of the three party types.
func (t PartyType) Valid() bool {
	return t == PartyPublic || t == PartyPrivate || t == PartyThirdParty
}

// ParsePartyType returns the party type named by s.
func ParsePartyType(s string) (PartyType, error) {
	t := PartyType(s)
	if !t.Valid() {
		return "", Errorf(EINVALID, "unknown party type %q (want public, private or third_party)", s)
	}
	return t, nil
}

// Party is an organisation whose members act on projects.
type Party struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      PartyType `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields a caller sets.
func (p *Party) Validate() error {
	if err := validName("party name", p.Name); err != nil {
		return err
	}
	if !p.Type.Valid() {
		return Errorf(EINVALID, "party type %q: want public, private or third_party", p.Type)
	}
	return nil
}

// PartyFilter selects parties; nil fields select everything.
type PartyFilter struct {
	ID     *string    `json:"id,omitempty"`
	Name   *string    `json:"name,omitempty"`
	Type   *PartyType `json:"type,omitempty"`
	Offset int        `json:"offset,omitempty"`
	Limit  int        `json:"limit,omitempty"`
}

// PartyUpdate holds the fields UpdateParty may change; nil leaves a field.
type PartyUpdate struct {
	Name *string    `json:"name,omitempty"`
	Type *PartyType `json:"type,omitempty"`
}

// PartyService stores parties.
type PartyService interface {
	FindPartyByID(ctx context.Context, id string) (*Party, error)
	// FindParties returns the parties matching filter and the total count
	// of matches ignoring Offset and Limit.
	FindParties(ctx context.Context, filter PartyFilter) ([]*Party, int, error)
	// CreateParty assigns ID, CreatedAt and UpdatedAt.
	CreateParty(ctx context.Context, p *Party) error
	UpdateParty(ctx context.Context, id string, upd PartyUpdate) (*Party, error)
}

// MaxNameLen bounds names and short free-text fields.
const MaxNameLen = 200

// validName checks a required short text field.
func validName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return Errorf(EINVALID, "%s is required", field)
	}
	return validText(field, s, MaxNameLen)
}

// validText checks an optional text field against a length bound and
// control characters.
func validText(field, s string, max int) error {
	if len(s) > max {
		return Errorf(EINVALID, "%s is longer than %d bytes", field, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(EINVALID, "%s contains a control character", field)
		}
	}
	return nil
}
