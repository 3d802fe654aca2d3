package evaluation_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// flchainData evaluates the real flchain predictions with the flchain plan
// (fixed ids and times, so the renderings are deterministic).
func flchainData(t testing.TB) *evaluation.ReportData {
	t.Helper()
	plan := evaltest.FLChainPlan("prj-mortality")
	plan.ID, plan.Digest, plan.RegisteredBy, plan.AuditIndex = "evp-golden", "sha256:0123", "usr-engineer", 4
	plan.RegisteredAt = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	plan.Bootstrap, plan.MinGroupSize, plan.MinClassCount = 50, 30, 5
	tab, err := evalstat.ReadCSV(bytes.NewReader(evaltest.FLChainCSV(t)), evalstat.CSVSpec{Label: "death", Score: "score", Groups: plan.Attributes, Cluster: "person"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evalstat.Evaluate(tab, evaluation.Config(plan, 0))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := evaluation.PlanCriteria(plan)
	if err != nil {
		t.Fatal(err)
	}
	rep.Judge(cs)
	run := &ethos.EvaluationRun{ID: "evr-golden", PlanID: plan.ID, Attempt: 1, Rows: rep.Overall.N, InputDigest: "sha256:4567", Outcome: ethos.EvaluationFail,
		UploadedBy: "usr-engineer", UploadedAt: plan.RegisteredAt.Add(time.Hour), AuditIndex: 9}
	return &evaluation.ReportData{Report: rep, Plan: plan, Run: run, Attempts: []*ethos.EvaluationRun{run}, Generated: plan.RegisteredAt.Add(2 * time.Hour),
		Project: &ethos.Project{ID: "prj-mortality", Name: "Mortality risk", IntendedUse: "flag raised risk of death", Modality: "OT", ClinicalSetting: "outpatient clinic"}}
}

func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\n got %q\nwant %q", name, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs: %d lines, want %d", name, len(gl), len(wl))
	}
}

// TestRenderingsGolden pins the plain-language page and the Markdown model
// card of the flchain evaluation.
func TestRenderingsGolden(t *testing.T) {
	d := flchainData(t)
	var plain, md bytes.Buffer
	if err := evaluation.WritePlainHTML(&plain, d); err != nil {
		t.Fatal(err)
	}
	if err := evaluation.WriteModelCardMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "flchain-plain.html.golden", plain.Bytes())
	golden(t, "flchain-modelcard.md.golden", md.Bytes())
	for _, want := range []string{
		"Of 100 patients who have the condition, the model flags about 61 (between 59 and 62).",
		"For women: about 57 (between 55 and 60).",
		"Every group had enough patients to be judged.",
		"calibration slope 1.68",
	} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("plain page lacks %q", want)
		}
	}
}

// TestModelCardFields checks the card has the Model Card Toolkit's
// sections, filled, and that its numbers are the report's.
func TestModelCardFields(t *testing.T) {
	d := flchainData(t)
	var b bytes.Buffer
	if err := evaluation.WriteModelCardJSON(&b, d); err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	raw := map[string]map[string]any{}
	for k, v := range top {
		var m map[string]any
		if json.Unmarshal(v, &m) == nil {
			raw[k] = m
		}
	}
	for section, fields := range map[string][]string{
		"model_details":         {"name", "overview", "version", "owners"},
		"model_parameters":      {"data", "input_format", "output_format"},
		"quantitative_analysis": {"performance_metrics", "graphics"},
		"considerations":        {"users", "use_cases", "limitations", "tradeoffs", "ethical_considerations"},
	} {
		for _, f := range fields {
			if raw[section][f] == nil {
				t.Errorf("model card lacks %s.%s", section, f)
			}
		}
	}
	mc, err := evaluation.NewModelCard(d)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range mc.QuantitativeAnalysis.PerformanceMetrics {
		for _, g := range append([]*evalstat.GroupResult{d.Report.Overall}, d.Report.Groupings[0].Groups...) {
			if m.Slice == g.Name && m.Type == "sensitivity" {
				found++
				v := g.Metrics["sensitivity"]
				iv := v.CI[evalstat.CIBootstrap]
				if m.Value != fmt.Sprintf("%.4f", v.Estimate) || m.ConfidenceInterval == nil || m.ConfidenceInterval.LowerBound != fmt.Sprintf("%.4f", iv.Lower) || m.Threshold != "0.5" {
					t.Errorf("%s sensitivity in the card %+v, report %v (CI %v)", g.Name, m, v.Estimate, iv)
				}
			}
		}
	}
	if found != 3 {
		t.Errorf("%d sensitivity slices for overall and sex, want 3", found)
	}
	if mc.ModelParameters.Data[1].Name != "training data of flc-marker-v1" {
		t.Errorf("without the training register the card's training data is %+v", mc.ModelParameters.Data[1])
	}
	d.Model = &ethos.ModelVersion{ID: "flc-marker-v1", Name: "FLC marker", Run: "trn_01", DatasetVersion: "dsv_train_7", SHA256: strings.Repeat("ab", 32),
		CreatedAt: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}
	mc2, err := evaluation.NewModelCard(d)
	if err != nil {
		t.Fatal(err)
	}
	if mc2.ModelParameters.Data[1].Name != "dsv_train_7" || mc2.ModelDetails.Version.Date != "2026-10-01" || !strings.Contains(mc2.ModelDetails.Version.Diff, "trn_01") {
		t.Errorf("with the training register: data %+v, version %+v", mc2.ModelParameters.Data[1], mc2.ModelDetails.Version)
	}
	if len(mc.Considerations.EthicalConsiderations) < 2 || !strings.Contains(mc.Considerations.EthicalConsiderations[0].Name, "across sex") {
		t.Errorf("ethical considerations %+v", mc.Considerations.EthicalConsiderations)
	}
}

