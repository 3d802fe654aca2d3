package drift_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// pythonWithScipy returns a python3 that can import scipy: the one on
// PATH, or Debian's /usr/bin/python3 when PATH points at another
// installation (pyenv) without it.
func pythonWithScipy(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import scipy, numpy").Run() == nil {
			return path
		}
	}
	testenv.Missing(t, "python3 with scipy and numpy (Debian python3-scipy)")
	return ""
}

// runScipy sends the cases to testdata/scipy_ref.py and decodes its
// answers into out.
func runScipy(t *testing.T, cases any, out any) {
	t.Helper()
	py := pythonWithScipy(t)
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "scipy_ref.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("scipy_ref.py: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("decode scipy output: %v", err)
	}
}

const tol = 1e-9

// close reports whether got and want agree to 1e-9, absolutely for
// values up to 1 and relatively beyond.
func close(got, want float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func normal(r *rand.Rand, n int, mu, sigma float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = mu + sigma*r.NormFloat64()
	}
	return x
}

func rounded(x []float64, step float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Round(v/step) * step
	}
	return y
}

type ksCase struct {
	name string
	a, b []float64
}

func ksCases() []ksCase {
	r := rand.New(rand.NewPCG(7, 11))
	return []ksCase{
		{"ExactEqualSizes", normal(r, 60, 0, 1), normal(r, 60, 0.4, 1)},
		{"ExactUnequalSizes", normal(r, 37, 0, 1), normal(r, 81, 0.3, 1.2)},
		{"ExactTies", rounded(normal(r, 200, 0, 1), 0.5), rounded(normal(r, 300, 0.1, 1), 0.5)},
		{"ExactLargeUnequal", normal(r, 10000, 0, 1), normal(r, 7001, 0.03, 1)},
		{"ExactTinyPValue", normal(r, 400, 0, 1), normal(r, 250, 1.5, 1)},
		{"ExactSameSample", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}},
		{"ExactOneValueEach", []float64{1}, []float64{2}},
		{"ExactNegativeSign", normal(r, 90, 0.5, 1), normal(r, 70, 0, 1)},
		{"AsympPelzGood", normal(r, 20000, 0, 1), normal(r, 15000, 0.02, 1)},
		{"AsympSmirnovTail", normal(r, 12000, 0, 1), normal(r, 11000, 0.1, 1)},
		{"AsympSmallEffectiveN", normal(r, 5, 0, 1), normal(r, 20000, 0.2, 1)},
		{"AsympMediumEffectiveN", normal(r, 120, 0, 1), normal(r, 15000, 0.05, 1)},
		{"AsympInfinities", append(normal(r, 11000, 0, 1), math.Inf(1), math.Inf(-1)), normal(r, 500, 0, 1)},
	}
}

func TestKSMatchesScipy(t *testing.T) {
	cases := ksCases()
	in := make([]map[string]any, len(cases))
	for i, c := range cases {
		in[i] = map[string]any{"kind": "ks", "a": finiteOnly(c.a), "b": finiteOnly(c.b)}
	}
	// JSON has no infinities: substitute the largest floats for them on
	// both sides (the statistic only depends on the order).
	for i := range cases {
		cases[i].a, cases[i].b = finiteOnly(cases[i].a), finiteOnly(cases[i].b)
	}
	var want []struct {
		Statistic, PValue, Location float64
		Sign                        int
	}
	runScipy(t, in, &want)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := drift.KS(c.a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			w := want[i]
			t.Logf("%s: D = %.6g p = %.6g (scipy p = %.6g, relative difference %.2g)", got.Method, got.Statistic, got.PValue, w.PValue, math.Abs(got.PValue-w.PValue)/w.PValue)
			if !close(got.Statistic, w.Statistic) || !close(got.PValue, w.PValue) {
				t.Errorf("D = %.17g, p = %.17g (%s); scipy D = %.17g, p = %.17g", got.Statistic, got.PValue, got.Method, w.Statistic, w.PValue)
			}
			if got.Location != w.Location || got.Sign != w.Sign {
				t.Errorf("location %v sign %d; scipy %v sign %d", got.Location, got.Sign, w.Location, w.Sign)
			}
		})
	}
}

func finiteOnly(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		switch {
		case math.IsInf(v, 1):
			v = math.MaxFloat64
		case math.IsInf(v, -1):
			v = -math.MaxFloat64
		}
		y[i] = v
	}
	return y
}
