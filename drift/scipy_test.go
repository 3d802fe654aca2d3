package drift_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var (
	pyOnce sync.Once
	pyPath string
)

// pythonWithScipy returns a python3 that can import scipy: the one on
// PATH, or Debian's /usr/bin/python3 when PATH points at another
// installation (pyenv) without it; "" when there is none.
func pythonWithScipy() string {
	pyOnce.Do(func() {
		for _, p := range []string{"python3", "/usr/bin/python3"} {
			path, err := exec.LookPath(p)
			if err != nil {
				continue
			}
			if exec.Command(path, "-c", "import scipy, numpy").Run() == nil {
				pyPath = path
				return
			}
		}
	})
	return pyPath
}

// families lists, per test, the cases sent to testdata/scipy_ref.py.
// All of them go to one Python process (importing scipy costs seconds on
// a loaded machine), the first time a test asks for its answers.
var families = []struct {
	name  string
	cases func() []map[string]any
}{
	{"ks", ksInputs},
	{"kstwo", kstwoInputs},
	{"wasserstein", wassersteinInputs},
	{"chi2", chi2Inputs},
	{"js", jsInputs},
	{"psi", psiInputs},
}

var (
	scipyOnce sync.Once
	scipyOut  map[string][]json.RawMessage
	scipyErr  string
)

