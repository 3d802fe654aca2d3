package ethos

import (
	"context"
	"time"
)

// This file holds the vocabulary of the framework's eleven ethical quality
// checks (QC-COL-1 … QC-DEP-3, ../shared/framework/quality-checks.json) as
// Ethos answers them for one project: each check gets a status computed
// from what the stages recorded, never from a form someone filled in, and
// the evidence an outside auditor can look up (record ids, content
// digests, audit log positions) to verify the answer.

// CheckStatus is the answer to one quality check.
type CheckStatus string

const (
	// CheckPass: the recorded evidence answers the check.
	CheckPass CheckStatus = "pass"
	// CheckFail: the evidence shows the check is not met (for example a
	// group under its declared floor, a training run without sign-off).
	CheckFail CheckStatus = "fail"
	// CheckPending: the stage has not produced the evidence yet (no
	// processing run, no evaluation plan …).
	CheckPending CheckStatus = "pending"
	// CheckAttestation: part of the answer is outside what Ethos records
	// and needs a named person's attestation.
	CheckAttestation CheckStatus = "needs-attestation"
)

// Valid reports whether s is a known status.
func (s CheckStatus) Valid() bool {
	switch s {
	case CheckPass, CheckFail, CheckPending, CheckAttestation:
		return true
	}
	return false
}

// EvidenceRef points at one recorded fact behind a check's answer.
type EvidenceRef struct {
	Kind       string `json:"kind"`                  // e.g. "processing-run", "training-run", "evaluation-plan", "audit-event"
	ID         string `json:"id"`                    // the record's id
	Digest     string `json:"digest,omitempty"`      // content digest of the record, when it has one
	AuditIndex *int64 `json:"audit_index,omitempty"` // position of the audit event that recorded it, when known
	Link       string `json:"link,omitempty"`        // API path that returns the record
	Note       string `json:"note,omitempty"`        // what this piece of evidence shows; no identifiers
}

// QualityCheck is one quality check answered for one project (and, for
// the deployment checks, one deployment: Scope names it).
type QualityCheck struct {
	ID        string        `json:"id"` // QC-COL-1 …
	Stage     Stage         `json:"stage"`
	Aspect    string        `json:"aspect"`          // fairness, privacy-security, …
	Scope     string        `json:"scope,omitempty"` // "" for the project, else e.g. "deployment dep_…"
	Status    CheckStatus   `json:"status"`
	Summary   string        `json:"summary"`            // one sentence a reviewer can read
	Problems  []string      `json:"problems,omitempty"` // why it fails or is pending
	Evidence  []EvidenceRef `json:"evidence"`
	CheckedAt time.Time     `json:"checked_at"`
}

// ProjectChecks is every quality check of one project at one moment.
type ProjectChecks struct {
	ProjectID string          `json:"project_id"`
	Stage     Stage           `json:"stage"` // the project's current stage
	CheckedAt time.Time       `json:"checked_at"`
	Checks    []*QualityCheck `json:"checks"`
}

// QualityChecker answers the quality checks of a project from recorded
// evidence.
type QualityChecker interface {
	ProjectChecks(ctx context.Context, projectID string) (*ProjectChecks, error)
}

// InstanceSummary is what QC-COL-2 needs to know of a project's instance
// records, counted by the store in a few aggregate queries instead of
// read one by one. Instances are named by Ethos id only.
type InstanceSummary struct {
	ProjectID string
	// ByStatus counts the records per status; Quarantine the quarantined
	// ones per reason.
	ByStatus   map[InstanceStatus]int
	Quarantine map[QuarantineReason]int
	// StoredByConsent counts the stored instances per deciding consent
	// id; "" counts those that name none.
	StoredByConsent map[string]int
	// StoredWithoutBlob counts stored instances that hold no blob;
	// QuarantinedWithBlob quarantined ones that still name one.
	StoredWithoutBlob   int
	QuarantinedWithBlob int
	// Examples holds up to MaxSummaryExamples instance ids (smallest
	// first) of each kind of breach: "no-consent", "no-blob",
	// "quarantined-blob".
	Examples map[string][]string
	// Subjects are the subjects with stored instances, sorted.
	Subjects []SubjectKey
}

// MaxSummaryExamples bounds InstanceSummary.Examples per kind.
const MaxSummaryExamples = 25
