package evalstat_test

import (
	"math"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol || (math.IsNaN(a) && math.IsNaN(b)) }

func TestConfusionRates(t *testing.T) {
	tests := []struct {
		name   string
		c      evalstat.Confusion
		zero   bool
		want   map[string]float64 // NaN: undefined
		reason map[string]string
	}{
		{"Defined", evalstat.Confusion{TP: 8, FN: 2, TN: 6, FP: 4}, false,
			map[string]float64{"sensitivity": 0.8, "specificity": 0.6, "fpr": 0.4, "fnr": 0.2, "ppv": 8.0 / 12,
				"npv": 0.75, "accuracy": 0.7, "selection_rate": 0.6, "prevalence": 0.5, "balanced_accuracy": 0.7, "f1": 16.0 / 22}, nil},
		{"UndefinedNoPositives", evalstat.Confusion{TN: 5, FP: 1}, false,
			map[string]float64{"sensitivity": math.NaN(), "fnr": math.NaN(), "specificity": 5.0 / 6, "ppv": 0,
				"npv": 1, "balanced_accuracy": math.NaN(), "f1": 0},
			map[string]string{"sensitivity": evalstat.ReasonNoPositives, "balanced_accuracy": evalstat.ReasonNoPositives}},
		{"UndefinedNoPredictedPositives", evalstat.Confusion{TN: 5, FN: 3}, false,
			map[string]float64{"ppv": math.NaN(), "sensitivity": 0, "f1": 0, "npv": 5.0 / 8},
			map[string]string{"ppv": evalstat.ReasonNoPredictedPos}},
		{"UndefinedF1", evalstat.Confusion{TN: 5}, false,
			map[string]float64{"f1": math.NaN(), "ppv": math.NaN(), "sensitivity": math.NaN(), "specificity": 1},
			map[string]string{"f1": evalstat.ReasonF1Empty}},
		{"ZeroDivisionCompat", evalstat.Confusion{TN: 5}, true,
			map[string]float64{"f1": 0, "ppv": 0, "sensitivity": 0, "fnr": 0, "specificity": 1, "balanced_accuracy": 0.5}, nil},
		{"Empty", evalstat.Confusion{}, false,
			map[string]float64{"accuracy": math.NaN(), "selection_rate": math.NaN()},
			map[string]string{"accuracy": evalstat.ReasonNoRows}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.Rates(tc.zero)
			for name, want := range tc.want {
				v := got[name]
				if math.IsNaN(want) {
					if v.Defined() {
						t.Errorf("%s = %v, want undefined", name, v.Estimate)
					}
					if r, ok := tc.reason[name]; ok && v.Reason != r {
						t.Errorf("%s reason %q, want %q", name, v.Reason, r)
					}
					continue
				}
				if !v.Defined() || !near(v.Estimate, want) {
					t.Errorf("%s = %v (%s), want %v", name, v.Estimate, v.Reason, want)
				}
			}
		})
	}
}

func TestIntervals(t *testing.T) {
	// Wilson, k = 0 of 10: centre (z²/20)/(1+z²/10), half-width
	// z/(1+z²/10)·sqrt(z²/400); the lower end clips to 0.
	z := evalstat.Z95
	den := 1 + z*z/10
	hi := (z*z/20)/den + z/den*math.Sqrt(z*z/400)
	tests := []struct {
		name   string
		got    func() (evalstat.Interval, bool)
		lo, hi float64
		ok     bool
	}{
		{"WilsonZeroOfTen", func() (evalstat.Interval, bool) { return evalstat.Wilson(0, 10, z) }, 0, hi, true},
		// p = 0.5, n = 100: centre 0.5, half z/(1+z²/100)·sqrt(0.0025+z²/40000).
		{"WilsonHalf", func() (evalstat.Interval, bool) { return evalstat.Wilson(50, 100, z) },
			0.5 - z/(1+z*z/100)*math.Sqrt(0.0025+z*z/40000), 0.5 + z/(1+z*z/100)*math.Sqrt(0.0025+z*z/40000), true},
		{"WilsonEmptyUndefined", func() (evalstat.Interval, bool) { return evalstat.Wilson(0, 0, z) }, 0, 0, false},
		// Clopper–Pearson with k = 0: upper = 1 - (α/2)^(1/n); k = n: lower = (α/2)^(1/n).
		{"ExactZeroOfTen", func() (evalstat.Interval, bool) { return evalstat.ClopperPearson(0, 10, 0.05) }, 0, 1 - math.Pow(0.025, 0.1), true},
		{"ExactTenOfTen", func() (evalstat.Interval, bool) { return evalstat.ClopperPearson(10, 10, 0.05) }, math.Pow(0.025, 0.1), 1, true},
		{"ExactEmptyUndefined", func() (evalstat.Interval, bool) { return evalstat.ClopperPearson(0, 0, 0.05) }, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iv, ok := tc.got()
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (math.Abs(iv.Lower-tc.lo) > 1e-12 || math.Abs(iv.Upper-tc.hi) > 1e-12) {
				t.Errorf("got [%.15g, %.15g], want [%.15g, %.15g]", iv.Lower, iv.Upper, tc.lo, tc.hi)
			}
		})
	}
}

