package http_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// simulatedMonitoring is the event stream the monitoring fixtures read: a
// fortnight of reference, then a fortnight in which the oldest age band
// loses sensitivity halfway; and the time their clock starts, when the
// monitoring fortnight is over (03:00 the next day, after the plan's
// grace).
func simulatedMonitoring(t testing.TB) (now time.Time, evs []ethos.InferenceEvent) {
	t.Helper()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	refStart := time.Date(2026, 3, 1, 0, 0, 0, 0, berlin)
	c := sim.Default(refStart, 28)
	c.Degradations = []sim.Degradation{{At: refStart.AddDate(0, 0, 21), AgeBand: "75+", PositiveMean: 0.45}}
	evs, err := sim.Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	return refStart.AddDate(0, 0, 28).Add(3 * time.Hour), evs
}

// newMonitorFixture is newFixture with deployment monitoring over
// simulatedMonitoring's events.
func newMonitorFixture(t testing.TB) (*fixture, *monitor.Monitor) {
	t.Helper()
	now, evs := simulatedMonitoring(t)
	var m *monitor.Monitor
	f := newFixtureAt(t, now, func(f *fixture, s *ehttp.Server) {
		store := sqlstore.NewMonitorService(f.db.Store())
		m = &monitor.Monitor{Store: store, Events: sim.NewReader(evs), Auditor: f.auditor, Now: f.clock.Now}
		s.Monitor, s.MonitorStore = m, store
	})
	return f, m
}

