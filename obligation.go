package ethos

import (
	"context"
	"time"
)

// This file holds the vocabulary of withdrawal obligations. When a subject
// withdraws consent, every dataset version and model version built from
// the subject's data (found through lineage) gets an open obligation: the
// version must be rebuilt without the subject, an exemption documented, or
// the version retired. Until an accountable person resolves it, new
// exports of and registrations from the dataset version are refused.

// ObligationStatus is open or resolved.
type ObligationStatus string

const (
	ObligationOpen     ObligationStatus = "open"
	ObligationResolved ObligationStatus = "resolved"
)

// ObligationAction is how an obligation was resolved.
type ObligationAction string

const (
	// ResolveRetrain: a new version was built without the subject; the
	// resolution's Reference names it.
	ResolveRetrain ObligationAction = "retrain"
	// ResolveExemption: keeping the version is justified and documented
	// (e.g. a legal basis other than consent); Reference names the document.
	ResolveExemption ObligationAction = "exemption"
	// ResolveRetire: the version is withdrawn from use.
	ResolveRetire ObligationAction = "retire"
)

// Valid reports whether a is a known action.
func (a ObligationAction) Valid() bool {
	switch a {
	case ResolveRetrain, ResolveExemption, ResolveRetire:
		return true
	}
	return false
}

// Obligation is an open duty on one dataset version or model version
// caused by one subject's withdrawal. The subject is named by its
// pseudonymous key only.
type Obligation struct {
	ID         string                `json:"id"`
	ProjectID  string                `json:"project_id,omitempty"` // "" when lineage does not tie the version to a project
	Target     LineageNode           `json:"target"`               // a dataset-version or model-version
	Subject    SubjectKey            `json:"subject"`
	Cause      string                `json:"cause"` // "consent-withdrawal"
	Status     ObligationStatus      `json:"status"`
	OpenedAt   time.Time             `json:"opened_at"`
	OpenedBy   string                `json:"opened_by"` // user id of whoever recorded the withdrawal
	Resolution *ObligationResolution `json:"resolution,omitempty"`
}

// CauseWithdrawal is the cause of obligations opened by a withdrawal.
const CauseWithdrawal = "consent-withdrawal"

// ObligationResolution is how and by whom an obligation was closed.
type ObligationResolution struct {
	Action    ObligationAction `json:"action"`
	Reference string           `json:"reference,omitempty"` // new version id (retrain) or exemption document
	Note      string           `json:"note"`                // the justification; no identifiers
	By        string           `json:"by"`                  // user id of the accountable person
	At        time.Time        `json:"at"`
}

// Validate checks a resolution supplied by a user.
func (r *ObligationResolution) Validate() error {
	switch {
	case !r.Action.Valid():
		return Errorf(EINVALID, "resolution: action must be retrain, exemption or retire")
	case r.Action == ResolveRetrain && r.Reference == "":
		return Errorf(EINVALID, "resolution: retrain needs the reference of the version built without the subject")
	case r.Action == ResolveExemption && r.Reference == "":
		return Errorf(EINVALID, "resolution: an exemption needs the reference of the document that justifies it")
	case len(r.Reference) > 500:
		return Errorf(EINVALID, "resolution: reference: at most 500 characters")
	case len(r.Note) < 10 || len(r.Note) > 4000:
		return Errorf(EINVALID, "resolution: note: a justification of 10 to 4000 characters is required")
	}
	return nil
}

// ObligationFilter selects obligations. Nil fields select everything.
type ObligationFilter struct {
	ID        *string
	ProjectID *string
	Target    *LineageNode
	Subject   *SubjectKey
	Status    *ObligationStatus

	Offset int
	Limit  int
}

// ObligationService keeps obligations. They are never deleted.
type ObligationService interface {
	// OpenObligations stores obs (ids, status and time assigned), skipping
	// any whose target already has an obligation for the same subject and
	// cause, and returns those it stored.
	OpenObligations(ctx context.Context, obs []*Obligation) ([]*Obligation, error)
	FindObligationByID(ctx context.Context, id string) (*Obligation, error)
	FindObligations(ctx context.Context, f ObligationFilter) ([]*Obligation, int, error)
	// ResolveObligation closes an open obligation (ECONFLICT if resolved).
	ResolveObligation(ctx context.Context, id string, res ObligationResolution) (*Obligation, error)
}
