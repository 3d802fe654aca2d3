package policy

import (
	"github.com/ethos-imaging/ethos"
)

// roleSet is a set of roles as a bit mask (bit i = ethos.Roles[i]).
type roleSet uint16

func roleBit(r ethos.Role) roleSet {
	switch r {
	case ethos.RoleAdmin:
		return 1 << 0
	case ethos.RoleDataSteward:
		return 1 << 1
	case ethos.RoleResearcher:
		return 1 << 2
	case ethos.RoleMLEngineer:
		return 1 << 3
	case ethos.RoleClinician:
		return 1 << 4
	case ethos.RoleEthicsReviewer:
		return 1 << 5
	case ethos.RoleAuditor:
		return 1 << 6
	case ethos.RolePatientAdvocate:
		return 1 << 7
	}
	return 0
}

func roles(rs ...ethos.Role) roleSet {
	var s roleSet
	for _, r := range rs {
		s |= roleBit(r)
	}
	return s
}

// Shorthands for the role table.
var (
	steward  = roles(ethos.RoleDataSteward)
	research = roles(ethos.RoleResearcher)
	mleng    = roles(ethos.RoleMLEngineer)
	clin     = roles(ethos.RoleClinician)
	ethics   = roles(ethos.RoleEthicsReviewer)
	auditor  = roles(ethos.RoleAuditor)
	advocate = roles(ethos.RolePatientAdvocate)
	admin    = roles(ethos.RoleAdmin)
)

// Stage actions, as indexes into roleRules.
const (
	actRead = iota
	actWrite
	actApprove
)

// roleRules says which roles may take each stage action at each stage
// (docs/access.md explains each row). Oversight roles (ethics reviewer,
// auditor, patient advocate) read every stage; producing roles write where
// their work happens; ethics reviewers approve everywhere. The admin role
// runs the deployment and sees no stage data.
var roleRules = [5][3]roleSet{
	/* collection */ {
		steward | clin | ethics | auditor | advocate,
		steward | clin,
		ethics,
	},
	/* processing */ {
		steward | research | mleng | ethics | auditor | advocate,
		steward | research | mleng,
		ethics | steward,
	},
	/* training */ {
		steward | research | mleng | ethics | auditor | advocate,
		research | mleng,
		ethics,
	},
	/* evaluation */ {
		steward | research | mleng | clin | ethics | auditor | advocate,
		research | mleng | clin,
		ethics | clin,
	},
	/* deployment */ {
		steward | mleng | clin | ethics | auditor | advocate,
		mleng | clin,
		ethics,
	},
}

// viewLimit gives the most revealing view a role may read, for roles that
// oversee without working on the data: auditors see de-identified records,
// patient advocates aggregates. Other roles have no limit beyond the cell's.
func viewAllowed(r roleSet, v ethos.View) bool {
	// Any unrestricted role in r allows every view.
	if r&^(auditor|advocate) != 0 {
		return true
	}
	switch v {
	case ethos.ViewAggregate:
		return true
	case ethos.ViewDeidentified:
		return r&auditor != 0
	}
	return false
}

// manageRules says which roles may manage each kind of resource.
var manageRules = map[string]roleSet{
	"party":   admin,
	"user":    admin,
	"token":   admin, // every user may manage their own tokens: see Decide
	"project": admin | steward,
	"stage":   admin | steward | ethics,
	"dua":     admin | steward | ethics,
	"policy":  admin | ethics | auditor, // reading the effective policy and access reviews
	// catalog: reading project descriptions and the party directory, which
	// hold no stage data; every role may.
	"catalog": admin | steward | research | mleng | clin | ethics | auditor | advocate,
}

// auditRoles may read the audit log, its checkpoints and proofs.
var auditRoles = admin | auditor | ethics

var actionIndex = map[ethos.Action]int{ethos.ActionRead: actRead, ethos.ActionWrite: actWrite, ethos.ActionApprove: actApprove}

func deny(rule, reason string) ethos.AccessDecision {
	return ethos.AccessDecision{Rule: rule, Reason: reason}
}

