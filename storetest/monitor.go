package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunMonitor is the conformance suite of the monitoring store
// (sqlstore.MonitorService); open returns a fresh, migrated store.
func RunMonitor(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("PlanRoundTripAndUpdate", func(t *testing.T) { testMonitorPlan(t, open(t)) })
	t.Run("RunAlertsAndHysteresis", func(t *testing.T) { testMonitorRun(t, open(t)) })
	t.Run("CasesJoinAndDecide", func(t *testing.T) { testMonitorCases(t, open(t)) })
	t.Run("AckTriageAndDeliveries", func(t *testing.T) { testMonitorTriage(t, open(t)) })
}

// MonitorPlan returns a small valid plan for deployment dep.
func MonitorPlan(dep string) *ethos.MonitoringPlan {
	return &ethos.MonitoringPlan{
		DeploymentID: dep, ProjectID: "prj-1",
		Window:    ethos.WindowSpec{Every: ethos.WindowDaily, TimeZone: "Europe/Paris"},
		Reference: ethos.ReferenceSpec{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)},
		Rules: []ethos.AlertRule{
			{ID: "sens", Metric: ethos.MetricSensitivity, Threshold: 0.8, MinN: 20},
			{ID: "new-sw", Metric: ethos.MetricNewCategory, Field: "software_version"},
		},
		StopRules: []ethos.StopRule{{ID: "stop", Rules: []string{"sens"}, DecideWithin: ethos.Span("2d")}},
		Owners:    []string{"usr_lead"},
	}
}

func testMonitorPlan(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewMonitorService(db)
	if _, err := s.FindPlan(ctx, "dep-1"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
		t.Fatalf("missing plan: %v, want not found", err)
	}
	bad := MonitorPlan("dep-1")
	bad.Owners = nil
	code(t, s.PutPlan(ctx, bad, "usr_a"), ethos.EINVALID)
	p := MonitorPlan("dep-1")
	if err := s.PutPlan(ctx, p, "usr_a"); err != nil {
		t.Fatal(err)
	}
	rec, err := s.FindPlan(ctx, "dep-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.UpdatedBy != "usr_a" || len(rec.Plan.Rules) != 2 || rec.Plan.Rules[0].RaiseAfter != 1 || !rec.CheckedTo.IsZero() {
		t.Fatalf("stored plan %+v", rec)
	}
	// A run moves checked_to and the state; a plan change keeps them.
	to := time.Date(2026, 1, 16, 0, 0, 0, 0, time.UTC)
	if err := s.SaveRun(ctx, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: to},
		CheckedTo: to, State: json.RawMessage(`{"alerts":{}}`)}); err != nil {
		t.Fatal(err)
	}
	p.Owners = append(p.Owners, "usr_b")
	if err := s.PutPlan(ctx, p, "usr_b"); err != nil {
		t.Fatal(err)
	}
	rec, err = s.FindPlan(ctx, "dep-1")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.CheckedTo.Equal(to) || string(rec.State) != `{"alerts":{}}` || len(rec.Plan.Owners) != 2 || rec.UpdatedBy != "usr_b" {
		t.Fatalf("after update: checked_to %v state %s owners %v", rec.CheckedTo, rec.State, rec.Plan.Owners)
	}
	plans, err := s.ListPlans(ctx)
	if err != nil || len(plans) != 1 {
		t.Fatalf("list: %d plans, %v", len(plans), err)
	}
	code(t, s.SaveRun(ctx, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-none", Kind: ethos.RunScheduled, StartedAt: to}}), ethos.ENOTFOUND)
}

func mustSaveRun(t *testing.T, s *sqlstore.MonitorService, o *ethos.RunOutcome) {
	t.Helper()
	if err := s.SaveRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func v(x float64) *float64 { return &x }

func testMonitorRun(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewMonitorService(db)
	if err := s.PutPlan(ctx, MonitorPlan("dep-1"), "usr_a"); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 1, 15+d, 0, 0, 0, 0, time.UTC) }
	a := &ethos.Alert{RuleID: "new-sw", Key: "software_version=VB20", Site: "site-a", Metric: ethos.MetricNewCategory, Severity: ethos.SeverityWarning,
		State: ethos.AlertActive, Value: v(12), WindowStart: day(0), WindowEnd: day(1), RaisedAt: day(1)}
	mustSaveRun(t, s, &ethos.RunOutcome{
		Run:     &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: day(1), Windows: 1},
		Windows: []*ethos.WindowResult{{Start: day(0), End: day(1), Events: 100, Checks: []ethos.CheckResult{{RuleID: "new-sw", Value: v(12), Breach: true}}}},
		Changes: []ethos.AlertChange{{Raise: a, At: day(1)}}, CheckedTo: day(1),
	})
	if a.ID == "" {
		t.Fatal("raised alert got no id")
	}
	// The same identity cannot be active twice.
	dup := *a
	dup.ID = ""
	err := s.SaveRun(ctx, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: day(2)},
		Changes: []ethos.AlertChange{{Raise: &dup, At: day(2)}}})
	code(t, err, ethos.ECONFLICT)
	if runs, _ := s.FindRuns(ctx, "dep-1", 10); len(runs) != 1 {
		t.Fatalf("%d runs after a failed save, want 1 (nothing partial)", len(runs))
	}
	// Clear, then raise again in one run: two alerts, one cleared.
	again := *a
	again.ID, again.RaisedAt = "", day(3)
	mustSaveRun(t, s, &ethos.RunOutcome{
		Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunOnDemand, By: "usr_a", StartedAt: day(3)},
		Windows: []*ethos.WindowResult{{Start: day(1), End: day(2)}, {Start: day(2), End: day(3)},
			{Start: day(0), End: day(1), Events: 101}}, // re-checked window replaces the stored one
		Changes: []ethos.AlertChange{{Clear: ethos.AlertIdentity("new-sw", "software_version=VB20", "site-a"), At: day(2)}, {Raise: &again, At: day(3)}},
	})
	all, n, err := s.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: "dep-1"})
	if err != nil || n != 2 || len(all) != 2 {
		t.Fatalf("alerts %d (%v), want 2", n, err)
	}
	if all[0].State != ethos.AlertCleared || all[0].ClearedAt == nil || !all[0].ClearedAt.Equal(day(2)) || all[1].State != ethos.AlertActive {
		t.Fatalf("states %s (%v), %s", all[0].State, all[0].ClearedAt, all[1].State)
	}
	site := "site-a"
	if _, n, _ := s.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: "dep-1", Site: &site, State: ethos.AlertActive}); n != 1 {
		t.Fatalf("active alerts at site-a: %d, want 1", n)
	}
	ws, err := s.FindWindows(ctx, "dep-1", day(0), day(3))
	if err != nil || len(ws) != 3 || ws[0].Events != 101 || ws[0].RunID == "" {
		t.Fatalf("windows %d (%v); first %+v", len(ws), err, ws[0])
	}
	if ws, _ := s.FindWindows(ctx, "dep-1", day(1), day(2)); len(ws) != 1 || !ws[0].Start.Equal(day(1)) {
		t.Fatalf("window range: %d", len(ws))
	}
	runs, err := s.FindRuns(ctx, "dep-1", 10)
	if err != nil || len(runs) != 2 || runs[0].Kind != ethos.RunOnDemand || runs[0].By != "usr_a" {
		t.Fatalf("runs %v %v", runs, err)
	}
}

