package ethos

import (
	"context"
	"slices"
	"time"
)

// View is how much of a stage's data a reader sees.
type View string

// The views. The framework's "limited" level allows only the de-identified
// and aggregate views, and only those a data-use agreement names.
const (
	ViewFull         View = "full"         // every record as stored (may hold identifiable records)
	ViewDeidentified View = "deidentified" // only records marked de-identified
	ViewAggregate    View = "aggregate"    // counts only, no record
)

// Views lists the views from most to least revealing.
var Views = []View{ViewFull, ViewDeidentified, ViewAggregate}

// Valid reports whether v is one of Views.
func (v View) Valid() bool { return slices.Contains(Views, v) }

// ParseView returns the view named s.
func ParseView(s string) (View, error) {
	v := View(s)
	if !v.Valid() {
		return "", Errorf(EINVALID, "unknown view (want full, deidentified or aggregate)")
	}
	return v, nil
}

// DUA is a data-use agreement: it lets one party use one project's data at
// the named stages, for the named purposes, through the named views, until
// it expires. The framework's "limited" cells allow access only under an
// active DUA. Its approver is the user (an ethics reviewer or data steward)
// who registered it.
type DUA struct {
	ID         string     `json:"id"`
	PartyID    string     `json:"party_id"`
	ProjectID  string     `json:"project_id"`
	Stages     []Stage    `json:"stages"`
	Purposes   []Purpose  `json:"purposes"`
	Views      []View     `json:"views"` // deidentified and/or aggregate
	ExpiresAt  time.Time  `json:"expires_at"`
	ApprovedBy string     `json:"approved_by"`
	Reference  string     `json:"reference,omitempty"` // the signed agreement's reference, e.g. a contract number
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Active reports whether d is in force at now.
func (d *DUA) Active(now time.Time) bool { return d.RevokedAt == nil && now.Before(d.ExpiresAt) }

// Covers reports whether d names stage, purpose and view.
func (d *DUA) Covers(stage Stage, purpose Purpose, view View) bool {
	return slices.Contains(d.Stages, stage) && slices.Contains(d.Purposes, purpose) && slices.Contains(d.Views, view)
}

// Validate checks the fields a caller sets.
func (d *DUA) Validate() error {
	if !ValidID(d.PartyID) {
		return Errorf(EINVALID, "party_id: required")
	}
	if !ValidID(d.ProjectID) {
		return Errorf(EINVALID, "project_id: required")
	}
	if len(d.Stages) == 0 {
		return Errorf(EINVALID, "stages: at least one stage is required")
	}
	for i, s := range d.Stages {
		if !s.Valid() {
			return Errorf(EINVALID, "stages[%d]: unknown stage %q", i, s)
		}
	}
	if len(d.Purposes) == 0 {
		return Errorf(EINVALID, "purposes: at least one purpose is required")
	}
	for i, p := range d.Purposes {
		if !p.Valid() {
			return Errorf(EINVALID, "purposes[%d]: unknown purpose %q", i, p)
		}
	}
	if len(d.Views) == 0 {
		return Errorf(EINVALID, "views: at least one of deidentified, aggregate is required")
	}
	for i, v := range d.Views {
		if v != ViewDeidentified && v != ViewAggregate {
			return Errorf(EINVALID, "views[%d]: %q not allowed; a data-use agreement grants only deidentified or aggregate views", i, v)
		}
	}
	if d.ExpiresAt.IsZero() {
		return Errorf(EINVALID, "expires_at: required; a data-use agreement must expire")
	}
	if !ValidID(d.ApprovedBy) {
		return Errorf(EINVALID, "approved_by: required")
	}
	return validText("reference", d.Reference, 200)
}

// DUAFilter selects agreements. Nil fields select everything.
type DUAFilter struct {
	ID        *string
	PartyID   *string
	ProjectID *string
	Active    *time.Time // only agreements active at this time

	Offset int
	Limit  int
}

// DUAService stores data-use agreements.
type DUAService interface {
	FindDUAByID(ctx context.Context, id string) (*DUA, error)
	FindDUAs(ctx context.Context, filter DUAFilter) ([]*DUA, int, error)
	// CreateDUA validates and stores d; party, project and approver must exist.
	CreateDUA(ctx context.Context, d *DUA) error
	// RevokeDUA ends the agreement at now (idempotent).
	RevokeDUA(ctx context.Context, id string, now time.Time) (*DUA, error)
	// TouchDUA records now as the agreement's last use (periodic access review).
	TouchDUA(ctx context.Context, id string, now time.Time) error
}
