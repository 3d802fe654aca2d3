package policy

import (
	"strings"

	"github.com/ethos-imaging/ethos"
)

// roleSet is a set of roles as a bit mask (bit i = ethos.Roles[i]).
type roleSet uint16

func rolesOf(rs ...ethos.Role) roleSet {
	var s roleSet
	for _, r := range rs {
		s |= roleBit(r)
	}
	return s
}

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

func (s roleSet) names() string {
	var b []string
	for _, r := range ethos.Roles {
		if s&roleBit(r) != 0 {
			b = append(b, string(r))
		}
	}
	return strings.Join(b, ", ")
}

var (
	r  = ethos.RoleAdmin
	ds = ethos.RoleDataSteward
	rs = ethos.RoleResearcher
	ml = ethos.RoleMLEngineer
	cl = ethos.RoleClinician
	er = ethos.RoleEthicsReviewer
	au = ethos.RoleAuditor
	pa = ethos.RolePatientAdvocate
)

// stageRoles says which roles may take each stage action in each stage
// (indexed by ethos.Stage.Index), once the matrix let the party in. It is
// the role-within-stage rule of docs/access.md: custodians hold the data
// at collection, builders work it from processing to deployment,
// clinicians join where the model meets patients, reviewers may review
// everywhere. Admins manage the system and read no stage data.
var stageRoles = map[ethos.Action][5]roleSet{
	ethos.ActionRead: {
		rolesOf(ds, rs, er),                 // collection
		rolesOf(ds, rs, ml, er),             // processing
		rolesOf(ds, rs, ml, er),             // training
		rolesOf(ds, rs, ml, cl, er, au, pa), // evaluation
		rolesOf(ds, ml, cl, er, au),         // deployment
	},
	ethos.ActionWrite: {
		rolesOf(ds),         // collection
		rolesOf(ds, rs),     // processing
		rolesOf(rs, ml),     // training
		rolesOf(rs, ml, cl), // evaluation
		rolesOf(ml, cl),     // deployment
	},
	ethos.ActionExport: {
		rolesOf(ds), rolesOf(ds), rolesOf(ds), rolesOf(ds), rolesOf(ds),
	},
	ethos.ActionReview: {
		rolesOf(er, au, pa), rolesOf(er, au, pa), rolesOf(er, au, pa), rolesOf(er, au, pa), rolesOf(er, au, pa),
	},
}

// systemRoles says which roles may take each system action.
var systemRoles = map[ethos.Action]roleSet{
	ethos.ActionManage:     rolesOf(r),
	ethos.ActionAuditRead:  rolesOf(r, au, er),
	ethos.ActionTokenOwn:   rolesOf(r, ds, rs, ml, cl, er, au, pa),
	ethos.ActionProjectNew: rolesOf(r, ds, rs),
	ethos.ActionDirectory:  rolesOf(r, ds, rs, ml, cl, er, au, pa),
}

// StageRoles returns the roles allowed to take a stage action in a stage
// (for documentation and ethos access show).
func StageRoles(a ethos.Action, s ethos.Stage) []ethos.Role {
	return expand(stageRoles[a][max(s.Index(), 0)])
}

// SystemRoles returns the roles allowed to take a system action.
func SystemRoles(a ethos.Action) []ethos.Role { return expand(systemRoles[a]) }

func expand(s roleSet) []ethos.Role {
	var out []ethos.Role
	for _, r := range ethos.Roles {
		if s&roleBit(r) != 0 {
			out = append(out, r)
		}
	}
	return out
}

func deny(rule, reason string) ethos.AccessDecision {
	return ethos.AccessDecision{Rule: rule, Reason: reason}
}

