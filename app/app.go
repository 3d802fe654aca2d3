// Package app is the one path every operation of the API and the CLI takes:
// it authenticates tokens, asks the policy decision point (ethos.Decider)
// before touching any data, calls the stores, and records every state
// change and every access decision (allow and deny) in the audit log.
// HTTP handlers and CLI commands only translate to and from it, so no
// handler decides access on its own.
//
// It builds on the root vocabulary and the audit engine; the concrete
// stores and the decider are given by cmd/ethos.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
)

// App holds the services. Set every field, then use it from any number of
// goroutines.
type App struct {
	Parties  ethos.PartyService
	Users    ethos.UserService
	Tokens   ethos.TokenService
	Projects ethos.ProjectService
	Records  ethos.StageRecordService
	DUAs     ethos.DUAService
	Decider  ethos.Decider

	// Log is the audit log; Storage is what it is stored in, read by
	// proofs and exports; VerifierKey checks its checkpoints.
	Log         *audit.Log
	Storage     audit.Storage
	VerifierKey string

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Record appends e to the audit log and returns once it is durable.
func (a *App) Record(ctx context.Context, e ethos.AuditEvent) error {
	_, err := a.Log.Append(ctx, audit.Event{
		Actor: e.Actor, Party: e.Party, Action: e.Action, Resource: e.Resource, Stage: e.Stage,
		Purpose: e.Purpose, Decision: e.Decision, Reason: e.Reason, RequestID: e.RequestID,
	})
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

var _ ethos.Auditor = (*App)(nil)

// change records a state change done by the user in ctx.
func (a *App) change(ctx context.Context, action, resource string, stage ethos.Stage, reason string) error {
	e := ethos.NewAuditEvent(ctx, action, resource)
	e.Stage, e.Reason = string(stage), reason
	return a.Record(ctx, e)
}

// Authenticate checks a bearer secret. Failures are audited (with the
// token id when the token was found, never the secret) and returned as
// EUNAUTHORIZED.
func (a *App) Authenticate(ctx context.Context, secret string) (*ethos.User, error) {
	tok, u, err := a.Tokens.Authenticate(ctx, secret, a.now())
	if err == nil {
		return u, nil
	}
	code := ethos.ErrorCode(err)
	e := ethos.NewAuditEvent(ctx, "auth.token", "token/unknown")
	if tok != nil {
		e.Resource, e.Actor = "token/"+tok.ID, tok.UserID
	}
	e.Decision, e.Reason = ethos.AuditDeny, "auth.token: "+ethos.ErrorMessage(err)
	if code != ethos.EUNAUTHORIZED {
		e.Reason = "auth.token: internal error"
	}
	if rerr := a.Record(ctx, e); rerr != nil {
		return nil, rerr
	}
	return nil, err
}

// Authorize fills req from the user in ctx (party, party type, roles),
// from the project (current stage) and from the party's agreements on
// the project, asks the decider, records the decision and returns it. A
// denial is also returned as an EFORBIDDEN error with the rule's reason.
// Without a user in ctx it fails with EUNAUTHORIZED.
func (a *App) Authorize(ctx context.Context, req ethos.AccessRequest) (ethos.AccessDecision, error) {
	u := ethos.UserFromContext(ctx)
	if u == nil {
		return ethos.AccessDecision{}, ethos.Errorf(ethos.EUNAUTHORIZED, "not authenticated")
	}
	req.UserID, req.PartyID, req.Roles = u.ID, u.PartyID, u.Roles
	if u.Party != nil {
		req.PartyType = u.Party.Type
	} else {
		p, err := a.Parties.FindPartyByID(ctx, u.PartyID)
		if err != nil {
			return ethos.AccessDecision{}, err
		}
		req.PartyType = p.Type
	}
	req.Now = a.now()
	resource := string(req.Action)
	if req.ProjectID != "" {
		p, err := a.Projects.FindProjectByID(ctx, req.ProjectID)
		if err != nil {
			return ethos.AccessDecision{}, err
		}
		req.ProjectStage = p.Stage
		resource = "project/" + p.ID
		if req.Stage != "" {
			resource += "/" + string(req.Stage)
		}
		if req.Action.IsStageAction() {
			pid := u.PartyID
			ds, _, err := a.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &pid, ProjectID: &p.ID})
			if err != nil {
				return ethos.AccessDecision{}, err
			}
			req.DUAs = ds
		}
	}
	d := a.Decider.Decide(&req)
	e := ethos.NewAuditEvent(ctx, "access."+string(req.Action), resource)
	e.Stage, e.Purpose, e.Reason = string(req.Stage), req.Purpose, d.Rule+": "+d.Reason
	e.Decision = ethos.AuditDeny
	if d.Allow {
		e.Decision = ethos.AuditAllow
	}
	if err := a.Record(ctx, e); err != nil {
		return ethos.AccessDecision{}, err
	}
	if !d.Allow {
		return d, ethos.Errorf(ethos.EFORBIDDEN, "%s (rule %s)", d.Reason, d.Rule)
	}
	if d.DUAID != "" {
		if err := a.DUAs.TouchDUA(ctx, d.DUAID, req.Now); err != nil {
			return d, err
		}
	}
	return d, nil
}

// system authorizes a system action.
func (a *App) system(ctx context.Context, act ethos.Action) error {
	_, err := a.Authorize(ctx, ethos.AccessRequest{Action: act})
	return err
}
