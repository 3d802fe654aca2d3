package evalstat_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

func TestFastExpAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := range 200000 {
		x := (rng.Float64()*2 - 1) * 40
		if i%10 == 0 {
			x = (rng.Float64()*2 - 1) * 720
		}
		got, want := evalstat.FastExp(x), math.Exp(x)
		if want == 0 || math.IsInf(want, 0) {
			if got != want {
				t.Fatalf("FastExp(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	for _, x := range []float64{0, 1, -1, math.Inf(1), math.Inf(-1), 709.7, -745.2} {
		if got, want := evalstat.FastExp(x), math.Exp(x); got != want && math.Abs(got-want)/want > 1e-15 {
			t.Errorf("FastExp(%v) = %v, want %v", x, got, want)
		}
	}
	if math.IsNaN(evalstat.FastExp(math.NaN())) == false {
		t.Error("FastExp(NaN) is a number")
	}
	if worst > 1e-15 {
		t.Errorf("largest relative error %.3g, want ≤ 1e-15", worst)
	}
	t.Logf("largest relative error %.3g", worst)
}