// Decide answers req. The rules are applied in this order, and the first
// that denies decides (docs/access.md lists every rule id):
//
//  1. request.*: the request names a known action, stage, party type;
//  2. role.<action> for system actions — and that is all for them;
//  3. matrix.<stage>.<party_type> at level no: denied;
//  4. role.<action>.<stage>: one of the user's roles may take the action;
//  5. stage.current: writes go only to the project's current stage;
//  6. matrix.<stage>.<party_type> at level yes: allowed;
//  7. limited: view.* (a de-identified or aggregate view is named),
//     purpose.required, then dua.* (an active agreement of the party on the
//     project covers stage and purpose and grants the view): allowed by
//     "dua", naming the agreement.
func (p *Policy) Decide(req *ethos.AccessRequest) ethos.AccessDecision {
	var have roleSet
	for _, r := range req.Roles {
		have |= roleBit(r)
	}
	if !req.Action.IsStageAction() {
		need, ok := systemRoles[req.Action]
		if !ok {
			return deny("request.action", "unknown action "+quote(string(req.Action)))
		}
		if have&need == 0 {
			return deny("role."+string(req.Action), "action "+string(req.Action)+" needs one of the roles: "+need.names())
		}
		return ethos.AccessDecision{Allow: true, Rule: "role." + string(req.Action),
			Reason: "role allows " + string(req.Action)}
	}
	si, pi := req.Stage.Index(), partyIndex(req.PartyType)
	if si < 0 {
		return deny("request.stage", "unknown stage "+quote(string(req.Stage)))
	}
	if pi < 0 {
		return deny("request.party_type", "unknown party type "+quote(string(req.PartyType)))
	}
	if req.View != "" && !req.View.Valid() {
		return deny("request.view", "unknown view "+quote(string(req.View)))
	}
	c := &p.cells[si][pi]
	if c.Level == ethos.LevelNo {
		d := deny(c.rule, c.denyReason)
		d.Level, d.Widened = c.Level, c.Widened
		return d
	}
	need := stageRoles[req.Action][si]
	if have&need == 0 {
		return ethos.AccessDecision{Rule: "role." + string(req.Action) + "." + string(req.Stage), Level: c.Level,
			Reason: "in the " + string(req.Stage) + " stage, " + string(req.Action) + " needs one of the roles: " + need.names()}
	}
	if req.Action == ethos.ActionWrite && req.ProjectStage != "" && req.ProjectStage != req.Stage {
		return ethos.AccessDecision{Rule: "stage.current", Level: c.Level,
			Reason: "the project is in the " + string(req.ProjectStage) + " stage; records are written only to the current stage"}
	}
	if c.Level == ethos.LevelYes {
		return ethos.AccessDecision{Allow: true, Rule: c.rule, Reason: c.yesReason, Level: c.Level, Widened: c.Widened}
	}
	// Limited: an agreement must cover it.
	d := ethos.AccessDecision{Level: c.Level, Widened: c.Widened}
	switch {
	case req.View == "":
		d.Rule, d.Reason = "view.required", "the "+string(req.Stage)+" stage is limited for "+partyWord(req.PartyType)+" parties: name a deidentified or aggregate view"
		return d
	case req.View == ethos.ViewIdentified:
		d.Rule, d.Reason = "view.identified", "the "+string(req.Stage)+" stage is limited for "+partyWord(req.PartyType)+" parties: identified data is never shown, only deidentified or aggregate views"
		return d
	case req.Purpose == "":
		d.Rule, d.Reason = "purpose.required", "the "+string(req.Stage)+" stage is limited for "+partyWord(req.PartyType)+" parties: declare the purpose of the access"
		return d
	}
	var covering, inactive *ethos.DUA
	for _, a := range req.DUAs {
		if a.PartyID != req.PartyID || (req.ProjectID != "" && a.ProjectID != req.ProjectID) || !a.Covers(req.Stage, req.Purpose) {
			continue
		}
		if !a.Active(req.Now) {
			inactive = a
			continue
		}
		if a.Allows(req.View) {
			d.Allow, d.Rule, d.DUAID = true, "dua", a.ID
			d.Reason = "allowed under data-use agreement " + a.ID + " (" + string(req.View) + " view, purpose " + req.Purpose + ")"
			return d
		}
		covering = a
	}
	switch {
	case covering != nil:
		d.Rule, d.DUAID = "dua.view", covering.ID
		d.Reason = "data-use agreement " + covering.ID + " does not grant the " + string(req.View) + " view"
	case inactive != nil:
		d.Rule, d.DUAID = "dua.inactive", inactive.ID
		d.Reason = "data-use agreement " + inactive.ID + " covers this use but has expired or was revoked"
	default:
		d.Rule = "dua.missing"
		d.Reason = "the " + string(req.Stage) + " stage is limited for " + partyWord(req.PartyType) +
			" parties: no active data-use agreement of the party on this project covers the stage and purpose " + quote(req.Purpose)
	}
	return d
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}
