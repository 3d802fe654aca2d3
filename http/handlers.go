package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/mod/sumdb/tlog"
)

type jsonValue = json.RawMessage

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, keyPrincipal, p)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.Parties.FindParties(r.Context(), ethos.PartyFilter{Limit: 1}); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "database unavailable", Version: s.Version})
		return nil
	}
	var n int64
	if s.AuditLog != nil {
		n = s.AuditLog.Size()
	}
	writeJSON(w, http.StatusOK, health{Status: "ok", AuditSize: n, Version: s.Version, PolicyNote: policyNote(s)})
	return nil
}

func policyNote(s *Server) string {
	if n := len(s.Policy.Widened()); n > 0 {
		return "framework matrix with cells widened beyond the framework (see /api/v1/access/policy)"
	}
	return "framework matrix"
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request, p *principal) error {
	writeJSON(w, http.StatusOK, whoami{User: p.User, Party: p.Party, Token: p.Token})
	return nil
}

// manage decides an administrative action on a kind of record.
func (s *Server) manage(r *http.Request, p *principal, kind, resource string, own bool) error {
	_, err := s.decide(r.Context(), p, ethos.AccessRequest{Action: ethos.ActionManage, ManageKind: kind, OwnUser: own}, resource)
	return err
}

// Parties

func (s *Server) handleListParties(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.manage(r, p, "catalog", "parties", false); err != nil {
		return err
	}
	return replyList[*ethos.Party](w)(s.Parties.FindParties(r.Context(), ethos.PartyFilter{Offset: off, Limit: lim}))
}

func (s *Server) handleCreateParty(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in partyIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.manage(r, p, "party", "parties", false); err != nil {
		return err
	}
	party := &ethos.Party{Name: in.Name, Type: in.Type}
	if err := s.Parties.CreateParty(r.Context(), party); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, party, "party.create", "party/"+party.ID, "type "+string(party.Type), "")
}

func (s *Server) handleGetParty(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if err := s.manage(r, p, "catalog", "party/"+id, false); err != nil {
		return err
	}
	return replyOK(w)(s.Parties.FindPartyByID(r.Context(), id))
}

// Users

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.manage(r, p, "user", "users", false); err != nil {
		return err
	}
	f := ethos.UserFilter{Offset: off, Limit: lim}
	if v := r.URL.Query().Get("party_id"); v != "" {
		f.PartyID = &v
	}
	return replyList[*ethos.User](w)(s.Users.FindUsers(r.Context(), f))
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in userIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.manage(r, p, "user", "users", false); err != nil {
		return err
	}
	u := &ethos.User{PartyID: in.PartyID, Name: in.Name, Roles: in.Roles}
	if err := s.Users.CreateUser(r.Context(), u); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, u, "user.create", "user/"+u.ID, "roles "+joinRoles(u.Roles), "")
}

func joinRoles(rs []ethos.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if id != p.User.ID {
		if err := s.manage(r, p, "user", "user/"+id, false); err != nil {
			return err
		}
	}
	return replyOK(w)(s.Users.FindUserByID(r.Context(), id))
}

func (s *Server) handlePatchUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	var in userPatch
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.manage(r, p, "user", "user/"+id, false); err != nil {
		return err
	}
	u, err := s.Users.UpdateUser(r.Context(), id, ethos.UserUpdate{Name: in.Name, Roles: in.Roles, Disabled: in.Disabled})
	if err != nil {
		return err
	}
	reason := "roles " + joinRoles(u.Roles)
	if u.Disabled {
		reason += "; disabled"
	}
	return s.auditedReply(w, r, p, http.StatusOK, u, "user.update", "user/"+u.ID, reason, "")
}

