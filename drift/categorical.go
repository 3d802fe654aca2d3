package drift

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Table holds the counts of the same categories in a reference sample and
// a current (monitoring) sample: Ref[i] and Cur[i] count Categories[i].
type Table struct {
	Categories []string
	Ref, Cur   []float64
}

// Count is a count type accepted by Align.
type Count interface {
	~int | ~int32 | ~int64 | ~uint32 | ~uint64 | ~float64
}

// Align builds a Table from two maps of counts per category. Categories
// are sorted; a category missing from one map counts zero there.
func Align[N Count](ref, cur map[string]N) Table {
	seen := make(map[string]bool, len(ref)+len(cur))
	for k := range ref {
		seen[k] = true
	}
	for k := range cur {
		seen[k] = true
	}
	cats := slices.Sorted(maps.Keys(seen))
	t := Table{Categories: cats, Ref: make([]float64, len(cats)), Cur: make([]float64, len(cats))}
	for i, c := range cats {
		t.Ref[i] = float64(ref[c])
		t.Cur[i] = float64(cur[c])
	}
	return t
}

func (t Table) check(stat string) error {
	if len(t.Ref) != len(t.Cur) || (t.Categories != nil && len(t.Categories) != len(t.Ref)) {
		return errf(stat, "table", -1, ErrLength, "%d categories, %d reference and %d current counts",
			len(t.Categories), len(t.Ref), len(t.Cur))
	}
	if err := checkCounts(stat, "reference", t.Ref); err != nil {
		return err
	}
	if err := checkCounts(stat, "current", t.Cur); err != nil {
		return err
	}
	if sum(t.Ref) == 0 {
		return errf(stat, "reference", -1, ErrEmpty, "all counts are zero")
	}
	if sum(t.Cur) == 0 {
		return errf(stat, "current", -1, ErrEmpty, "all counts are zero")
	}
	return nil
}

// NewCategory is a category seen in the current sample but never in the
// reference.
type NewCategory struct {
	Category string
	Count    float64 // count in the current sample
}

// NewCategories lists, sorted by category, the categories with a positive
// current count and a zero reference count (a new scanner model, a new
// software version). Such a value is its own alert: PSI and chi-square
// only see it diluted among the others.
func NewCategories(t Table) []NewCategory {
	var out []NewCategory
	for i := range min(len(t.Ref), len(t.Cur)) {
		if t.Ref[i] == 0 && t.Cur[i] > 0 {
			name := ""
			if i < len(t.Categories) {
				name = t.Categories[i]
			}
			out = append(out, NewCategory{Category: name, Count: t.Cur[i]})
		}
	}
	slices.SortStableFunc(out, func(a, b NewCategory) int { return cmp.Compare(a.Category, b.Category) })
	return out
}

// ChiSquareResult is the outcome of a chi-square test on a contingency
// table.
type ChiSquareResult struct {
	Statistic float64
	DoF       int
	PValue    float64
	// Expected holds the expected frequencies under independence
	// (row total × column total / grand total).
	Expected [][]float64
	// Corrected reports that Yates' continuity correction was applied
	// (only when requested and DoF == 1).
	Corrected bool
}

// ChiSquare tests the independence of the rows and columns of a
// two-dimensional contingency table of non-negative counts, as
// scipy.stats.chi2_contingency does with lambda_=None:
//   - expected frequencies are row total × column total / grand total, and
//     a zero expected frequency is an error (ErrZeroExpected), as in scipy;
//   - DoF = (rows − 1)(columns − 1); with DoF 0 the statistic is 0 and the
//     p-value 1;
//   - when correction is true and DoF is 1 (a 2×2 table), Yates'
//     correction moves every observed count towards its expected count by
//     at most 0.5 before the Pearson statistic is summed. scipy's default
//     is correction=True; pass false to get the plain Pearson statistic
//     (for tables larger than 2×2 the two agree, the correction only ever
//     applies to one degree of freedom).
//
// The p-value is the chi-square survival function at the statistic.
func ChiSquare(table [][]float64, correction bool) (ChiSquareResult, error) {
	const stat = "chi2"
	r := len(table)
	if r == 0 || len(table[0]) == 0 {
		return ChiSquareResult{}, errf(stat, "table", -1, ErrEmpty, "no cells")
	}
	c := len(table[0])
	rows := make([]float64, r)
	cols := make([]float64, c)
	for i, row := range table {
		if len(row) != c {
			return ChiSquareResult{}, errf(stat, "table", i, ErrLength, "row has %d cells, row 0 has %d", len(row), c)
		}
		if err := checkCounts(stat, fmt.Sprintf("table[%d]", i), row); err != nil {
			return ChiSquareResult{}, err
		}
		for j, v := range row {
			rows[i] += v
			cols[j] += v
		}
	}
	total := sum(rows)
	res := ChiSquareResult{DoF: (r - 1) * (c - 1), Expected: make([][]float64, r)}
	for i := range r {
		res.Expected[i] = make([]float64, c)
		for j := range c {
			e := rows[i] * cols[j] / total
			if e == 0 || math.IsNaN(e) {
				return ChiSquareResult{}, errf(stat, "table", i*c+j, ErrZeroExpected,
					"expected frequency of cell (%d, %d) is zero: its row or column sums to zero", i, j)
			}
			res.Expected[i][j] = e
		}
	}
	if res.DoF == 0 {
		res.PValue = 1
		return res, nil
	}
	res.Corrected = correction && res.DoF == 1
	var acc kahan
	for i := range r {
		for j := range c {
			o, e := table[i][j], res.Expected[i][j]
			if res.Corrected {
				d := e - o
				o += math.Copysign(math.Min(0.5, math.Abs(d)), d)
			}
			acc.add((o - e) * (o - e) / e)
		}
	}
	res.Statistic = acc.sum()
	res.PValue = distuv.ChiSquared{K: float64(res.DoF)}.Survival(res.Statistic)
	return res, nil
}

