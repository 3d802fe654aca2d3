package app

import (
	"context"
	"time"

	"github.com/ethos-imaging/ethos"
)

// CreateParty registers an organisation (admin).
func (a *App) CreateParty(ctx context.Context, p *ethos.Party) error {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return err
	}
	if err := a.Parties.CreateParty(ctx, p); err != nil {
		return err
	}
	return a.change(ctx, "party.create", "party/"+p.ID, "", "type "+string(p.Type))
}

// FindParties lists parties (any authenticated user).
func (a *App) FindParties(ctx context.Context, f ethos.PartyFilter) ([]*ethos.Party, int, error) {
	if err := a.system(ctx, ethos.ActionDirectory); err != nil {
		return nil, 0, err
	}
	return a.Parties.FindParties(ctx, f)
}

// CreateUser adds a user to a party (admin).
func (a *App) CreateUser(ctx context.Context, u *ethos.User) error {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return err
	}
	if err := a.Users.CreateUser(ctx, u); err != nil {
		return err
	}
	return a.change(ctx, "user.create", "user/"+u.ID, "", "party "+u.PartyID+" roles "+joinRoles(u.Roles))
}

// UpdateUser changes a user's name, roles or disabled flag (admin).
func (a *App) UpdateUser(ctx context.Context, id string, upd ethos.UserUpdate) (*ethos.User, error) {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, err
	}
	u, err := a.Users.UpdateUser(ctx, id, upd)
	if err != nil {
		return nil, err
	}
	return u, a.change(ctx, "user.update", "user/"+u.ID, "", "roles "+joinRoles(u.Roles)+disabledWord(u.Disabled))
}

func disabledWord(d bool) string {
	if d {
		return ", disabled"
	}
	return ""
}

func joinRoles(rs []ethos.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += string(r)
	}
	return s
}

// FindUsers lists users (admin).
func (a *App) FindUsers(ctx context.Context, f ethos.UserFilter) ([]*ethos.User, int, error) {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, 0, err
	}
	return a.Users.FindUsers(ctx, f)
}

// selfOrAdmin authorizes an action on userID's tokens: one's own need
// token.own, another's need manage.
func (a *App) selfOrAdmin(ctx context.Context, userID string) error {
	if u := ethos.UserFromContext(ctx); u != nil && u.ID == userID {
		return a.system(ctx, ethos.ActionTokenOwn)
	}
	return a.system(ctx, ethos.ActionManage)
}

// CreateToken makes a token for userID (oneself, or anyone as admin) and
// returns the secret, which is never stored and cannot be shown again.
func (a *App) CreateToken(ctx context.Context, userID, name string, ttl time.Duration) (*ethos.Token, string, error) {
	if err := a.selfOrAdmin(ctx, userID); err != nil {
		return nil, "", err
	}
	if ttl <= 0 {
		ttl = ethos.DefaultTokenTTL
	}
	if ttl > 400*24*time.Hour {
		return nil, "", ethos.Errorf(ethos.EINVALID, "token lifetime %s is longer than 400 days", ttl)
	}
	secret, hash := ethos.NewTokenSecret()
	t := &ethos.Token{UserID: userID, Name: name, Hash: hash, ExpiresAt: a.now().Add(ttl).UTC()}
	if err := a.Tokens.CreateToken(ctx, t); err != nil {
		return nil, "", err
	}
	return t, secret, a.change(ctx, "token.create", "token/"+t.ID, "", "for user "+userID+" until "+t.ExpiresAt.Format(time.RFC3339))
}

// FindTokens lists tokens of a user (oneself, or anyone as admin); an
// empty userID lists all tokens (admin).
func (a *App) FindTokens(ctx context.Context, userID string) ([]*ethos.Token, int, error) {
	f := ethos.TokenFilter{}
	if userID != "" {
		f.UserID = &userID
		if err := a.selfOrAdmin(ctx, userID); err != nil {
			return nil, 0, err
		}
	} else if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, 0, err
	}
	return a.Tokens.FindTokens(ctx, f)
}

