package ethos

import (
	"context"
	"encoding/json"
	"time"
)

// This file holds the vocabulary of the deployment registry: a model
// version put to use at a site, the change log every later change goes
// through (with reason, expected effect and the stakeholders told), the
// acknowledgements of those changes, and the services the HTTP API and the
// command line use. The workflow rules (evaluation gate, go-live check,
// event screening) live in package deployment; storage in package sqlstore.
// Framework: QC-DEP-1 (monitoring plan, events), QC-DEP-2 (compliance),
// QC-DEP-3 (risk register complete and acknowledged before go-live).

// DeploymentStatus is where a deployment is in its life.
type DeploymentStatus string

// The deployment statuses. A deployment is registered first (events are
// accepted: silent or shadow running), goes live once its risk register is
// complete and acknowledged, may be suspended (events refused) and brought
// live again, and is finally retired (nothing more is accepted).
const (
	DeploymentRegistered DeploymentStatus = "registered"
	DeploymentLive       DeploymentStatus = "live"
	DeploymentSuspended  DeploymentStatus = "suspended"
	DeploymentRetired    DeploymentStatus = "retired"
)

// AcceptsEvents reports whether inference events are taken in this status.
func (s DeploymentStatus) AcceptsEvents() bool {
	return s == DeploymentRegistered || s == DeploymentLive
}

