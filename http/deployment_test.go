package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// depFixture is the standard fixture's database and audit log served by a
// server that also has the deployment stage wired, as cmd/ethos does.
type depFixture struct {
	*fixture
	eng, clin, ethics, third string // token secrets
	clinID                   string
	project                  string
}

func newDepFixture(t *testing.T) *depFixture {
	f := newFixture(t)
	st := sqlstore.NewDeploymentStore(f.db.Store())
	t.Cleanup(func() { st.Close() })
	reg := &deployment.Registry{Store: st, Users: f.users, Evaluations: storetest.Evaluations{"mv-1": "eval-1"}, Now: f.clock.Now}
	s := ehttp.NewServer()
	s.Now, s.Logger = f.clock.Now, slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB = policy.Default(), ehttp.LogAuditor{Log: f.log}, f.log, sqlite.NewAuditStorage(f.db)
	s.Parties, s.Users, s.Tokens = f.parties, f.users, f.tokens
	s.Projects, s.DUAs, s.Records = sqlite.NewProjectService(f.db), sqlite.NewDUAService(f.db), f.records
	s.Deployments, s.Events = reg, reg
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	f.url = hs.URL
	d := &depFixture{fixture: f}
	d.eng = f.user(f.owner, ethos.RoleMLEngineer)
	d.clin = f.user(f.owner, ethos.RoleClinician)
	d.ethics = f.user(f.owner, ethos.RoleEthicsReviewer)
	d.third = f.user(f.party("Vendor Ltd", ethos.PartyThirdParty), ethos.RoleMLEngineer)
	var who struct {
		User ethos.User `json:"user"`
	}
	if code, _ := f.do("GET", "/api/v1/whoami", "", nil, nil); code != 401 {
		t.Fatalf("whoami without token: %d", code)
	}
	f.do("GET", "/api/v1/whoami", d.clin, nil, &who)
	d.clinID = who.User.ID
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Chest triage", "intended_use": "triage", "modality": "DX", "clinical_setting": "ED"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	d.project = prj.ID
	return d
}

func (d *depFixture) register(mv string) (int, map[string]any, *ethos.Deployment) {
	var dep ethos.Deployment
	code, m := d.do("POST", "/api/v1/deployments", d.eng, map[string]any{"project_id": d.project, "model_version_id": mv, "site": "Main ED",
		"intended_use": "flag pneumothorax", "threshold": 0.5, "responsible_user_id": d.clinID,
		"plan": map[string]any{"stakeholder_roles": []string{"clinician", "ethics-reviewer"}}}, &dep)
	return code, m, &dep
}

// post sends a raw body.
func (d *depFixture) post(path, token, ctype, body string, out any) int {
	d.t.Helper()
	req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode
}

func array(recs ...json.RawMessage) string {
	b, _ := json.Marshal(recs)
	return string(b)
}

func TestDeploymentRefusedWithoutEvaluation(t *testing.T) {
	d := newDepFixture(t)
	code, m, _ := d.register("mv-untested")
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(m["message"]), "no passed, signed-off evaluation of mv-untested") {
		t.Fatalf("register without evaluation: %d %v", code, m)
	}
	last := d.lastEvents(1)[0]
	if last.Action != "deployment.register" || last.Decision != "deny" {
		t.Errorf("refusal not audited: %+v", last)
	}
	if code, m, _ := d.register("mv-1"); code != http.StatusCreated {
		t.Fatalf("register with evaluation: %d %v", code, m)
	}
	// A third party without an agreement is refused by the policy.
	code, m = d.do("POST", "/api/v1/deployments", d.third, map[string]any{"project_id": d.project, "model_version_id": "mv-1", "site": "x",
		"intended_use": "x", "threshold": 0.5, "responsible_user_id": d.clinID, "plan": map[string]any{}}, nil)
	if code != http.StatusForbidden {
		t.Errorf("third party without DUA: %d %v", code, m)
	}
	// A clinician may read, an ML engineer register; a researcher may not write.
	var out list
	if code, m := d.do("GET", "/api/v1/deployments?project_id="+d.project, d.clin, nil, &out); code != 200 || out.Total != 1 {
		t.Errorf("list: %d %v %+v", code, m, out)
	}
}

type list struct {
	Total int `json:"total"`
}