// Tokens

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	uid := r.URL.Query().Get("user_id")
	if uid == "" {
		uid = p.User.ID
	}
	if err := s.manage(r, p, "token", "user/"+uid+"/tokens", uid == p.User.ID); err != nil {
		return err
	}
	return replyList[*ethos.Token](w)(s.Tokens.FindTokens(r.Context(), ethos.TokenFilter{UserID: &uid, Offset: off, Limit: lim}))
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in tokenIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.UserID == "" {
		in.UserID = p.User.ID
	}
	if in.ExpiresInDays == 0 {
		in.ExpiresInDays = 90
	}
	maxDays := int(ethos.MaxTokenLifetime / (24 * time.Hour))
	if in.ExpiresInDays < 0 || in.ExpiresInDays > maxDays {
		return &fieldError{code: ethos.EINVALID, field: "expires_in_days", msg: "expires_in_days: want 1 to " + itoa(maxDays)}
	}
	if !ethos.ValidID(in.UserID) {
		return &fieldError{code: ethos.EINVALID, field: "user_id", msg: "user_id: a user id is required"}
	}
	if err := s.manage(r, p, "token", "user/"+in.UserID+"/tokens", in.UserID == p.User.ID); err != nil {
		return err
	}
	secret, hash := ethos.NewTokenSecret()
	t := &ethos.Token{UserID: in.UserID, Name: in.Name, Hash: hash, ExpiresAt: s.Now().Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)}
	if err := s.Tokens.CreateToken(r.Context(), t); err != nil {
		return err
	}
	if err := s.recordChange(r.Context(), p, "token.create", "token/"+t.ID, "for user "+t.UserID+", expires "+t.ExpiresAt.Format(time.RFC3339), ""); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenOut{Token: t, Secret: secret})
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	t, err := s.Tokens.FindTokenByID(r.Context(), id)
	if err != nil && ethos.ErrorCode(err) != ethos.ENOTFOUND {
		return err
	}
	own := t != nil && t.UserID == p.User.ID
	if err := s.manage(r, p, "token", "token/"+id, own); err != nil {
		return err
	}
	if t == nil {
		return err
	}
	t, err = s.Tokens.RevokeToken(r.Context(), id, s.Now())
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, t, "token.revoke", "token/"+id, "revoked", "")
}

func itoa(n int) string { return strconv.Itoa(n) }

// Projects

func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	f := ethos.ProjectFilter{Offset: off, Limit: lim}
	if v := r.URL.Query().Get("stage"); v != "" {
		st, err := ethos.ParseStage(v)
		if err != nil {
			return badStage()
		}
		f.Stage = &st
	}
	if err := s.manage(r, p, "catalog", "projects", false); err != nil {
		return err
	}
	return replyList[*ethos.Project](w)(s.Projects.FindProjects(r.Context(), f))
}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in projectIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.PartyID == "" {
		in.PartyID = p.Party.ID
	}
	if err := s.manage(r, p, "project", "projects", false); err != nil {
		return err
	}
	prj := &ethos.Project{Name: in.Name, IntendedUse: in.IntendedUse, Modality: in.Modality, ClinicalSetting: in.ClinicalSetting, PartyID: in.PartyID}
	if err := s.Projects.CreateProject(r.Context(), prj, p.User.ID); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, prj, "project.create", "project/"+prj.ID, "owner "+prj.PartyID, prj.Stage)
}

func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if err := s.manage(r, p, "catalog", "project/"+id, false); err != nil {
		return err
	}
	return replyOK(w)(s.Projects.FindProjectByID(r.Context(), id))
}

func (s *Server) handlePatchProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	var in projectPatch
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.manage(r, p, "project", "project/"+id, false); err != nil {
		return err
	}
	prj, err := s.Projects.UpdateProject(r.Context(), id, ethos.ProjectUpdate{Name: in.Name, IntendedUse: in.IntendedUse, Modality: in.Modality, ClinicalSetting: in.ClinicalSetting})
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, prj, "project.update", "project/"+id, "description changed", "")
}

