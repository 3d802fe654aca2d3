package drift_test

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

var nan, inf = math.NaN(), math.Inf(1)

func TestInputErrors(t *testing.T) {
	tests := []struct {
		name  string
		call  func() error
		want  error
		index int
	}{
		{"KSEmptyReference", func() error { _, err := drift.KS(nil, []float64{1}); return err }, drift.ErrEmpty, -1},
		{"KSEmptyCurrent", func() error { _, err := drift.KS([]float64{1}, []float64{}); return err }, drift.ErrEmpty, -1},
		{"KSNaN", func() error { _, err := drift.KS([]float64{1, 2}, []float64{3, nan}); return err }, drift.ErrNaN, 1},
		{"KSSortedUnsorted", func() error { _, err := drift.KSSorted([]float64{1, 3, 2}, []float64{1}); return err }, drift.ErrParam, 2},
		{"WassersteinEmpty", func() error { _, err := drift.Wasserstein([]float64{}, []float64{1}); return err }, drift.ErrEmpty, -1},
		{"WassersteinInf", func() error { _, err := drift.Wasserstein([]float64{1, inf}, []float64{1}); return err }, drift.ErrNaN, 1},
		{"WassersteinSortedUnsorted", func() error { _, err := drift.WassersteinSorted([]float64{1}, []float64{2, 1}); return err }, drift.ErrParam, 1},
		{"PSIEmpty", func() error { _, err := drift.PSI(nil, nil, 10, 0); return err }, drift.ErrEmpty, -1},
		{"PSINaNCurrent", func() error { _, err := drift.PSI([]float64{1}, []float64{0, 0, nan}, 10, 0); return err }, drift.ErrNaN, 2},
		{"PSICountsNegative", func() error {
			_, err := drift.PSICounts(drift.Table{Ref: []float64{1, -1}, Cur: []float64{1, 1}}, 0)
			return err
		}, drift.ErrNegative, 1},
		{"PSICountsLength", func() error {
			_, err := drift.PSICounts(drift.Table{Ref: []float64{1}, Cur: []float64{1, 1}}, 0)
			return err
		}, drift.ErrLength, -1},
		{"PSICountsEmptyCurrent", func() error {
			_, err := drift.PSICounts(drift.Table{Ref: []float64{1, 2}, Cur: []float64{0, 0}}, 0)
			return err
		}, drift.ErrEmpty, -1},
		{"ChiSquareZeroExpected", func() error { _, err := drift.ChiSquare([][]float64{{1, 0}, {2, 0}}, true); return err }, drift.ErrZeroExpected, 1},
		{"ChiSquareRagged", func() error { _, err := drift.ChiSquare([][]float64{{1, 2}, {2}}, true); return err }, drift.ErrLength, 1},
		{"ChiSquareNoCells", func() error { _, err := drift.ChiSquare(nil, true); return err }, drift.ErrEmpty, -1},
		{"ChiSquareNaN", func() error { _, err := drift.ChiSquare([][]float64{{1, nan}}, true); return err }, drift.ErrNaN, 1},
		{"HomogeneityEmptyReference", func() error {
			_, err := drift.Homogeneity(drift.Table{Ref: []float64{0}, Cur: []float64{3}}, false)
			return err
		}, drift.ErrEmpty, -1},
		{"JSLength", func() error { _, err := drift.JensenShannon([]float64{1}, []float64{1, 2}, 2); return err }, drift.ErrLength, -1},
		{"JSZeroSum", func() error { _, err := drift.JensenShannon([]float64{0, 0}, []float64{1, 2}, 2); return err }, drift.ErrEmpty, -1},
		{"JSBaseOne", func() error { _, err := drift.JensenShannon([]float64{1}, []float64{1}, 1); return err }, drift.ErrParam, -1},
		{"JSBaseNegative", func() error { _, err := drift.JensenShannon([]float64{1}, []float64{1}, -2); return err }, drift.ErrParam, -1},
		{"CUSUMNegativeK", func() error { _, err := drift.NewCUSUM(0, -1, 5, drift.Both); return err }, drift.ErrParam, -1},
		{"CUSUMZeroH", func() error { _, err := drift.NewCUSUM(0, 0.5, 0, drift.Both); return err }, drift.ErrParam, -1},
		{"CUSUMBadDirection", func() error { _, err := drift.NewCUSUM(0, 0.5, 1, drift.Direction(9)); return err }, drift.ErrParam, -1},
		{"CUSUMNaNValue", func() error {
			c, _ := drift.NewCUSUM(0, 0.5, 4, drift.Both)
			_, err := c.Update(nan)
			return err
		}, drift.ErrNaN, 0},
		{"PageHinkleyAlphaZero", func() error { _, err := drift.NewPageHinkley(0.1, 5, 0, drift.Both); return err }, drift.ErrParam, -1},
		{"PageHinkleyAlphaAboveOne", func() error { _, err := drift.NewPageHinkley(0.1, 5, 1.5, drift.Both); return err }, drift.ErrParam, -1},
		{"PageHinkleyNegativeLambda", func() error { _, err := drift.NewPageHinkley(0.1, -5, 1, drift.Both); return err }, drift.ErrParam, -1},
		{"PageHinkleyInfValue", func() error {
			p, _ := drift.NewPageHinkley(0.1, 5, 1, drift.Both)
			_, err := p.Update(-inf)
			return err
		}, drift.ErrNaN, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			e, ok := errors.AsType[*drift.Error](err)
			if !ok {
				t.Fatalf("%T is not a *drift.Error", err)
			}
			if e.Index != tc.index {
				t.Errorf("index = %d, want %d (%v)", e.Index, tc.index, err)
			}
		})
	}
}

