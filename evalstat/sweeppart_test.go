package evalstat_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// TestBinStartBoundsEachBin checks that binStart(b) is the least float64
// in bin b = floor(x/CalBinWidth): it is in bin b and the float64 just
// below it is not, over every bin a clipped logit can reach and beyond,
// and that random values between two starts are in the bin.
func TestBinStartBoundsEachBin(t *testing.T) {
	bin := func(x float64) int { return int(math.Floor(x / evalstat.CalBinWidth)) }
	rng := rand.New(rand.NewPCG(1, 2))
	for b := -3000; b <= 3000; b++ {
		lo, hi := evalstat.BinStart(b), evalstat.BinStart(b+1)
		if got := bin(lo); got != b {
			t.Fatalf("bin of binStart(%d) = %v is %d", b, lo, got)
		}
		if below := math.Nextafter(lo, math.Inf(-1)); bin(below) >= b {
			t.Fatalf("binStart(%d) = %v is not the least: %v is in bin %d", b, lo, below, bin(below))
		}
		if !(lo < hi) {
			t.Fatalf("binStart(%d) = %v not below binStart(%d) = %v", b, lo, b+1, hi)
		}
		for range 4 {
			x := lo + rng.Float64()*(hi-lo)
			if x < hi && bin(x) != b {
				t.Fatalf("%v in [binStart(%d), binStart(%d)) is in bin %d", x, b, b+1, bin(x))
			}
		}
	}
}

// TestPlaceMatchesRowByRow checks the pairwise placement against placing
// one row at a time, with runs of equal slots (the pairs' shared case),
// odd lengths and one slot.
func TestPlaceMatchesRowByRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name         string
		n, slots, nc int
		runs         bool
	}{
		{"RandomSlots", 1001, 5, 50, false},
		{"RunsOfOneSlot", 1000, 2, 4, true},
		{"OneSlot", 7, 1, 3, false},
		{"OneRow", 1, 3, 3, false},
		{"Empty", 0, 2, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cellSlot := make([]int32, tc.nc)
			for c := range cellSlot {
				cellSlot[c] = int32(rng.IntN(tc.slots))
			}
			sk, sc := make([]uint64, tc.n), make([]uint32, tc.n)
			count := make([]int, tc.slots+1)
			for i := range sk {
				sk[i] = rng.Uint64()
				sc[i] = uint32(rng.IntN(tc.nc))
				if tc.runs && i > 0 && rng.IntN(4) != 0 {
					sc[i] = sc[i-1]
				}
				count[cellSlot[sc[i]]+1]++
			}
			for s := range tc.slots {
				count[s+1] += count[s]
			}
			want := make([]uint64, tc.n)
			pos := slices.Clone(count[:tc.slots])
			for i, k := range sk {
				s := cellSlot[sc[i]]
				want[pos[s]] = k
				pos[s]++
			}
			got := make([]uint64, tc.n)
			gpos := slices.Clone(count[:tc.slots])
			evalstat.Place(got, sk, sc, cellSlot, gpos)
			if !slices.Equal(got, want) || !slices.Equal(gpos, pos) {
				t.Fatal("placement differs from row by row")
			}
		})
	}
}