func (s *Server) handleMoveStage(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	var in stageIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if !in.Stage.Valid() {
		return badStage()
	}
	if err := s.manage(r, p, "stage", "project/"+id, false); err != nil {
		return err
	}
	prj, err := s.Projects.MoveStage(r.Context(), id, ethos.StageChange{To: in.Stage, By: p.User.ID, Reason: in.Reason, At: s.Now().UTC()})
	if err != nil {
		return err
	}
	last := prj.StageHistory[len(prj.StageHistory)-1]
	return s.auditedReply(w, r, p, http.StatusOK, prj, "project.stage", "project/"+id, "from "+string(last.From)+" to "+string(last.To), prj.Stage)
}

// Stage data: every path goes through decideStage.

// decideStage loads what the policy needs (the project's owner and the
// agreements of the caller's party for the project) and decides.
func (s *Server) decideStage(r *http.Request, p *principal, action ethos.Action, purpose ethos.Purpose, view ethos.View) (ethos.AccessDecision, ethos.Stage, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	stage, err := ethos.ParseStage(r.PathValue("stage"))
	if err != nil {
		return ethos.AccessDecision{}, "", err
	}
	prj, err := s.Projects.FindProjectByID(ctx, id)
	if err != nil {
		return ethos.AccessDecision{}, "", err
	}
	duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &prj.ID, Limit: 1000})
	if err != nil {
		return ethos.AccessDecision{}, "", err
	}
	d, err := s.decide(ctx, p, ethos.AccessRequest{ProjectID: prj.ID, ProjectPartyID: prj.PartyID, Stage: stage, Action: action,
		Purpose: purpose, View: view, DUAs: duas}, "project/"+prj.ID+"/"+string(stage))
	return d, stage, err
}

func (s *Server) handleListRecords(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	purpose := ethos.Purpose(q.Get("purpose"))
	if !purpose.Valid() {
		return &fieldError{code: ethos.EINVALID, field: "purpose", msg: "query parameter purpose: a known purpose of use is required (e.g. research, ai-training)"}
	}
	view := ethos.ViewFull
	if v := q.Get("view"); v != "" {
		var err error
		if view, err = ethos.ParseView(v); err != nil {
			return &fieldError{code: ethos.EINVALID, field: "view", msg: ethos.ErrorMessage(err)}
		}
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	d, stage, err := s.decideStage(r, p, ethos.ActionRead, purpose, view)
	if err != nil {
		return err
	}
	out := recordsOut{View: view, Decision: d}
	f := ethos.RecordFilter{ProjectID: r.PathValue("id"), Stage: stage, Offset: off, Limit: lim}
	switch view {
	case ethos.ViewAggregate:
		out.Counts, err = s.Records.CountRecords(r.Context(), f)
		for _, c := range out.Counts {
			out.Total += c.Count
		}
	case ethos.ViewDeidentified:
		no := false
		f.Identifiable = &no
		out.Records, out.Total, err = s.Records.FindRecords(r.Context(), f)
	default:
		out.Records, out.Total, err = s.Records.FindRecords(r.Context(), f)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateRecord(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in recordIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if !in.Purpose.Valid() {
		return &fieldError{code: ethos.EINVALID, field: "purpose", msg: "purpose: a known purpose of use is required"}
	}
	rec := &ethos.StageRecord{ProjectID: r.PathValue("id"), Stage: ethos.Stage(r.PathValue("stage")), Kind: in.Kind, Identifiable: in.Identifiable, Body: in.Body, CreatedBy: p.User.ID}
	if err := rec.Validate(); err != nil {
		return err
	}
	if _, _, err := s.decideStage(r, p, ethos.ActionWrite, in.Purpose, ""); err != nil {
		return err
	}
	if err := s.Records.CreateRecord(r.Context(), rec); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, rec, "record.create", "record/"+rec.ID, "kind "+rec.Kind+" in project/"+rec.ProjectID, rec.Stage)
}

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in approvalIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if !in.Purpose.Valid() {
		return &fieldError{code: ethos.EINVALID, field: "purpose", msg: "purpose: a known purpose of use is required"}
	}
	switch in.Decision {
	case "approved", "rejected", "conditional":
	default:
		return &fieldError{code: ethos.EINVALID, field: "decision", msg: "decision: want approved, rejected or conditional"}
	}
	body, _ := json.Marshal(in)
	rec := &ethos.StageRecord{ProjectID: r.PathValue("id"), Stage: ethos.Stage(r.PathValue("stage")), Kind: "approval", Body: body, CreatedBy: p.User.ID}
	if err := rec.Validate(); err != nil {
		return err
	}
	if _, _, err := s.decideStage(r, p, ethos.ActionApprove, in.Purpose, ""); err != nil {
		return err
	}
	if err := s.Records.CreateRecord(r.Context(), rec); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, rec, "stage.approve", "record/"+rec.ID, in.Decision+" for project/"+rec.ProjectID, rec.Stage)
}

