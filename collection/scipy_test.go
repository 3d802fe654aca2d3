package collection_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestWilsonMatchesScipy compares every share interval and prevalence
// interval of the golden input's report with scipy's
// binomtest(k, n).proportion_ci(method="wilson").
func TestWilsonMatchesScipy(t *testing.T) {
	py := testenv.Tool(t, "python3")
	found := false
	for _, p := range []string{py, "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import scipy.stats").Run() == nil {
			py, found = p, true
			break
		}
	}
	if !found {
		testenv.Missing(t, "python3 with scipy (Debian python3-scipy)")
	}
	recs, ref := mustInputs(t)
	r, err := collection.Represent(recs, ref)
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		name   string
		k, n   int
		lo, hi float64
	}
	var checks []check
	for _, b := range append(append([]*collection.Breakdown(nil), r.Attributes...), r.Intersections...) {
		for _, g := range b.Groups {
			if b.Known > 0 {
				checks = append(checks, check{b.Key() + " " + g.Label() + " share", g.Count, b.Known, g.ShareCI.Lower, g.ShareCI.Upper})
			}
			if g.PrevalenceCI != nil {
				checks = append(checks, check{b.Key() + " " + g.Label() + " prevalence", g.Positives, g.Labelled, g.PrevalenceCI.Lower, g.PrevalenceCI.Upper})
			}
		}
	}
	var pairs []string
	for _, c := range checks {
		pairs = append(pairs, fmt.Sprintf("(%d,%d)", c.k, c.n))
	}
	script := "import json\nfrom scipy.stats import binomtest\nout=[]\nfor k,n in [" + strings.Join(pairs, ",") + "]:\n" +
		"    ci=binomtest(k,n).proportion_ci(confidence_level=0.95,method='wilson')\n    out.append([ci.low,ci.high])\nprint(json.dumps(out))\n"
	out, err := exec.Command(py, "-c", script).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var want [][2]float64
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(checks) {
		t.Fatalf("python output: %v (%d values for %d checks)", err, len(want), len(checks))
	}
	for i, c := range checks {
		if abs(c.lo-want[i][0]) > 1e-9 || abs(c.hi-want[i][1]) > 1e-9 {
			t.Errorf("%s (%d/%d): [%v, %v], scipy [%v, %v]", c.name, c.k, c.n, c.lo, c.hi, want[i][0], want[i][1])
		}
	}
	if len(checks) < 50 {
		t.Fatalf("only %d intervals compared", len(checks))
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