// TestReportSmallGroupsAndEscaping renders a report with a group too
// small to judge, a group with a single class (AUROC undefined) and group
// values that are HTML: the page names the small groups with the reason,
// lists the undefined value among the limitations, and escapes the text.
func TestReportSmallGroupsAndEscaping(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("site,label,score\n")
	add := func(site string, n int, posRate float64) {
		for range n {
			y := 0
			if rng.Float64() < posRate {
				y = 1
			}
			s := 1 / (1 + math.Exp(-(2*float64(y) - 1 + rng.NormFloat64())))
			fmt.Fprintf(&b, "%s,%d,%.4f\n", site, y, s)
		}
	}
	add("north", 400, 0.3)
	add("south", 300, 0.4)
	add(`<script>alert(1)</script>`, 12, 0.5)
	add("rural", 40, 0) // no positives: single class
	tab, err := evalstat.ReadCSV(strings.NewReader(b.String()), evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"site"}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evalstat.Evaluate(tab, evalstat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := &evaluation.ReportData{Report: rep, Source: "synthetic.csv", Generated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var full, plain bytes.Buffer
	if err := evaluation.WriteHTML(&full, d); err != nil {
		t.Fatal(err)
	}
	if err := evaluation.WritePlainHTML(&plain, d); err != nil {
		t.Fatal(err)
	}
	for name, page := range map[string]string{"report": full.String(), "plain": plain.String()} {
		if strings.Contains(page, "<script") {
			t.Errorf("%s: group value not escaped", name)
		}
		for _, want := range []string{"Groups too small to judge", "site rural", "only 0 with the condition", "only 12 people", "cannot be said (no positive labels"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if !strings.Contains(full.String(), "only one class present") {
		t.Error("report does not say why AUROC is undefined for site=rural")
	}
	if strings.Contains(plain.String(), "For site rural:") {
		t.Error("plain summary sentence includes a group too small to judge")
	}
}

func TestGroupLabelsAndCriterionText(t *testing.T) {
	d := flchainData(t)
	var plain bytes.Buffer
	if err := evaluation.WritePlainHTML(&plain, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"women, age band 50-59",        // part labels joined
		"people aged 80 and over",      // a plan label
		"age band 60-69",               // no label: attribute and value
		"men, people aged 80 and over", // both parts labelled
		"set 5 test(s) the model had to meet. 3 of them were met.",
	} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("plain page lacks %q", want)
		}
	}
}

// FuzzPlanCriteria feeds arbitrary criteria to the plan check: it must
// return criteria with unique, valid ids, or an EINVALID error, never
// panic.
func FuzzPlanCriteria(f *testing.F) {
	f.Add([]byte(evaltest.FLChainCriteria))
	f.Add([]byte(`[{"metric":"sensitivity","scope":"group","group":"sex=F","comparator":">=","value":0.8}]`))
	f.Add([]byte(`[{"metric":"equalized_odds_difference","scope":"gap","attribute":"sex|age_band","comparator":"<=","value":0.1}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"metric":1}`))
	f.Fuzz(func(t *testing.T, crit []byte) {
		p := evaltest.FLChainPlan("prj-x")
		p.Criteria = crit
		cs, err := evaluation.PlanCriteria(p)
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if !ethos.ValidID(c.ID) || seen[c.ID] {
				t.Fatalf("criterion id %q invalid or repeated", c.ID)
			}
			seen[c.ID] = true
		}
	})
}
