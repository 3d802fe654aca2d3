package evalstat_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// exactDeLong returns the DeLong interval of AUROC computed in exact
// rational arithmetic from the definition (placements of Sun & Xu, sample
// variances), rounded only for the square root.
func exactDeLong(rows []row) (lower, upper float64) {
	var pos, neg []float64
	for _, r := range rows {
		if r.label {
			pos = append(pos, r.score)
		} else {
			neg = append(neg, r.score)
		}
	}
	P, N := int64(len(pos)), int64(len(neg))
	place := func(x float64, others []float64, above bool) *big.Rat {
		twice := int64(0) // twice the count of others beyond x, plus the ties
		for _, o := range others {
			switch {
			case o == x:
				twice++
			case (o < x) != above:
				twice += 2
			}
		}
		return big.NewRat(twice, 2*int64(len(others)))
	}
	v10 := make([]*big.Rat, len(pos))
	auc := new(big.Rat)
	for i, s := range pos {
		v10[i] = place(s, neg, false) // negatives below
		auc.Add(auc, v10[i])
	}
	auc.Quo(auc, big.NewRat(P, 1))
	sumSq := func(vs []*big.Rat) *big.Rat {
		s := new(big.Rat)
		for _, v := range vs {
			d := new(big.Rat).Sub(v, auc)
			s.Add(s, d.Mul(d, d))
		}
		return s
	}
	v01 := make([]*big.Rat, len(neg))
	for i, s := range neg {
		v01[i] = place(s, pos, true) // positives above
	}
	s10, s01 := sumSq(v10), sumSq(v01)
	v := new(big.Rat).Quo(s10, big.NewRat((P-1)*P, 1))
	v.Add(v, new(big.Rat).Quo(s01, big.NewRat((N-1)*N, 1)))
	vf, _ := v.Float64()
	a, _ := auc.Float64()
	se := math.Sqrt(vf)
	return math.Max(0, a-evalstat.Z95*se), math.Min(1, a+evalstat.Z95*se)
}

// TestDeLongMatchesExactArithmetic checks the one-sweep DeLong interval
// (exact integer sums) against rational arithmetic from the definition,
// on groups with many ties and on one with few rows.
func TestDeLongMatchesExactArithmetic(t *testing.T) {
	rows := synthRows(21, 4000) // scores on a 0.01 grid: many ties
	tab, err := evalstat.NewTable([]string{"grp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	byGroup := map[string][]row{}
	for _, r := range rows {
		if err := tab.Add(r.label, r.score, []string{r.group}, ""); err != nil {
			t.Fatal(err)
		}
		byGroup[r.group] = append(byGroup[r.group], r)
	}
	rep, err := evalstat.Evaluate(tab, evalstat.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, g *evalstat.GroupResult, rows []row) {
		t.Helper()
		lo, hi := exactDeLong(rows)
		iv, ok := g.Metrics["auroc"].CI[evalstat.CIDeLong]
		if !ok {
			t.Fatalf("%s: no DeLong interval", name)
		}
		for _, c := range []struct {
			what      string
			got, want float64
		}{{"lower", iv.Lower, lo}, {"upper", iv.Upper, hi}} {
			if math.Abs(c.got-c.want) > 1e-15*math.Abs(c.want) {
				t.Errorf("%s: DeLong %s %.17g, exact %.17g", name, c.what, c.got, c.want)
			}
		}
	}
	check("overall", rep.Overall, rows)
	for _, g := range rep.Groupings[0].Groups {
		check(g.Name, g, byGroup[g.Values["grp"]])
	}
}
