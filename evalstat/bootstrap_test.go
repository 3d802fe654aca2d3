package evalstat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

func bootReport(t *testing.T, rows []row, seed uint64, workers int, clusters bool, calib bool) []byte {
	t.Helper()
	tab, err := evalstat.NewTable([]string{"grp", "half"}, clusters)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		half := fmt.Sprint(i % 2)
		if err := tab.Add(r.label, r.score, []string{r.group, half}, fmt.Sprint(i/3)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := evalstat.DefaultConfig()
	cfg.Intersect = true
	cfg.Bootstrap = 60
	cfg.Seed = seed
	cfg.Workers = workers
	cfg.BootstrapCalibration = calib
	rep, err := evalstat.Evaluate(tab, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBootstrapReproducible(t *testing.T) {
	rows := synthRows(11, 3000)
	for _, tc := range []struct {
		name            string
		clusters, calib bool
	}{{"Rows", false, false}, {"ClusteredByPatient", true, false}, {"WithCalibrationRefits", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			one := bootReport(t, rows, 42, 1, tc.clusters, tc.calib)
			for _, w := range []int{2, 3, 8} {
				if got := bootReport(t, rows, 42, w, tc.clusters, tc.calib); !bytes.Equal(got, one) {
					t.Fatalf("report with %d workers differs from 1 worker", w)
				}
			}
			if got := bootReport(t, rows, 43, 2, tc.clusters, tc.calib); bytes.Equal(got, one) {
				t.Fatal("a different seed gave the same report")
			}
		})
	}
}

func TestBootstrapIntervals(t *testing.T) {
	rows := synthRows(5, 4000)
	// A group with a single class: every resample of it is skipped.
	for range 40 {
		rows = append(rows, row{false, 0.4, "d"})
	}
	cfg := evalstat.DefaultConfig()
	cfg.Bootstrap = 200
	cfg.Seed = 7
	rep, err := evalstat.Evaluate(MustTable(t, rows), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bootstrap == nil || rep.Bootstrap.Resamples != 200 {
		t.Fatalf("bootstrap info %+v", rep.Bootstrap)
	}
	for _, name := range []string{"overall", "grp=a", "grp=b"} {
		g := group(rep, name)
		for _, m := range []string{"auroc", "sensitivity", "brier", "ece", "net_benefit"} {
			v := g.Metrics[m]
			iv, ok := v.CI[evalstat.CIBootstrap]
			if !ok {
				t.Errorf("%s %s: no bootstrap interval", name, m)
				continue
			}
			if !(iv.Lower <= v.Estimate && v.Estimate <= iv.Upper) || iv.Lower == iv.Upper {
				t.Errorf("%s %s: estimate %v outside or degenerate interval %+v", name, m, v.Estimate, iv)
			}
		}
		if _, ok := g.Metrics["calibration_slope"].CI[evalstat.CIBootstrap]; ok {
			t.Errorf("%s: calibration slope resampled without BootstrapCalibration", name)
		}
	}
	d := group(rep, "grp=d")
	if v := d.Metrics["specificity"]; v.Skipped != 200 {
		t.Errorf("single-class group: %d resamples skipped, want 200", v.Skipped)
	}
	gap := rep.Groupings[0].Fairness["equalized_odds_difference"]
	if _, ok := gap.CI[evalstat.CIBootstrap]; gap.Defined() && !ok {
		t.Errorf("equalized odds difference has no bootstrap interval: %+v", gap)
	}
	if agg := rep.Groupings[0].Aggregates["auroc"].Difference; agg.CI[evalstat.CIBootstrap] == (evalstat.Interval{}) {
		t.Errorf("auroc difference has no bootstrap interval: %+v", agg)
	}
}
