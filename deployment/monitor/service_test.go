package monitor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type auditLog struct {
	mu     sync.Mutex
	events []ethos.AuditEvent
}

func (a *auditLog) Record(_ context.Context, e ethos.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *auditLog) actions() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s []string
	for _, e := range a.events {
		s = append(s, e.Action)
	}
	return strings.Join(s, ",")
}

type suspender struct{ calls []string }

func (s *suspender) SuspendDeployment(_ context.Context, id, reason, by string) error {
	s.calls = append(s.calls, id+": "+reason)
	return nil
}

func MustStore(tb testing.TB, now func() time.Time) *sqlstore.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "data"))
	db.Now = now
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db.Store()
}

// TestStopRuleCaseOpenedAndDecided runs the scheduler day by day over a
// fortnight in which one age band loses sensitivity: the subgroup alert
// opens a "suspension recommended" case with its deadline, the webhook
// gets it after a failed first attempt, the case becomes overdue, and a
// person decides it.
func TestStopRuleCaseOpenedAndDecided(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	db := MustStore(t, clk.Now)
	store := sqlstore.NewMonitorService(db)
	mid := refStart.AddDate(0, 0, 21)
	c := sim.Default(refStart, 28)
	c.Degradations = []sim.Degradation{{At: mid, AgeBand: "75+", PositiveMean: 0.45}}
	events := MustEvents(t, c)

	var hits atomic.Int32
	var got []string
	var gotMu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails
			return
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		gotMu.Lock()
		got = append(got, b.String())
		gotMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	audit := &auditLog{}
	susp := &suspender{}
	m := &monitor.Monitor{Store: store, Events: events, Auditor: audit, Suspender: susp, Now: clk.Now,
		Notifier: &monitor.Notifier{Store: store, Backoff: time.Millisecond, Now: clk.Now}}
	planJSON, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	planJSON = []byte(strings.Replace(string(planJSON), `"owners"`, `"webhook": "`+hook.URL+`", "owners"`, 1))
	clk.Set(refStart.AddDate(0, 0, 14))
	if _, err := m.SetPlan(ctx, "dep-other", planJSON, "usr_lead"); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Fatalf("plan for another deployment: %v, want invalid", err)
	}
	if _, err := m.SetPlan(ctx, "dep-sim", planJSON, "usr_lead"); err != nil {
		t.Fatal(err)
	}
	sched := &monitor.Scheduler{Monitor: m}
	var caseID string
	for day := 16; day <= 29; day++ {
		// Each day at 03:00 local time, after the 2 h grace.
		clk.Set(time.Date(2026, 3, day, 3, 0, 0, 0, berlin))
		runs := sched.Tick(ctx)
		if len(runs) != 1 || runs[0].Windows != 1 || runs[0].Late || runs[0].Error != "" {
			t.Fatalf("day %d: runs %+v", day, runs)
		}
		if again := sched.Tick(ctx); len(again) != 0 {
			t.Fatalf("day %d: a second tick ran %d runs; nothing was due", day, len(again))
		}
		cases, _, err := store.FindCases(ctx, ethos.CaseFilter{DeploymentID: "dep-sim"})
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) > 0 && caseID == "" {
			caseID = cases[0].ID
			if clk.Now().Before(mid) {
				t.Fatalf("case opened on day %d, before the change", day)
			}
			if !cases[0].DueAt.Equal(clk.Now().UTC().Add(72*time.Hour)) || cases[0].Action != ethos.StopRecommend {
				t.Fatalf("case %+v: want due 72 h after opening, action recommend", cases[0])
			}
		}
	}
	m.Notifier.Wait()
	if caseID == "" {
		t.Fatal("no case opened")
	}
	if len(susp.calls) != 0 {
		t.Fatalf("the deployment was suspended (%v) although the stop-rule only recommends", susp.calls)
	}
	alerts, n, err := store.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: "dep-sim"})
	if err != nil || n != 2 {
		t.Fatalf("%d alerts (%v), want the subgroup and the gap alert", n, err)
	}
	for _, a := range alerts {
		if a.RuleID == "sensitivity-subgroup" && a.CaseID != caseID {
			t.Errorf("subgroup alert not linked to case %s", caseID)
		}
		if a.RuleID == "gap-age" && a.CaseID != "" {
			t.Errorf("gap alert linked to a case; no stop-rule names it")
		}
		ds, err := store.FindDeliveries(ctx, a.ID)
		if err != nil || len(ds) == 0 || !ds[len(ds)-1].OK {
			t.Errorf("alert %s deliveries %+v (%v): want a final success", a.RuleID, ds, err)
		}
	}
	if hits.Load() != 4 { // 2 alerts + 1 case, one failed attempt retried
		t.Errorf("webhook hit %d times, want 4", hits.Load())
	}
	gotMu.Lock()
	if len(got) != 3 || !strings.Contains(strings.Join(got, ""), `"type":"ethos.monitor.case"`) {
		t.Errorf("webhook bodies: %q", got)
	}
	gotMu.Unlock()

	st, err := m.Status(ctx, "dep-sim")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Pass || st.OpenCases != 1 || st.UntriagedAlerts != 2 {
		t.Fatalf("status on time: %+v", st)
	}
	// Four days later nothing ran and no events came: the case is
	// overdue and QC-DEP-1 fails on both counts.
	clk.Set(time.Date(2026, 4, 2, 12, 0, 0, 0, berlin))
	st, err = m.Status(ctx, "dep-sim")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pass || st.OverdueCases != 1 || st.RecentEvents || len(st.Failures) != 2 {
		t.Fatalf("status after silence: %+v", st)
	}
	decided, err := store.DecideCase(ctx, caseID, ethos.DecisionConditions, "second reader for patients 75+ until the vendor's fix", "usr_ethics")
	if err != nil || decided.State != ethos.CaseDecided {
		t.Fatalf("decide: %+v %v", decided, err)
	}
	for _, want := range []string{"monitor.run", "monitor.alert.raise", "monitor.case.open"} {
		if !strings.Contains(audit.actions(), want) {
			t.Errorf("audit lacks %s: %s", want, audit.actions())
		}
	}
	// A raised alert's entry names the attribute of its group, never the
	// value the clinic's events carried (that stays on the alert).
	for _, e := range audit.events {
		if e.Action == "monitor.alert.raise" && (strings.Contains(e.Reason, "=") || !strings.Contains(e.Reason, "(on the alert)") && !strings.Contains(e.Reason, "whole deployment")) {
			t.Errorf("raised alert audited as %q", e.Reason)
		}
	}
}