// Decide answers one access request. It is pure: the answer depends only
// on p and req (req.Now included), and it never fails: a malformed request
// is denied with rule "request/…".
//
// Rules, in order:
//   - request/*: the request is incomplete or names unknown values.
//   - role/manage/<kind>, role/audit: administrative actions by role.
//   - role/<stage>/<action>: none of the user's roles may take the action
//     at the stage (role table in docs/access.md).
//   - role/<stage>/view: the user's roles may not read that view.
//   - owner/<stage>: the user's party owns the project; it works on its own
//     project within role, whatever the matrix says about other parties.
//   - matrix/<stage>/<party type>: the matrix cell is no (deny) or yes (allow).
//   - limited/<stage>/<party type>: the cell is limited; allowed only for a
//     read of a de-identified or aggregate view under an active agreement of
//     the user's party for the project that names the stage, the purpose and
//     the view.
func (p *Policy) Decide(req *ethos.AccessRequest) ethos.AccessDecision {
	var have roleSet
	for _, r := range req.Roles {
		have |= roleBit(r)
	}
	if req.UserID == "" || req.PartyID == "" {
		return deny("request/identity", "the request has no authenticated user")
	}
	switch req.Action {
	case ethos.ActionManage:
		need, ok := manageRules[req.ManageKind]
		if !ok {
			return deny("request/manage", "unknown kind of resource to manage")
		}
		rule := "role/manage/" + req.ManageKind
		if have&need != 0 {
			return ethos.AccessDecision{Allow: true, Rule: rule, Reason: "the user's role may manage " + req.ManageKind + " records"}
		}
		if req.ManageKind == "token" && req.OwnUser {
			return ethos.AccessDecision{Allow: true, Rule: "role/manage/token/own", Reason: "every user manages their own tokens"}
		}
		return deny(rule, "none of the user's roles may manage "+req.ManageKind+" records")
	case ethos.ActionAudit:
		if have&auditRoles != 0 {
			return ethos.AccessDecision{Allow: true, Rule: "role/audit", Reason: "the user's role may read the audit log"}
		}
		return deny("role/audit", "only admins, auditors and ethics reviewers read the audit log")
	}
	ai, ok := actionIndex[req.Action]
	if !ok {
		return deny("request/action", "unknown action")
	}
	si, ti := req.Stage.Index(), req.PartyType.Index()
	if si < 0 {
		return deny("request/stage", "unknown lifecycle stage")
	}
	if ti < 0 {
		return deny("request/party-type", "the user's party has no known party type")
	}
	if !req.Purpose.Valid() {
		return deny("request/purpose", "every use of stage data must declare a known purpose")
	}
	view := req.View
	if view == "" {
		view = ethos.ViewFull
	}
	if !view.Valid() {
		return deny("request/view", "unknown view")
	}
	stage, ptype := string(req.Stage), string(req.PartyType)
	allowed := have & roleRules[si][ai]
	if allowed == 0 {
		return deny("role/"+stage+"/"+string(req.Action),
			"none of the user's roles may "+string(req.Action)+" at the "+stage+" stage")
	}
	if ai == actRead && !viewAllowed(allowed, view) {
		return deny("role/"+stage+"/view", "the user's roles may not read the "+string(view)+" view (auditors: deidentified or aggregate; patient advocates: aggregate)")
	}
	if req.ProjectPartyID != "" && req.ProjectPartyID == req.PartyID {
		return ethos.AccessDecision{Allow: true, Rule: "owner/" + stage, Level: p.cells[si][ti],
			Reason: "the user's party owns the project and the user's role may " + string(req.Action) + " at the " + stage + " stage"}
	}
	level := p.cells[si][ti]
	switch level {
	case ethos.LevelYes:
		return ethos.AccessDecision{Allow: true, Rule: "matrix/" + stage + "/" + ptype, Level: level,
			Reason: "the " + stage + " stage is open to " + ptype + " parties within their role"}
	case ethos.LevelLimited:
		rule := "limited/" + stage + "/" + ptype
		if ai != actRead {
			return ethos.AccessDecision{Rule: rule, Level: level,
				Reason: "the " + stage + " stage is limited for " + ptype + " parties: read-only access to de-identified or aggregate views under a data-use agreement"}
		}
		if view == ethos.ViewFull {
			return ethos.AccessDecision{Rule: rule, Level: level,
				Reason: "the " + stage + " stage is limited for " + ptype + " parties: only de-identified or aggregate views"}
		}
		why := "no data-use agreement of the user's party covers this project"
		for _, d := range req.DUAs {
			if d == nil || d.PartyID != req.PartyID || d.ProjectID != req.ProjectID {
				continue
			}
			switch {
			case d.RevokedAt != nil:
				why = "data-use agreement " + d.ID + " is revoked"
			case !req.Now.Before(d.ExpiresAt):
				why = "data-use agreement " + d.ID + " expired"
			case !containsStage(d.Stages, req.Stage):
				why = "data-use agreement " + d.ID + " does not cover the " + stage + " stage"
			case !containsPurpose(d.Purposes, req.Purpose):
				why = "data-use agreement " + d.ID + " does not cover the purpose " + string(req.Purpose)
			case !containsView(d.Views, view):
				why = "data-use agreement " + d.ID + " does not allow the " + string(view) + " view"
			default:
				return ethos.AccessDecision{Allow: true, Rule: rule, Level: level, DUAID: d.ID,
					Reason: "allowed under data-use agreement " + d.ID + " (" + stage + ", " + string(req.Purpose) + ", " + string(view) + " view)"}
			}
		}
		return ethos.AccessDecision{Rule: rule, Level: level,
			Reason: "the " + stage + " stage is limited for " + ptype + " parties and " + why}
	default:
		return ethos.AccessDecision{Rule: "matrix/" + stage + "/" + ptype, Level: level,
			Reason: "the " + stage + " stage is closed to " + ptype + " parties"}
	}
}

func containsStage(s []ethos.Stage, x ethos.Stage) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func containsPurpose(s []ethos.Purpose, x ethos.Purpose) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func containsView(s []ethos.View, x ethos.View) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

var _ ethos.Decider = (*Policy)(nil)

// StageRoles returns the roles that may take a stage action (read, write,
// approve) at stage, in the order of ethos.Roles (nil for anything else).
func StageRoles(stage ethos.Stage, action ethos.Action) []ethos.Role {
	si := stage.Index()
	ai, ok := actionIndex[action]
	if si < 0 || !ok {
		return nil
	}
	var out []ethos.Role
	for _, r := range ethos.Roles {
		if roleRules[si][ai]&roleBit(r) != 0 {
			out = append(out, r)
		}
	}
	return out
}
