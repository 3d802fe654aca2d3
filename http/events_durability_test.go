package http_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// orderAuditor is the server's auditor that can be made to fail, and
// that notes, when a batch of events is audited, whether the batch is
// already committed (visible on another connection).
type orderAuditor struct {
	next      ethos.Auditor
	db        *sql.DB
	fail      atomic.Bool
	committed atomic.Int64 // events of the deployment visible when its batch was audited
}

func (a *orderAuditor) Record(ctx context.Context, e ethos.AuditEvent) error {
	if e.Action == "deployment.events" {
		var n int64
		a.db.QueryRowContext(context.Background(), "SELECT count(*) FROM inference_events").Scan(&n)
		a.committed.Store(n)
	}
	if a.fail.Load() {
		return errors.New("audit storage unavailable")
	}
	return a.next.Record(ctx, e)
}

// TestEventsAcknowledgedAfterDurableAudit checks the promise behind
// sqlstore.DeferSync on the only path that uses it: a batch of events,
// committed without its own flush, is acknowledged only after its audit
// entry was appended (a durable commit to the same database, which
// flushes the batch with it); when the audit append fails the batch is
// not acknowledged, and a retry, once the audit works again, stores
// nothing twice and is acknowledged.
func TestEventsAcknowledgedAfterDurableAudit(t *testing.T) {
	var aud *orderAuditor
	f := newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		dep := sqlstore.NewDeploymentStore(f.db.Store())
		t.Cleanup(func() { dep.Close() })
		reg := &deployment.Registry{Store: dep, Users: f.users, Evaluations: storetest.Evaluations{"mv-1": "eval-1"}, Now: f.clock.Now}
		s.Deployments, s.Events = reg, reg
		s.DeferEventSync = sqlstore.DeferSync
		aud = &orderAuditor{next: s.Auditor, db: f.db.SQL()}
		s.Auditor = aud
	})
	eng := f.user(f.owner, ethos.RoleMLEngineer, ethos.RoleClinician)
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Chest", "intended_use": "triage", "modality": "DX", "clinical_setting": "ED"}, &prj); code != 201 {
		t.Fatalf("project: %d %v", code, m)
	}
	var who struct {
		User ethos.User `json:"user"`
	}
	f.do("GET", "/api/v1/whoami", eng, nil, &who)
	var d ethos.Deployment
	if code, m := f.do("POST", "/api/v1/deployments", eng, map[string]any{"project_id": prj.ID, "model_version_id": "mv-1", "site": "Main ED",
		"intended_use": "flag pneumothorax", "threshold": 0.5, "responsible_user_id": who.User.ID, "plan": map[string]any{"stakeholder_roles": []string{"clinician"}}}, &d); code != 201 {
		t.Fatalf("deployment: %d %v", code, m)
	}
	at := time.Now().Add(-time.Hour)
	batch := []json.RawMessage{storetest.Event("e1", "k1", at, 0.7), storetest.Event("e2", "k2", at, 0.2)}
	path := "/api/v1/deployments/" + d.ID + "/events"

	t.Run("audit_failure_not_acknowledged", func(t *testing.T) {
		aud.fail.Store(true)
		defer aud.fail.Store(false)
		if code, m := f.do("POST", path, eng, batch, nil); code < 400 {
			t.Fatalf("events acknowledged (%d %v) although their audit entry was not written", code, m)
		}
	})
	t.Run("retry_acknowledged_after_audit", func(t *testing.T) {
		var res ethos.IngestResult
		if code, m := f.do("POST", path, eng, batch, &res); code != 200 || res.Stored+res.Duplicates != 2 {
			t.Fatalf("retry: %d %v %+v", code, m, res)
		}
		if got := aud.committed.Load(); got != 2 {
			t.Errorf("%d events committed when the batch was audited, want 2 (the audit entry, whose flush carries the batch, comes after its commit)", got)
		}
	})
}