func TestEventIngestionThroughAPI(t *testing.T) {
	d := newDepFixture(t)
	code, m, dep := d.register("mv-1")
	if code != 201 {
		t.Fatalf("register: %d %v", code, m)
	}
	path := "/api/v1/deployments/" + dep.ID + "/events"
	t0 := d.clock.Now().Add(-time.Hour)
	ev := func(id, cs string, dt time.Duration, score float64) json.RawMessage {
		return storetest.Event(id, cs, t0.Add(dt), score)
	}
	var res ethos.IngestResult
	body := array(ev("e1", "c1", time.Minute, 0.9), ev("e2", "c2", 0, 0.2), ev("e1", "c1", time.Minute, 0.9),
		json.RawMessage(`{"event_id":"e3","time":"2026-01-01T00:00:00Z","case_id":"c3","score":0.4,"acquisition":{"protocol":"CHEST DOE^JOHN"}}`),
		json.RawMessage(`{"event_id":"e4","time":"2026-01-01T00:00:00Z","case_id":"c4","score":0.4,"birth_date":"19450312"}`))
	if code := d.post(path, d.eng, "application/json", body, &res); code != http.StatusMultiStatus {
		t.Fatalf("mixed batch: %d %+v", code, res)
	}
	if res.Stored != 2 || res.Duplicates != 1 || len(res.Rejected) != 2 || res.Rejected[0].Index != 3 || res.Rejected[1].Index != 4 {
		t.Fatalf("mixed batch result %+v", res)
	}
	for _, e := range d.lastEvents(3) {
		if strings.Contains(e.Reason, "DOE") || strings.Contains(e.Reason, "1945") {
			t.Errorf("audit entry carries an identifier: %+v", e)
		}
	}
	// One audit entry per batch: the access decision and the counts.
	if last := d.lastEvents(1)[0]; last.Action != "deployment.events" || last.Decision != "allow" || last.Purpose != string(ethos.PurposeAIDeploymentMonitoring) ||
		!strings.Contains(last.Reason, "/deployment: ") || !strings.Contains(last.Reason, "received 5, stored 2, duplicates 1, rejected 2") {
		t.Errorf("batch audit entry %+v", last)
	} else if prev := d.lastEvents(2)[0]; prev.Action == "access.write" && prev.Resource == last.Resource {
		t.Errorf("the batch was audited twice: %+v then %+v", prev, last)
	}
	// JSON lines, replayed: all duplicates, 200.
	lines := string(ev("e1", "c1", time.Minute, 0.9)) + "\n\n" + string(ev("e2", "c2", 0, 0.2)) + "\n"
	res = ethos.IngestResult{}
	if code := d.post(path, d.eng, "application/x-ndjson", lines, &res); code != 200 || res.Duplicates != 2 || res.Stored != 0 {
		t.Fatalf("replay as JSON lines: %d %+v", code, res)
	}
	// Atomic: one bad line, nothing stored.
	res = ethos.IngestResult{}
	bad := string(ev("e7", "c7", 0, 0.3)) + "\n{\"event_id\": \"e8\", \n"
	if code := d.post(path+"?atomic=true", d.eng, "application/x-ndjson", bad, &res); code != 400 || res.Stored != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("atomic with a malformed line: %d %+v", code, res)
	}
	// Unknown deployment; a reader role may not post events.
	var e map[string]any
	if code := d.post("/api/v1/deployments/dep_nope/events", d.eng, "application/json", array(ev("e9", "c9", 0, 0.1)), &e); code != 404 {
		t.Errorf("unknown deployment: %d %v", code, e)
	}
	auditor := d.user(d.owner, ethos.RoleAuditor)
	if code := d.post(path, auditor, "application/json", array(ev("e9", "c9", 0, 0.1)), &e); code != 403 {
		t.Errorf("auditor posting events: %d %v", code, e)
	}
	if last := d.lastEvents(1)[0]; last.Decision != "deny" || last.Resource != "deployment/"+dep.ID {
		t.Errorf("refused batch audit entry %+v", last)
	}
	// Labels attach by case id.
	res = ethos.IngestResult{}
	if code := d.post("/api/v1/deployments/"+dep.ID+"/labels", d.clin, "application/json",
		`[{"case_id":"c1","positive":true,"source":"pathology"},{"case_id":"c404","positive":false,"source":"follow-up"}]`, &res); code != 207 || res.Stored != 1 {
		t.Fatalf("labels: %d %+v", code, res)
	}
	// Suspended: refused; retired: refused.
	change := func(token string, kind ethos.ChangeKind) (int, map[string]any) {
		return d.do("POST", "/api/v1/deployments/"+dep.ID+"/changes", token, ethos.ChangeRequest{Kind: kind, Reason: "drift on new scanner",
			ExpectedEffect: "no AI triage until reviewed", Notified: []ethos.Role{ethos.RoleClinician}}, nil)
	}
	if code, m := change(d.eng, ethos.ChangeSuspend); code != 200 {
		t.Fatalf("suspend: %d %v", code, m)
	}
	if code := d.post(path, d.eng, "application/json", array(ev("e10", "c10", 0, 0.1)), &e); code != 409 {
		t.Errorf("events for a suspended deployment: %d %v", code, e)
	}
	// Go-live is an approval: an ML engineer may not, and blockers are named.
	if code, m := change(d.eng, ethos.ChangeGoLive); code != 403 {
		t.Errorf("go-live by an ML engineer: %d %v", code, m)
	}
	if code, m := change(d.ethics, ethos.ChangeGoLive); code != 409 || !strings.Contains(fmt.Sprint(m["message"]), "no risk register") {
		t.Errorf("go-live without register: %d %v", code, m)
	}
	// Register, acknowledgements, go-live.
	var reg ethos.RiskRegister
	if code, m := d.do("PUT", "/api/v1/deployments/"+dep.ID+"/risk-register", d.eng, storetest.CompleteRegister(), &reg); code != 200 || reg.Revision != 1 {
		t.Fatalf("put register: %d %v", code, m)
	}
	for _, a := range []struct {
		tok  string
		role ethos.Role
	}{{d.clin, ethos.RoleClinician}, {d.ethics, ethos.RoleEthicsReviewer}} {
		if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/risk-register/ack", a.tok, map[string]any{"revision": 1, "role": a.role}, nil); code != 200 {
			t.Fatalf("ack as %s: %d %v", a.role, code, m)
		}
	}
	if code, m := change(d.ethics, ethos.ChangeGoLive); code != 200 {
		t.Fatalf("go-live: %d %v", code, m)
	}
	res = ethos.IngestResult{}
	if code := d.post(path, d.eng, "application/json", array(ev("e10", "c10", 0, 0.1)), &res); code != 200 || res.Stored != 1 {
		t.Errorf("events when live: %d %+v", code, res)
	}
	if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/changes/3/ack", d.clin, map[string]any{"role": "clinician"}, nil); code != 200 {
		t.Errorf("ack of the go-live change: %d %v", code, m)
	}
	var comp struct {
		Summary map[string]int `json:"summary"`
	}
	if code, m := d.do("GET", "/api/v1/deployments/"+dep.ID+"/compliance", d.clin, nil, &comp); code != 200 || comp.Summary["pass"] < 4 {
		t.Errorf("compliance: %d %v %+v", code, m, comp)
	}
	if code, m := change(d.eng, ethos.ChangeRetire); code != 200 {
		t.Fatalf("retire: %d %v", code, m)
	}
	if code := d.post(path, d.eng, "application/json", array(ev("e11", "c11", 0, 0.1)), &e); code != 409 {
		t.Errorf("events for a retired deployment: %d %v", code, e)
	}
	d.verify()
}

func TestIncidentsThroughAPI(t *testing.T) {
	d := newDepFixture(t)
	_, _, dep := d.register("mv-1")
	aware := d.clock.Now().Add(-80 * time.Hour)
	var out struct {
		ID        string                 `json:"id"`
		Overdue   int                    `json:"overdue"`
		Deadlines []ethos.DeadlineStatus `json:"deadlines"`
	}
	code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/incidents", d.eng, map[string]any{"title": "worklist leaked to a shared drive", "aware_at": aware,
		"zone": "Europe/Paris", "jurisdictions": []string{"EU"}, "classes": []string{"personal-data-breach"}, "affected_subjects": 40}, &out)
	if code != 201 || out.Overdue != 1 {
		t.Fatalf("incident: %d %v %+v", code, m, out)
	}
	var upd struct {
		Overdue int `json:"overdue"`
	}
	if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/incidents/"+out.ID, d.eng, map[string]any{"notification": map[string]any{"recipient": "supervisory-authority", "reference": "CNIL-1"}}, &upd); code != 200 || upd.Overdue != 0 {
		t.Errorf("notification sent: %d %v %+v", code, m, upd)
	}
}