// Data-use agreements

func (s *Server) handleListDUAs(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	f := ethos.DUAFilter{Offset: off, Limit: lim}
	q := r.URL.Query()
	if v := q.Get("party_id"); v != "" {
		f.PartyID = &v
	}
	if v := q.Get("project_id"); v != "" {
		f.ProjectID = &v
	}
	// A party sees its own agreements; others need the right to manage them.
	if f.PartyID == nil || *f.PartyID != p.Party.ID {
		if err := s.manage(r, p, "dua", "duas", false); err != nil {
			return err
		}
	}
	return replyList[*ethos.DUA](w)(s.DUAs.FindDUAs(r.Context(), f))
}

func (s *Server) handleCreateDUA(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in duaIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	exp, err := time.Parse(time.RFC3339, in.ExpiresAt)
	if err != nil {
		return &fieldError{code: ethos.EINVALID, field: "expires_at", msg: "expires_at: want an RFC 3339 time such as 2027-01-31T00:00:00Z"}
	}
	if err := s.manage(r, p, "dua", "duas", false); err != nil {
		return err
	}
	d := &ethos.DUA{PartyID: in.PartyID, ProjectID: in.ProjectID, Stages: in.Stages, Purposes: in.Purposes, Views: in.Views,
		ExpiresAt: exp.UTC(), ApprovedBy: p.User.ID, Reference: in.Reference}
	if err := s.DUAs.CreateDUA(r.Context(), d); err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, d, "dua.create", "dua/"+d.ID, "party "+d.PartyID+" on project/"+d.ProjectID+" until "+d.ExpiresAt.Format(time.RFC3339), "")
}

func (s *Server) handleRevokeDUA(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if err := s.manage(r, p, "dua", "dua/"+id, false); err != nil {
		return err
	}
	d, err := s.DUAs.RevokeDUA(r.Context(), id, s.Now())
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, d, "dua.revoke", "dua/"+id, "revoked", "")
}

// Access

