package ethos

import (
	"context"
	"encoding/json"
	"time"
)

// This file holds the vocabulary of access decisions. The framework's
// access matrix (access-matrix.json) gives, per lifecycle stage and party
// type, an accessibility level; the policy package turns it, with the
// user's roles and data-use agreements, into one decision per request.

// AccessLevel is one cell of the access matrix.
type AccessLevel string

// The three levels of the framework.
const (
	LevelNo      AccessLevel = "no"      // denied
	LevelLimited AccessLevel = "limited" // only under an active DUA, de-identified or aggregate views
	LevelYes     AccessLevel = "yes"     // members of the party type, within their role
)

// Rank orders levels from closed (0) to open (2); -1 for an unknown level.
func (l AccessLevel) Rank() int {
	switch l {
	case LevelNo:
		return 0
	case LevelLimited:
		return 1
	case LevelYes:
		return 2
	}
	return -1
}

// Action is what a request does.
type Action string

// Actions. read and write touch a stage's data; approve records an
// ethics or governance sign-off; manage changes projects, parties, users,
// tokens and agreements; audit reads the audit log.
const (
	ActionRead    Action = "read"
	ActionWrite   Action = "write"
	ActionApprove Action = "approve"
	ActionManage  Action = "manage"
	ActionAudit   Action = "audit"
)

// Actions lists every action.
var Actions = []Action{ActionRead, ActionWrite, ActionApprove, ActionManage, ActionAudit}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, b := range Actions {
		if a == b {
			return true
		}
	}
	return false
}

// StageAction reports whether a touches a stage's data (and so falls under
// the access matrix).
func (a Action) StageAction() bool {
	return a == ActionRead || a == ActionWrite || a == ActionApprove
}

// AccessRequest is everything the decision point needs. It is built by the
// caller (HTTP handler, CLI) from the authenticated user, the project and
// the stored agreements; the decision point does no I/O.
type AccessRequest struct {
	UserID    string
	PartyID   string
	PartyType PartyType
	Roles     []Role
	ProjectID string // "" for actions outside a project
	// ProjectPartyID is the party that owns the project: its members work
	// on it within their role whatever the matrix says about other parties.
	ProjectPartyID string
	ManageKind     string // for manage: party, user, token, project, stage, dua, policy
	OwnUser        bool   // for manage token: the tokens are the caller's own
	Stage          Stage  // "" for manage and audit
	Action         Action
	Purpose        Purpose // required for stage actions
	View           View    // for read; "" means full
	DUAs           []*DUA  // agreements of the user's party for the project (active or not)
	Now            time.Time
}

// AccessDecision is the answer of the decision point.
type AccessDecision struct {
	Allow  bool        `json:"allow"`
	Rule   string      `json:"rule"`   // id of the rule that decided, e.g. "matrix/training/private"
	Reason string      `json:"reason"` // a sentence for the user
	Level  AccessLevel `json:"level,omitempty"`
	DUAID  string      `json:"dua_id,omitempty"` // the agreement that allowed a limited access
}

// Decision returns "allow" or "deny", the words of the audit log.
func (d AccessDecision) Decision() string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

// Err returns nil for an allow and an EFORBIDDEN error with the reason for
// a deny.
func (d AccessDecision) Err() error {
	if d.Allow {
		return nil
	}
	return Errorf(EFORBIDDEN, "%s (rule %s)", d.Reason, d.Rule)
}

// Decider is the access decision point. The policy package implements it.
type Decider interface {
	Decide(req *AccessRequest) AccessDecision
}

// StageRecord is one item of a project's data at a stage: a dataset
// manifest, a labelling batch, a training run, an evaluation report, a
// deployment note. The stage packages define the bodies; the access policy
// guards them all the same way. Identifiable marks records that still hold
// identifiable data (only the full view shows them).
type StageRecord struct {
	ID           string          `json:"id"`
	ProjectID    string          `json:"project_id"`
	Stage        Stage           `json:"stage"`
	Kind         string          `json:"kind"`
	Identifiable bool            `json:"identifiable"`
	Body         json.RawMessage `json:"body"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
}

// MaxRecordBody bounds a stage record's body.
const MaxRecordBody = 256 << 10

// Validate checks the fields a caller sets.
func (r *StageRecord) Validate() error {
	if !r.Stage.Valid() {
		return Errorf(EINVALID, "stage: unknown stage %q", r.Stage)
	}
	if !ValidID(r.Kind) {
		return Errorf(EINVALID, "kind: required, letters, digits, '_', '-', '.' only")
	}
	if len(r.Body) == 0 || !json.Valid(r.Body) {
		return Errorf(EINVALID, "body: must be a JSON value")
	}
	if len(r.Body) > MaxRecordBody {
		return Errorf(EINVALID, "body: %d bytes, at most %d allowed", len(r.Body), MaxRecordBody)
	}
	return nil
}

// RecordFilter selects stage records.
type RecordFilter struct {
	ProjectID    string
	Stage        Stage
	Identifiable *bool

	Offset int
	Limit  int
}

// RecordCount is the aggregate view: how many records of each kind.
type RecordCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// RecordService stores stage records.
type RecordService interface {
	CreateRecord(ctx context.Context, r *StageRecord) error
	FindRecords(ctx context.Context, filter RecordFilter) ([]*StageRecord, int, error)
	CountRecords(ctx context.Context, filter RecordFilter) ([]RecordCount, error)
}
