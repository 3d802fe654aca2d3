package http_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/checks"
	ehttp "github.com/ethos-imaging/ethos/http"
)

// newChecksFixture is newFixture with the quality checks wired in: a
// checks.Service over the fixture's projects and stage records (the other
// stages are not configured, so their checks need attestation).
func newChecksFixture(t *testing.T, configured bool) *fixture {
	t.Helper()
	return newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		if configured {
			s.Checks = &checks.Service{Projects: s.Projects, Records: f.records, Now: f.clock.Now}
		}
	})
}

func TestProjectChecksEndpoint(t *testing.T) {
	f := newChecksFixture(t, true)
	steward := f.user(f.owner, ethos.RoleDataSteward)
	irb := f.user(f.owner, ethos.RoleEthicsReviewer)
	advocate := f.user(f.owner, ethos.RolePatientAdvocate)
	ml := f.user(f.owner, ethos.RoleMLEngineer)
	var prj ethos.Project
	f.do("POST", "/api/v1/projects", steward, map[string]string{"name": "Mammo density", "intended_use": "density grading", "modality": "MG", "clinical_setting": "screening"}, &prj)
	path := "/api/v1/projects/" + prj.ID + "/checks"

	t.Run("PendingWithoutReport", func(t *testing.T) {
		var pc ethos.ProjectChecks
		if code, m := f.do("GET", path, irb, nil, &pc); code != 200 {
			t.Fatalf("GET checks: %d %v", code, m)
		}
		if len(pc.Checks) != 11 || pc.ProjectID != prj.ID || pc.Checks[0].ID != "QC-COL-1" || pc.Checks[0].Status != ethos.CheckPending {
			t.Fatalf("checks %+v", pc)
		}
		// Stages this server does not run need a person's attestation.
		if pc.Checks[1].Status != ethos.CheckAttestation {
			t.Errorf("QC-COL-2 without instance records: %s", pc.Checks[1].Status)
		}
	})
	t.Run("FailFromRecordedReport", func(t *testing.T) {
		body := json.RawMessage(`{"version":1,"check":"QC-COL-1","unit":"subject","units":40,"reference":{"name":"catchment","floor":0.8},
			"findings":[{"kind":"under_floor","severity":"flag","breakdown":"age_band","group":"80-89","message":"age_band 80-89: 0.41 of its expected share"}]}`)
		if code, m := f.do("POST", "/api/v1/projects/"+prj.ID+"/stages/collection/records", steward,
			map[string]any{"purpose": "research", "kind": checks.RepresentationKind, "body": body}, nil); code != 201 {
			t.Fatalf("record the report: %d %v", code, m)
		}
		var pc ethos.ProjectChecks
		if code, m := f.do("GET", path, advocate, nil, &pc); code != 200 {
			t.Fatalf("GET checks as patient advocate (aggregate view): %d %v", code, m)
		}
		q := pc.Checks[0]
		if q.Status != ethos.CheckFail || !strings.Contains(strings.Join(q.Problems, " "), "80-89") || len(q.Evidence) != 1 || q.Evidence[0].Kind != "representation-report" {
			t.Fatalf("QC-COL-1 %+v", q)
		}
		evs := f.lastEvents(6)
		for i, e := range evs[:5] {
			if e.Action != "access.read" || e.Decision != "allow" || e.Stage != string(ethos.Stages[i]) || e.Resource != "project/"+prj.ID+"/checks" {
				t.Errorf("audit event %d: %+v, want the aggregate read of stage %s", i, e, ethos.Stages[i])
			}
		}
		if last := evs[5]; last.Action != "checks.answer" || !strings.Contains(last.Reason, "failing QC-COL-1") {
			t.Errorf("last audit event %+v, want the answer's counts", last)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		// The ML engineer may not read the collection stage: the checks
		// span every stage, so the whole answer is refused.
		code, m := f.do("GET", path, ml, nil, nil)
		if code != 403 {
			t.Fatalf("ML engineer: %d %v, want 403", code, m)
		}
		if e := f.lastEvents(1)[0]; e.Decision != "deny" || e.Stage != string(ethos.StageCollection) {
			t.Errorf("denial audited as %+v", e)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if code, _ := f.do("GET", "/api/v1/projects/prj_nothere/checks", irb, nil, nil); code != 404 {
			t.Errorf("unknown project: %d", code)
		}
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		if code, _ := f.do("GET", path, "", nil, nil); code != 401 {
			t.Errorf("no token: %d", code)
		}
	})
	f.verify()
}

func TestProjectChecksNotConfigured(t *testing.T) {
	f := newChecksFixture(t, false)
	steward := f.user(f.owner, ethos.RoleDataSteward)
	var prj ethos.Project
	f.do("POST", "/api/v1/projects", steward, map[string]string{"name": "Mammo density", "intended_use": "density grading", "modality": "MG", "clinical_setting": "screening"}, &prj)
	if code, m := f.do("GET", "/api/v1/projects/"+prj.ID+"/checks", steward, nil, nil); code != 501 {
		t.Errorf("checks not configured: %d %v, want 501", code, m)
	}
}
