package monitor_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	"github.com/ethos-imaging/ethos/evalstat"
)

func TestWindows(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name      string
		spec      ethos.WindowSpec
		from, to  time.Time
		wantHours []float64
		wantFirst time.Time
	}{
		{"DailyAcrossSpringForwardIs23h", ethos.WindowSpec{Every: ethos.WindowDaily, TimeZone: "Europe/Berlin"},
			time.Date(2026, 3, 28, 0, 0, 0, 0, berlin), time.Date(2026, 3, 31, 0, 0, 0, 0, berlin), []float64{24, 23, 24}, time.Date(2026, 3, 28, 0, 0, 0, 0, berlin)},
		{"DailyAcrossFallBackIs25h", ethos.WindowSpec{Every: ethos.WindowDaily, TimeZone: "America/New_York"},
			time.Date(2026, 10, 31, 12, 0, 0, 0, ny), time.Date(2026, 11, 3, 0, 0, 0, 0, ny), []float64{25, 24}, time.Date(2026, 11, 1, 0, 0, 0, 0, ny)},
		{"WeeklyStartsOnMonday", ethos.WindowSpec{Every: ethos.WindowWeekly},
			time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC), []float64{168, 168}, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		{"CustomFromAnchor", ethos.WindowSpec{Every: ethos.WindowCustom, Length: ethos.Span("6h"), Anchor: time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)},
			time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC), []float64{6, 6}, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		{"CustomBeforeAnchor", ethos.WindowSpec{Every: ethos.WindowCustom, Length: ethos.Span("4h"), Anchor: time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)},
			time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC), []float64{4}, time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &ethos.MonitoringPlan{Window: tt.spec}
			ws := monitor.Windows(p, tt.from, tt.to)
			var hours []float64
			for i, w := range ws {
				hours = append(hours, w.End.Sub(w.Start).Hours())
				if i > 0 && !w.Start.Equal(ws[i-1].End) {
					t.Fatalf("windows not contiguous at %d", i)
				}
			}
			if fmt.Sprint(hours) != fmt.Sprint(tt.wantHours) {
				t.Fatalf("hours %v, want %v", hours, tt.wantHours)
			}
			if !ws[0].Start.Equal(tt.wantFirst) {
				t.Fatalf("first window %s, want %s", ws[0].Start, tt.wantFirst)
			}
			if w := monitor.WindowAt(p, ws[0].Start.Add(time.Minute)); !w.Start.Equal(ws[0].Start) || !w.End.Equal(ws[0].End) {
				t.Fatalf("WindowAt %v, want %v", w, ws[0])
			}
		})
	}
}

