package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var updateEval = flag.Bool("update-eval", false, "rewrite testdata/eval_*.golden")

// evalRows writes a seeded predictions table: patient, sex, site, label,
// score.
func evalRows(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("patient,sex,site,label,score\n")
	for i := range n {
		sex := []string{"F", "M"}[rng.IntN(2)]
		site := []string{"north", "south", "east"}[rng.IntN(3)]
		x := rng.NormFloat64()
		y := 0
		if rng.Float64() < 1/(1+math.Exp(-(x-1))) {
			y = 1
		}
		s := 1 / (1 + math.Exp(-(x - 1 + 0.8*rng.NormFloat64())))
		fmt.Fprintf(&b, "p%d,%s,%s,%d,%.4f\n", i/2, sex, site, y, s)
	}
	path := filepath.Join(t.TempDir(), "pred.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalCommand(t *testing.T) {
	in := evalRows(t, 1500)
	dir := t.TempDir()
	crit := filepath.Join(dir, "criteria.json")
	os.WriteFile(crit, []byte(`[
 {"id":"C1","metric":"auroc","scope":"overall","bound":"ci_lower","comparator":">=","value":0.5},
 {"id":"C2","metric":"sensitivity","scope":"gap","attribute":"sex","comparator":"<=","value":0.5}
]`), 0o644)
	failing := filepath.Join(dir, "failing.json")
	os.WriteFile(failing, []byte(`[{"metric":"auroc","scope":"overall","comparator":">=","value":0.999}]`), 0o644)
	base := []string{"eval", "--in", in, "--label", "label", "--score", "score", "--group", "sex", "--group", "site"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"OKJSON", append(base, "--intersect", "--criteria", crit, "--bootstrap", "50", "--patient", "patient"), 0, ""},
		{"OKCSV", append(base, "--format", "csv"), 0, ""},
		{"OKHTML", append(base, "--format", "html", "--prevalence", "0.1"), 0, ""},
		{"FailCriterion", append(base, "--criteria", failing), 1, "1 of 1 acceptance criteria failed"},
		{"OKBootstrapMetrics", append(base, "--bootstrap", "40", "--bootstrap-metrics", "auroc, sensitivity,fpr"), 0, ""},
		{"UsageBootstrapMetricUnknown", append(base, "--bootstrap", "40", "--bootstrap-metrics", "auroc,recall"), 2, `"recall" is not a metric`},
		{"UsageBootstrapMetricTwice", append(base, "--bootstrap", "40", "--bootstrap-metrics", "auroc,auroc"), 2, "given twice"},
		{"UsageBootstrapMetricsWithoutBootstrap", append(base, "--bootstrap-metrics", "auroc"), 2, "needs --bootstrap"},
		{"ErrCalibrationFitWithoutRefits", append(base, "--bootstrap", "10", "--bootstrap-metrics", "calibration_slope"), 1, "needs the calibration refits"},
		{"UsageNoInput", []string{"eval", "--label", "l", "--score", "s"}, 2, "--in is required"},
		{"UsageBadFormat", append(base, "--format", "xml"), 2, "--format"},
		{"UsageBadThreshold", append(base, "--threshold", "1.5"), 2, "--threshold"},
		{"UsageDuplicateGroup", append(base, "--group", "sex"), 2, "given twice"},
		{"ErrMissingColumn", []string{"eval", "--in", in, "--label", "outcome", "--score", "score"}, 1, `column "outcome": column not found`},
		{"ErrMissingFile", []string{"eval", "--in", filepath.Join(dir, "nope.csv"), "--label", "l", "--score", "s"}, 1, "open predictions"},
		{"ErrBadCriteria", append(base, "--criteria", in), 1, "criteria"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.wantErr)
			}
			switch tc.name {
			case "OKJSON", "FailCriterion":
				var rep evalstat.Report
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
					t.Fatalf("output is not a report: %v", err)
				}
				if rep.SchemaVersion != evalstat.SchemaVersion || rep.Overall.N != 1500 || len(rep.Criteria) == 0 {
					t.Errorf("report: schema %q, n %d, %d criteria", rep.SchemaVersion, rep.Overall.N, len(rep.Criteria))
				}
				if tc.name == "OKJSON" && (len(rep.Groupings) != 3 || rep.Bootstrap == nil || rep.Bootstrap.Clusters != 750) {
					t.Errorf("groupings %d, bootstrap %+v", len(rep.Groupings), rep.Bootstrap)
				}
			case "OKBootstrapMetrics":
				var rep evalstat.Report
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
					t.Fatalf("output is not a report: %v", err)
				}
				if got := strings.Join(rep.Bootstrap.Metrics, ","); got != "sensitivity,fpr,auroc" {
					t.Errorf("bootstrap.metrics %q, want sensitivity,fpr,auroc", got)
				}
				for m, v := range rep.Overall.Metrics {
					_, boot := v.CI[evalstat.CIBootstrap]
					if want := m == "auroc" || m == "sensitivity" || m == "fpr"; boot != want {
						t.Errorf("overall %s: bootstrap interval %v, want %v", m, boot, want)
					}
				}
				if _, ok := rep.Groupings[0].Fairness["equalized_odds_difference"].CI[evalstat.CIBootstrap]; !ok {
					t.Error("equalized odds difference (from sensitivity and fpr) not resampled")
				}
				if _, ok := rep.Groupings[0].Fairness["demographic_parity_difference"].CI[evalstat.CIBootstrap]; ok {
					t.Error("demographic parity difference resampled, but selection_rate was not chosen")
				}
			case "OKCSV":
				recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				// 6 groups (overall, 2 sexes, 3 sites) × every metric, then aggregates.
				if len(recs) < 1+6*len(evalstat.Metrics) || strings.Join(recs[0], ",") != strings.Join(evalCSVHeader, ",") {
					t.Errorf("%d records, header %v", len(recs), recs[0])
				}
			case "OKHTML":
				for _, want := range []string{"<!doctype html>", "By sex", "By site", "site=north", "In plain words", "equalized_odds_difference",
					"<svg", "ROC curve by sex", "Calibration by site", "Decision curve by sex", "Sensitivity by site", "<path", "Groups too small to judge", "Limitations"} {
					if !strings.Contains(stdout, want) {
						t.Errorf("HTML lacks %q", want)
					}
				}
			}
		})
	}
}