func TestSuspendActionAsksTheRegistry(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	store := sqlstore.NewMonitorService(MustStore(t, clk.Now))
	c := sim.Default(refStart, 28)
	c.Degradations = []sim.Degradation{{At: refStart.AddDate(0, 0, 21), AgeBand: "75+", PositiveMean: 0.45}}
	susp := &suspender{}
	m := &monitor.Monitor{Store: store, Events: MustEvents(t, c), Suspender: susp, Now: clk.Now}
	b, _ := os.ReadFile("testdata/plan.json")
	b = []byte(strings.Replace(string(b), `"decide_within": "72h"`, `"decide_within": "24h", "action": "suspend"`, 1))
	if _, err := m.SetPlan(ctx, "dep-sim", b, "usr_lead"); err != nil {
		t.Fatal(err)
	}
	clk.Set(refStart.AddDate(0, 0, 28).Add(3 * time.Hour))
	run, err := m.RunChecks(ctx, "dep-sim", ethos.RunOnDemand, "usr_ml")
	if err != nil || run.Windows != 14 {
		t.Fatalf("run %+v %v", run, err)
	}
	if len(susp.calls) != 1 || !strings.HasPrefix(susp.calls[0], "dep-sim: stop-rule stop-sensitivity") {
		t.Fatalf("suspend calls %q, want one", susp.calls)
	}
	cases, _, _ := store.FindCases(ctx, ethos.CaseFilter{DeploymentID: "dep-sim"})
	if len(cases) != 1 || !cases[0].SuspendRequested || cases[0].SuspendError != "" {
		t.Fatalf("cases %+v", cases)
	}
	// A second run with nothing new neither re-runs windows nor asks again.
	run, err = m.RunChecks(ctx, "dep-sim", ethos.RunOnDemand, "usr_ml")
	if err != nil || run.Windows != 0 || len(susp.calls) != 1 {
		t.Fatalf("second run %+v %v, %d suspend calls", run, err, len(susp.calls))
	}
}

func TestLateScheduledRunFailsQC(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	store := sqlstore.NewMonitorService(MustStore(t, clk.Now))
	m := &monitor.Monitor{Store: store, Events: MustEvents(t, sim.Default(refStart, 28)), Now: clk.Now}
	b, _ := os.ReadFile("testdata/plan.json")
	if _, err := m.SetPlan(ctx, "dep-sim", b, "usr_lead"); err != nil {
		t.Fatal(err)
	}
	// The window of 15 March closes at midnight, is eligible at 02:00
	// and due at 04:00; the scheduler was down until 09:00.
	clk.Set(time.Date(2026, 3, 16, 9, 0, 0, 0, berlin))
	runs := (&monitor.Scheduler{Monitor: m}).Tick(ctx)
	if len(runs) != 1 || !runs[0].Late {
		t.Fatalf("runs %+v, want one late run", runs)
	}
	st, err := m.Status(ctx, "dep-sim")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pass || len(st.Failures) != 1 || !strings.Contains(st.Failures[0], "after its due time") {
		t.Fatalf("status %+v", st)
	}
}