// Homogeneity tests whether the reference and the current sample come
// from the same categorical distribution: a chi-square test on the 2 × K
// table of their counts. Categories absent from both samples are left out
// (they would give a zero expected frequency and carry no information);
// a single remaining category gives DoF 0, statistic 0 and p-value 1.
// For two categories, correction selects Yates' correction as in
// ChiSquare.
func Homogeneity(t Table, correction bool) (ChiSquareResult, error) {
	if err := t.check("chi2"); err != nil {
		return ChiSquareResult{}, err
	}
	ref := make([]float64, 0, len(t.Ref))
	cur := make([]float64, 0, len(t.Cur))
	for i := range t.Ref {
		if t.Ref[i]+t.Cur[i] > 0 {
			ref = append(ref, t.Ref[i])
			cur = append(cur, t.Cur[i])
		}
	}
	return ChiSquare([][]float64{ref, cur}, correction)
}

// JSResult holds the Jensen–Shannon divergence and distance.
type JSResult struct {
	// Divergence is JSD(P‖Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = ½(P + Q), in the
	// requested log base; in base 2 it lies in [0, 1].
	Divergence float64
	// Distance is the square root of Divergence (a metric). It equals
	// scipy.spatial.distance.jensenshannon(p, q, base).
	Distance float64
}

// JensenShannon compares two distributions given as non-negative weights
// over the same categories (counts are normalised to sum 1). base is the
// logarithm base: 0 means the natural logarithm (scipy's default), 2
// bounds the divergence by 1 (the usual choice for monitoring thresholds).
// Categories where both weights are zero contribute nothing.
func JensenShannon(p, q []float64, base float64) (JSResult, error) {
	const stat = "js"
	if len(p) != len(q) {
		return JSResult{}, errf(stat, "q", -1, ErrLength, "has %d weights, p has %d", len(q), len(p))
	}
	if base != 0 && (!(base > 0) || base == 1 || math.IsInf(base, 0)) {
		return JSResult{}, errf(stat, "base", -1, ErrParam, "log base %v is not positive and different from 1", base)
	}
	if err := checkCounts(stat, "p", p); err != nil {
		return JSResult{}, err
	}
	if err := checkCounts(stat, "q", q); err != nil {
		return JSResult{}, err
	}
	sp, sq := sum(p), sum(q)
	if sp == 0 {
		return JSResult{}, errf(stat, "p", -1, ErrEmpty, "all weights are zero")
	}
	if sq == 0 {
		return JSResult{}, errf(stat, "q", -1, ErrEmpty, "all weights are zero")
	}
	var left, right kahan
	for i := range p {
		pi, qi := p[i]/sp, q[i]/sq
		m := (pi + qi) / 2
		left.add(relEntr(pi, m))
		right.add(relEntr(qi, m))
	}
	js := left.sum() + right.sum()
	if base != 0 {
		js /= math.Log(base)
	}
	div := math.Max(js/2, 0) // rounding can leave a tiny negative
	return JSResult{Divergence: div, Distance: math.Sqrt(div)}, nil
}

// relEntr is x log(x/y), 0 when x is 0.
func relEntr(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(x/y)
}

func sum(x []float64) float64 {
	var k kahan
	for _, v := range x {
		k.add(v)
	}
	return k.sum()
}

// kahan is Neumaier's compensated summation: sums of many terms stay
// accurate to a few ulps whatever their order.
type kahan struct{ s, c float64 }

func (k *kahan) add(v float64) {
	t := k.s + v
	if math.Abs(k.s) >= math.Abs(v) {
		k.c += (k.s - t) + v
	} else {
		k.c += (v - t) + k.s
	}
	k.s = t
}

func (k *kahan) sum() float64 { return k.s + k.c }