func TestMonitoringThroughAPI(t *testing.T) {
	f, _ := newMonitorFixture(t)
	var prj ethos.Project
	if code, body := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Lung nodule CAD", "intended_use": "triage", "modality": "CT", "clinical_setting": "radiology"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, body)
	}
	mleng := f.user(f.owner, ethos.RoleMLEngineer)
	clin := f.user(f.owner, ethos.RoleClinician)
	ethics := f.user(f.owner, ethos.RoleEthicsReviewer)
	researcher := f.user(f.owner, ethos.RoleResearcher)
	vendor := f.user(f.party("Vendor Ltd", ethos.PartyThirdParty), ethos.RoleMLEngineer)

	plan, err := os.ReadFile("../deployment/monitor/testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	planBody := strings.Replace(string(plan), `"project_id": "prj-lung"`, `"project_id": "`+prj.ID+`"`, 1)
	base := "/api/v1/deployments/dep-sim/monitoring"
	t.Run("PlanRefusedForResearcherAndThirdParty", func(t *testing.T) {
		for _, tok := range []string{researcher, vendor} {
			if code, body := f.do("PUT", base+"/plan", tok, planBody, nil); code != 403 {
				t.Fatalf("PUT plan: %d %v, want 403", code, body)
			}
		}
	})
	t.Run("InvalidPlanNamesThePath", func(t *testing.T) {
		bad := strings.Replace(planBody, `"threshold": 0.25, "min_n": 100}`, `"threshold": 0.25, "min_n": -1}`, 1)
		code, body := f.do("PUT", base+"/plan", mleng, bad, nil)
		if code != 400 || !strings.Contains(body["message"].(string), "rules[2]") {
			t.Fatalf("bad plan: %d %v", code, body)
		}
	})
	if code, body := f.do("PUT", base+"/plan", mleng, planBody, nil); code != 200 {
		t.Fatalf("PUT plan: %d %v", code, body)
	}
	// The monitoring fortnight is over; run the checks on demand.
	var run ethos.MonitorRun
	if code, body := f.do("POST", base+"/runs", clin, nil, &run); code != 200 || run.Windows != 14 || run.Raised != 2 || run.Late {
		t.Fatalf("run: %d %v %+v", code, body, run)
	}
	var alerts struct {
		Items []ethos.Alert
		Total int
	}
	if code, _ := f.do("GET", base+"/alerts?untriaged=true", researcher, nil, nil); code != 403 {
		t.Fatalf("researcher read alerts: %d, want 403 (no deployment read)", code)
	}
	if code, body := f.do("GET", base+"/alerts?untriaged=true", ethics, nil, &alerts); code != 200 || alerts.Total != 2 {
		t.Fatalf("alerts: %d %v", code, body)
	}
	triageReason := withFakePatient("confirmed on 30 reviewed cases")
	var sub ethos.Alert
	for _, a := range alerts.Items {
		if a.RuleID == "sensitivity-subgroup" {
			sub = a
		}
	}
	if sub.Key != "age_band=75+" || sub.CaseID == "" {
		t.Fatalf("subgroup alert %+v", sub)
	}
	if code, body := f.do("POST", "/api/v1/monitoring/alerts/"+sub.ID+"/ack", clin, nil, nil); code != 200 {
		t.Fatalf("ack: %d %v", code, body)
	}
	if code, _ := f.do("POST", "/api/v1/monitoring/alerts/"+sub.ID+"/ack", mleng, nil, nil); code != 409 {
		t.Fatalf("second ack: %d, want 409", code)
	}
	if code, body := f.do("POST", "/api/v1/monitoring/alerts/"+sub.ID+"/triage", mleng, map[string]string{"decision": ethos.TriageAction, "reason": triageReason}, nil); code != 200 {
		t.Fatalf("triage: %d %v", code, body)
	}
	t.Run("TriageReasonOnTheAlertNotInTheAudit", func(t *testing.T) {
		if code, body := f.do("GET", base+"/alerts", ethics, nil, &alerts); code != 200 {
			t.Fatalf("alerts: %d %v", code, body)
		}
		i := slices.IndexFunc(alerts.Items, func(a ethos.Alert) bool { return a.ID == sub.ID })
		if i < 0 || alerts.Items[i].TriageReason != triageReason {
			t.Fatalf("the triage reason is not kept on the alert: %+v", alerts.Items)
		}
		ev := lastOf(t, f.lastEvents(4), "monitor.alert.triage")
		if want := ethos.TriageAction + "; reason on the alert: " + ethos.AuditText(triageReason); ev.Reason != want || ev.Resource != "alert/"+sub.ID {
			t.Errorf("triage audited as %q on %s, want %q", ev.Reason, ev.Resource, want)
		}
		f.auditClean()
	})
	var cases struct {
		Items []struct {
			ethos.StopCase
			Overdue bool `json:"overdue"`
		}
		Total int
	}
	if code, body := f.do("GET", base+"/cases?state=open", ethics, nil, &cases); code != 200 || cases.Total != 1 || cases.Items[0].Overdue {
		t.Fatalf("cases: %d %v", code, body)
	}
	caseID := cases.Items[0].ID
	decide := map[string]string{"decision": ethos.DecisionSuspend, "reason": withFakePatient("sensitivity in patients over 75 is below the approved floor")}
	if code, _ := f.do("POST", "/api/v1/monitoring/cases/"+caseID+"/decision", mleng, decide, nil); code != 403 {
		t.Fatalf("ML engineer decided a case: %d, want 403 (approval is the ethics reviewer's)", code)
	}
	f.clock.Add(73 * time.Hour)
	ethics = f.user(f.owner, ethos.RoleEthicsReviewer) // tokens of the test last 48 h
	if code, body := f.do("GET", base+"/cases?state=open", ethics, nil, &cases); code != 200 || !cases.Items[0].Overdue {
		t.Fatalf("case after its deadline: %d %v", code, body)
	}
	if code, body := f.do("POST", "/api/v1/monitoring/cases/"+caseID+"/decision", ethics, decide, nil); code != 200 {
		t.Fatalf("decide: %d %v", code, body)
	}
	if code, _ := f.do("POST", "/api/v1/monitoring/cases/"+caseID+"/decision", ethics, decide, nil); code != 409 {
		t.Fatalf("second decision: %d, want 409", code)
	}
	ev := f.lastEvents(1)[0]
	if ev.Action != "access.approve" && ev.Action != "monitor.case.decide" {
		t.Fatalf("last audit event %+v", ev)
	}
	t.Run("CaseReasonOnTheCaseNotInTheAudit", func(t *testing.T) {
		if code, body := f.do("GET", base+"/cases?state=decided", ethics, nil, &cases); code != 200 || cases.Total != 1 || cases.Items[0].Reason != decide["reason"] {
			t.Fatalf("the decision's reason is not kept on the case: %d %v", code, body)
		}
		ev := lastOf(t, f.lastEvents(8), "monitor.case.decide")
		if want := ethos.DecisionSuspend + "; reason on the case: " + ethos.AuditText(decide["reason"]); ev.Reason != want || ev.Resource != "case/"+caseID {
			t.Errorf("decision audited as %q on %s, want %q", ev.Reason, ev.Resource, want)
		}
		f.auditClean()
	})
	var st ethos.MonitorStatus
	if code, body := f.do("GET", base+"/status", ethics, nil, &st); code != 200 || st.Check != "QC-DEP-1" || st.Pass {
		// Three days without events or checks after the fortnight.
		t.Fatalf("status: %d %v", code, body)
	}
	f.verify()
}

