package ethos

import (
	"context"
	"slices"
	"time"
)

// View is how much of the data an access may see.
type View string

// Views. A "limited" cell of the access matrix admits only de-identified or
// aggregate views, and only those its data-use agreement names.
const (
	ViewIdentified   View = "identified"   // data as held by the hospital
	ViewDeidentified View = "deidentified" // de-identified per PS3.15 (see deid)
	ViewAggregate    View = "aggregate"    // counts and statistics only
)

// Valid reports whether v is a known view.
func (v View) Valid() bool {
	return v == ViewIdentified || v == ViewDeidentified || v == ViewAggregate
}

// ParseView returns the view named by s.
func ParseView(s string) (View, error) {
	v := View(s)
	if !v.Valid() {
		return "", Errorf(EINVALID, "unknown view %q (want identified, deidentified or aggregate)", s)
	}
	return v, nil
}

// DUA is a registered data-use agreement: it lets one party use one
// project's data in the named stages for the named purposes, through the
// named views only, until it expires. The framework's "limited" level
// means exactly this.
type DUA struct {
	ID         string     `json:"id"`
	PartyID    string     `json:"party_id"`
	ProjectID  string     `json:"project_id"`
	Stages     []Stage    `json:"stages"`
	Purposes   []string   `json:"purposes"`
	Views      []View     `json:"views"` // deidentified and/or aggregate
	ExpiresAt  time.Time  `json:"expires_at"`
	ApprovedBy string     `json:"approved_by"` // name or id of the approver (e.g. the IRB)
	Reference  string     `json:"reference,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Validate checks the fields a caller sets.
func (d *DUA) Validate() error {
	if d.PartyID == "" || d.ProjectID == "" {
		return Errorf(EINVALID, "agreement party_id and project_id are required")
	}
	if len(d.Stages) == 0 {
		return Errorf(EINVALID, "agreement names no stage")
	}
	for _, s := range d.Stages {
		if !s.Valid() {
			return Errorf(EINVALID, "agreement stage %q is not a lifecycle stage", s)
		}
	}
	if len(d.Purposes) == 0 {
		return Errorf(EINVALID, "agreement names no purpose")
	}
	for _, p := range d.Purposes {
		if err := validName("agreement purpose", p); err != nil {
			return err
		}
	}
	if len(d.Views) == 0 {
		return Errorf(EINVALID, "agreement names no view (want deidentified and/or aggregate)")
	}
	for _, v := range d.Views {
		if v != ViewDeidentified && v != ViewAggregate {
			return Errorf(EINVALID, "agreement view %q: only deidentified or aggregate may be granted", v)
		}
	}
	if d.ExpiresAt.IsZero() {
		return Errorf(EINVALID, "agreement expires_at is required")
	}
	if err := validName("agreement approved_by", d.ApprovedBy); err != nil {
		return err
	}
	return validText("agreement reference", d.Reference, MaxNameLen)
}

// Active reports whether d is in force at now.
func (d *DUA) Active(now time.Time) bool {
	return d.RevokedAt == nil && now.Before(d.ExpiresAt)
}

// Covers reports whether d names stage and purpose.
func (d *DUA) Covers(stage Stage, purpose string) bool {
	return slices.Contains(d.Stages, stage) && slices.Contains(d.Purposes, purpose)
}

// Allows reports whether d grants view v.
func (d *DUA) Allows(v View) bool { return slices.Contains(d.Views, v) }

// DUAFilter selects agreements; nil fields select everything.
type DUAFilter struct {
	ID        *string `json:"id,omitempty"`
	PartyID   *string `json:"party_id,omitempty"`
	ProjectID *string `json:"project_id,omitempty"`
	Offset    int     `json:"offset,omitempty"`
	Limit     int     `json:"limit,omitempty"`
}

// DUAService stores data-use agreements.
type DUAService interface {
	FindDUAs(ctx context.Context, filter DUAFilter) ([]*DUA, int, error)
	// CreateDUA assigns ID and CreatedAt; party and project must exist.
	CreateDUA(ctx context.Context, d *DUA) error
	RevokeDUA(ctx context.Context, id string, now time.Time) (*DUA, error)
	// TouchDUA records that an access decision relied on the agreement.
	TouchDUA(ctx context.Context, id string, now time.Time) error
}