// TestLabelDelay: ground truth arrives 48 hours after each event. Without
// a label delay the daily checks see no labels when a window closes (the
// subgroup sensitivity is "insufficient data"), and the windows are judged
// again when their labels arrive (part "relabelled", beside the first
// result); with "label_delay": "3d" the performance part of each window is
// judged three days later. Either way the drop in the 75+ band is caught.
func TestLabelDelay(t *testing.T) {
	mid := refStart.AddDate(0, 0, 21)
	for _, tt := range []struct {
		name     string
		delay    string
		wantPart string // where the judged subgroup checks are
	}{
		{"WithoutDelayTheLateLabelsAreJudgedAgain", "", ethos.PartRelabelled},
		{"WithDelayTheDropIsCaughtLater", `"label_delay": "3d", `, ethos.PartPerformance},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			store := sqlstore.NewMonitorService(MustStore(t, clk.Now))
			c := sim.Default(refStart, 31)
			c.Degradations = []sim.Degradation{{At: mid, AgeBand: "75+", PositiveMean: 0.45}}
			events := MustEvents(t, c)
			m := &monitor.Monitor{Store: store, Events: events, Now: clk.Now}
			b, _ := os.ReadFile("testdata/plan.json")
			b = []byte(strings.Replace(string(b), `"owners"`, tt.delay+`"owners"`, 1))
			clk.Set(refStart.AddDate(0, 0, 14))
			if _, err := m.SetPlan(ctx, "dep-sim", b, "usr_lead"); err != nil {
				t.Fatal(err)
			}
			// The reference labels have all arrived; later ones arrive
			// as the clock moves.
			events.Now = clk.Now
			sched := &monitor.Scheduler{Monitor: m}
			judged, perfParts := 0, 0
			var raisedOn time.Time
			for day := 16; day <= 31+1; day++ {
				clk.Set(time.Date(2026, 3, day, 3, 0, 0, 0, berlin))
				for _, r := range sched.Tick(ctx) {
					if r.Error != "" || r.Late {
						t.Fatalf("day %d: run %+v", day, r)
					}
				}
				alerts, _, _ := store.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: "dep-sim"})
				for _, a := range alerts {
					if a.RuleID == "sensitivity-subgroup" && raisedOn.IsZero() {
						raisedOn = clk.Now()
					}
				}
			}
			ws, err := store.FindWindows(ctx, "dep-sim", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			first := map[time.Time]bool{} // windows judged when they closed
			for _, w := range ws {
				if w.Part == tt.wantPart {
					perfParts++
				}
				for _, c := range w.Checks {
					if c.RuleID != "sensitivity-subgroup" {
						continue
					}
					switch {
					case c.Insufficient == "" && w.Part != tt.wantPart:
						t.Errorf("window %s part %q: subgroup judged outside part %q", w.Start, w.Part, tt.wantPart)
					case c.Insufficient == "":
						judged++
					}
				}
				if w.Part == ethos.PartAll {
					first[w.Start] = true
				}
			}
			if perfParts == 0 || judged == 0 {
				t.Fatalf("%d %q parts, %d judged subgroup checks", perfParts, tt.wantPart, judged)
			}
			if tt.wantPart == ethos.PartRelabelled {
				// The history keeps both judgements of a window.
				both := 0
				for _, w := range ws {
					if w.Part == ethos.PartRelabelled && first[w.Start] {
						both++
					}
				}
				if both == 0 {
					t.Errorf("no window holds both its first judgement and its re-judgement")
				}
				runs, _ := store.FindRuns(ctx, "dep-sim", 50)
				rejudged := 0
				for _, r := range runs {
					rejudged += r.Rejudged
				}
				if rejudged == 0 {
					t.Errorf("no run counts re-judged windows")
				}
				alerts, _, _ := store.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: "dep-sim"})
				if !slices.ContainsFunc(alerts, func(a *ethos.Alert) bool {
					return a.RuleID == "sensitivity-subgroup" && strings.HasPrefix(a.Message, "judged again after late ground truth")
				}) {
					t.Errorf("no subgroup alert says it came from late ground truth: %+v", alerts)
				}
			}
			// The drop starts on 22 March; two bad windows are needed,
			// each judged three days after it closed.
			if raisedOn.Before(mid.AddDate(0, 0, 4)) || raisedOn.After(mid.AddDate(0, 0, 7)) {
				t.Fatalf("subgroup alert raised on %s, want 4 to 7 days after the drop on %s", raisedOn, mid)
			}
			st, err := m.Status(ctx, "dep-sim")
			if err != nil || len(st.Failures) != 0 {
				t.Fatalf("status %+v %v", st, err)
			}
		})
	}
}