func TestDegenerateSamples(t *testing.T) {
	t.Run("KSAllEqualSameValue", func(t *testing.T) {
		r, err := drift.KS([]float64{5, 5, 5}, []float64{5, 5})
		if err != nil || r.Statistic != 0 || r.PValue != 1 {
			t.Errorf("got %+v, %v; want D 0, p 1", r, err)
		}
	})
	t.Run("KSAllEqualDifferentValues", func(t *testing.T) {
		r, err := drift.KS([]float64{1, 1, 1, 1}, []float64{2, 2, 2, 2})
		if err != nil || r.Statistic != 1 || r.Sign != 1 {
			t.Fatalf("got %+v, %v; want D 1 at sign +1", r, err)
		}
		// P(D ≥ 1) for n = 4, 4: only the 2 of C(8,4) = 70 orders that
		// separate the samples completely
		if want := 2.0 / 70; math.Abs(r.PValue-want) > 1e-15 {
			t.Errorf("p = %v, want %v", r.PValue, want)
		}
	})
	t.Run("KSInfinitiesAreOrdinaryValues", func(t *testing.T) {
		a := []float64{-inf, -1, 0, 2, inf, inf}
		b := []float64{-3, 1, 5, inf}
		got, err := drift.KS(a, b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := drift.KS([]float64{-math.MaxFloat64, -1, 0, 2, math.MaxFloat64, math.MaxFloat64}, []float64{-3, 1, 5, math.MaxFloat64})
		if got.Statistic != want.Statistic || got.PValue != want.PValue {
			t.Errorf("with infinities %+v, with the largest floats %+v", got, want)
		}
	})
	t.Run("WassersteinAllEqual", func(t *testing.T) {
		w, err := drift.Wasserstein([]float64{3, 3}, []float64{3})
		if err != nil || w != 0 {
			t.Errorf("got %v, %v; want 0", w, err)
		}
		w, _ = drift.Wasserstein([]float64{3, 3}, []float64{5, 5, 5})
		if w != 2 {
			t.Errorf("point masses 2 apart: got %v, want 2", w)
		}
	})
	t.Run("PSIAllEqualReference", func(t *testing.T) {
		r, err := drift.PSI([]float64{7, 7, 7, 7}, []float64{7, 7}, 10, 0)
		if err != nil || r.PSI != 0 {
			t.Fatalf("got %v, %v; want 0", r.PSI, err)
		}
		if len(r.Bins) != 2 || r.Bins[0].Upper != 7 {
			t.Errorf("bins = %+v, want (-Inf, 7] and (7, +Inf)", r.Bins)
		}
		r, _ = drift.PSI([]float64{7, 7, 7, 7}, []float64{8, 8}, 10, 1e-4)
		// all current values moved to the empty upper bin
		want := (1-1e-4)*math.Log(1/1e-4) + (1e-4-1)*math.Log(1e-4/1)
		if math.Abs(r.PSI-want) > 1e-12 {
			t.Errorf("PSI = %v, want %v", r.PSI, want)
		}
	})
	t.Run("SingleCategory", func(t *testing.T) {
		tab := drift.Align(map[string]int{"CT": 10}, map[string]int{"CT": 4})
		chi, err := drift.Homogeneity(tab, true)
		if err != nil || chi.DoF != 0 || chi.Statistic != 0 || chi.PValue != 1 {
			t.Errorf("chi2 = %+v, %v; want dof 0, statistic 0, p 1", chi, err)
		}
		psi, err := drift.PSICounts(tab, 0)
		if err != nil || psi.PSI != 0 {
			t.Errorf("PSI = %v, %v", psi.PSI, err)
		}
		js, err := drift.JensenShannon(tab.Ref, tab.Cur, 2)
		if err != nil || js.Distance != 0 {
			t.Errorf("JS = %+v, %v", js, err)
		}
	})
	t.Run("HomogeneityDropsEmptyCategories", func(t *testing.T) {
		tab := drift.Table{Categories: []string{"a", "b", "c"}, Ref: []float64{10, 0, 20}, Cur: []float64{12, 0, 15}}
		got, err := drift.Homogeneity(tab, false)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := drift.ChiSquare([][]float64{{10, 20}, {12, 15}}, false)
		if got.Statistic != want.Statistic || got.DoF != 1 {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("JSBase2Bounded", func(t *testing.T) {
		js, _ := drift.JensenShannon([]float64{1, 0}, []float64{0, 1}, 2)
		if math.Abs(js.Divergence-1) > 1e-15 {
			t.Errorf("disjoint distributions in base 2: divergence %v, want 1", js.Divergence)
		}
	})
}

func TestAlignAndNewCategories(t *testing.T) {
	ref := map[string]int{"GE": 40, "Siemens": 55, "Philips": 5}
	cur := map[string]int{"GE": 20, "Siemens": 18, "Canon": 7, "Agfa": 1}
	tab := drift.Align(ref, cur)
	want := drift.Table{
		Categories: []string{"Agfa", "Canon", "GE", "Philips", "Siemens"},
		Ref:        []float64{0, 0, 40, 5, 55},
		Cur:        []float64{1, 7, 20, 0, 18},
	}
	if diff := cmp.Diff(want, tab); diff != "" {
		t.Errorf("Align (-want +got):\n%s", diff)
	}
	got := drift.NewCategories(tab)
	wantNew := []drift.NewCategory{{"Agfa", 1}, {"Canon", 7}}
	if diff := cmp.Diff(wantNew, got); diff != "" {
		t.Errorf("NewCategories (-want +got):\n%s", diff)
	}
	if got := drift.NewCategories(drift.Align(ref, ref)); len(got) != 0 {
		t.Errorf("no new category expected, got %v", got)
	}
}

// TestKSExactAgainstEnumeration checks the exact p-value against brute
// force: every interleaving of two small samples, counted.
func TestKSExactAgainstEnumeration(t *testing.T) {
	for _, size := range [][2]int{{3, 5}, {4, 4}, {5, 7}, {6, 4}, {2, 9}} {
		n1, n2 := size[0], size[1]
		// a = 0..n1-1 at even positions, b spread: pick a fixed interleaving
		a := make([]float64, n1)
		b := make([]float64, n2)
		for i := range a {
			a[i] = float64(2 * i)
		}
		for j := range b {
			b[j] = float64(j) + 0.5
		}
		got, err := drift.KS(a, b)
		if err != nil {
			t.Fatal(err)
		}
		d := got.Statistic
		// enumerate all C(n1+n2, n1) orders as bit masks
		total, extreme := 0, 0
		for mask := 0; mask < 1<<(n1+n2); mask++ {
			if popcount(mask) != n1 {
				continue
			}
			total++
			i, j, dmax := 0, 0, 0.0
			for k := 0; k < n1+n2; k++ {
				if mask>>k&1 == 1 {
					i++
				} else {
					j++
				}
				dmax = math.Max(dmax, math.Abs(float64(i)/float64(n1)-float64(j)/float64(n2)))
			}
			if dmax >= d-1e-12 {
				extreme++
			}
		}
		want := float64(extreme) / float64(total)
		if math.Abs(got.PValue-want) > 1e-12 {
			t.Errorf("n = %d, %d, D = %v: p = %.15g, enumeration %.15g", n1, n2, d, got.PValue, want)
		}
	}
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestKSDoesNotModifyInput(t *testing.T) {
	a := []float64{3, 1, 2}
	b := []float64{9, -1}
	if _, err := drift.KS(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := drift.Wasserstein(a, b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, []float64{3, 1, 2}) || !slices.Equal(b, []float64{9, -1}) {
		t.Errorf("inputs changed: %v %v", a, b)
	}
}

func TestLargeSamplesUseRadixSort(t *testing.T) {
	// above the radix threshold, with negative zeros, negatives and ties,
	// the sorted-input variants must give the same answers
	r := rand.New(rand.NewPCG(9, 9))
	a := make([]float64, 50000)
	for i := range a {
		a[i] = math.Round(r.NormFloat64()*100) / 10
		if i%1000 == 0 {
			a[i] = math.Copysign(0, -1)
		}
	}
	b := make([]float64, 30000)
	for i := range b {
		b[i] = r.NormFloat64()*10 + 0.3
	}
	got, err := drift.KS(a, b)
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.Sort(sa)
	slices.Sort(sb)
	want, err := drift.KSSorted(sa, sb)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("KS %+v, KSSorted %+v", got, want)
	}
	w1, _ := drift.Wasserstein(a, b)
	w2, _ := drift.WassersteinSorted(sa, sb)
	if w1 != w2 {
		t.Errorf("Wasserstein %v, sorted %v", w1, w2)
	}
}

func TestCUSUM(t *testing.T) {
	// target 10, k 0.5, h 2: hand-computed sums
	tests := []struct {
		name       string
		dir        drift.Direction
		values     []float64
		wantUpper  []float64
		wantLower  []float64
		wantSignal []drift.Signal
	}{
		{"IncreaseTwoSided", drift.Both,
			[]float64{10, 11, 11.5, 10.5, 12},
			[]float64{0, 0.5, 1.5, 1.5, 3},
			[]float64{0, 0, 0, 0, 0},
			[]drift.Signal{drift.NoChange, drift.NoChange, drift.NoChange, drift.NoChange, drift.Increase}},
		{"DecreaseTwoSided", drift.Both,
			[]float64{9, 8.5, 9.5, 8},
			[]float64{0, 0, 0, 0},
			[]float64{0.5, 1.5, 1.5, 3},
			[]drift.Signal{drift.NoChange, drift.NoChange, drift.NoChange, drift.Decrease}},
		{"DecreaseIgnoredByUpperOnly", drift.Up,
			[]float64{9, 8.5, 9.5, 8},
			[]float64{0, 0, 0, 0},
			[]float64{0, 0, 0, 0},
			[]drift.Signal{drift.NoChange, drift.NoChange, drift.NoChange, drift.NoChange}},
		{"LowerOnly", drift.Down,
			[]float64{12, 12, 7},
			[]float64{0, 0, 0},
			[]float64{0, 0, 2.5},
			[]drift.Signal{drift.NoChange, drift.NoChange, drift.Decrease}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := drift.NewCUSUM(10, 0.5, 2, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range tc.values {
				s, err := c.Update(x)
				if err != nil {
					t.Fatal(err)
				}
				if c.Upper != tc.wantUpper[i] || c.Lower != tc.wantLower[i] || s != tc.wantSignal[i] {
					t.Errorf("after %v: upper %v lower %v signal %v; want %v %v %v", x, c.Upper, c.Lower, s, tc.wantUpper[i], tc.wantLower[i], tc.wantSignal[i])
				}
			}
		})
	}
	t.Run("ResetOnAlarm", func(t *testing.T) {
		c, _ := drift.NewCUSUM(0, 0, 1, drift.Both)
		c.ResetOnAlarm = true
		var got []drift.Signal
		for _, x := range []float64{0.6, 0.6, 0.6, 0.6} {
			s, _ := c.Update(x)
			got = append(got, s)
		}
		want := []drift.Signal{drift.NoChange, drift.Increase, drift.NoChange, drift.Increase}
		if !slices.Equal(got, want) || c.Alarms != 2 {
			t.Errorf("signals %v alarms %d; want %v and 2", got, c.Alarms, want)
		}
	})
}

func TestPageHinkley(t *testing.T) {
	t.Run("DetectsIncrease", func(t *testing.T) {
		p, err := drift.NewPageHinkley(0.005, 0.5, 1, drift.Both)
		if err != nil {
			t.Fatal(err)
		}
		// a stable positive rate of 0.1 for 200 windows, then 0.3
		first := -1
		for i := range 400 {
			x := 0.1
			if i >= 200 {
				x = 0.3
			}
			s, err := p.Update(x)
			if err != nil {
				t.Fatal(err)
			}
			if s != drift.NoChange && first < 0 {
				first = i
				if s != drift.Increase {
					t.Errorf("signal %v, want increase", s)
				}
			}
		}
		if first < 200 || first > 210 {
			t.Errorf("first signal at %d, want shortly after 200", first)
		}
	})
	t.Run("HandComputed", func(t *testing.T) {
		p, _ := drift.NewPageHinkley(0, 1.5, 1, drift.Up)
		// values 0, 0, 3: means 0, 0, 1; deviations 0, 0, 2 → m = 0, 0, 2
		var sig drift.Signal
		for _, x := range []float64{0, 0, 3} {
			sig, _ = p.Update(x)
		}
		if p.Mean != 1 || p.UpSum != 2 || p.UpMin != 0 || sig != drift.Increase {
			t.Errorf("mean %v m %v M %v signal %v; want 1 2 0 increase", p.Mean, p.UpSum, p.UpMin, sig)
		}
	})
	t.Run("DetectsDecrease", func(t *testing.T) {
		p, _ := drift.NewPageHinkley(0.01, 1, 1, drift.Both)
		var last drift.Signal
		for i := range 300 {
			x := 1.0
			if i >= 150 {
				x = 0.5
			}
			if s, _ := p.Update(x); s != drift.NoChange {
				last = s
			}
		}
		if last != drift.Decrease {
			t.Errorf("signal %v, want decrease", last)
		}
	})
	t.Run("WarmUpSuppressesSignals", func(t *testing.T) {
		p, _ := drift.NewPageHinkley(0, 0.1, 1, drift.Both)
		p.MinN = 10
		for i, x := range []float64{0, 5, 0, 5, 0} {
			if s, _ := p.Update(x); s != drift.NoChange {
				t.Errorf("value %d: signal %v during warm-up", i, s)
			}
		}
	})
	t.Run("ForgettingBoundsTheSum", func(t *testing.T) {
		p, _ := drift.NewPageHinkley(0, 1e9, 0.5, drift.Both)
		for i := range 1000 {
			p.Update(float64(i % 2))
		}
		if math.Abs(p.UpSum) > 2 {
			t.Errorf("with alpha 0.5 the cumulative sum stays bounded, got %v", p.UpSum)
		}
	})
}

// TestDetectorStateRoundTrip stores a detector as JSON midway and checks
// that the restored one continues identically (the deployment stage keeps
// detectors between monitoring runs).
func TestDetectorStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	xs := normal(r, 200, 0, 1)
	for i := 100; i < 200; i++ {
		xs[i] += 1
	}
	ph, _ := drift.NewPageHinkley(0.05, 5, 0.99, drift.Both)
	cu, _ := drift.NewCUSUM(0, 0.5, 4, drift.Both)
	for _, x := range xs[:120] {
		ph.Update(x)
		cu.Update(x)
	}
	var ph2 drift.PageHinkley
	var cu2 drift.CUSUM
	for _, p := range []struct{ from, to any }{{ph, &ph2}, {cu, &cu2}} {
		b, err := json.Marshal(p.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, p.to); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range xs[120:] {
		s1, _ := ph.Update(x)
		s2, _ := ph2.Update(x)
		c1, _ := cu.Update(x)
		c2, _ := cu2.Update(x)
		if s1 != s2 || c1 != c2 {
			t.Fatalf("restored detectors diverge")
		}
	}
	if *ph != ph2 || *cu != cu2 {
		t.Errorf("final states differ")
	}
}

// FuzzTwoSample feeds arbitrary samples to the numeric statistics: no
// panic, results in range, and the symmetric ones symmetric.
func FuzzTwoSample(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xf0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, uint8(1))
	// real values: the kappa and lambda light chains of the flchain table
	if data, err := os.ReadFile(filepath.Join(testenv.Shared(f), "testdata", "tabular", "flchain.csv")); err == nil {
		rows, _ := csv.NewReader(bytes.NewReader(data)).ReadAll()
		var seed []byte
		for _, r := range rows[1:min(len(rows), 120)] {
			for _, col := range []int{3, 4} {
				if v, err := strconv.ParseFloat(r[col], 64); err == nil {
					seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(v))
				}
			}
		}
		f.Add(seed, uint8(100))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var x []float64
		for i := 0; i+8 <= len(data) && len(x) < 2000; i += 8 {
			v := math.Float64frombits(uint64(data[i]) | uint64(data[i+1])<<8 | uint64(data[i+2])<<16 | uint64(data[i+3])<<24 |
				uint64(data[i+4])<<32 | uint64(data[i+5])<<40 | uint64(data[i+6])<<48 | uint64(data[i+7])<<56)
			x = append(x, v)
		}
		k := int(split)
		if k > len(x) {
			k = len(x)
		}
		a, b := x[:k], x[k:]
		ks, err := drift.KS(a, b)
		if err == nil {
			if !(ks.Statistic >= 0 && ks.Statistic <= 1 && ks.PValue >= 0 && ks.PValue <= 1) {
				t.Fatalf("KS out of range: %+v", ks)
			}
			back, _ := drift.KS(b, a)
			if back.Statistic != ks.Statistic || back.PValue != ks.PValue {
				t.Fatalf("KS not symmetric: %+v vs %+v", ks, back)
			}
		}
		if w, err := drift.Wasserstein(a, b); err == nil && !(w >= 0) && !math.IsInf(w, 1) {
			t.Fatalf("Wasserstein %v", w)
		}
		if p, err := drift.PSI(a, b, 10, 0); err == nil && (math.IsNaN(p.PSI) || p.PSI < -1e-12) {
			t.Fatalf("PSI %v", p.PSI)
		}
	})
}

func TestReferenceCompareEqualsSeparateCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 34))
	ref := rounded(normal(r, 20000, 0, 1), 0.01)
	win := normal(r, 3000, 0.1, 1.1)
	rf, err := drift.NewReference(ref, 10, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rf.Compare(win)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := drift.KS(ref, win)
	w, _ := drift.Wasserstein(ref, win)
	psi, _ := drift.PSI(ref, win, 10, 1e-4)
	if got.KS != ks || got.Wasserstein != w {
		t.Errorf("Compare KS %+v W %v; separate %+v %v", got.KS, got.Wasserstein, ks, w)
	}
	if diff := cmp.Diff(psi, got.PSI); diff != "" {
		t.Errorf("PSI (-separate +compare):\n%s", diff)
	}
	if got.N != 20000 || got.M != 3000 || rf.Len() != 20000 || len(rf.Edges()) != 9 {
		t.Errorf("sizes %d %d %d, edges %v", got.N, got.M, rf.Len(), rf.Edges())
	}
	if _, err := rf.Compare(nil); !errors.Is(err, drift.ErrEmpty) {
		t.Errorf("empty window: %v", err)
	}
	if _, err := drift.NewReference([]float64{1, inf}, 10, 0); !errors.Is(err, drift.ErrNaN) {
		t.Errorf("infinite reference value: %v", err)
	}
}