func (s *Server) handleAccessCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in checkIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	subject := p
	if in.UserID != "" && !ethos.ValidID(in.UserID) {
		return &fieldError{code: ethos.EINVALID, field: "user_id", msg: "user_id: not a user id"}
	}
	if in.UserID != "" && in.UserID != p.User.ID {
		if err := s.manage(r, p, "policy", "user/"+in.UserID, false); err != nil {
			return err
		}
		u, err := s.Users.FindUserByID(ctx, in.UserID)
		if err != nil {
			return err
		}
		party, err := s.Parties.FindPartyByID(ctx, u.PartyID)
		if err != nil {
			return err
		}
		subject = &principal{User: u, Party: party}
	}
	req := ethos.AccessRequest{UserID: subject.User.ID, PartyID: subject.Party.ID, PartyType: subject.Party.Type, Roles: subject.User.Roles,
		Stage: in.Stage, Action: in.Action, Purpose: in.Purpose, View: in.View, Now: s.Now()}
	// Stage, purpose and view go into the audit entry: only known values
	// are taken, so that nothing typed reaches the log.
	if !in.Action.Valid() || in.Action == ethos.ActionManage {
		return &fieldError{code: ethos.EINVALID, field: "action", msg: "action: check explains stage actions (read, write, approve) and audit"}
	}
	if err := checkRequestValues(&req); err != nil {
		return err
	}
	var active []string
	if in.ProjectID != "" {
		prj, err := s.Projects.FindProjectByID(ctx, in.ProjectID)
		if err != nil {
			return err
		}
		req.ProjectID, req.ProjectPartyID = prj.ID, prj.PartyID
		duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &subject.Party.ID, ProjectID: &prj.ID, Limit: 1000})
		if err != nil {
			return err
		}
		req.DUAs = duas
		for _, d := range duas {
			if d.Active(req.Now) {
				active = append(active, d.ID)
			}
		}
	}
	d := s.Policy.Decide(&req)
	if err := s.Auditor.Record(ctx, ethos.AuditEvent{Actor: p.User.ID, Party: p.Party.ID, Action: "access.check", Resource: "user/" + subject.User.ID,
		Stage: in.Stage, Purpose: in.Purpose, Decision: d.Decision(), Reason: d.Rule + ": " + d.Reason, RequestID: requestID(ctx)}); err != nil {
		return err
	}
	lvl := s.Policy.Level(in.Stage, subject.Party.Type)
	writeJSON(w, http.StatusOK, checkOut{Decision: d, UserID: subject.User.ID, PartyType: subject.Party.Type, Roles: subject.User.Roles,
		Level: lvl, Meaning: levelMeaning(lvl), ActiveDUAs: nonNil(active)})
	return nil
}

func (s *Server) handleAccessPolicy(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.manage(r, p, "policy", "policy", false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, policyOut{Source: policySource(), Cells: s.Policy.Cells(), Widened: nonNil(s.Policy.Widened())})
	return nil
}

