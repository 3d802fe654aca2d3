// Command monitor measures the deployment monitor's window checks: it
// simulates a reference fortnight (100,000 events) and 30 daily windows
// holding 1,000,000 events, then times the reference preparation and one
// full pass of every rule over every window, reporting wall time, the
// process's CPU time (user + system) and its peak memory.
//
//	go run ./bench/monitor [-events 1000000] [-days 30] [-repeat 3]
package main

import (
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, berlin)

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// workload returns the events and a plan with every family of rule: input
// drift on categorical and numeric fields, new values, output drift,
// performance overall, per subgroup and per site, gaps, and both
// sequential detectors.
//
// perSite adds two per-site drift rules (score KS and kVp KS per site).
func workload(events, days int, perSite bool) (*sim.Reader, *ethos.MonitoringPlan, []monitor.Window, error) {
	ref := sim.Default(t0, 14)
	ref.PerDay, ref.LabelShare = 100_000/14, 0.5
	mon := sim.Default(t0.AddDate(0, 0, 14), days)
	mon.PerDay, mon.Seed, mon.LabelShare = (events+days-1)/days, 2, 0.5
	mon.Upgrades = []sim.Upgrade{{At: t0.AddDate(0, 0, 14+days/2), Site: "site-b", Version: "30.0"}}
	mon.Degradations = []sim.Degradation{{At: t0.AddDate(0, 0, 14+days/2), AgeBand: "75+", PositiveMean: 0.5}}
	a, err := sim.Generate(ref)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := sim.Generate(mon)
	if err != nil {
		return nil, nil, nil, err
	}
	r := sim.NewReader(append(a, b...))
	up := true
	p := &ethos.MonitoringPlan{
		DeploymentID: "dep-sim", ProjectID: "prj-bench",
		Window:    ethos.WindowSpec{Every: ethos.WindowDaily, TimeZone: "Europe/Berlin"},
		Reference: ethos.ReferenceSpec{From: t0, To: t0.AddDate(0, 0, 14)},
		Rules: []ethos.AlertRule{
			{ID: "new-model", Metric: ethos.MetricNewCategory, Field: "model_name"},
			{ID: "new-sw", Metric: ethos.MetricNewCategory, Field: "software_version"},
			{ID: "psi-body", Metric: ethos.MetricPSI, Field: "body_part", Threshold: 0.25},
			{ID: "psi-protocol", Metric: ethos.MetricPSI, Field: "protocol", Threshold: 0.25},
			{ID: "psi-age", Metric: ethos.MetricPSI, Field: "age_band", Threshold: 0.25},
			{ID: "chi2-manufacturer", Metric: ethos.MetricChi2P, Field: "manufacturer", Threshold: 0.001},
			{ID: "js-sex", Metric: ethos.MetricJS, Field: "sex", Threshold: 0.1},
			{ID: "psi-site", Metric: ethos.MetricPSI, Field: "site", Threshold: 0.25},
			{ID: "ks-kvp", Metric: ethos.MetricKSP, Field: "kvp", Threshold: 0.001},
			{ID: "w-thickness", Metric: ethos.MetricWasserstein, Field: "slice_thickness", Threshold: 0.5},
			{ID: "psi-latency", Metric: ethos.MetricPSI, Field: "latency_ms", Threshold: 0.25},
			{ID: "score-psi", Metric: ethos.MetricScorePSI, Threshold: 0.2},
			{ID: "score-ks", Metric: ethos.MetricScoreKSP, Threshold: 0.001},
			{ID: "score-w", Metric: ethos.MetricScoreWasserstein, Threshold: 0.05},
			{ID: "pos-shift", Metric: ethos.MetricPositiveShift, Threshold: 0.1},
			{ID: "override", Metric: ethos.MetricOverrideRate, Threshold: 0.2, Above: &up},
			{ID: "pos-cusum", Metric: ethos.MetricPositiveRateChange, Threshold: 25},
			{ID: "ovr-ph", Metric: ethos.MetricOverrideRateChange, Detector: "page-hinkley", Threshold: 25},
			{ID: "sens", Metric: ethos.MetricSensitivity, Threshold: 0.8, UseCI: true, MinN: 50},
			{ID: "spec", Metric: ethos.MetricSpecificity, Threshold: 0.8, UseCI: true, MinN: 50},
			{ID: "ppv", Metric: ethos.MetricPPV, Threshold: 0.5, UseCI: true, MinN: 50},
			{ID: "auroc", Metric: ethos.MetricAUROC, Threshold: 0.85, UseCI: true, MinN: 50},
			{ID: "sens-sub", Metric: ethos.MetricSensitivity, Scope: ethos.ScopeSubgroup, Threshold: 0.75, UseCI: true, MinN: 20},
			{ID: "sens-site", Metric: ethos.MetricSensitivity, Scope: ethos.ScopeSite, Threshold: 0.75, UseCI: true, MinN: 20},
			{ID: "auroc-site", Metric: ethos.MetricAUROC, Scope: ethos.ScopeSite, Threshold: 0.8, UseCI: true, MinN: 20},
			{ID: "gap-sex", Metric: ethos.MetricGap, Field: "sex", Threshold: 0.2, MinN: 20},
			{ID: "gapdrift-age", Metric: ethos.MetricGapDrift, Field: "age_band", Threshold: 0.25, MinN: 20},
		},
		Owners: []string{"bench"},
	}
	if perSite {
		p.Rules = append(p.Rules,
			ethos.AlertRule{ID: "score-site", Metric: ethos.MetricScoreKSP, Scope: ethos.ScopeSite, Threshold: 0.001, RaiseAfter: 2, ClearAfter: 3},
			ethos.AlertRule{ID: "kvp-site", Metric: ethos.MetricKSP, Field: "kvp", Scope: ethos.ScopeSite, Threshold: 0.001, RaiseAfter: 2, ClearAfter: 3})
	}
	if err := p.Validate(); err != nil {
		return nil, nil, nil, err
	}
	ws := monitor.Windows(p, p.Start, t0.AddDate(0, 0, 14+days))
	return r, p, ws, nil
}