func TestEvalErrorsNameRowAndColumn(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"ErrLabel", "label,score\n1,0.2\n3,0.4\n", `row 2 (line 3), column "label": label must be 0 or 1`},
		{"ErrScoreNaN", "label,score\n1,NaN\n", `row 1 (line 2), column "score": score must be a number in [0, 1], got NaN`},
		{"ErrScoreRange", "label,score\n1,0.2\n0,1.01\n", `row 2 (line 3), column "score"`},
		{"ErrEmptyFile", "", "empty input"},
		{"ErrHeaderOnly", "label,score\n", "no data rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".csv")
			os.WriteFile(p, []byte(tc.data), 0o644)
			_, stderr, code := runCLI(t, "eval", "--in", p, "--label", "label", "--score", "score")
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestEvalOutputAtomicAndGolden(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "tiny.csv")
	// Two groups of eight: the worked example of docs/metrics.md.
	os.WriteFile(in, []byte("label,score,grp\n1,0.9,A\n1,0.9,A\n1,0.9,A\n1,0.1,A\n0,0.9,A\n0,0.1,A\n0,0.1,A\n0,0.1,A\n"+
		"1,0.9,B\n1,0.9,B\n1,0.1,B\n1,0.1,B\n0,0.1,B\n0,0.1,B\n0,0.1,B\n0,0.1,B\n"), 0o644)
	out := filepath.Join(dir, "report.json")
	if _, stderr, code := runCLI(t, "eval", "--in", in, "--label", "label", "--score", "score", "--group", "grp", "--bootstrap", "20", "--seed", "5", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	golden := filepath.Join("testdata", "eval_tiny.golden")
	if *updateEval {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update-eval)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff("", g, w); diff != "" {
		t.Errorf("report differs from %s at %s (run go test ./cmd/ethos -run Golden -update-eval after checking the change)", golden, diff)
	}
}

// jsonDiff returns the path of the first difference between two decoded
// JSON values, numbers compared to a relative 1e-12 (the last bits of a
// float may differ between platforms, for example with fused multiply-add).
func jsonDiff(path string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for k := range w {
			if d := jsonDiff(path+"."+k, g[k], w[k]); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); d != "" {
				return d
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)) {
			return path
		}
	default:
		if got != want {
			return path
		}
	}
	return ""
}