func (s *Server) handleAccessReview(w http.ResponseWriter, r *http.Request, p *principal) error {
	days, err := queryInt(r, "unused_days", false, 90)
	if err != nil {
		return err
	}
	if days > 3650 {
		return &fieldError{code: ethos.EINVALID, field: "unused_days", msg: "unused_days: at most 3650"}
	}
	if err := s.manage(r, p, "policy", "access-review", false); err != nil {
		return err
	}
	ctx := r.Context()
	now := s.Now()
	since := now.Add(-time.Duration(days) * 24 * time.Hour)
	out := reviewOut{UnusedDays: int(days), Since: since.UTC().Format(time.RFC3339), DUAs: []*ethos.DUA{}, Tokens: []*ethos.Token{}}
	unused := func(last *time.Time, created time.Time) bool {
		if last != nil {
			return last.Before(since)
		}
		return created.Before(since)
	}
	for off := 0; ; off += 1000 {
		duas, n, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{Active: &now, Offset: off, Limit: 1000})
		if err != nil {
			return err
		}
		for _, d := range duas {
			if unused(d.LastUsedAt, d.CreatedAt) {
				out.DUAs = append(out.DUAs, d)
			}
		}
		if off+1000 >= n {
			break
		}
	}
	for off := 0; ; off += 1000 {
		toks, n, err := s.Tokens.FindTokens(ctx, ethos.TokenFilter{Active: &now, Offset: off, Limit: 1000})
		if err != nil {
			return err
		}
		for _, t := range toks {
			if unused(t.LastUsedAt, t.CreatedAt) {
				out.Tokens = append(out.Tokens, t)
			}
		}
		if off+1000 >= n {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Audit

func (s *Server) auditAccess(r *http.Request, p *principal, resource string) error {
	_, err := s.decide(r.Context(), p, ethos.AccessRequest{Action: ethos.ActionAudit}, resource)
	return err
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) handleGetCheckpoint(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.auditAccess(r, p, "audit/checkpoint"); err != nil {
		return err
	}
	b, err := s.AuditDB.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	if b == nil {
		return ethos.Errorf(ethos.ENOTFOUND, "no checkpoint signed yet")
	}
	writeText(w, b)
	return nil
}

func (s *Server) handleSignCheckpoint(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.auditAccess(r, p, "audit/checkpoint"); err != nil {
		return err
	}
	b, err := s.AuditLog.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	writeText(w, b)
	return nil
}

// latestSize is the size of the latest signed checkpoint.
func (s *Server) latestSize(ctx context.Context) (int64, error) {
	b, err := s.AuditDB.LatestCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	if b == nil {
		return 0, ethos.Errorf(ethos.ENOTFOUND, "no checkpoint signed yet")
	}
	c, err := audit.OpenCheckpoint(b, s.VerifierKey)
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}

func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.auditAccess(r, p, "audit/events"); err != nil {
		return err
	}
	var idx int64
	if err := json.Unmarshal([]byte(r.PathValue("index")), &idx); err != nil || idx < 0 {
		return &fieldError{code: ethos.EINVALID, field: "index", msg: "index: want a non-negative integer"}
	}
	if idx >= s.AuditLog.Size() {
		return ethos.Errorf(ethos.ENOTFOUND, "event %d not found", idx)
	}
	leaves, err := s.AuditDB.Leaves(r.Context(), idx, idx+1)
	if err != nil {
		return err
	}
	ev, err := audit.DecodeEvent(leaves[0])
	if err != nil {
		return err
	}
	h := tlog.RecordHash(leaves[0])
	writeJSON(w, http.StatusOK, eventOut{Index: idx, Leaf: leaves[0], LeafHash: h.String(), Event: eventJSON{
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Actor: ev.Actor, Party: ev.Party, Action: ev.Action, Resource: ev.Resource,
		Stage: ev.Stage, Purpose: ev.Purpose, Decision: ev.Decision, Reason: ev.Reason, RequestID: ev.RequestID}})
	return nil
}

func (s *Server) handleInclusionProof(w http.ResponseWriter, r *http.Request, p *principal) error {
	idx, err := queryInt(r, "index", true, 0)
	if err != nil {
		return err
	}
	size, err := queryInt(r, "tree_size", false, -1)
	if err != nil {
		return err
	}
	if err := s.auditAccess(r, p, "audit/proofs"); err != nil {
		return err
	}
	if size < 0 {
		if size, err = s.latestSize(r.Context()); err != nil {
			return err
		}
	}
	if idx >= size || size > s.AuditLog.Size() {
		return ethos.Errorf(ethos.EINVALID, "index %d not in a tree of %d events (log has %d)", idx, size, s.AuditLog.Size())
	}
	return replyOK(w)(s.AuditLog.InclusionProof(r.Context(), idx, size))
}

func (s *Server) handleConsistencyProof(w http.ResponseWriter, r *http.Request, p *principal) error {
	oldSize, err := queryInt(r, "old_size", true, 0)
	if err != nil {
		return err
	}
	newSize, err := queryInt(r, "new_size", false, -1)
	if err != nil {
		return err
	}
	if err := s.auditAccess(r, p, "audit/proofs"); err != nil {
		return err
	}
	if newSize < 0 {
		if newSize, err = s.latestSize(r.Context()); err != nil {
			return err
		}
	}
	if oldSize > newSize || newSize > s.AuditLog.Size() {
		return ethos.Errorf(ethos.EINVALID, "want old_size <= new_size <= %d", s.AuditLog.Size())
	}
	return replyOK(w)(s.AuditLog.ConsistencyProof(r.Context(), oldSize, newSize))
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.auditAccess(r, p, "audit/export"); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jsonl")
	// The export streams; a failure midway can only cut the stream, which
	// VerifyExport on the client then reports.
	if err := audit.Export(r.Context(), s.AuditDB, w); err != nil {
		s.Logger.Error("audit export failed", "err", err.Error(), "request_id", requestID(r.Context()))
	}
	return nil
}
