package evalstat_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// TestAgreesWithScikitLearn compares every metric scikit-learn, scipy or a
// numpy transcription of the definition computes with evalstat's, on the
// same rows, to 1e-9.
func TestAgreesWithScikitLearn(t *testing.T) {
	py := pythonWithSklearn(t)
	for _, tc := range []struct {
		name      string
		seed      uint64
		n         int
		threshold float64
	}{
		{"Ties500", 1, 500, 0.5},
		{"Ties5000", 2, 5000, 0.3},
		{"Threshold07", 3, 2000, 0.7},
		// Above 2^18 rows the calibration fits start on a subsample.
		{"Large100k", 4, 100000, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			compareWithReference(t, py, synthRows(tc.seed, tc.n), tc.threshold)
		})
	}
}

// compareWithReference evaluates rows (grouped by "grp") and compares every
// number testdata/reference.py computes for them.
func compareWithReference(t *testing.T, py string, rows []row, threshold float64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, csvOf(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/reference.py", path, formatFloat(threshold)).Output()
	if err != nil {
		t.Fatalf("reference.py: %v", err)
	}
	var ref map[string]map[string]any
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	cfg := evalstat.DefaultConfig()
	cfg.Threshold = threshold
	cfg.ZeroDivision = true
	rep, err := evalstat.Evaluate(MustTable(t, rows), cfg)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for gname, want := range ref {
		g := group(rep, gname)
		if g == nil {
			t.Fatalf("group %s missing", gname)
		}
		if got := float64(g.N); got != want["n"].(float64) {
			t.Errorf("%s n = %v, want %v", gname, got, want["n"])
		}
		for name, w := range want {
			compared++
			switch name {
			case "n", "positives":
				continue
			case "delong_se":
				v := g.Metrics["auroc"]
				iv := v.CI[evalstat.CIDeLong]
				se := w.(float64)
				checkClose(t, gname+" delong lower", iv.Lower, math.Max(0, v.Estimate-evalstat.Z95*se))
				checkClose(t, gname+" delong upper", iv.Upper, math.Min(1, v.Estimate+evalstat.Z95*se))
			case "sensitivity_cp", "sensitivity_wilson":
				method := evalstat.CIExact
				if name == "sensitivity_wilson" {
					method = evalstat.CIWilson
				}
				iv := g.Metrics["sensitivity"].CI[method]
				wl := w.([]any)
				checkClose(t, gname+" "+name+" lower", iv.Lower, wl[0].(float64))
				checkClose(t, gname+" "+name+" upper", iv.Upper, wl[1].(float64))
			default:
				v, ok := g.Metrics[name]
				if !ok {
					t.Fatalf("metric %s missing", name)
				}
				if !v.Defined() {
					t.Errorf("%s %s undefined (%s), reference %v", gname, name, v.Reason, w)
					continue
				}
				checkClose(t, gname+" "+name, v.Estimate, w.(float64))
			}
		}
	}
	if compared < 20 {
		t.Fatalf("only %d numbers compared", compared)
	}
}

func checkClose(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %.15g, reference %.15g (diff %.3g)", what, got, want, got-want)
	}
}
