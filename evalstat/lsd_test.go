package evalstat_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// TestSortCodes checks the radix sort of decimal scores against a stable
// comparison sort: the same scores bit for bit, in descending order, and
// rows of equal score in input order.
func TestSortCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pow := func(d int) float64 { return math.Pow(10, float64(d)) }
	tests := []struct {
		name   string
		n      int
		digits int
		score  func(d int) float64
	}{
		{"SixDigitsManyRows", 200000, 6, func(d int) float64 { return float64(rng.IntN(int(pow(d))+1)) / pow(d) }},
		{"TwoDigitsHeavyTies", 50000, 2, func(d int) float64 { return float64(rng.IntN(101)) / 100 }},
		{"NineDigits", 30000, 9, func(d int) float64 { return float64(rng.IntN(int(pow(d))+1)) / pow(d) }},
		{"ShorterThanHint", 20000, 8, func(int) float64 { return float64(rng.IntN(1001)) / 1000 }},
		{"ZeroDigits", 1000, 0, func(int) float64 { return float64(rng.IntN(2)) }},
		{"ZerosAndOnes", 5000, 4, func(int) float64 { return []float64{0, 1, 0.5}[rng.IntN(3)] }},
		{"AllEqual", 3000, 3, func(int) float64 { return 0.125 }},
	}
	// 4 and 64 cells: the codes fit in pay's spare bits (sortCodesInPay;
	// with 4 cells, eight digits take three passes), except nine digits
	// (and eight with 64 cells); 2^31 cells: they never do (a column of
	// codes, every bit of pay carried).
	for _, cells := range []int{4, 64, 1 << 31} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%dCells", tc.name, cells), func(t *testing.T) {
				score := make([]float64, tc.n)
				pay := make([]uint32, tc.n)
				for i := range score {
					score[i], pay[i] = tc.score(tc.digits), uint32(rng.IntN(2))<<31|uint32(rng.IntN(cells))
				}
				idx := make([]int, tc.n)
				for i := range idx {
					idx[i] = i
				}
				slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
				wantS, wantP := make([]float64, tc.n), make([]uint32, tc.n)
				for i, j := range idx {
					wantS[i], wantP[i] = score[j], pay[j]
				}
				if !evalstat.SortCodes(score, pay, tc.digits, cells) {
					t.Fatal("sortCodes refused decimal scores")
				}
				for i := range score {
					if math.Float64bits(score[i]) != math.Float64bits(wantS[i]) || pay[i] != wantP[i] {
						t.Fatalf("row %d: (%v, %#x), want (%v, %#x)", i, score[i], pay[i], wantS[i], wantP[i])
					}
				}
			})
		}
	}
}

// TestSortCodesRefuses checks that scores that are plainly not decimals
// of the given scale, or a scale out of range, leave the rows untouched.
func TestSortCodesRefuses(t *testing.T) {
	tests := []struct {
		name   string
		score  []float64
		digits int
	}{
		{"MoreDigitsThanHint", []float64{0.5, 0.25, 0.125}, 2},
		{"NotADecimal", []float64{0.5, 1.0 / 3, 0.25}, 9},
		{"ScaleTooLarge", []float64{0.5, 0.25}, 10},
		{"UnknownScale", []float64{0.5, 0.25}, -2},
	}
	for _, cells := range []int{4, 1 << 31} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%dCells", tc.name, cells), func(t *testing.T) {
				score := slices.Clone(tc.score)
				pay := []uint32{1, 2, 1<<31 | 3}[:len(score)]
				if evalstat.SortCodes(score, pay, tc.digits, cells) {
					t.Fatal("sortCodes accepted the scores")
				}
				if !slices.Equal(score, tc.score) || !slices.Equal(pay, []uint32{1, 2, 1<<31 | 3}[:len(score)]) {
					t.Fatalf("rows changed: %v %v", score, pay)
				}
			})
		}
	}
}

// TestReadCSVEvaluatesLikeGeneralReader reads rows with tied three-digit
// scores with and without the CSV fast path: both note the scores' scale,
// so both tables are sorted by sortCodes and give the same report.
func TestReadCSVEvaluatesLikeGeneralReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var b []byte
	b = append(b, "label,score,g\n"...)
	for range 20000 {
		y := rng.IntN(2)
		s := math.Round((rng.Float64()*0.6+0.4*float64(y))*1000) / 1000
		b = append(b, byte('0'+y), ',')
		b = strconv.AppendFloat(b, s, 'f', -1, 64)
		b = append(b, ',', "ABC"[rng.IntN(3)], '\n')
	}
	spec := evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"g"}}
	fast := evaluateCSV(t, b, spec)
	restore := evalstat.SetGeneralOnly(true)
	slow := evaluateCSV(t, b, spec)
	restore()
	if fast != slow {
		t.Fatal("the fast and the general reader give different reports")
	}
}

func evaluateCSV(t *testing.T, b []byte, spec evalstat.CSVSpec) string {
	t.Helper()
	tab, err := evalstat.ReadCSV(strings.NewReader(string(b)), spec)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evalstat.Evaluate(tab, evalstat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, rep)
}

// TestReadCSVNotesScoreDigits checks the scale the readers note for
// sortCodes: the most digits after the point when every score is a plain
// decimal (whether the fast path or the general reader read it), -2 when
// one is written otherwise or the rows were added as float64s.
func TestReadCSVNotesScoreDigits(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		want int
	}{
		{"FastPath", "label,score,g\n1,0.25,a\n0,0.125,b\n1,0.5,a\n", 3},
		{"QuotedLineGoesToGeneralReader", "label,score,g\n1,0.25,a\n0,\"0.1234\",b\n1,1,a\n", 4},
		{"IntegerScores", "label,score,g\n1,1,a\n0,0,b\n", 0},
		{"Exponent", "label,score,g\n1,0.25,a\n0,1e-3,b\n", -2},
		{"Spaces", "label,score,g\n1, 0.25 ,a\n0,0.5,b\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := evalstat.ReadCSV(strings.NewReader(tc.csv), evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"g"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tab.Digits(); got != tc.want {
				t.Errorf("digits %d, want %d", got, tc.want)
			}
		})
	}
	tab, _ := evalstat.NewTable([]string{"g"}, false)
	if err := tab.Add(true, 0.5, []string{"a"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := tab.Digits(); got != -2 {
		t.Errorf("Table.Add: digits %d, want -2", got)
	}
}