// TestEvalHTMLInChromium renders the report in headless Chromium and keeps
// a screenshot (in $ETHOS_ARTIFACTS when set).
func TestEvalHTMLInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	in := evalRows(t, 800)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if _, stderr, code := runCLI(t, "eval", "--in", in, "--label", "label", "--score", "score", "--group", "sex", "--group", "site", "--intersect", "--format", "html", "--out", page); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	shotDir := os.Getenv("ETHOS_ARTIFACTS")
	if shotDir == "" {
		shotDir = dir
	}
	shot := filepath.Join(shotDir, "eval-report.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1280,2400", "--screenshot="+shot, "--user-data-dir="+filepath.Join(dir, "profile"), "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	html, _ := os.ReadFile(page)
	if n := strings.Count(string(html), "<svg"); n < 5*3 {
		t.Errorf("%d charts in the page, want at least 15 (5 per grouping)", n)
	}
	if strings.Contains(stderr.String(), "Uncaught") || strings.Contains(stderr.String(), "CONSOLE") {
		t.Errorf("console errors:\n%s", stderr.String())
	}
	info, err := os.Stat(shot)
	if err != nil || info.Size() < 10000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, info)
	}
}

// TestEvalOpenErrorNamesBaseOnly: a file that cannot be opened is named by
// its base name; the directories above it (which may be named after a
// patient) stay out of the message.
func TestEvalOpenErrorNamesBaseOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "DOE_JANE_19700101")
	preds, crit := filepath.Join(dir, "preds.csv"), filepath.Join(dir, "crit.json")
	// The client commands fail on the file before any request is sent.
	client := []string{"--server", "http://127.0.0.1:1", "--token", "t"}
	for _, tc := range []struct {
		name string
		args []string
		want string // the base name the message must give
	}{
		{"PredictionsMissing", []string{"eval", "--in", preds, "--label", "l", "--score", "s"}, "preds.csv"},
		{"CriteriaMissing", []string{"eval", "--in", preds, "--label", "l", "--score", "s", "--criteria", crit}, "crit.json"},
		{"PlanCriteriaMissing", append([]string{"evaluation", "plan", "--project", "p", "--model-version", "m", "--dataset-version", "d", "--title", "t",
			"--label", "l", "--score", "s", "--group", "g", "--threshold", "0.5", "--criteria", crit}, client...), "crit.json"},
		{"UploadPredictionsMissing", append([]string{"evaluation", "upload", "--plan", "pl", "--in", preds}, client...), "preds.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			if code != 1 || strings.Contains(stderr, "DOE_JANE") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q: want 1 and %s without its directory", code, stderr, tc.want)
			}
		})
	}
}

// TestEvalWriteErrorNamesBaseOnly: a report that cannot be written (its
// directory is missing) is named by its base name, and so is the
// temporary file the error of creating it names.
func TestEvalWriteErrorNamesBaseOnly(t *testing.T) {
	in := evalRows(t, 200)
	out := filepath.Join(t.TempDir(), "DOE_JANE_19700101", "report.json")
	_, stderr, code := runCLI(t, "eval", "--in", in, "--label", "label", "--score", "score", "--out", out)
	if code != 1 || strings.Contains(stderr, "DOE_JANE") || !strings.Contains(stderr, "write report.json: ") {
		t.Fatalf("exit %d, stderr %q: want 1 and report.json without its directory", code, stderr)
	}
}