func testMonitorCases(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewMonitorService(db)
	if err := s.PutPlan(ctx, MonitorPlan("dep-1"), "usr_a"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	raise := func(key string, at time.Time) *ethos.Alert {
		return &ethos.Alert{ID: "alr-" + key, RuleID: "sens", Key: key, Metric: ethos.MetricSensitivity, Severity: ethos.SeverityCritical, State: ethos.AlertActive, RaisedAt: at}
	}
	a1, a2 := raise("age_band=75+", t0), raise("sex=F", t0.Add(24*time.Hour))
	c1 := &ethos.StopCase{DeploymentID: "dep-1", StopRuleID: "stop", Action: ethos.StopRecommend, AlertIDs: []string{a1.ID}, OpenedAt: t0, DueAt: t0.Add(48 * time.Hour)}
	mustSaveRun(t, s, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: t0},
		Changes: []ethos.AlertChange{{Raise: a1, At: t0}}, Cases: []*ethos.StopCase{c1}})
	// A second alert of the same stop-rule joins the open case.
	c2 := &ethos.StopCase{DeploymentID: "dep-1", StopRuleID: "stop", Action: ethos.StopRecommend, AlertIDs: []string{a2.ID}, OpenedAt: t0.Add(24 * time.Hour), DueAt: t0.Add(72 * time.Hour)}
	mustSaveRun(t, s, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: t0.Add(24 * time.Hour)},
		Changes: []ethos.AlertChange{{Raise: a2, At: t0.Add(24 * time.Hour)}}, Cases: []*ethos.StopCase{c2}})
	if c2.ID != c1.ID {
		t.Fatalf("second alert opened case %s, want it to join %s", c2.ID, c1.ID)
	}
	cases, n, err := s.FindCases(ctx, ethos.CaseFilter{DeploymentID: "dep-1", State: ethos.CaseOpen})
	if err != nil || n != 1 || len(cases[0].AlertIDs) != 2 || !cases[0].DueAt.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("open cases %d (%v): %+v", n, err, cases)
	}
	if c := cases[0]; c.Overdue(t0.Add(47*time.Hour)) || !c.Overdue(t0.Add(49*time.Hour)) {
		t.Fatal("overdue must flip at the deadline")
	}
	if a, _ := s.FindAlertByID(ctx, a2.ID); a.CaseID != c1.ID {
		t.Fatalf("alert %s linked to %q, want %s", a2.ID, a.CaseID, c1.ID)
	}
	if err := s.SetCaseSuspension(ctx, c1.ID, true, "registry unavailable"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, decision, reason, by, want string
	}{
		{"ErrUnknownDecision", "ignore", "x", "usr_e", ethos.EINVALID},
		{"ErrNoReason", ethos.DecisionContinue, " ", "usr_e", ethos.EINVALID},
		{"Decided", ethos.DecisionConditions, "double reading of the 75+ band until recalibrated", "usr_e", ""},
		{"ErrDecidedTwice", ethos.DecisionSuspend, "late", "usr_f", ethos.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.DecideCase(ctx, c1.ID, tt.decision, tt.reason, tt.by)
			code(t, err, tt.want)
			if tt.want == "" && (c.State != ethos.CaseDecided || c.DecidedBy != "usr_e" || c.DecidedAt == nil || !c.SuspendRequested || c.SuspendError == "") {
				t.Fatalf("decided case %+v", c)
			}
		})
	}
	if _, err := s.DecideCase(ctx, "case-none", ethos.DecisionContinue, "x", "u"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
		t.Fatalf("unknown case: %v", err)
	}
	// Once decided, the next alert opens a new case.
	a3 := raise("age_band=65-74", t0.Add(96*time.Hour))
	c3 := &ethos.StopCase{DeploymentID: "dep-1", StopRuleID: "stop", AlertIDs: []string{a3.ID}, OpenedAt: a3.RaisedAt, DueAt: a3.RaisedAt.Add(48 * time.Hour)}
	mustSaveRun(t, s, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: a3.RaisedAt},
		Changes: []ethos.AlertChange{{Raise: a3, At: a3.RaisedAt}}, Cases: []*ethos.StopCase{c3}})
	if c3.ID == c1.ID {
		t.Fatal("an alert after the decision joined the decided case")
	}
	if _, n, _ := s.FindCases(ctx, ethos.CaseFilter{DeploymentID: "dep-1"}); n != 2 {
		t.Fatalf("%d cases, want 2", n)
	}
}

