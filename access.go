package ethos

import (
	"context"
	"time"
)

// Level is an accessibility level of the framework's access matrix
// (access-matrix.json): how far a party type may enter a stage.
type Level string

// The three levels.
const (
	LevelNo      Level = "no"      // denied
	LevelLimited Level = "limited" // only under an active data-use agreement, de-identified or aggregate views
	LevelYes     Level = "yes"     // allowed to authorised members, within their role
)

// Valid reports whether l is a known level.
func (l Level) Valid() bool { return l == LevelNo || l == LevelLimited || l == LevelYes }

// Rank orders levels by openness: no < limited < yes.
func (l Level) Rank() int {
	switch l {
	case LevelLimited:
		return 1
	case LevelYes:
		return 2
	}
	return 0
}

// Action is what a request does to a stage's data, or to the system.
type Action string

// Stage actions (checked against the access matrix and the role rules) and
// system actions (checked against roles only).
const (
	ActionRead   Action = "read"   // read stage records and data
	ActionWrite  Action = "write"  // add stage records, change stage data
	ActionExport Action = "export" // take data out of Ethos
	ActionReview Action = "review" // ethics or governance review of the stage

	ActionManage     Action = "manage"      // parties, users, agreements, project moves
	ActionAuditRead  Action = "audit.read"  // read the audit log and its proofs
	ActionTokenOwn   Action = "token.own"   // manage one's own tokens
	ActionProjectNew Action = "project.new" // create projects
	ActionDirectory  Action = "directory"   // list parties and project descriptions (no stage data)
)

// StageActions are the actions checked against the access matrix.
var StageActions = []Action{ActionRead, ActionWrite, ActionExport, ActionReview}

// SystemActions are the actions that do not concern one stage.
var SystemActions = []Action{ActionManage, ActionAuditRead, ActionTokenOwn, ActionProjectNew, ActionDirectory}

// IsStageAction reports whether a is checked against the access matrix.
func (a Action) IsStageAction() bool {
	switch a {
	case ActionRead, ActionWrite, ActionExport, ActionReview:
		return true
	}
	return false
}

// Valid reports whether a is a known action.
func (a Action) Valid() bool {
	if a.IsStageAction() {
		return true
	}
	switch a {
	case ActionManage, ActionAuditRead, ActionTokenOwn, ActionProjectNew, ActionDirectory:
		return true
	}
	return false
}

// AccessRequest is one question to the decision point: may this user, of
// this party, do this action on this project's stage, for this purpose,
// through this view, now?
type AccessRequest struct {
	UserID    string    `json:"user_id"`
	PartyID   string    `json:"party_id"`
	PartyType PartyType `json:"party_type"`
	Roles     []Role    `json:"roles"`
	ProjectID string    `json:"project_id,omitempty"`
	Stage     Stage     `json:"stage,omitempty"`
	// ProjectStage is the stage the project is in now; writes are allowed
	// only there.
	ProjectStage Stage  `json:"project_stage,omitempty"`
	Action       Action `json:"action"`
	Purpose      string `json:"purpose,omitempty"`
	View         View   `json:"view,omitempty"`
	// DUAs are the agreements of the user's party on the project; the
	// decision point picks an active one that covers the request.
	DUAs []*DUA    `json:"-"`
	Now  time.Time `json:"-"`
}

// AccessDecision is the answer of the access decision point.
type AccessDecision struct {
	Allow bool `json:"allow"`
	// Rule identifies the rule that decided, e.g. "matrix.collection.private"
	// or "role.write"; docs/access.md lists them.
	Rule string `json:"rule"`
	// Reason says why, in words a user understands.
	Reason string `json:"reason"`
	// Level is the matrix level that applied to a stage action.
	Level Level `json:"level,omitempty"`
	// Widened is true when the level came from an override more open than
	// the framework.
	Widened bool `json:"widened,omitempty"`
	// DUAID names the agreement that allowed a limited access.
	DUAID string `json:"dua_id,omitempty"`
}

// Decider is the single access decision point (the policy package).
type Decider interface {
	Decide(req *AccessRequest) AccessDecision
}

// AccessService answers access questions for the user in ctx, filling the
// request from storage (party type, roles, project stage, agreements),
// deciding with the Decider and recording the decision in the audit log.
// Every data path of the API and the CLI goes through it.
type AccessService interface {
	// Authorize fills req from the user in ctx and decides. It returns
	// the decision and, when denied, an EFORBIDDEN error carrying the
	// rule's reason. The decision is audited either way.
	Authorize(ctx context.Context, req AccessRequest) (AccessDecision, error)
}