// runScipy decodes scipy's answers for the named family into out.
func runScipy(t *testing.T, family string, out any) {
	t.Helper()
	py := pythonWithScipy()
	if py == "" {
		testenv.Missing(t, "python3 with scipy and numpy (Debian python3-scipy)")
	}
	scipyOnce.Do(func() {
		var all []map[string]any
		counts := map[string]int{}
		for _, f := range families {
			c := f.cases()
			counts[f.name] = len(c)
			all = append(all, c...)
		}
		in, err := json.Marshal(all)
		if err != nil {
			scipyErr = err.Error()
			return
		}
		cmd := exec.Command(py, filepath.Join("testdata", "scipy_ref.py"))
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		res, err := cmd.Output()
		if err != nil {
			scipyErr = fmt.Sprintf("scipy_ref.py: %v\n%s", err, stderr.Bytes())
			return
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(res, &raw); err != nil || len(raw) != len(all) {
			scipyErr = fmt.Sprintf("decode scipy output: %v (%d answers for %d cases)", err, len(raw), len(all))
			return
		}
		scipyOut = map[string][]json.RawMessage{}
		for _, f := range families {
			scipyOut[f.name], raw = raw[:counts[f.name]], raw[counts[f.name]:]
		}
	})
	if scipyErr != "" {
		t.Fatal(scipyErr)
	}
	b, _ := json.Marshal(scipyOut[family])
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s answers: %v", family, err)
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

// finiteOnly replaces ±Inf by ±MaxFloat64 (JSON has no infinities; the
// statistic depends only on the order).
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

type twoSamples struct {
	name string
	a, b []float64
}

// The case lists are functions of fixed seeds: the Go side and the
// Python side see the same numbers.

func ksCases() []twoSamples {
	r := rand.New(rand.NewPCG(7, 11))
	return []twoSamples{
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
		{"AsympInfinities", finiteOnly(append(normal(r, 11000, 0, 1), math.Inf(1), math.Inf(-1))), normal(r, 500, 0, 1)},
	}
}

func ksInputs() []map[string]any {
	var in []map[string]any
	for _, c := range ksCases() {
		in = append(in, map[string]any{"kind": "ks", "a": c.a, "b": c.b})
	}
	return in
}

func TestKSMatchesScipy(t *testing.T) {
	var want []struct {
		Statistic, PValue, Location float64
		Sign                        int
	}
	runScipy(t, "ks", &want)
	for i, c := range ksCases() {
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

// kstwoPoints cover every branch of kolmogorovSF: the closed forms at
// both ends, the Durbin matrix (n ≤ 140, and small n·x^1.5), Pelz–Good
// and the one-sided tail (Birnbaum–Tingey sum and, for n above 10^6,
// Smirnov's approximation).
func kstwoPoints() [][2]float64 {
	var pts [][2]float64
	for _, n := range []float64{1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 1000, 4999} {
		for _, x := range []float64{0.3 / n, 0.5 / n, 0.75 / n, 1 / n, 1.5 / n, 3 / n, 0.5 / math.Sqrt(n), 0.8 / math.Sqrt(n), 1 / math.Sqrt(n),
			1.3 / math.Sqrt(n), 1.6 / math.Sqrt(n), 2.5 / math.Sqrt(n), 4 / math.Sqrt(n), 0.05, 0.2, 0.5, 0.7, 1 - 1/n, 1 - 0.5/n, 1} {
			if x > 0 && x <= 1 {
				pts = append(pts, [2]float64{n, x})
			}
		}
	}
	// large n: scipy's own evaluation is slow there, so fewer points,
	// one per branch (Ruben–Gambino, Durbin, Pelz–Good, one-sided tail,
	// and above 10^6 Smirnov's approximation)
	for _, n := range []float64{20000, 100001, 2000000} {
		for _, x := range []float64{0.75 / n, 3 / n, 0.8 / math.Sqrt(n), 1.3 / math.Sqrt(n), 1.6 / math.Sqrt(n), 0.05, 0.5} {
			pts = append(pts, [2]float64{n, x})
		}
	}
	return pts
}

func kstwoInputs() []map[string]any {
	return []map[string]any{{"kind": "kstwo", "points": kstwoPoints()}}
}

func TestKolmogorovDistributionMatchesScipy(t *testing.T) {
	var want []struct{ SF []float64 }
	runScipy(t, "kstwo", &want)
	for i, p := range kstwoPoints() {
		got := drift.KolmogorovSF(int(p[0]), p[1])
		if !close(got, want[0].SF[i]) {
			t.Errorf("P(D_%v ≥ %v) = %.17g, scipy %.17g", p[0], p[1], got, want[0].SF[i])
		}
	}
}

func wassersteinCases() []twoSamples {
	r := rand.New(rand.NewPCG(3, 5))
	return []twoSamples{
		{"Shifted", normal(r, 1000, 0, 1), normal(r, 700, 0.5, 2)},
		{"Ties", rounded(normal(r, 500, 0, 1), 0.25), rounded(normal(r, 800, 0, 1.5), 0.25)},
		{"SingleValues", []float64{3}, []float64{-1}},
		{"Identical", []float64{1, 2, 2, 5}, []float64{5, 2, 1, 2}},
		{"Large", normal(r, 100000, 10, 3), normal(r, 80000, 10.2, 3)},
		{"WideScale", normal(r, 2000, 0, 1e6), normal(r, 3000, 1e5, 1e6)},
	}
}

func wassersteinInputs() []map[string]any {
	var in []map[string]any
	for _, c := range wassersteinCases() {
		in = append(in, map[string]any{"kind": "wasserstein", "a": c.a, "b": c.b})
	}
	return in
}

func TestWassersteinMatchesScipy(t *testing.T) {
	var want []struct{ Value float64 }
	runScipy(t, "wasserstein", &want)
	for i, c := range wassersteinCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := drift.Wasserstein(c.a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			if !close(got, want[i].Value) {
				t.Errorf("W1 = %.17g, scipy %.17g", got, want[i].Value)
			}
		})
	}
}

type chi2Case struct {
	name       string
	table      [][]float64
	correction bool
}

func chi2Cases() []chi2Case {
	return []chi2Case{
		{"Yates2x2", [][]float64{{12, 5}, {7, 19}}, true},
		{"NoYates2x2", [][]float64{{12, 5}, {7, 19}}, false},
		{"YatesSmallDifference", [][]float64{{10, 10.3}, {10, 10}}, true},
		{"TwoBySix", [][]float64{{120, 80, 33, 5, 0, 41}, {110, 95, 20, 9, 4, 38}}, false},
		{"ThreeByFour", [][]float64{{20, 15, 30, 35}, {25, 25, 25, 25}, {5, 40, 30, 25}}, true},
		{"LargeCounts", [][]float64{{512034, 488123, 1200}, {50310, 49800, 300}}, false},
		{"DegenerateRow", [][]float64{{3, 4, 5}}, false},
	}
}

func chi2Inputs() []map[string]any {
	var in []map[string]any
	for _, c := range chi2Cases() {
		in = append(in, map[string]any{"kind": "chi2", "table": c.table, "correction": c.correction})
	}
	return in
}

func TestChiSquareMatchesScipy(t *testing.T) {
	var want []struct {
		Statistic, PValue float64
		DoF               int
		Expected          [][]float64
	}
	runScipy(t, "chi2", &want)
	for i, c := range chi2Cases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := drift.ChiSquare(c.table, c.correction)
			if err != nil {
				t.Fatal(err)
			}
			w := want[i]
			if !close(got.Statistic, w.Statistic) || !close(got.PValue, w.PValue) || got.DoF != w.DoF {
				t.Errorf("chi2 = %.17g p = %.17g dof %d; scipy %.17g p = %.17g dof %d", got.Statistic, got.PValue, got.DoF, w.Statistic, w.PValue, w.DoF)
			}
			for r := range w.Expected {
				for k := range w.Expected[r] {
					if !close(got.Expected[r][k], w.Expected[r][k]) {
						t.Errorf("expected[%d][%d] = %v, scipy %v", r, k, got.Expected[r][k], w.Expected[r][k])
					}
				}
			}
		})
	}
}

