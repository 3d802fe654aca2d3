package drift

// Internal tests: the sorting and selection helpers are unexported but
// carry every statistic, so they are checked directly against the
// standard library.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func sortInputs() map[string][]float64 {
	r := rand.New(rand.NewPCG(5, 6))
	normal := make([]float64, 20000)
	ties := make([]float64, 20000)
	signs := make([]float64, 20000)
	sorted := make([]float64, 20000)
	for i := range normal {
		normal[i] = r.NormFloat64() * 1e3
		ties[i] = float64(r.IntN(7))
		signs[i] = []float64{math.Inf(-1), -1e308, -1, math.Copysign(0, -1), 0, 5e-324, 1, math.MaxFloat64, math.Inf(1)}[r.IntN(9)]
		sorted[i] = float64(i)
	}
	return map[string][]float64{"Normal": normal, "Ties": ties, "SpecialValues": signs, "AlreadySorted": sorted, "Small": {3, 1, 2}}
}

func TestSortFloatsMatchesSlicesSort(t *testing.T) {
	for name, x := range sortInputs() {
		t.Run(name, func(t *testing.T) {
			got, want := slices.Clone(x), slices.Clone(x)
			sortFloats(got)
			slices.Sort(want)
			for i := range got {
				// -0 and +0 compare equal; radix order puts -0 first
				if got[i] != want[i] {
					t.Fatalf("index %d: %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestSelectIndexes(t *testing.T) {
	for name, x := range sortInputs() {
		t.Run(name, func(t *testing.T) {
			sorted := slices.Clone(x)
			slices.Sort(sorted)
			idx := []int{0, len(x) / 10, len(x)/10 + 1, len(x) / 2, len(x) - 1}
			slices.Sort(idx)
			idx = slices.Compact(idx)
			got := slices.Clone(x)
			selectIndexes(got, idx)
			for _, i := range idx {
				if got[i] != sorted[i] {
					t.Errorf("index %d: %v, want %v", i, got[i], sorted[i])
				}
			}
		})
	}
}

func BenchmarkSortRadix(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 1000000)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	y := make([]float64, len(x))
	for b.Loop() {
		copy(y, x)
		sortFloats(y)
	}
}

func BenchmarkSortPdq(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 1000000)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	y := make([]float64, len(x))
	for b.Loop() {
		copy(y, x)
		slices.Sort(y)
	}
}