func TestCompareCategorical(t *testing.T) {
	tab := drift.Align(map[string]int{"1.5": 300, "2.0": 700}, map[string]int{"1.5": 20, "2.0": 50, "3.1": 30})
	got, err := drift.CompareCategorical(tab, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.New) != 1 || got.New[0].Category != "3.1" {
		t.Errorf("new categories %v, want [3.1]", got.New)
	}
	if got.ChiSquare.DoF != 2 || got.ChiSquare.PValue > 1e-10 {
		t.Errorf("chi-square %+v: a new software version in 30%% of the window must be significant", got.ChiSquare)
	}
	if got.PSI.PSI < 0.25 || got.JS.Divergence <= 0 || got.JS.Divergence > 1 {
		t.Errorf("PSI %v JS %v", got.PSI.PSI, got.JS.Divergence)
	}
}

func TestBernoulliCUSUM(t *testing.T) {
	t.Run("HandComputed", func(t *testing.T) {
		b, err := drift.NewBernoulliCUSUM(0.1, 0.2, 1.9)
		if err != nil {
			t.Fatal(err)
		}
		// a yes adds ln 2 = 0.693, a no adds ln(0.8/0.9) = −0.118:
		// S = 0.693, 0.575, 1.268, 1.962 > 1.9
		var got []drift.Signal
		for _, x := range []bool{true, false, true, true} {
			s, _ := b.Update(x)
			got = append(got, s)
		}
		want := []drift.Signal{drift.NoChange, drift.NoChange, drift.NoChange, drift.Increase}
		wantS := 3*math.Ln2 + math.Log(0.8/0.9)
		if !slices.Equal(got, want) || math.Abs(b.S-wantS) > 1e-12 {
			t.Errorf("signals %v S %v; want %v S %v", got, b.S, want, wantS)
		}
	})
	t.Run("FloorsAtZero", func(t *testing.T) {
		b, _ := drift.NewBernoulliCUSUM(0.1, 0.2, 2)
		for range 50 {
			b.Update(false)
		}
		if b.S != 0 {
			t.Errorf("S = %v after only no's, want 0", b.S)
		}
	})
	t.Run("DetectsRateChangeNotNoise", func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		b, _ := drift.NewBernoulliCUSUM(0.05, 0.10, 4)
		b.ResetOnAlarm = true
		for range 2000 { // in control: rate 5 %
			b.Update(r.Float64() < 0.05)
		}
		falseAlarms := b.Alarms
		first := -1
		for i := range 2000 { // out of control: rate 12 %
			if s, _ := b.Update(r.Float64() < 0.12); s == drift.Increase && first < 0 {
				first = i
			}
		}
		if falseAlarms > 2 || first < 0 || first > 400 {
			t.Errorf("false alarms %d in 2000 in-control events; first detection after %d events", falseAlarms, first)
		}
	})
	t.Run("DecreaseAndErrors", func(t *testing.T) {
		b, _ := drift.NewBernoulliCUSUM(0.5, 0.2, 1)
		var last drift.Signal
		for range 10 {
			last, _ = b.Update(false)
		}
		if last != drift.Decrease {
			t.Errorf("signal %v, want decrease", last)
		}
		for _, p := range [][3]float64{{0, 0.2, 1}, {0.2, 0.2, 1}, {0.2, 1, 1}, {0.1, 0.2, 0}} {
			if _, err := drift.NewBernoulliCUSUM(p[0], p[1], p[2]); !errors.Is(err, drift.ErrParam) {
				t.Errorf("%v: err %v, want ErrParam", p, err)
			}
		}
	})
}