// RevokeToken revokes a token (one's own, or anyone's as admin).
func (a *App) RevokeToken(ctx context.Context, id string) (*ethos.Token, error) {
	ts, _, err := a.Tokens.FindTokens(ctx, ethos.TokenFilter{ID: &id})
	if err != nil {
		return nil, err
	}
	owner := ""
	if len(ts) == 1 {
		owner = ts[0].UserID
	}
	if err := a.selfOrAdmin(ctx, owner); err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "token %s not found", id)
	}
	t, err := a.Tokens.RevokeToken(ctx, id, a.now())
	if err != nil {
		return nil, err
	}
	return t, a.change(ctx, "token.revoke", "token/"+id, "", "")
}

// CreateProject registers a project; it starts in collection.
func (a *App) CreateProject(ctx context.Context, p *ethos.Project) error {
	if err := a.system(ctx, ethos.ActionProjectNew); err != nil {
		return err
	}
	if err := a.Projects.CreateProject(ctx, p); err != nil {
		return err
	}
	return a.change(ctx, "project.create", "project/"+p.ID, p.Stage, "")
}

// FindProjects lists projects (their descriptions, not their data).
func (a *App) FindProjects(ctx context.Context, f ethos.ProjectFilter) ([]*ethos.Project, int, error) {
	if err := a.system(ctx, ethos.ActionDirectory); err != nil {
		return nil, 0, err
	}
	return a.Projects.FindProjects(ctx, f)
}

// FindProject returns one project with its stage history.
func (a *App) FindProject(ctx context.Context, id string) (*ethos.Project, []*ethos.StageChange, error) {
	if err := a.system(ctx, ethos.ActionDirectory); err != nil {
		return nil, nil, err
	}
	p, err := a.Projects.FindProjectByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	h, err := a.Projects.StageHistory(ctx, id)
	return p, h, err
}

// UpdateProject changes a project's description (admin).
func (a *App) UpdateProject(ctx context.Context, id string, upd ethos.ProjectUpdate) (*ethos.Project, error) {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, err
	}
	p, err := a.Projects.UpdateProject(ctx, id, upd)
	if err != nil {
		return nil, err
	}
	return p, a.change(ctx, "project.update", "project/"+id, p.Stage, "")
}

// SetProjectStage moves a project to another stage (admin), recording the
// reason in the stage history and the audit log.
func (a *App) SetProjectStage(ctx context.Context, id string, to ethos.Stage, reason string) (*ethos.Project, error) {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, err
	}
	p, err := a.Projects.SetProjectStage(ctx, id, to, reason)
	if err != nil {
		return nil, err
	}
	return p, a.change(ctx, "project.stage", "project/"+id, to, "moved to "+string(to))
}

// CreateStageRecord adds a record to a project's stage: a write decided
// by the policy (matrix, role, current stage, agreement for limited).
func (a *App) CreateStageRecord(ctx context.Context, r *ethos.StageRecord, purpose string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if _, err := a.Authorize(ctx, ethos.AccessRequest{ProjectID: r.ProjectID, Stage: r.Stage,
		Action: ethos.ActionWrite, Purpose: purpose, View: r.View}); err != nil {
		return err
	}
	if err := a.Records.CreateStageRecord(ctx, r); err != nil {
		return err
	}
	return a.change(ctx, "record.create", "project/"+r.ProjectID+"/record/"+r.ID, r.Stage, "kind "+r.Kind+", view "+string(r.View))
}

// FindStageRecords reads a project's stage records through the policy.
// With level yes every view is readable unless view narrows it; under an
// agreement only the view asked for, which the agreement must grant.
func (a *App) FindStageRecords(ctx context.Context, projectID string, stage ethos.Stage, purpose string, view ethos.View, offset, limit int) ([]*ethos.StageRecord, int, error) {
	d, err := a.Authorize(ctx, ethos.AccessRequest{ProjectID: projectID, Stage: stage,
		Action: ethos.ActionRead, Purpose: purpose, View: view})
	if err != nil {
		return nil, 0, err
	}
	f := ethos.StageRecordFilter{ProjectID: &projectID, Stage: &stage, Offset: offset, Limit: limit}
	if view != "" || d.DUAID != "" {
		f.Views = []ethos.View{view}
	}
	return a.Records.FindStageRecords(ctx, f)
}

