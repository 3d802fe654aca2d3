package processing

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

// BiasOptions declare how QC-PRO-2 flags a group: a group is flagged when
// the lower bound of the Wilson interval of its exclusion rate exceeds the
// exclusion rate of the other groups of the same attribute by more than
// Threshold. Using the lower bound means a small group is flagged only
// when the evidence says it really loses more, not by chance.
type BiasOptions struct {
	Threshold  float64 // allowed excess, 0 < t < 1; default ethos.DefaultBiasThreshold
	Confidence float64 // level of the interval, 0.5 ≤ c < 1; default ethos.DefaultBiasConfidence
}

func (o *BiasOptions) validate() error {
	if o.Threshold == 0 {
		o.Threshold = ethos.DefaultBiasThreshold
	}
	if o.Confidence == 0 {
		o.Confidence = ethos.DefaultBiasConfidence
	}
	if !(o.Threshold > 0 && o.Threshold < 1) {
		return ethos.Errorf(ethos.EINVALID, "bias threshold must be between 0 and 1, not %g", o.Threshold)
	}
	if !(o.Confidence >= 0.5 && o.Confidence < 1) {
		return ethos.Errorf(ethos.EINVALID, "bias confidence must be in [0.5, 1), not %g", o.Confidence)
	}
	return nil
}

// groupAttributes are the attributes rates are computed over: the
// engine's demographics of the original (sex, ten-year age band) and the
// collection record's modality and body part.
func groupValues(it *ethos.ProcessingItem) [][2]string {
	v := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	out := [][2]string{{"sex", v(it.Group["sex"])}, {"ageBand", v(it.Group["ageBand"])},
		{"modality", v(it.Modality)}, {"bodyPart", v(it.BodyPart)}}
	for k, val := range it.Group {
		if k != "sex" && k != "ageBand" {
			out = append(out, [2]string{k, v(val)})
		}
	}
	return out
}

// Bias computes exclusion (quarantine) rates per demographic group before
// versus after a run, with Wilson intervals, and flags groups that lose
// disproportionately (QC-PRO-2). o must have been validated (zero values
// take the defaults).
func Bias(items []ethos.ProcessingItem, o BiasOptions) *ethos.ProcessingBias {
	_ = o.validate()
	z := math.Sqrt2 * math.Erfinv(o.Confidence)
	type cell struct{ before, excluded int }
	cells := map[[2]string]*cell{}
	attrTotal := map[string]*cell{}
	total := cell{}
	for i := range items {
		it := &items[i]
		ex := it.Status != ethos.ItemWritten
		total.before++
		if ex {
			total.excluded++
		}
		for _, av := range groupValues(it) {
			c := cells[av]
			if c == nil {
				c = &cell{}
				cells[av] = c
			}
			t := attrTotal[av[0]]
			if t == nil {
				t = &cell{}
				attrTotal[av[0]] = t
			}
			c.before++
			t.before++
			if ex {
				c.excluded++
				t.excluded++
			}
		}
	}
	b := &ethos.ProcessingBias{Threshold: o.Threshold, Confidence: o.Confidence}
	if total.before > 0 {
		b.Overall = float64(total.excluded) / float64(total.before)
	}
	keys := slices.SortedFunc(func(yield func([2]string) bool) {
		for k := range cells {
			if !yield(k) {
				return
			}
		}
	}, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	for _, k := range keys {
		c, t := cells[k], attrTotal[k[0]]
		g := ethos.ProcessingGroupRate{Attribute: k[0], Value: k[1], Before: c.before, Excluded: c.excluded, After: c.before - c.excluded}
		g.Rate = float64(c.excluded) / float64(c.before)
		if iv, ok := evalstat.Wilson(float64(c.excluded), float64(c.before), z); ok {
			g.Lower, g.Upper = iv.Lower, iv.Upper
		}
		restN, restX := t.before-c.before, t.excluded-c.excluded
		if restN > 0 {
			g.RestRate = float64(restX) / float64(restN)
			if g.Lower-g.RestRate > o.Threshold {
				g.Flagged = true
				g.Why = fmt.Sprintf("%s=%s loses %d of %d (%.1f%%, %.0f%% CI from %.1f%%) against %.1f%% for the other groups: more than the declared %.1f points",
					k[0], k[1], c.excluded, c.before, 100*g.Rate, 100*o.Confidence, 100*g.Lower, 100*g.RestRate, 100*o.Threshold)
				b.Flagged++
			}
		}
		b.Groups = append(b.Groups, g)
	}
	return b
}