type jsCase struct {
	name string
	p, q []float64
	base float64
}

func jsCases() []jsCase {
	return []jsCase{
		{"NaturalLog", []float64{10, 20, 30, 40}, []float64{25, 25, 25, 25}, 0},
		{"Base2", []float64{10, 20, 30, 40}, []float64{25, 25, 25, 25}, 2},
		{"DisjointBase2", []float64{1, 0}, []float64{0, 1}, 2},
		{"ZeroCells", []float64{5, 0, 3, 0}, []float64{4, 2, 0, 0}, 0},
		{"Identical", []float64{0.2, 0.8}, []float64{2, 8}, 2},
		{"Base10", []float64{1, 2, 3}, []float64{3, 2, 1}, 10},
	}
}

func jsInputs() []map[string]any {
	var in []map[string]any
	for _, c := range jsCases() {
		in = append(in, map[string]any{"kind": "js", "p": c.p, "q": c.q, "base": c.base})
	}
	return in
}

func TestJensenShannonMatchesScipy(t *testing.T) {
	var want []struct{ Distance float64 }
	runScipy(t, "js", &want)
	for i, c := range jsCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := drift.JensenShannon(c.p, c.q, c.base)
			if err != nil {
				t.Fatal(err)
			}
			if !close(got.Distance, want[i].Distance) {
				t.Errorf("distance = %.17g, scipy %.17g", got.Distance, want[i].Distance)
			}
			if !close(got.Divergence, got.Distance*got.Distance) {
				t.Errorf("divergence %v is not distance² %v", got.Divergence, got.Distance*got.Distance)
			}
		})
	}
}

type psiCase struct {
	name string
	a, b []float64
	bins int
	eps  float64
}

func psiCases() []psiCase {
	r := rand.New(rand.NewPCG(1, 2))
	return []psiCase{
		{"Stable", normal(r, 5000, 0, 1), normal(r, 3000, 0, 1), 10, 1e-4},
		{"Shifted", normal(r, 5000, 0, 1), normal(r, 3000, 0.5, 1), 10, 1e-4},
		{"TiedReference", rounded(normal(r, 2000, 0, 1), 1), normal(r, 1000, 0, 1), 10, 1e-4},
		{"EmptyBins", normal(r, 1000, 0, 1), normal(r, 200, 5, 0.1), 20, 1e-3},
		{"FewValues", []float64{1, 2, 3}, []float64{1, 1, 1, 4}, 3, 1e-4},
	}
}

func psiInputs() []map[string]any {
	var in []map[string]any
	for _, c := range psiCases() {
		in = append(in, map[string]any{"kind": "psi", "a": c.a, "b": c.b, "bins": c.bins, "eps": c.eps})
	}
	return in
}

func TestPSIMatchesNumpy(t *testing.T) {
	var want []struct{ Value float64 }
	runScipy(t, "psi", &want)
	for i, c := range psiCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := drift.PSI(c.a, c.b, c.bins, c.eps)
			if err != nil {
				t.Fatal(err)
			}
			if !close(got.PSI, want[i].Value) {
				t.Errorf("PSI = %.17g, numpy %.17g", got.PSI, want[i].Value)
			}
		})
	}
}