func TestPercentileMatchesNumpyLinear(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	for _, tc := range []struct{ q, want float64 }{{0.025, 1.075}, {0.975, 3.925}, {0, 1}, {1, 4}, {0.5, 2.5}} {
		if got := evalstat.Percentile(x, tc.q); !near(got, tc.want) {
			t.Errorf("Percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestClinicalUtility(t *testing.T) {
	sens, spec := evalstat.Est(0.9), evalstat.Est(0.8)
	ppv, npv := evalstat.TransportedPredictiveValues(sens, spec, 0.1)
	// PPV = .09/(.09+.18) = 1/3; NPV = .72/(.72+.01).
	if !near(ppv.Estimate, 1.0/3) || !near(npv.Estimate, 0.72/0.73) {
		t.Errorf("transported PPV, NPV = %v, %v", ppv.Estimate, npv.Estimate)
	}
	lrp, lrn := evalstat.LikelihoodRatios(sens, spec)
	if !near(lrp.Estimate, 4.5) || !near(lrn.Estimate, 0.125) {
		t.Errorf("LR+, LR- = %v, %v; want 4.5, 0.125", lrp.Estimate, lrn.Estimate)
	}
	t.Run("UndefinedLRPositiveWhenSpecificityIsOne", func(t *testing.T) {
		lrp, lrn := evalstat.LikelihoodRatios(sens, evalstat.Est(1))
		if lrp.Defined() || lrp.Reason != evalstat.ReasonSpecificityOne || !near(lrn.Estimate, 0.1) {
			t.Errorf("LR+ %+v, LR- %+v", lrp, lrn)
		}
	})
	t.Run("UndefinedTransportedWhenSensitivityUndefined", func(t *testing.T) {
		ppv, _ := evalstat.TransportedPredictiveValues(evalstat.Undefined("x"), spec, 0.1)
		if ppv.Defined() {
			t.Error("PPV defined")
		}
	})
	// NB = 30/100 - 20/100·0.25 = 0.25; treat all: 0.4 - 0.6·0.25 = 0.25.
	if nb := evalstat.NetBenefit(30, 20, 100, 0.2); !near(nb.Estimate, 0.25) {
		t.Errorf("net benefit %v", nb.Estimate)
	}
	if nb := evalstat.NetBenefitTreatAll(0.4, 0.2); !near(nb.Estimate, 0.25) {
		t.Errorf("treat-all net benefit %v", nb.Estimate)
	}
	if nb := evalstat.NetBenefit(30, 20, 100, 1); nb.Defined() || nb.Reason != evalstat.ReasonThresholdOne {
		t.Errorf("net benefit at t=1: %+v", nb)
	}
}

func TestAggregateFairlearnDefinitions(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		vals    []float64
		overall float64
		higher  bool
		// min, max, difference, difference_to_overall, ratio, ratio_to_overall, worst
		want []float64
	}{
		{"ThreeGroups", []float64{0.8, 0.6, 0.7}, 0.72, true, []float64{0.6, 0.8, 0.2, 0.12, 0.75, 0.6 / 0.72, 0.6}},
		{"WorstIsMaxForErrors", []float64{0.1, 0.3}, 0.2, false, []float64{0.1, 0.3, 0.2, 0.1, 1.0 / 3, 0.5, 0.3}},
		{"UndefinedGroupSkipped", []float64{0.5, nan, 0.25}, 0.4, true, []float64{0.25, 0.5, 0.25, 0.15, 0.5, 0.625, 0.25}},
		{"OneGroupNoDifference", []float64{0.5}, 0.5, true, []float64{0.5, 0.5, nan, 0, nan, 1, 0.5}},
		{"AllZeroRatioOne", []float64{0, 0}, 0, true, []float64{0, 0, 0, 0, 1, 1, 0}},
		{"NoneDefined", []float64{nan, nan}, 0.5, true, []float64{nan, nan, nan, nan, nan, nan, nan}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := evalstat.AggregateNumbers(tc.vals, tc.overall, tc.higher)
			for i := range tc.want {
				if !near(got[i], tc.want[i]) {
					t.Errorf("got %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

// tinyRows builds the worked example of docs/metrics.md: two groups of 8.
// Group A: positives score .9 .9 .9 .1 (TPR .75), negatives .9 .1 .1 .1
// (FPR .25). Group B: positives .9 .9 .1 .1 (TPR .5), negatives all .1 (FPR 0).
func tinyRows() []row {
	var rows []row
	add := func(g string, label bool, scores ...float64) {
		for _, s := range scores {
			rows = append(rows, row{label, s, g})
		}
	}
	add("A", true, 0.9, 0.9, 0.9, 0.1)
	add("A", false, 0.9, 0.1, 0.1, 0.1)
	add("B", true, 0.9, 0.9, 0.1, 0.1)
	add("B", false, 0.1, 0.1, 0.1, 0.1)
	return rows
}

func TestFairnessMeasures(t *testing.T) {
	rep, err := evalstat.Evaluate(MustTable(t, tinyRows()), evalstat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Groupings[0].Fairness
	for name, want := range map[string]float64{
		// selection A 4/8, B 2/8.
		"demographic_parity_difference": 0.25, "demographic_parity_ratio": 0.5,
		// TPR diff .25, FPR diff .25.
		"equalized_odds_difference": 0.25, "equalized_odds_difference_mean": 0.25,
		// TPR ratio .5/.75, FPR ratio 0/.25.
		"equalized_odds_ratio": 0, "equal_opportunity_difference": 0.25, "equal_opportunity_ratio": 2.0 / 3,
		// FNR A .25, B .5.
		"underdiagnosis_gap": 0.25,
	} {
		if v := f[name]; !v.Defined() || !near(v.Estimate, want) {
			t.Errorf("%s = %+v, want %v", name, v, want)
		}
	}
	a := rep.Groupings[0].Aggregates["sensitivity"]
	if a.WorstGroup != "grp=B" || a.MinGroup != "grp=B" || a.MaxGroup != "grp=A" || a.GroupsCompared != 2 {
		t.Errorf("sensitivity aggregate %+v", a)
	}
	for _, g := range rep.Groupings[0].Groups {
		if !g.TooSmallToJudge || len(g.Flags) != 3 {
			t.Errorf("%s flags %v, want small_group few_positives few_negatives", g.Name, g.Flags)
		}
	}
}

func TestRankAndCalibrationByHand(t *testing.T) {
	// Positives .8 .5, negatives .5 .2: pairs 1 + 1 + ½ + 1 = 3.5 of 4.
	// Average precision: at .8 precision 1, recall ½; at .5 precision 2/3,
	// recall 1: ½·1 + ½·2/3.
	rows := []row{{true, 0.8, "x"}, {true, 0.5, "x"}, {false, 0.5, "x"}, {false, 0.2, "x"}}
	rep, err := evalstat.Evaluate(MustTable(t, rows), evalstat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Overall.Metrics
	if !near(m["auroc"].Estimate, 0.875) || !near(m["auprc"].Estimate, 0.5+1.0/3) {
		t.Errorf("auroc %v auprc %v", m["auroc"].Estimate, m["auprc"].Estimate)
	}
	// Brier: (.04 + .25 + .25 + .04)/4.
	if !near(m["brier"].Estimate, 0.145) {
		t.Errorf("brier %v", m["brier"].Estimate)
	}
	// ECE: bin 2 (.2, y 0) gap .2; bin 5 (.5, .5; y 1, 0) gap 0; bin 8 (.8, y 1) gap .2 → (.2+.2)/4.
	if !near(m["ece"].Estimate, 0.1) || !near(m["mce"].Estimate, 0.2) {
		t.Errorf("ece %v mce %v", m["ece"].Estimate, m["mce"].Estimate)
	}
	// O/E = 2/2.0; calibration in the large = 0.5 - 0.5.
	if !near(m["oe_ratio"].Estimate, 1) || !near(m["calibration_in_the_large"].Estimate, 0) {
		t.Errorf("oe %v citl %v", m["oe_ratio"].Estimate, m["calibration_in_the_large"].Estimate)
	}
	// Net benefit at .5: TP 2, FP 1 of 4: .5 - .25.
	if !near(m["net_benefit"].Estimate, 0.25) {
		t.Errorf("net benefit %v", m["net_benefit"].Estimate)
	}
	// Decision curve at .5 agrees with net_benefit.
	for _, p := range rep.Overall.Curves.Decision {
		if p.Threshold == 0.5 && !near(p.NetBenefit, 0.25) {
			t.Errorf("decision curve at .5: %v", p.NetBenefit)
		}
	}
	// ROC from (0,0) to (1,1).
	roc := rep.Overall.Curves.ROC
	if roc[0] != [2]float64{0, 0} || roc[len(roc)-1] != [2]float64{1, 1} {
		t.Errorf("roc %v", roc)
	}
}

func TestUndefinedWithReason(t *testing.T) {
	t.Run("SingleClassGroupAUROCUndefinedRestComputed", func(t *testing.T) {
		rows := append(tinyRows(), row{false, 0.3, "C"}, row{false, 0.6, "C"})
		rep, err := evalstat.Evaluate(MustTable(t, rows), evalstat.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		c := group(rep, "grp=C")
		if v := c.Metrics["auroc"]; v.Defined() || v.Reason != evalstat.ReasonOneClass {
			t.Errorf("auroc %+v", v)
		}
		if v := c.Metrics["calibration_slope"]; v.Defined() || v.Reason != evalstat.ReasonOneClass {
			t.Errorf("calibration slope %+v", v)
		}
		if v := c.Metrics["specificity"]; !near(v.Estimate, 0.5) {
			t.Errorf("specificity %+v", v)
		}
		if v := c.Metrics["sensitivity"]; v.Defined() {
			t.Errorf("sensitivity %+v", v)
		}
		if !c.TooSmallToJudge {
			t.Error("not flagged")
		}
	})
	t.Run("SeparatedDataSlopeUndefined", func(t *testing.T) {
		rows := []row{{false, 0.1, "x"}, {false, 0.2, "x"}, {true, 0.8, "x"}, {true, 0.9, "x"}}
		rep, err := evalstat.Evaluate(MustTable(t, rows), evalstat.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if v := rep.Overall.Metrics["calibration_slope"]; v.Defined() {
			t.Errorf("slope defined on separated data: %+v", v)
		}
		if v := rep.Overall.Metrics["auroc"]; !near(v.Estimate, 1) {
			t.Errorf("auroc %+v", v)
		}
	})
	t.Run("PrevalenceNotDeclared", func(t *testing.T) {
		rep, err := evalstat.Evaluate(MustTable(t, tinyRows()), evalstat.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if v := rep.Overall.Metrics["ppv_at_prevalence"]; v.Defined() || v.Reason != evalstat.ReasonPrevalenceUnset {
			t.Errorf("%+v", v)
		}
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		if _, err := evalstat.Evaluate(MustTable(t, nil), evalstat.DefaultConfig()); err != evalstat.ErrEmpty {
			t.Errorf("err = %v", err)
		}
	})
}

func TestTooManyGroups(t *testing.T) {
	tab, err := evalstat.NewTable([]string{"id"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evalstat.MaxGroups + 1 {
		tab.Add(i%2 == 0, 0.5, []string{formatFloat(float64(i))}, "")
	}
	if _, err := evalstat.Evaluate(tab, evalstat.DefaultConfig()); err == nil || !strings.Contains(err.Error(), "at most 10000") {
		t.Errorf("err = %v", err)
	}
}