// samplePlan is a plan with a reference sample, checked on hourly
// windows from 2026-05-01.
func samplePlan(rules ...ethos.AlertRule) *ethos.MonitoringPlan {
	rate := 0.2
	p := &ethos.MonitoringPlan{DeploymentID: "dep-u", Start: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Window:    ethos.WindowSpec{Every: ethos.WindowCustom, Length: ethos.Span("1h"), Anchor: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		Reference: ethos.ReferenceSpec{Sample: &ethos.ReferenceSample{PositiveRate: &rate, Categorical: map[string]map[string]int{"software_version": {"VA50": 10}}}},
		Rules:     rules, Owners: []string{"x"}}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return p
}

func checkOnce(t *testing.T, p *ethos.MonitoringPlan, evs []ethos.InferenceEvent, hours int, st *monitor.State) *monitor.Result {
	t.Helper()
	r := sim.NewReader(evs)
	e, err := monitor.NewEngine(context.Background(), p, r)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Check(context.Background(), r, monitor.Windows(p, p.Start, p.Start.Add(time.Duration(hours)*time.Hour)), st)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPerformanceMatchesEvalstat compares the monitor's sensitivity (with
// its Wilson interval) and AUROC (with its DeLong interval) on one window
// with evalstat's, which is itself checked against scikit-learn.
func TestPerformanceMatchesEvalstat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var evs []ethos.InferenceEvent
	tab, err := evalstat.NewTable([]string{"sex"}, false)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 700 {
		pos := r.Float64() < 0.3
		score := math.Round((0.35+0.25*r.NormFloat64()+0.3*b2f(pos))*50) / 50 // ties on purpose
		score = math.Min(1, math.Max(0, score))
		sex := []string{"F", "M"}[r.IntN(2)]
		evs = append(evs, ethos.InferenceEvent{DeploymentID: "dep-u", EventID: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Second),
			Score: score, Decision: score >= 0.5, Sex: sex, Label: &ethos.EventLabel{Positive: pos}})
		if err := tab.Add(pos, score, []string{sex}, ""); err != nil {
			t.Fatal(err)
		}
	}
	cfg := evalstat.DefaultConfig()
	rep, err := evalstat.Evaluate(tab, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := samplePlan(ethos.AlertRule{ID: "auc", Metric: ethos.MetricAUROC, Threshold: 0.5},
		ethos.AlertRule{ID: "sens", Metric: ethos.MetricSensitivity, Threshold: 0.5},
		ethos.AlertRule{ID: "sens-sex", Metric: ethos.MetricSensitivity, Scope: ethos.ScopeSubgroup, Field: "sex", Threshold: 0.5})
	res := checkOnce(t, p, evs, 1, &monitor.State{})
	got := map[string]ethos.CheckResult{}
	for _, c := range res.Windows[0].Checks {
		got[c.RuleID+" "+c.Key] = c
	}
	near := func(name string, a, b float64) {
		t.Helper()
		if math.Abs(a-b) > 1e-12 {
			t.Errorf("%s: monitor %.15g, evalstat %.15g", name, a, b)
		}
	}
	want := func(g *evalstat.GroupResult, metric, ci string) evalstat.Value {
		v := g.Metrics[metric]
		if !v.Defined() || v.CI[ci] == (evalstat.Interval{}) {
			t.Fatalf("evalstat %s has no %s interval: %+v", metric, ci, v)
		}
		return v
	}
	auc := want(rep.Overall, "auroc", evalstat.CIDeLong)
	c := got["auc "]
	near("auroc", *c.Value, auc.Estimate)
	near("auroc lower", *c.Lower, auc.CI[evalstat.CIDeLong].Lower)
	near("auroc upper", *c.Upper, auc.CI[evalstat.CIDeLong].Upper)
	sens := want(rep.Overall, "sensitivity", evalstat.CIWilson)
	c = got["sens "]
	near("sensitivity", *c.Value, sens.Estimate)
	near("sensitivity lower", *c.Lower, sens.CI[evalstat.CIWilson].Lower)
	for _, g := range rep.Groupings[0].Groups {
		s := want(g, "sensitivity", evalstat.CIWilson)
		c := got["sens-sex sex="+g.Values["sex"]]
		if c.Value == nil {
			t.Fatalf("no subgroup check for %v", g.Values)
		}
		near("sensitivity "+g.Name, *c.Value, s.Estimate)
		near("sensitivity upper "+g.Name, *c.Upper, s.CI[evalstat.CIWilson].Upper)
		if int64(c.N) != g.Positives {
			t.Errorf("%s: n %d, want the %d positives", g.Name, c.N, g.Positives)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestHysteresis drives one rule through breach and clear sequences,
// with windows too small to judge in between.
func TestHysteresis(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	// Per hour: n events, of which pos are positive decisions.
	hourly := func(spec ...[2]int) []ethos.InferenceEvent {
		var evs []ethos.InferenceEvent
		for h, s := range spec {
			for i := range s[0] {
				evs = append(evs, ethos.InferenceEvent{DeploymentID: "dep-u", Time: t0.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Second), Score: 0.4, Decision: i < s[1]})
			}
		}
		return evs
	}
	up := true
	rule := ethos.AlertRule{ID: "rate", Metric: ethos.MetricPositiveRate, Above: &up, Threshold: 0.5, MinN: 10, RaiseAfter: 2, ClearAfter: 2}
	tests := []struct {
		name  string
		hours [][2]int
		want  string // R raise, C clear, by hour
	}{
		{"OneBreachDoesNotRaise", [][2]int{{20, 15}, {20, 2}, {20, 15}}, ""},
		{"TwoBreachesRaise", [][2]int{{20, 15}, {20, 15}, {20, 2}}, "R1"},
		{"SmallWindowNeitherRaisesNorResets", [][2]int{{20, 15}, {5, 5}, {20, 15}}, "R2"},
		{"ClearNeedsTwoGoodWindows", [][2]int{{20, 15}, {20, 15}, {20, 2}, {20, 15}, {20, 2}, {20, 2}}, "R1 C5"},
		{"RaisedAgainAfterClear", [][2]int{{20, 15}, {20, 15}, {20, 2}, {20, 2}, {20, 15}, {20, 15}}, "R1 C3 R5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkOnce(t, samplePlan(rule), hourly(tt.hours...), len(tt.hours), &monitor.State{})
			var got []string
			for _, ch := range res.Changes {
				kind := "C"
				if ch.Raise != nil {
					kind = "R"
				}
				got = append(got, fmt.Sprintf("%s%.0f", kind, ch.WindowStart.Sub(t0).Hours()))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Fatalf("changes %q, want %q", s, tt.want)
			}
		})
	}
}

// TestStateCarriesAcrossRuns checks window by window in separate runs
// with the stored state: the outcome equals one run over all windows.
func TestStateCarriesAcrossRuns(t *testing.T) {
	c := sim.Default(refStart, 28)
	c.Degradations = []sim.Degradation{{At: refStart.AddDate(0, 0, 21), AgeBand: "75+", PositiveMean: 0.45}}
	r := MustEvents(t, c)
	p := MustPlan(t)
	ctx := context.Background()
	e, err := monitor.NewEngine(ctx, p, r)
	if err != nil {
		t.Fatal(err)
	}
	var st monitor.State
	var raised []string
	for _, w := range monitor.Windows(p, p.Start, refStart.AddDate(0, 0, 28)) {
		res, err := e.Check(ctx, r, []monitor.Window{w}, &st)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range res.Changes {
			if ch.Raise != nil {
				raised = append(raised, ch.Raise.RuleID+"@"+ch.Raise.WindowStart.Format("01-02"))
			}
		}
	}
	one := runAll(t, MustPlan(t), r)
	var want []string
	for _, ch := range one.Changes {
		if ch.Raise != nil {
			want = append(want, ch.Raise.RuleID+"@"+ch.Raise.WindowStart.Format("01-02"))
		}
	}
	if strings.Join(raised, ",") != strings.Join(want, ",") || len(want) == 0 {
		t.Fatalf("window by window %v, in one run %v", raised, want)
	}
}

// TestSequentialDetectorsCatchARateShift raises the positive rate from
// 0.2 to 0.35 at hour 10: CUSUM and Page–Hinkley signal after the shift,
// not before.
func TestSequentialDetectorsCatchARateShift(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var evs []ethos.InferenceEvent
	for i := range 20 * 200 {
		p := 0.2
		if i >= 10*200 {
			p = 0.35
		}
		evs = append(evs, ethos.InferenceEvent{DeploymentID: "dep-u", Time: t0.Add(time.Duration(i) * 18 * time.Second), Score: 0.3, Decision: r.Float64() < p})
	}
	for _, det := range []string{"cusum", "page-hinkley"} {
		t.Run(det, func(t *testing.T) {
			rule := ethos.AlertRule{ID: "seq", Metric: ethos.MetricPositiveRateChange, Detector: det, Threshold: 15, Slack: 0.05}
			res := checkOnce(t, samplePlan(rule), evs, 20, &monitor.State{})
			var first *ethos.Alert
			for _, ch := range res.Changes {
				if ch.Raise != nil && first == nil {
					first = ch.Raise
				}
			}
			if first == nil {
				t.Fatal("no alert after the shift")
			}
			if h := first.WindowStart.Sub(t0).Hours(); h < 10 || h > 14 {
				t.Fatalf("first alert in hour %.0f, want soon after hour 10", h)
			}
		})
	}
}

func TestNewCategoryPerSiteAndMissingValue(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	evs := []ethos.InferenceEvent{
		{DeploymentID: "dep-u", Time: t0, Site: "a", Acquisition: ethos.Acquisition{SoftwareVersion: "VA50"}},
		{DeploymentID: "dep-u", Time: t0.Add(time.Minute), Site: "a", Acquisition: ethos.Acquisition{SoftwareVersion: "VA60"}},
		{DeploymentID: "dep-u", Time: t0.Add(2 * time.Minute), Site: "b", Acquisition: ethos.Acquisition{SoftwareVersion: "VA60"}},
		{DeploymentID: "dep-u", Time: t0.Add(3 * time.Minute), Acquisition: ethos.Acquisition{}},
		{DeploymentID: "dep-u", Time: t0.Add(4 * time.Minute), Site: "b", Acquisition: ethos.Acquisition{SoftwareVersion: "VA60"}},
	}
	res := checkOnce(t, samplePlan(ethos.AlertRule{ID: "new", Metric: ethos.MetricNewCategory, Field: "software_version"}), evs, 1, &monitor.State{})
	var got []string
	for _, ch := range res.Changes {
		got = append(got, fmt.Sprintf("%s@%s=%v", ch.Raise.Key, ch.Raise.Site, *ch.Raise.Value))
	}
	want := "software_version=(none)@=1 software_version=VA60@a=1 software_version=VA60@b=2"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
}

func TestNewCategoryNeedsReferenceValues(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	evs := []ethos.InferenceEvent{{DeploymentID: "dep-u", Time: t0, Site: "a", Acquisition: ethos.Acquisition{ModelName: "IQon"}}}
	res := checkOnce(t, samplePlan(ethos.AlertRule{ID: "new", Metric: ethos.MetricNewCategory, Field: "model_name"}), evs, 1, &monitor.State{})
	if len(res.Changes) != 0 || len(res.Windows[0].Checks) != 1 || res.Windows[0].Checks[0].Insufficient == "" {
		t.Fatalf("a sample without model names: changes %v, checks %+v", res.Changes, res.Windows[0].Checks)
	}
}

// TestPerSiteDrift changes the slice thickness at one site only: the
// per-site KS rule names that site, and the per-site checks of the other
// sites and fields stay quiet.
func TestPerSiteDrift(t *testing.T) {
	mid := refStart.AddDate(0, 0, 21)
	evs, err := sim.Generate(sim.Default(refStart, 28))
	if err != nil {
		t.Fatal(err)
	}
	thick := 5.0
	for i := range evs {
		if evs[i].Site == "site-c" && !evs[i].Time.Before(mid) {
			evs[i].Acquisition.SliceThickness = &thick
		}
	}
	p := MustPlan(t)
	p.Rules = []ethos.AlertRule{
		{ID: "thick-site", Metric: ethos.MetricKSP, Field: "slice_thickness", Scope: ethos.ScopeSite, Threshold: 0.001, MinN: 50, RaiseAfter: 2},
		{ID: "age-site", Metric: ethos.MetricPSI, Field: "age_band", Scope: ethos.ScopeSite, Threshold: 0.25, MinN: 50},
		{ID: "score-site", Metric: ethos.MetricScoreKSP, Scope: ethos.ScopeSite, Threshold: 0.001, MinN: 50, RaiseAfter: 2},
	}
	p.StopRules = nil
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	res := runAll(t, p, sim.NewReader(evs))
	var got []string
	for _, ch := range res.Changes {
		if a := ch.Raise; a != nil {
			got = append(got, a.RuleID+" "+a.Key+"@"+a.Site)
		}
	}
	if want := "thick-site slice_thickness at site site-c@site-c"; strings.Join(got, ",") != want {
		t.Fatalf("raised %q, want %q", got, want)
	}
	judged := map[string]int{}
	for _, w := range res.Windows {
		for _, c := range w.Checks {
			if c.Insufficient == "" {
				judged[c.RuleID+"@"+c.Site]++
			}
		}
	}
	for _, k := range []string{"thick-site@site-a", "age-site@site-b", "score-site@site-c"} {
		if judged[k] != 14 {
			t.Errorf("%s judged in %d windows, want 14", k, judged[k])
		}
	}
}

func TestScopeValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		rule ethos.AlertRule
		ok   bool
	}{
		{"DriftPerSite", ethos.AlertRule{ID: "a", Metric: ethos.MetricPSI, Field: "kvp", Scope: ethos.ScopeSite}, true},
		{"ScorePerSite", ethos.AlertRule{ID: "a", Metric: ethos.MetricScoreWasserstein, Scope: ethos.ScopeSite}, true},
		{"ErrNewValuePerSite", ethos.AlertRule{ID: "a", Metric: ethos.MetricNewCategory, Field: "model_name", Scope: ethos.ScopeSite}, false},
		{"ErrRateBySubgroup", ethos.AlertRule{ID: "a", Metric: ethos.MetricPositiveRate, Scope: ethos.ScopeSubgroup}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := MustPlan(t)
			p.Rules, p.StopRules = []ethos.AlertRule{tt.rule}, nil
			if err := p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("validate: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
