package evalstat_test

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

func TestSortDesc(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name  string
		n     int
		score func() float64
	}{
		{"UniformManyTies", 100000, func() float64 { return math.Round(rng.Float64()*1e4) / 1e4 }},
		{"UniformDistinct", 70000, rng.Float64},
		{"RareDiseaseNearZero", 50000, func() float64 { return rng.Float64() * rng.Float64() * 0.01 }},
		{"NarrowRange", 30000, func() float64 { return 0.5 + rng.Float64()*1e-12 }},
		{"ZerosOnesAndHalves", 20000, func() float64 { return []float64{0, math.Copysign(0, -1), 0.5, 1}[rng.IntN(4)] }},
		{"AllEqual", 10000, func() float64 { return 0.25 }},
		{"Small", 100, rng.Float64},
	}
	type rowT struct {
		s    float64
		p, q uint32
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			score := make([]float64, tc.n)
			pay := make([]uint32, tc.n)
			pat := make([]uint32, tc.n)
			var want []rowT
			for i := range score {
				s := tc.score()
				if s == 0 {
					s = 0 // tables hold no -0
				}
				score[i], pay[i], pat[i] = s, uint32(i), uint32(rng.IntN(1000))
				want = append(want, rowT{s, pay[i], pat[i]})
			}
			evalstat.SortDesc(score, pay, pat)
			got := make([]rowT, tc.n)
			for i := range score {
				got[i] = rowT{score[i], pay[i], pat[i]}
				if i > 0 && score[i] > score[i-1] {
					t.Fatalf("row %d: %v after %v", i, score[i], score[i-1])
				}
			}
			byAll := func(a, b rowT) int {
				return cmp.Or(cmp.Compare(a.s, b.s), cmp.Compare(a.p, b.p), cmp.Compare(a.q, b.q))
			}
			slices.SortFunc(got, byAll)
			slices.SortFunc(want, byAll)
			if !slices.Equal(got, want) {
				t.Fatal("the sorted rows are not a permutation of the input rows")
			}
		})
	}
}

func BenchmarkSortDesc(b *testing.B) {
	const n = 10_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	score0 := make([]float64, n)
	for i := range score0 {
		score0[i] = math.Round(rng.Float64()*1e6) / 1e6
	}
	score, pay := make([]float64, n), make([]uint32, n)
	for b.Loop() {
		copy(score, score0)
		evalstat.SortDesc(score, pay, nil)
	}
}