// CreateDUA registers a data-use agreement (admin).
func (a *App) CreateDUA(ctx context.Context, d *ethos.DUA) error {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return err
	}
	if err := a.DUAs.CreateDUA(ctx, d); err != nil {
		return err
	}
	return a.change(ctx, "dua.create", "dua/"+d.ID, "", "party "+d.PartyID+" project "+d.ProjectID+" approved by "+d.ApprovedBy)
}

// FindDUAs lists agreements (admin, auditor or ethics reviewer: the
// readers of the audit trail).
func (a *App) FindDUAs(ctx context.Context, f ethos.DUAFilter) ([]*ethos.DUA, int, error) {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return nil, 0, err
	}
	return a.DUAs.FindDUAs(ctx, f)
}

// RevokeDUA ends an agreement now (admin).
func (a *App) RevokeDUA(ctx context.Context, id string) (*ethos.DUA, error) {
	if err := a.system(ctx, ethos.ActionManage); err != nil {
		return nil, err
	}
	d, err := a.DUAs.RevokeDUA(ctx, id, a.now())
	if err != nil {
		return nil, err
	}
	return d, a.change(ctx, "dua.revoke", "dua/"+id, "", "")
}

// Check explains what the policy would decide for another user (admin,
// auditor or ethics reviewer). Nothing is accessed; the question itself is
// recorded as access.check.
func (a *App) Check(ctx context.Context, userID string, req ethos.AccessRequest) (ethos.AccessDecision, error) {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return ethos.AccessDecision{}, err
	}
	u, err := a.Users.FindUserByID(ctx, userID)
	if err != nil {
		return ethos.AccessDecision{}, err
	}
	req.UserID, req.PartyID, req.PartyType, req.Roles, req.Now = u.ID, u.PartyID, u.Party.Type, u.Roles, a.now()
	resource := "user/" + u.ID
	if req.ProjectID != "" {
		p, err := a.Projects.FindProjectByID(ctx, req.ProjectID)
		if err != nil {
			return ethos.AccessDecision{}, err
		}
		req.ProjectStage = p.Stage
		pid := u.PartyID
		if req.DUAs, _, err = a.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &pid, ProjectID: &p.ID}); err != nil {
			return ethos.AccessDecision{}, err
		}
	}
	d := a.Decider.Decide(&req)
	e := ethos.NewAuditEvent(ctx, "access.check", resource)
	e.Stage, e.Purpose, e.Reason = string(req.Stage), req.Purpose, "would "+map[bool]string{true: "allow", false: "deny"}[d.Allow]+" by "+d.Rule
	return d, a.Record(ctx, e)
}

// Review lists what a periodic access review looks at: active tokens and
// agreements not used for the given number of days (never used ones
// count from their creation).
type Review struct {
	Since  time.Time      `json:"since"`
	Tokens []*ethos.Token `json:"tokens"`
	DUAs   []*ethos.DUA   `json:"duas"`
}

// AccessReview returns the tokens and agreements unused for days days
// (admin, auditor or ethics reviewer).
func (a *App) AccessReview(ctx context.Context, days int) (*Review, error) {
	if days < 1 {
		return nil, ethos.Errorf(ethos.EINVALID, "unused days must be at least 1")
	}
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return nil, err
	}
	now := a.now()
	r := &Review{Since: now.Add(-time.Duration(days) * 24 * time.Hour).UTC(), Tokens: []*ethos.Token{}, DUAs: []*ethos.DUA{}}
	unused := func(last *time.Time, created time.Time) bool {
		t := created
		if last != nil {
			t = *last
		}
		return t.Before(r.Since)
	}
	ts, _, err := a.Tokens.FindTokens(ctx, ethos.TokenFilter{})
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Status(now) == "active" && unused(t.LastUsedAt, t.CreatedAt) {
			r.Tokens = append(r.Tokens, t)
		}
	}
	ds, _, err := a.DUAs.FindDUAs(ctx, ethos.DUAFilter{})
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Active(now) && unused(d.LastUsedAt, d.CreatedAt) {
			r.DUAs = append(r.DUAs, d)
		}
	}
	return r, nil
}