// TestMonitoringReportInChromium renders the monitoring page in headless
// Chromium and keeps a screenshot (in $ETHOS_ARTIFACTS when set).
func TestMonitoringReportInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	f, _ := newMonitorFixture(t)
	var prj ethos.Project
	f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Lung nodule CAD", "intended_use": "triage", "modality": "CT", "clinical_setting": "radiology"}, &prj)
	mleng := f.user(f.owner, ethos.RoleMLEngineer)
	plan, _ := os.ReadFile("../deployment/monitor/testdata/plan.json")
	planBody := strings.Replace(string(plan), `"project_id": "prj-lung"`, `"project_id": "`+prj.ID+`"`, 1)
	base := "/api/v1/deployments/dep-sim/monitoring"
	if code, body := f.do("PUT", base+"/plan", mleng, planBody, nil); code != 200 {
		t.Fatalf("PUT plan: %d %v", code, body)
	}
	if code, body := f.do("POST", base+"/runs", mleng, nil, nil); code != 200 {
		t.Fatalf("run: %d %v", code, body)
	}
	req, _ := http.NewRequest("GET", f.url+base+"/report?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", nil)
	req.Header.Set("Authorization", "Bearer "+mleng)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("report: %d %s", resp.StatusCode, html[:min(len(html), 300)])
	}
	page := string(html)
	if n := strings.Count(page, "<svg"); n != 21 {
		t.Errorf("%d timelines, want one per rule (21)", n)
	}
	for _, want := range []string{"QC-DEP-1", "sensitivity for age_band=75", "stop-sensitivity", "threshold 0.75"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "monitoring.html")
	if err := os.WriteFile(file, html, 0o600); err != nil {
		t.Fatal(err)
	}
	shotDir := os.Getenv("ETHOS_ARTIFACTS")
	if shotDir == "" {
		shotDir = dir
	}
	shot := filepath.Join(shotDir, "monitoring-report.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1280,4000", "--screenshot="+shot, "--user-data-dir="+filepath.Join(dir, "profile"), "file://"+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Uncaught") || strings.Contains(stderr.String(), "CONSOLE") {
		t.Errorf("console errors:\n%s", stderr.String())
	}
	info, err := os.Stat(shot)
	if err != nil || info.Size() < 20000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, info)
	}
	// The DOM Chromium built holds every chart.
	dump := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "--user-data-dir="+filepath.Join(dir, "profile2"), "file://"+file)
	out, err := dump.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if n := strings.Count(string(out), "<svg"); n != 21 {
		t.Errorf("Chromium's DOM holds %d charts, want 21", n)
	}
}

// FuzzMonitorBodies sends arbitrary bodies to the monitoring endpoints
// that read one: a 2xx or a 4xx with a message, never a 5xx.
func FuzzMonitorBodies(f *testing.F) {
	plan, err := os.ReadFile("../deployment/monitor/testdata/plan.json")
	if err != nil {
		f.Fatal(err)
	}
	fx, _ := newMonitorFixture(f)
	var prj ethos.Project
	fx.do("POST", "/api/v1/projects", fx.admin, map[string]string{"name": "CAD", "intended_use": "triage", "modality": "CT", "clinical_setting": "radiology"}, &prj)
	mleng := fx.user(fx.owner, ethos.RoleMLEngineer)
	f.Add(strings.Replace(string(plan), `"prj-lung"`, `"`+prj.ID+`"`, 1))
	for _, s := range []string{`{}`, `[]`, `null`, `{"decision":"suspend","reason":"x"}`, `{"decision":5}`,
		`{"window":{"every":"custom","length":"1m","anchor":"2026-01-01T00:00:00Z"},"reference":{"sample":{"scores":[1e308]}},"start":"2026-01-01T00:00:00Z","rules":[{"id":"a","metric":"auroc"}],"owners":["o"],"project_id":"` + prj.ID + `"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fx.t = t
		for _, rt := range []struct{ method, path string }{
			{"PUT", "/api/v1/deployments/dep-sim/monitoring/plan"},
			{"POST", "/api/v1/monitoring/alerts/alr-x/triage"},
			{"POST", "/api/v1/monitoring/cases/case-x/decision"},
		} {
			code, m := fx.do(rt.method, rt.path, mleng, body, nil)
			if code >= 500 || code < 200 {
				t.Fatalf("%s %s with %q: %d %v", rt.method, rt.path, body, code, m)
			}
			if code >= 400 && m["message"] == "" {
				t.Fatalf("%s %s: %d without a message", rt.method, rt.path, code)
			}
		}
	})
}
