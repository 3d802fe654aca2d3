package ethos

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"time"
)

// This file holds the vocabulary of the evaluation stage: pre-registered
// evaluation plans (QC-EVA-2: acceptance criteria fixed and time-stamped in
// the audit log before any result exists), the attempts that upload
// predictions for a plan and are judged criterion by criterion, and the
// sign-offs (ethics review, the acknowledgement of the plain-language
// report by a non-technical reviewer for QC-EVA-1, accountable waivers).
// The workflow lives in package evaluation, the SQL in sqlstore.

// EvaluationPlan is an evaluation registered before its results exist.
// Once stored it never changes: a different plan is a new plan.
type EvaluationPlan struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	// ModelVersionID names the model version under evaluation and
	// DatasetVersionID the held-out test dataset version.
	ModelVersionID   string `json:"model_version_id"`
	DatasetVersionID string `json:"dataset_version_id"`
	Title            string `json:"title"`
	// IntendedUse says what the model is for, in the words of the plan.
	IntendedUse string `json:"intended_use,omitempty"`

	// Columns of the predictions CSV (as for "ethos eval").
	LabelColumn   string   `json:"label_column"`
	ScoreColumn   string   `json:"score_column"`
	PatientColumn string   `json:"patient_column,omitempty"`
	Attributes    []string `json:"attributes"` // subgroup attribute columns
	Intersect     bool     `json:"intersect"`
	// GroupLabels gives plain words for groups in the plain-language
	// report, keyed by group name ("sex=F": "women").
	GroupLabels map[string]string `json:"group_labels,omitempty"`

	Threshold     float64 `json:"threshold"`  // operating threshold: positive when score ≥ it
	Prevalence    float64 `json:"prevalence"` // target prevalence in use (0: none declared)
	MinGroupSize  int     `json:"min_group_size"`
	MinClassCount int     `json:"min_class_count"`
	Bootstrap     int     `json:"bootstrap"` // resamples (0: analytic intervals only)
	Seed          uint64  `json:"seed"`
	// Criteria is a JSON array of acceptance criteria in the format of
	// "ethos eval --criteria" (docs/eval-schema.md).
	Criteria json.RawMessage `json:"criteria"`

	// Set on registration.
	Digest       string    `json:"digest"` // sha256 of the plan's content (registration fields excluded)
	RegisteredBy string    `json:"registered_by"`
	RegisteredAt time.Time `json:"registered_at"`
	AuditIndex   int64     `json:"audit_index"` // the audit event that pre-registers the plan
}

// Limits of a plan.
const (
	MaxEvaluationAttributes = 4
	MaxEvaluationBootstrap  = 10000
	MaxEvaluationCriteria   = 64 << 10 // bytes of criteria JSON
)

// Validate checks the fields a caller sets. The criteria's content is
// checked by the evaluation stage (it knows the metric names).
func (p *EvaluationPlan) Validate() error {
	switch {
	case !ValidID(p.ProjectID):
		return Errorf(EINVALID, "project_id: required")
	case !ValidID(p.ModelVersionID):
		return Errorf(EINVALID, "model_version_id: required, letters, digits, '_', '-', '.' only")
	case !ValidID(p.DatasetVersionID):
		return Errorf(EINVALID, "dataset_version_id: required, letters, digits, '_', '-', '.' only")
	case p.Title == "" || len(p.Title) > 200:
		return Errorf(EINVALID, "title: required, at most 200 bytes")
	case len(p.IntendedUse) > 2000:
		return Errorf(EINVALID, "intended_use: at most 2000 bytes")
	case p.LabelColumn == "" || p.ScoreColumn == "":
		return Errorf(EINVALID, "label_column and score_column: required")
	case len(p.Attributes) == 0 || len(p.Attributes) > MaxEvaluationAttributes:
		return Errorf(EINVALID, "attributes: 1 to %d subgroup attribute columns required", MaxEvaluationAttributes)
	case math.IsNaN(p.Threshold) || p.Threshold < 0 || p.Threshold > 1:
		return Errorf(EINVALID, "threshold: must be in [0, 1]")
	case math.IsNaN(p.Prevalence) || p.Prevalence < 0 || p.Prevalence >= 1:
		return Errorf(EINVALID, "prevalence: must be in (0, 1), or 0 for none")
	case p.MinGroupSize < 0 || p.MinClassCount < 0:
		return Errorf(EINVALID, "min_group_size and min_class_count: must not be negative")
	case p.Bootstrap < 0 || p.Bootstrap > MaxEvaluationBootstrap:
		return Errorf(EINVALID, "bootstrap: between 0 and %d resamples", MaxEvaluationBootstrap)
	case len(p.Criteria) == 0 || len(p.Criteria) > MaxEvaluationCriteria || !json.Valid(p.Criteria):
		return Errorf(EINVALID, "criteria: a JSON array of acceptance criteria is required (at most %d bytes)", MaxEvaluationCriteria)
	}
	cols := map[string]bool{p.LabelColumn: true}
	for _, c := range []string{p.ScoreColumn, p.PatientColumn} {
		if c == "" {
			continue
		}
		if cols[c] {
			return Errorf(EINVALID, "column %q used twice", c)
		}
		cols[c] = true
	}
	for _, a := range p.Attributes {
		if a == "" || len(a) > 100 {
			return Errorf(EINVALID, "attributes: empty or over-long column name")
		}
		if cols[a] {
			return Errorf(EINVALID, "attributes: column %q used twice", a)
		}
		cols[a] = true
	}
	for k, v := range p.GroupLabels {
		if len(k) > 300 || len(v) > 200 {
			return Errorf(EINVALID, "group_labels: over-long entry")
		}
	}
	if len(p.GroupLabels) > 1000 {
		return Errorf(EINVALID, "group_labels: at most 1000 entries")
	}
	return nil
}