// obligations is a fixed list of open obligations per deployment.
type obligations map[string][]*ethos.Obligation

func (o obligations) OpenObligations(_ context.Context, dep string) ([]*ethos.Obligation, error) {
	if obs, ok := o[dep]; ok {
		return obs, nil
	}
	return nil, ethos.Errorf(ethos.ENOTFOUND, "deployment %s not found", dep)
}

// TestWithdrawalObligationIsANotice: an open withdrawal obligation on the
// deployed model version is listed in the status as a notice with a note,
// and does not by itself fail QC-DEP-1 (GDPR-7-17 of QC-DEP-2 fails).
func TestWithdrawalObligationIsANotice(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	store := sqlstore.NewMonitorService(MustStore(t, clk.Now))
	opened := time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)
	obs := obligations{"dep-sim": {{ID: "obl_1", Target: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mv-7"}, Status: ethos.ObligationOpen, OpenedAt: opened}}}
	m := &monitor.Monitor{Store: store, Events: MustEvents(t, sim.Default(refStart, 28)), Now: clk.Now, Obligations: obs}
	b, _ := os.ReadFile("testdata/plan.json")
	if _, err := m.SetPlan(ctx, "dep-sim", b, "usr_lead"); err != nil {
		t.Fatal(err)
	}
	clk.Set(refStart.AddDate(0, 0, 28).Add(3 * time.Hour))
	if _, err := m.RunChecks(ctx, "dep-sim", ethos.RunOnDemand, "usr_ml"); err != nil {
		t.Fatal(err)
	}
	st, err := m.Status(ctx, "dep-sim")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Notices) != 1 || st.Notices[0].Kind != ethos.NoticeWithdrawalObligation || st.Notices[0].ID != "obl_1" || !st.Notices[0].Since.Equal(opened) ||
		!strings.Contains(st.Notices[0].Detail, "mv-7") {
		t.Fatalf("notices %+v", st.Notices)
	}
	if !slices.ContainsFunc(st.Notes, func(n string) bool { return strings.Contains(n, "GDPR-7-17") }) {
		t.Errorf("notes %q: want the withdrawal named", st.Notes)
	}
	obs["dep-sim"] = nil
	st, err = m.Status(ctx, "dep-sim")
	if err != nil || len(st.Notices) != 0 {
		t.Fatalf("after resolution: %+v, %v", st, err)
	}
	delete(obs, "dep-sim") // a plan stored before the registry's record
	if _, err := m.Status(ctx, "dep-sim"); err != nil {
		t.Errorf("status of a deployment the registry does not know: %v", err)
	}
}

// scanCounter counts the event scans of a simulated reader (which also
// tells when labels arrived).
type scanCounter struct {
	*sim.Reader
	mu    sync.Mutex
	scans int
}

func (c *scanCounter) ScanEvents(ctx context.Context, f ethos.EventFilter, fn func(*ethos.InferenceEvent) error) error {
	c.mu.Lock()
	c.scans++
	c.mu.Unlock()
	return c.Reader.ScanEvents(ctx, f, fn)
}

// TestRunWithNothingToJudgeReadsNoEvents: a run that finds no window
// closed and no late label since the last one builds no engine, so it
// does not read the reference window's events again.
func TestRunWithNothingToJudgeReadsNoEvents(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	store := sqlstore.NewMonitorService(MustStore(t, clk.Now))
	events := &scanCounter{Reader: MustEvents(t, sim.Default(refStart, 28))}
	m := &monitor.Monitor{Store: store, Events: events, Now: clk.Now}
	b, _ := os.ReadFile("testdata/plan.json")
	if _, err := m.SetPlan(ctx, "dep-sim", b, "usr_lead"); err != nil {
		t.Fatal(err)
	}
	clk.Set(refStart.AddDate(0, 0, 28).Add(3 * time.Hour))
	if _, err := m.RunChecks(ctx, "dep-sim", ethos.RunOnDemand, "usr_ml"); err != nil {
		t.Fatal(err)
	}
	if events.scans == 0 {
		t.Fatal("the first run read no events")
	}
	events.scans = 0
	clk.Set(refStart.AddDate(0, 0, 28).Add(3*time.Hour + time.Minute))
	run, err := m.RunChecks(ctx, "dep-sim", ethos.RunOnDemand, "usr_ml")
	if err != nil {
		t.Fatal(err)
	}
	if run.Windows != 0 || run.Rejudged != 0 {
		t.Fatalf("second run judged %d windows, %d again; want none", run.Windows, run.Rejudged)
	}
	if events.scans != 0 {
		t.Errorf("a run with nothing to judge scanned events %d times", events.scans)
	}
}
