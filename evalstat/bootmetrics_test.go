package evalstat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// subsetTable builds a table with attributes grp and half (two dimensions:
// with Intersect the intersection groups are single cells, the attribute
// groups are not), optionally clustered by a patient id shared by three
// consecutive rows.
func subsetTable(t *testing.T, rows []row, clusters bool) *evalstat.Table {
	t.Helper()
	tab, err := evalstat.NewTable([]string{"grp", "half"}, clusters)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if err := tab.Add(r.label, r.score, []string{r.group, fmt.Sprint(i % 2)}, fmt.Sprint(i/3)); err != nil {
			t.Fatal(err)
		}
	}
	return tab
}

func evaluateWith(t *testing.T, rows []row, clusters bool, cfg evalstat.Config) *evalstat.Report {
	t.Helper()
	rep, err := evalstat.Evaluate(subsetTable(t, rows, clusters), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fairnessParts is the documented dependency of each fairness measure.
var fairnessParts = map[string][]string{
	"demographic_parity_difference":  {"selection_rate"},
	"demographic_parity_ratio":       {"selection_rate"},
	"equalized_odds_difference":      {"sensitivity", "fpr"},
	"equalized_odds_difference_mean": {"sensitivity", "fpr"},
	"equalized_odds_ratio":           {"sensitivity", "fpr"},
	"equal_opportunity_difference":   {"sensitivity"},
	"equal_opportunity_ratio":        {"sensitivity"},
	"underdiagnosis_gap":             {"fnr"},
}

// TestBootstrapChosenMetrics checks that resampling only some metrics gives
// exactly the full bootstrap's intervals for them (and for their
// aggregates and the fairness measures built from them), and exactly the
// analytic report for everything else.
func TestBootstrapChosenMetrics(t *testing.T) {
	rows := synthRows(23, 2500)
	for _, tc := range []struct {
		name               string
		metrics            []string
		intersect, cluster bool
		calib              bool
	}{
		{"AUROCAloneMatchesFull", []string{"auroc"}, true, false, false},
		{"AUROCAloneClusteredWithoutIntersectionMatchesFull", []string{"auroc"}, false, true, false},
		{"AUPRCAloneClusteredMatchesFull", []string{"auprc"}, true, true, false},
		{"RankMetricsWithoutIntersectionMatchFull", []string{"auroc", "auprc"}, false, false, false},
		{"RateMetricsMatchFull", []string{"sensitivity", "fpr"}, true, false, false},
		{"MixedMetricsClusteredMatchFull", []string{"brier", "auroc", "selection_rate"}, true, true, false},
		{"CalibrationSlopeRefitMatchesFull", []string{"calibration_slope", "auprc"}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := evalstat.DefaultConfig()
			cfg.Intersect = tc.intersect
			cfg.Seed = 5
			cfg.BootstrapCalibration = tc.calib
			analytic := cfg
			analytic.BootstrapCalibration = false
			noBoot := evaluateWith(t, rows, tc.cluster, analytic)
			cfg.Bootstrap = 80
			full := evaluateWith(t, rows, tc.cluster, cfg)
			cfg.BootstrapMetrics = tc.metrics
			cfg.Workers = 2
			sub := evaluateWith(t, rows, tc.cluster, cfg)

			chosen := func(m string) bool { return slices.Contains(tc.metrics, m) }
			want := func(m string) *evalstat.Report {
				if chosen(m) {
					return full
				}
				return noBoot
			}
			for gi, gp := range sub.Groupings {
				for k, g := range append([]*evalstat.GroupResult{sub.Overall}, gp.Groups...) {
					for m, v := range g.Metrics {
						var w evalstat.GroupResult
						if k == 0 {
							w = *want(m).Overall
						} else {
							w = *want(m).Groupings[gi].Groups[k-1]
						}
						if got, exp := jsonOf(t, v), jsonOf(t, w.Metrics[m]); got != exp {
							t.Errorf("%s %s: got %s, want %s", g.Name, m, got, exp)
						}
					}
				}
				for m, a := range gp.Aggregates {
					if got, exp := jsonOf(t, a), jsonOf(t, want(m).Groupings[gi].Aggregates[m]); got != exp {
						t.Errorf("%s aggregate %s: got %s, want %s", gp.Name, m, got, exp)
					}
				}
				for f, v := range gp.Fairness {
					src := full
					for _, m := range fairnessParts[f] {
						if !chosen(m) {
							src = noBoot
						}
					}
					if got, exp := jsonOf(t, v), jsonOf(t, src.Groupings[gi].Fairness[f]); got != exp {
						t.Errorf("%s fairness %s: got %s, want %s", gp.Name, f, got, exp)
					}
				}
			}
			if len(sub.Groupings) == 0 {
				t.Fatal("no groupings")
			}
			// The chosen metrics did get bootstrap intervals (the test
			// would otherwise pass on two analytic reports).
			for _, m := range tc.metrics {
				if _, ok := sub.Overall.Metrics[m].CI[evalstat.CIBootstrap]; !ok {
					t.Errorf("overall %s has no bootstrap interval", m)
				}
			}
			var names []string
			for m := range evalstat.Metrics {
				if chosen(evalstat.Metrics[m].Name) {
					names = append(names, evalstat.Metrics[m].Name)
				}
			}
			if !slices.Equal(sub.Bootstrap.Metrics, names) {
				t.Errorf("bootstrap.metrics = %v, want %v", sub.Bootstrap.Metrics, names)
			}
			if sub.Bootstrap.Fairness == nil {
				t.Error("bootstrap.fairness absent for a chosen subset (absent means every measure)")
			}
			if js := jsonOf(t, sub.Bootstrap); !strings.Contains(js, `"fairness":[`) {
				t.Errorf("bootstrap JSON %s lacks the fairness list", js)
			}
			for _, f := range sub.Bootstrap.Fairness {
				for _, m := range fairnessParts[f] {
					if !chosen(m) {
						t.Errorf("bootstrap.fairness lists %s, built from %s which was not resampled", f, m)
					}
				}
			}
			if full.Bootstrap.Metrics != nil || full.Bootstrap.Fairness != nil {
				t.Errorf("full bootstrap lists metrics %v, fairness %v; want both absent", full.Bootstrap.Metrics, full.Bootstrap.Fairness)
			}
		})
	}
}

func TestBootstrapChosenMetricsReproducible(t *testing.T) {
	rows := synthRows(3, 2000)
	cfg := evalstat.DefaultConfig()
	cfg.Intersect = true
	cfg.Bootstrap = 50
	cfg.Seed = 9
	cfg.BootstrapMetrics = []string{"auroc"}
	cfg.Workers = 1
	one := jsonOf(t, evaluateWith(t, rows, false, cfg))
	for _, w := range []int{2, 5} {
		cfg.Workers = w
		if got := jsonOf(t, evaluateWith(t, rows, false, cfg)); got != one {
			t.Fatalf("report with %d workers differs from 1 worker", w)
		}
	}
	cfg.Seed = 10
	if got := jsonOf(t, evaluateWith(t, rows, false, cfg)); got == one {
		t.Fatal("a different seed gave the same report")
	}
}

func TestBootstrapChosenMetricsRejected(t *testing.T) {
	rows := synthRows(4, 300)
	for _, tc := range []struct {
		name    string
		metrics []string
		calib   bool
		want    string
	}{
		{"UnknownMetric", []string{"auroc", "aucroc"}, false, `"aucroc" is not a metric`},
		{"CalibrationFitWithoutRefits", []string{"calibration_intercept"}, false, "needs the calibration refits"},
		{"RefitsWithoutCalibrationFit", []string{"auroc"}, true, "neither calibration_intercept nor calibration_slope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := evalstat.DefaultConfig()
			cfg.Bootstrap = 10
			cfg.BootstrapMetrics = tc.metrics
			cfg.BootstrapCalibration = tc.calib
			_, err := evalstat.Evaluate(subsetTable(t, rows, false), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