// Outcomes of an evaluation attempt's criteria (the same words as
// evalstat's judgements).
const (
	EvaluationPass         = "pass"
	EvaluationFail         = "fail"
	EvaluationUndetermined = "undetermined"
)

// EvaluationRun is one upload of predictions for a plan: an attempt,
// numbered from 1 within its plan. Attempts are never overwritten; the
// latest attempt of a plan is the one that counts, and every earlier one
// stays visible in its reports.
type EvaluationRun struct {
	ID             string `json:"id"`
	PlanID         string `json:"plan_id"`
	ProjectID      string `json:"project_id"`
	ModelVersionID string `json:"model_version_id"`
	Attempt        int    `json:"attempt"`

	InputDigest string `json:"input_digest"` // sha256 of the uploaded bytes
	InputBytes  int64  `json:"input_bytes"`
	Rows        int64  `json:"rows"`

	// Outcome is pass when every criterion passed, fail when one failed,
	// undetermined otherwise.
	Outcome      string `json:"outcome"`
	Passed       int    `json:"criteria_passed"`
	Failed       int    `json:"criteria_failed"`
	Undetermined int    `json:"criteria_undetermined"`
	// Result is the evalstat report (schema ethos.eval/v1) with the
	// judgements of the plan's criteria; omitted in lists.
	Result json.RawMessage `json:"result,omitempty"`

	UploadedBy string    `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
	AuditIndex int64     `json:"audit_index"`
}

// SignoffKind says what a sign-off is.
type SignoffKind string

// Kinds of sign-off.
const (
	// SignoffEthics is the ethics reviewer's approval or rejection.
	SignoffEthics SignoffKind = "ethics-review"
	// SignoffAcknowledgement is a non-technical reviewer's
	// acknowledgement that they read the plain-language report (QC-EVA-1).
	SignoffAcknowledgement SignoffKind = "acknowledgement"
	// SignoffWaiver accepts, accountably, criteria that did not pass or a
	// missing acknowledgement.
	SignoffWaiver SignoffKind = "waiver"
)

// Sign-off decisions.
const (
	DecisionApproved     = "approved"
	DecisionRejected     = "rejected"
	DecisionAcknowledged = "acknowledged"
	DecisionWaived       = "waived"
)

// WaiveAcknowledgement is the waiver item standing for the acknowledgement.
const WaiveAcknowledgement = "acknowledgement"

// EvaluationSignoff is one recorded sign-off of an attempt.
type EvaluationSignoff struct {
	ID       string      `json:"id"`
	RunID    string      `json:"run_id"`
	Kind     SignoffKind `json:"kind"`
	Decision string      `json:"decision"`
	Reason   string      `json:"reason"`
	// Waives lists, for a waiver, the criterion ids (or their 1-based
	// positions "#2") and/or WaiveAcknowledgement it accepts.
	Waives     []string  `json:"waives,omitempty"`
	Reference  string    `json:"reference,omitempty"` // e.g. the committee's minute
	By         string    `json:"by"`
	Role       Role      `json:"role"`
	At         time.Time `json:"at"`
	AuditIndex int64     `json:"audit_index"`
}

// EvaluationStatus is whether an attempt passes the stage, and why not.
type EvaluationStatus struct {
	RunID          string   `json:"run_id"`
	PlanID         string   `json:"plan_id"`
	ModelVersionID string   `json:"model_version_id"`
	Attempt        int      `json:"attempt"`
	Latest         bool     `json:"latest"` // the latest attempt of its plan
	Outcome        string   `json:"criteria_outcome"`
	Ethics         string   `json:"ethics"` // approved, rejected or pending
	Acknowledged   bool     `json:"acknowledged"`
	Waived         []string `json:"waived"`
	// Passed: the stage passes with this attempt.
	Passed   bool                 `json:"passed"`
	Blocking []string             `json:"blocking"` // why it does not pass
	Signoffs []*EvaluationSignoff `json:"signoffs"`
}

// EvaluationActor is who acts on the evaluation stage, as the caller
// authenticated them.
type EvaluationActor struct {
	UserID    string
	PartyID   string
	Roles     []Role
	RequestID string
}

// HasRole reports whether the actor holds r.
func (a EvaluationActor) HasRole(r Role) bool {
	for _, x := range a.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// EvaluationPlanFilter selects plans.
type EvaluationPlanFilter struct {
	ProjectID      *string
	ModelVersionID *string
	Offset, Limit  int
}

// EvaluationRunFilter selects attempts (listed without their Result).
type EvaluationRunFilter struct {
	PlanID         *string
	ModelVersionID *string
	Offset, Limit  int
}

// EvaluationStore stores plans, attempts and sign-offs. Nothing it stores
// is ever updated or deleted.
type EvaluationStore interface {
	// CreateEvaluationPlan stores a registered plan (ECONFLICT if its id
	// exists).
	CreateEvaluationPlan(ctx context.Context, p *EvaluationPlan) error
	FindEvaluationPlanByID(ctx context.Context, id string) (*EvaluationPlan, error)
	FindEvaluationPlans(ctx context.Context, f EvaluationPlanFilter) ([]*EvaluationPlan, int, error)
	// CreateEvaluationRun stores an attempt and sets its Attempt number
	// (one more than the plan's latest); ENOTFOUND if the plan does not
	// exist.
	CreateEvaluationRun(ctx context.Context, r *EvaluationRun) error
	FindEvaluationRunByID(ctx context.Context, id string) (*EvaluationRun, error)
	// FindEvaluationRuns lists attempts newest first, without Result.
	FindEvaluationRuns(ctx context.Context, f EvaluationRunFilter) ([]*EvaluationRun, int, error)
	// CreateEvaluationSignoff stores a sign-off; ENOTFOUND if the attempt
	// does not exist.
	CreateEvaluationSignoff(ctx context.Context, s *EvaluationSignoff) error
	// FindEvaluationSignoffs lists an attempt's sign-offs oldest first.
	FindEvaluationSignoffs(ctx context.Context, runID string) ([]*EvaluationSignoff, error)
}

// IndexedAuditor is an Auditor that also returns the index of the
// appended event: the evaluation stage keeps it as evidence (a plan's
// pre-registration is the audit event at that index).
type IndexedAuditor interface {
	RecordIndexed(ctx context.Context, e AuditEvent) (int64, error)
}

// Report formats of an evaluation attempt.
const (
	EvaluationReportHTML  = "html"  // the full report with charts
	EvaluationReportPlain = "plain" // the plain-language page (HTML)
	EvaluationReportJSON  = "json"  // the evalstat report
	ModelCardJSON         = "json"
	ModelCardMarkdown     = "md"
	ModelCardHTML         = "html"
)

// EvaluationService is the evaluation stage's workflow (package
// evaluation implements it).
type EvaluationService interface {
	// RegisterPlan checks, audits and stores a plan (QC-EVA-2).
	RegisterPlan(ctx context.Context, who EvaluationActor, p *EvaluationPlan) error
	FindEvaluationPlanByID(ctx context.Context, id string) (*EvaluationPlan, error)
	FindEvaluationPlans(ctx context.Context, f EvaluationPlanFilter) ([]*EvaluationPlan, int, error)
	// UploadPredictions evaluates a predictions CSV (optionally gzip)
	// against a registered plan and stores a new attempt.
	UploadPredictions(ctx context.Context, who EvaluationActor, planID string, csv io.Reader) (*EvaluationRun, error)
	FindEvaluationRunByID(ctx context.Context, id string) (*EvaluationRun, error)
	FindEvaluationRuns(ctx context.Context, f EvaluationRunFilter) ([]*EvaluationRun, int, error)
	// SignOff records a sign-off of an attempt and returns its new status.
	SignOff(ctx context.Context, who EvaluationActor, runID string, s *EvaluationSignoff) (*EvaluationStatus, error)
	Status(ctx context.Context, runID string) (*EvaluationStatus, error)
	// Report renders an attempt's report (EvaluationReport*) and
	// ModelCard its model card (ModelCard*); both return the bytes and
	// their content type.
	Report(ctx context.Context, runID, format string) ([]byte, string, error)
	ModelCard(ctx context.Context, runID, format string) ([]byte, string, error)
	// ApprovedEvaluation returns the attempt that passed the stage for a
	// model version (ENOTFOUND, with the reason, when none did).
	ApprovedEvaluation(ctx context.Context, modelVersionID string) (evaluationID string, err error)
}