// Deployment is one model version in use at one site.
type Deployment struct {
	ID             string `json:"id"`
	ProjectID      string `json:"project_id"`
	ModelVersionID string `json:"model_version_id"`
	// EvaluationID is the approved evaluation that allowed the model
	// version in; it is the reference of monitoring.
	EvaluationID string  `json:"evaluation_id"`
	Site         string  `json:"site"`
	IntendedUse  string  `json:"intended_use"`
	Threshold    float64 `json:"threshold"` // operating threshold on the score
	// ResponsibleUserID is the named person accountable for the deployment
	// (human oversight, EU AI Act art. 26(2)).
	ResponsibleUserID string `json:"responsible_user_id"`
	// Plan is the monitoring plan, a JSON object stored as given. Its
	// content is checked by the monitoring engine's validator; the
	// registry reads only "stakeholder_roles" from it.
	Plan json.RawMessage `json:"plan"`
	// StakeholderRoles are the roles the plan names; each must acknowledge
	// the risk register before go-live (QC-DEP-3).
	StakeholderRoles []Role           `json:"stakeholder_roles"`
	Status           DeploymentStatus `json:"status"`
	// Revision counts the changes in the change log (registration is 1).
	Revision  int        `json:"revision"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	LiveAt    *time.Time `json:"live_at,omitempty"` // last time it went live
}

// MaxPlanBytes bounds a monitoring plan.
const MaxPlanBytes = 256 << 10

// ChangeKind names what a change of a deployment changed.
type ChangeKind string

// The change kinds. Every one is an entry of the change log.
const (
	ChangeRegistered   ChangeKind = "registered"
	ChangeModelVersion ChangeKind = "model-version"
	ChangeThreshold    ChangeKind = "threshold"
	ChangePlan         ChangeKind = "plan"
	ChangeSite         ChangeKind = "site"
	ChangeIntendedUse  ChangeKind = "intended-use"
	ChangeResponsible  ChangeKind = "responsible"
	ChangeGoLive       ChangeKind = "go-live"
	ChangeSuspend      ChangeKind = "suspend"
	ChangeRetire       ChangeKind = "retire"
	// ChangeObligationNotice records that a consent withdrawal opened an
	// obligation on the deployed model version (To names the obligation).
	// Ethos writes it; nobody requests it, and it switches nothing off:
	// the notified roles acknowledge it and a person decides.
	ChangeObligationNotice ChangeKind = "obligation-notice"
)

// ChangeKinds lists every change kind.
var ChangeKinds = []ChangeKind{ChangeRegistered, ChangeModelVersion, ChangeThreshold, ChangePlan, ChangeSite,
	ChangeIntendedUse, ChangeResponsible, ChangeGoLive, ChangeSuspend, ChangeRetire, ChangeObligationNotice}

// Valid reports whether k is one of ChangeKinds.
func (k ChangeKind) Valid() bool {
	for _, c := range ChangeKinds {
		if k == c {
			return true
		}
	}
	return false
}

// DeploymentChange is one entry of a deployment's change log.
type DeploymentChange struct {
	DeploymentID   string      `json:"deployment_id"`
	Seq            int         `json:"seq"` // 1 for the registration, then one per change
	Kind           ChangeKind  `json:"kind"`
	From           string      `json:"from,omitempty"` // the value before, in words
	To             string      `json:"to,omitempty"`   // the value after
	Reason         string      `json:"reason"`
	ExpectedEffect string      `json:"expected_effect"`
	Notified       []Role      `json:"notified"` // stakeholder roles told of the change
	By             string      `json:"by"`       // user id
	At             time.Time   `json:"at"`
	Acks           []ChangeAck `json:"acknowledgements"`
	Pending        []Role      `json:"pending,omitempty"` // notified roles that have not acknowledged (computed)
}

// ChangeAck records that a person in a role acknowledged a change.
type ChangeAck struct {
	UserID string    `json:"user_id"`
	Role   Role      `json:"role"`
	At     time.Time `json:"at"`
}

// ChangeRequest asks for one change. Exactly the field of its kind is set
// (none for go-live, suspend and retire).
type ChangeRequest struct {
	Kind              ChangeKind      `json:"kind"`
	ModelVersionID    string          `json:"model_version_id,omitempty"`
	Threshold         *float64        `json:"threshold,omitempty"`
	Plan              json.RawMessage `json:"plan,omitempty"`
	Site              string          `json:"site,omitempty"`
	IntendedUse       string          `json:"intended_use,omitempty"`
	ResponsibleUserID string          `json:"responsible_user_id,omitempty"`
	Reason            string          `json:"reason"`
	ExpectedEffect    string          `json:"expected_effect"`
	Notified          []Role          `json:"notified"`
}

// DeploymentFilter selects deployments.
type DeploymentFilter struct {
	ID             *string
	ProjectID      *string
	ModelVersionID *string
	Status         *DeploymentStatus
	Offset, Limit  int
}

// ApprovedEvaluations is the gate of registration: it names the passed,
// signed-off evaluation of a model version, or fails saying why there is
// none. The evaluation stage implements it.
type ApprovedEvaluations interface {
	ApprovedEvaluation(ctx context.Context, modelVersionID string) (evaluationID string, err error)
}

// Changer is who asks for a change, with the roles they hold.
type Changer struct {
	UserID string
	Roles  []Role
}

// DeploymentService is the deployment stage's registry, risk file,
// incidents and compliance checklist. The deployment package implements
// it over a DeploymentStore.
type DeploymentService interface {
	RegisterDeployment(ctx context.Context, d *Deployment, by Changer) error
	FindDeploymentByID(ctx context.Context, id string) (*Deployment, error)
	FindDeployments(ctx context.Context, f DeploymentFilter) ([]*Deployment, int, error)
	// ChangeDeployment applies one change (go-live, suspend and retire
	// included) and logs it.
	ChangeDeployment(ctx context.Context, id string, req ChangeRequest, by Changer) (*Deployment, *DeploymentChange, error)
	FindChanges(ctx context.Context, deploymentID string) ([]*DeploymentChange, error)
	AcknowledgeChange(ctx context.Context, deploymentID string, seq int, by Changer, role Role) (*DeploymentChange, error)

	RiskRegister(ctx context.Context, deploymentID string) (*RiskRegister, error)
	// PutRiskRegister stores a new revision of the register; the caller's
	// revision must be the current one (0 for the first).
	PutRiskRegister(ctx context.Context, deploymentID string, reg *RiskRegister, by Changer) (*RiskRegister, error)
	AcknowledgeRisk(ctx context.Context, deploymentID string, revision int, by Changer, role Role) (*RiskRegister, error)

	CreateIncident(ctx context.Context, deploymentID string, inc *Incident, by Changer) error
	FindIncidents(ctx context.Context, f IncidentFilter) ([]*Incident, int, error)
	UpdateIncident(ctx context.Context, id string, u IncidentUpdate, by Changer) (*Incident, error)

	// IncidentDeadlines returns an incident's notification duties and
	// their state at now; overdue ones are flagged.
	IncidentDeadlines(ctx context.Context, inc *Incident, now time.Time) ([]DeadlineStatus, error)

	// GoLiveBlockers lists, in words, what stops the deployment from going
	// live now; none means it may.
	GoLiveBlockers(ctx context.Context, deploymentID string) ([]string, error)

	// Attest records a named person's attestation or waiver of a
	// checklist item; a.Role must be one of by's roles.
	Attest(ctx context.Context, deploymentID string, a *Attestation, by Changer) error
	Compliance(ctx context.Context, deploymentID string, now time.Time) ([]ComplianceResult, error)
}

// DeploymentObligations lists the open withdrawal obligations on the
// model version a deployment runs (docs/deployment.md: a withdrawal
// reaching live deployments). The deployment registry implements it; the
// monitor shows them in the monitoring status.
type DeploymentObligations interface {
	OpenObligations(ctx context.Context, deploymentID string) ([]*Obligation, error)
}

// IncidentFilter selects incidents.
type IncidentFilter struct {
	ID            *string
	DeploymentID  *string
	Open          bool // only incidents not closed
	Offset, Limit int
}

// IncidentUpdate changes an incident's status or records a notification.
type IncidentUpdate struct {
	Status       *IncidentStatus `json:"status,omitempty"`
	Notification *Notification   `json:"notification,omitempty"`
}

// EventRejection says why record Index of a batch was not stored. Reason
// names the field and the rule, never the offending value.
type EventRejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// IngestResult is the answer to a batch of events or labels.
type IngestResult struct {
	Received   int              `json:"received"`
	Stored     int              `json:"stored"`     // new records written
	Duplicates int              `json:"duplicates"` // already stored with the same content
	Rejected   []EventRejection `json:"rejected"`
	Atomic     bool             `json:"atomic"`
}

// EventIngester takes inference events and ground-truth labels for a
// deployment. Batches are raw JSON records; each is screened on its own
// and bad ones reported by index. With atomic, one bad record stores
// nothing.
type EventIngester interface {
	IngestEvents(ctx context.Context, deploymentID string, records []json.RawMessage, atomic bool) (*IngestResult, error)
	AttachLabels(ctx context.Context, deploymentID string, records []json.RawMessage, atomic bool, by string) (*IngestResult, error)
}

// EventStats summarises the events stored for a deployment.
type EventStats struct {
	Count          int64     `json:"count"`
	Labelled       int64     `json:"labelled"`
	FirstTime      time.Time `json:"first_time,omitzero"`
	LastTime       time.Time `json:"last_time,omitzero"`
	LastReceivedAt time.Time `json:"last_received_at,omitzero"`
}

// DeploymentStore is the storage under the deployment workflow. Writes
// of a deployment are optimistic: UpdateDeployment stores d only if the
// stored revision is d.Revision-1, so two concurrent changes cannot both
// win.
type DeploymentStore interface {
	InferenceEventReader

	CreateDeployment(ctx context.Context, d *Deployment, first *DeploymentChange) error
	FindDeploymentByID(ctx context.Context, id string) (*Deployment, error)
	FindDeployments(ctx context.Context, f DeploymentFilter) ([]*Deployment, int, error)
	UpdateDeployment(ctx context.Context, d *Deployment, c *DeploymentChange) error
	FindChanges(ctx context.Context, deploymentID string) ([]*DeploymentChange, error)
	AddChangeAck(ctx context.Context, deploymentID string, seq int, ack ChangeAck) error

	// RiskRegister returns ENOTFOUND when none is stored yet.
	RiskRegister(ctx context.Context, deploymentID string) (*RiskRegister, error)
	// PutRiskRegister stores reg if the stored revision is reg.Revision-1
	// (0: none stored), ECONFLICT otherwise.
	PutRiskRegister(ctx context.Context, deploymentID string, reg *RiskRegister) error
	// UpdateRiskAcks replaces the acknowledgements of the stored revision.
	UpdateRiskAcks(ctx context.Context, deploymentID string, revision int, acks []RiskAcknowledgement) error

	CreateIncident(ctx context.Context, inc *Incident) error
	FindIncidents(ctx context.Context, f IncidentFilter) ([]*Incident, int, error)
	PutIncident(ctx context.Context, inc *Incident) error

	AddAttestation(ctx context.Context, deploymentID string, a *Attestation) error
	FindAttestations(ctx context.Context, deploymentID string) ([]Attestation, error)

	// InsertEvents stores events (ids distinct) in one transaction: an
	// event whose id is stored already is not written again, and stored[i]
	// is then the digest stored for it ("" for a new event), so the caller
	// can tell a replay from a different event reusing the id. With
	// atomic, a reused id with another digest rolls everything back.
	InsertEvents(ctx context.Context, evs []*InferenceEvent, digests []string, atomic bool) (stored []string, err error)
	// UpsertLabels stores labels in one transaction; known[i] is false for
	// a label whose case has no event in the deployment (nothing stored
	// for it).
	UpsertLabels(ctx context.Context, deploymentID string, labels []*EventLabel, atomic bool) (known []bool, err error)
	EventStats(ctx context.Context, deploymentID string) (*EventStats, error)
}