func testMonitorTriage(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewMonitorService(db)
	if err := s.PutPlan(ctx, MonitorPlan("dep-1"), "usr_a"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	a := &ethos.Alert{RuleID: "new-sw", Key: "software_version=VB20", Site: "site-a", State: ethos.AlertActive, RaisedAt: t0}
	mustSaveRun(t, s, &ethos.RunOutcome{Run: &ethos.MonitorRun{DeploymentID: "dep-1", Kind: ethos.RunScheduled, StartedAt: t0},
		Changes: []ethos.AlertChange{{Raise: a, At: t0}}})
	if _, n, _ := s.FindAlerts(ctx, ethos.AlertFilter{Untriaged: true}); n != 1 {
		t.Fatalf("untriaged %d, want 1", n)
	}
	got, err := s.AcknowledgeAlert(ctx, a.ID, "usr_ml")
	if err != nil || got.AckBy != "usr_ml" || got.AckAt == nil {
		t.Fatalf("ack: %+v %v", got, err)
	}
	_, err = s.AcknowledgeAlert(ctx, a.ID, "usr_other")
	code(t, err, ethos.ECONFLICT)
	_, err = s.TriageAlert(ctx, a.ID, "meh", "x", "usr_ml")
	code(t, err, ethos.EINVALID)
	if _, err := s.TriageAlert(ctx, a.ID, ethos.TriageInvestigate, "checking with the site's physicist", "usr_ml"); err != nil {
		t.Fatal(err)
	}
	got, err = s.TriageAlert(ctx, a.ID, ethos.TriageExpected, "planned scanner software upgrade, validated by the vendor", "usr_ml")
	if err != nil || got.Triage != ethos.TriageExpected || got.TriagedAt == nil || got.AckBy != "usr_ml" {
		t.Fatalf("triage: %+v %v", got, err)
	}
	_, err = s.TriageAlert(ctx, a.ID, ethos.TriageFalseAlarm, "changed my mind", "usr_ml")
	code(t, err, ethos.ECONFLICT)
	if _, n, _ := s.FindAlerts(ctx, ethos.AlertFilter{Untriaged: true}); n != 0 {
		t.Fatalf("untriaged %d after triage, want 0", n)
	}
	_, err = s.AcknowledgeAlert(ctx, "alr-none", "u")
	code(t, err, ethos.ENOTFOUND)
	for i, ok := range []bool{false, true} {
		d := &ethos.Delivery{AlertID: a.ID, Attempt: i + 1, At: t0.Add(time.Duration(i) * time.Second), Status: []int{503, 204}[i], OK: ok}
		if err := s.RecordDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	code(t, s.RecordDelivery(ctx, &ethos.Delivery{AlertID: a.ID, Attempt: 1, At: t0}), ethos.ECONFLICT)
	ds, err := s.FindDeliveries(ctx, a.ID)
	if err != nil || len(ds) != 2 || ds[0].Status != 503 || !ds[1].OK {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
}
