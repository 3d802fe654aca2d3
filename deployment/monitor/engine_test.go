package monitor_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
)

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// refStart is the start of the simulated reference fortnight; monitoring
// starts 14 days later and runs 14 days.
var refStart = time.Date(2026, 3, 1, 0, 0, 0, 0, berlin)

func MustPlan(tb testing.TB) *ethos.MonitoringPlan {
	tb.Helper()
	b, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := ethos.ParseMonitoringPlan(b)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func MustEvents(tb testing.TB, c sim.Config) *sim.Reader {
	tb.Helper()
	evs, err := sim.Generate(c)
	if err != nil {
		tb.Fatal(err)
	}
	return sim.NewReader(evs)
}

// runAll checks every complete window of the monitoring fortnight in one
// run and returns the results.
func runAll(t *testing.T, p *ethos.MonitoringPlan, r ethos.InferenceEventReader) *monitor.Result {
	t.Helper()
	ctx := context.Background()
	e, err := monitor.NewEngine(ctx, p, r)
	if err != nil {
		t.Fatal(err)
	}
	ws := monitor.Windows(p, p.Start, refStart.AddDate(0, 0, 28))
	if len(ws) != 14 {
		t.Fatalf("%d windows, want 14", len(ws))
	}
	var st monitor.State
	res, err := e.Check(ctx, r, ws, &st)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// raised lists "rule key@site" of the raised alerts.
func raised(res *monitor.Result) []string {
	var out []string
	for _, c := range res.Changes {
		if a := c.Raise; a != nil {
			s := a.RuleID
			if a.Key != "" {
				s += " " + a.Key
			}
			if a.Site != "" {
				s += "@" + a.Site
			}
			out = append(out, s)
		}
	}
	return out
}

func TestScenarios(t *testing.T) {
	mid := refStart.AddDate(0, 0, 21) // the change happens halfway through monitoring
	tests := []struct {
		name   string
		modify func(c *sim.Config)
		want   []string
	}{
		{"NoChangeRaisesNothing", func(c *sim.Config) {}, nil},
		{"SoftwareUpgradeAtOneSiteRaisesNewVersionOnly", func(c *sim.Config) {
			c.Upgrades = []sim.Upgrade{{At: mid, Site: "site-a", Version: "VA60"}}
		}, []string{"new-software software_version=VA60@site-a"}},
		{"SensitivityDropInOldestBandRaisesThatBandAndItsGap", func(c *sim.Config) {
			c.Degradations = []sim.Degradation{{At: mid, AgeBand: "75+", PositiveMean: 0.45}}
		}, []string{"sensitivity-subgroup age_band=75+", "gap-age sensitivity by age_band"}},
		// Realised performance per site: the site-level rule names site-b
		// and no other site; the overall sensitivity falls with it (a third
		// of the cases), and so, in the last days, does the female
		// subgroup's upper confidence bound.
		{"SensitivityDropAtOneSiteRaisesThatSite", func(c *sim.Config) {
			c.Degradations = []sim.Degradation{{At: mid, Site: "site-b", PositiveMean: 0.45}}
		}, []string{"sensitivity", "sensitivity-site site=site-b@site-b", "sensitivity-subgroup sex=F"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sim.Default(refStart, 28)
			tt.modify(&c)
			res := runAll(t, MustPlan(t), MustEvents(t, c))
			// Every rule must have been judged: silence from windows
			// that are all "insufficient" would prove nothing.
			judged := map[string]int{}
			for _, w := range res.Windows {
				for _, c := range w.Checks {
					if c.Insufficient == "" {
						judged[c.RuleID]++
					}
				}
			}
			for _, rule := range MustPlan(t).Rules {
				if judged[rule.ID] == 0 && rule.Metric != ethos.MetricNewCategory {
					t.Errorf("rule %s never judged", rule.ID)
				}
			}
			got := raised(res)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("raised %q, want %q", got, want)
			}
			for _, ch := range res.Changes {
				if a := ch.Raise; a != nil {
					if a.WindowStart.Before(mid) {
						t.Errorf("alert %s raised in window %s, before the change at %s", a.RuleID, a.WindowStart, mid)
					}
					t.Logf("%s: %s", a.RuleID, a.Message)
				}
			}
		})
	}
}

func TestValidatePlan(t *testing.T) {
	good, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, path string
	}{
		{"ErrUnknownMetric", `"metric": "psi", "field": "body_part"`, `"metric": "psy", "field": "body_part"`, "rules[2].metric"},
		{"ErrNoOwners", `"owners": ["usr_governance_lead", "radiology-ai@hospital.example"]`, `"owners": []`, "owners"},
		{"ErrStopRuleNamesUnknownRule", `"rules": ["sensitivity", "sensitivity-subgroup"]`, `"rules": ["sensitivity", "nope"]`, "stop_rules[0].rules[1]"},
		{"ErrNoDeadline", `"decide_within": "72h"`, `"decide_within": "0s"`, "stop_rules[0].decide_within"},
		{"ErrBadWindow", `"every": "daily"`, `"every": "hourly"`, "window.every"},
		{"ErrBadTimeZone", `"Europe/Berlin"`, `"Mars/Olympus"`, "window.time_zone"},
		{"ErrUnknownField", `"project_id"`, `"patient_name": "x", "project_id"`, "unknown field"},
		{"ErrNumericMetricOnCategory", `"metric": "ks_p", "field": "kvp"`, `"metric": "ks_p", "field": "sex"`, "rules[6].field"},
		{"ErrReferenceReversed", `"to": "2026-03-15T00:00:00+01:00"`, `"to": "2026-02-15T00:00:00+01:00"`, "reference.to"},
		{"ErrBadSpan", `"grace": "2h"`, `"grace": "soon"`, "window.grace"},
		{"ErrBadWebhook", `"owners"`, `"webhook": "ftp://x", "owners"`, "webhook"},
	}
	if err := monitor.ValidatePlan(good); err != nil {
		t.Fatalf("the test plan is refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := strings.Replace(string(good), tt.from, tt.to, 1)
			if b == string(good) {
				t.Fatalf("replacement %q not found", tt.from)
			}
			err := monitor.ValidatePlan([]byte(b))
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("err %v, want invalid naming %q", err, tt.path)
			}
		})
	}
}
