package evalstat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Criterion is one acceptance criterion, fixed before results exist, for
// example "the lower bound of the overall AUROC's CI is at least 0.85" or
// "the sensitivity difference between sexes is at most 0.05".
type Criterion struct {
	ID          string `json:"id,omitempty"`
	Description string `json:"description,omitempty"`
	// Metric is a per-group metric name (auroc, sensitivity, …) or, for
	// scope "gap", also a fairness measure (equalized_odds_difference, …).
	Metric string `json:"metric"`
	// Scope is "overall", "group" (every group of Attribute, or only
	// Group) or "gap" (an aggregate across the groups of Attribute).
	Scope string `json:"scope"`
	// Attribute names the grouping: an attribute, or the intersection
	// ("sex|age_band").
	Attribute string `json:"attribute,omitempty"`
	// Group restricts scope "group" to one group ("sex=F").
	Group string `json:"group,omitempty"`
	// Aggregate is, for scope "gap" with a per-group metric: difference
	// (default), difference_to_overall, ratio, ratio_to_overall, min, max
	// or worst.
	Aggregate string `json:"aggregate,omitempty"`
	// Bound is what is compared: estimate (default), ci_lower or ci_upper.
	Bound string `json:"bound,omitempty"`
	// CI picks the interval for ci_lower/ci_upper: bootstrap, wilson,
	// clopper_pearson, delong or wald. Default: bootstrap when present,
	// else the value's analytic interval.
	CI string `json:"ci,omitempty"`
	// Comparator is one of >=, >, <=, <.
	Comparator string  `json:"comparator"`
	Value      float64 `json:"value"`
	// AllowSmallGroups judges groups flagged too small instead of
	// reporting them undetermined.
	AllowSmallGroups bool `json:"allow_small_groups,omitempty"`
}

// Outcomes of a criterion.
const (
	Pass         = "pass"
	Fail         = "fail"
	Undetermined = "undetermined"
)

// Judgement is the outcome of one criterion with its evidence.
type Judgement struct {
	Criterion Criterion `json:"criterion"`
	Outcome   string    `json:"outcome"`
	// Observed is the compared number (null when it does not exist); for
	// a criterion over several groups, the one closest to failing.
	Observed *float64 `json:"observed"`
	Evidence string   `json:"evidence"`
	// Groups holds the per-group judgements of a scope "group" criterion
	// without a single Group.
	Groups []GroupJudgement `json:"groups,omitempty"`
}

// GroupJudgement is one group's part of a criterion.
type GroupJudgement struct {
	Group    string   `json:"group"`
	Outcome  string   `json:"outcome"`
	Observed *float64 `json:"observed"`
	Evidence string   `json:"evidence"`
}

// ReadCriteria parses a JSON array of criteria and checks each.
func ReadCriteria(r io.Reader) ([]Criterion, error) {
	data, err := io.ReadAll(io.LimitReader(r, 8<<20))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cs []Criterion
	if err := dec.Decode(&cs); err != nil {
		return nil, fmt.Errorf("criteria: %w", err)
	}
	for i := range cs {
		if err := cs[i].check(); err != nil {
			return nil, fmt.Errorf("criteria[%d]: %w", i, err)
		}
	}
	return cs, nil
}

var aggregateNames = []string{"difference", "difference_to_overall", "ratio", "ratio_to_overall", "min", "max", "worst"}

func (c *Criterion) check() error {
	isFair := slices.Contains(FairnessNames[:], c.Metric)
	if MetricIndex(c.Metric) < 0 && !isFair {
		return fmt.Errorf("unknown metric %q", c.Metric)
	}
	switch c.Scope {
	case "overall":
		if isFair {
			return fmt.Errorf("metric %q needs scope gap", c.Metric)
		}
	case "group":
		if c.Attribute == "" && c.Group == "" {
			return fmt.Errorf("scope group needs attribute or group")
		}
		if isFair {
			return fmt.Errorf("metric %q needs scope gap", c.Metric)
		}
	case "gap":
		if c.Attribute == "" {
			return fmt.Errorf("scope gap needs attribute")
		}
		if c.Aggregate != "" && !slices.Contains(aggregateNames, c.Aggregate) {
			return fmt.Errorf("unknown aggregate %q (want one of %s)", c.Aggregate, strings.Join(aggregateNames, ", "))
		}
		if isFair && c.Aggregate != "" {
			return fmt.Errorf("fairness measure %q takes no aggregate", c.Metric)
		}
	default:
		return fmt.Errorf("scope %q: want overall, group or gap", c.Scope)
	}
	switch c.Bound {
	case "", "estimate", "ci_lower", "ci_upper":
	default:
		return fmt.Errorf("bound %q: want estimate, ci_lower or ci_upper", c.Bound)
	}
	switch c.Comparator {
	case ">=", ">", "<=", "<":
	default:
		return fmt.Errorf("comparator %q: want >=, >, <= or <", c.Comparator)
	}
	if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
		return fmt.Errorf("value must be a finite number")
	}
	return nil
}

// Judge evaluates criteria against the report and stores the judgements in
// r.Criteria.
func (r *Report) Judge(cs []Criterion) {
	r.Criteria = r.Criteria[:0]
	for _, c := range cs {
		r.Criteria = append(r.Criteria, r.judge(c))
	}
}

func (r *Report) grouping(name string) *Grouping {
	for _, g := range r.Groupings {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func (r *Report) judge(c Criterion) Judgement {
	j := Judgement{Criterion: c, Outcome: Undetermined}
	switch c.Scope {
	case "overall":
		gj := judgeValue(c, r.Overall, r.Overall.Metrics[c.Metric])
		j.Outcome, j.Observed, j.Evidence = gj.Outcome, gj.Observed, "overall: "+gj.Evidence
	case "group":
		var groups []*GroupResult
		if c.Group != "" {
			for _, gp := range r.Groupings {
				for _, g := range gp.Groups {
					if g.Name == c.Group {
						groups = append(groups, g)
					}
				}
			}
		} else if gp := r.grouping(c.Attribute); gp != nil {
			groups = gp.Groups
		}
		if len(groups) == 0 {
			j.Evidence = "no such group or attribute in the results"
			return j
		}
		for _, g := range groups {
			gj := judgeValue(c, g, g.Metrics[c.Metric])
			gj.Group = g.Name
			j.Groups = append(j.Groups, gj)
		}
		j.Outcome, j.Observed, j.Evidence = combine(c, j.Groups)
		if c.Group != "" && len(j.Groups) == 1 {
			j.Evidence = j.Groups[0].Group + ": " + j.Groups[0].Evidence
			j.Groups = nil
		}
	case "gap":
		gp := r.grouping(c.Attribute)
		if gp == nil {
			j.Evidence = fmt.Sprintf("no grouping %q in the results", c.Attribute)
			return j
		}
		var v Value
		label := c.Metric
		if idx := slices.Index(FairnessNames[:], c.Metric); idx >= 0 {
			v = gp.Fairness[c.Metric]
		} else {
			agg := c.Aggregate
			if agg == "" {
				agg = "difference"
			}
			a := gp.Aggregates[c.Metric]
			v = *aggField(&a, slices.Index([]string{"min", "max", "difference", "difference_to_overall", "ratio", "ratio_to_overall", "worst"}, agg))
			label = agg + " of " + c.Metric
		}
		gj := judgeValue(c, nil, v)
		j.Outcome, j.Observed = gj.Outcome, gj.Observed
		j.Evidence = fmt.Sprintf("%s across %s: %s", label, gp.Name, gj.Evidence)
		small := []string{}
		for _, g := range gp.Groups {
			if g.TooSmallToJudge {
				small = append(small, g.Name)
			}
		}
		if len(small) > 0 {
			j.Evidence += fmt.Sprintf("; %d group(s) too small to judge take part: %s", len(small), strings.Join(small, ", "))
			if !c.AllowSmallGroups && j.Outcome == Pass {
				j.Outcome = Undetermined
				j.Evidence += " (pass withheld; set allow_small_groups to accept)"
			}
		}
	}
	return j
}

// judgeValue compares one value's estimate or interval bound with c.
func judgeValue(c Criterion, g *GroupResult, v Value) GroupJudgement {
	gj := GroupJudgement{Outcome: Undetermined}
	if !v.Defined() {
		gj.Evidence = "value undefined: " + v.Reason
		return gj
	}
	x := v.Estimate
	what := "estimate"
	if c.Bound == "ci_lower" || c.Bound == "ci_upper" {
		method := c.CI
		if method == "" {
			for _, m := range []string{CIBootstrap, CIDeLong, CIWilson, CIWald, CIExact} {
				if _, ok := v.CI[m]; ok {
					method = m
					break
				}
			}
		}
		iv, ok := v.CI[method]
		if !ok {
			gj.Evidence = fmt.Sprintf("estimate %.6g has no %s interval", x, cmp0(method, "confidence"))
			return gj
		}
		if c.Bound == "ci_lower" {
			x, what = iv.Lower, method+" CI lower bound"
		} else {
			x, what = iv.Upper, method+" CI upper bound"
		}
		what += fmt.Sprintf(" (estimate %.6g, CI %.6g–%.6g)", v.Estimate, iv.Lower, iv.Upper)
	}
	gj.Observed = &x
	ok := false
	switch c.Comparator {
	case ">=":
		ok = x >= c.Value
	case ">":
		ok = x > c.Value
	case "<=":
		ok = x <= c.Value
	case "<":
		ok = x < c.Value
	}
	gj.Outcome = Fail
	if ok {
		gj.Outcome = Pass
	}
	gj.Evidence = fmt.Sprintf("%s = %.6g %s %.6g: %s", what, x, c.Comparator, c.Value, gj.Outcome)
	if g != nil && g.TooSmallToJudge && !c.AllowSmallGroups {
		gj.Evidence += fmt.Sprintf("; group too small to judge (n=%d, %d positives, %d negatives)", g.N, g.Positives, g.Negatives)
		gj.Outcome = Undetermined
	}
	return gj
}

func cmp0(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// combine merges per-group judgements: fail if any fails, else
// undetermined if any is, else pass. Observed is the value of the group
// closest to failing.
func combine(c Criterion, gs []GroupJudgement) (string, *float64, string) {
	out := Pass
	var worst *float64
	worstName := ""
	nf, nu := 0, 0
	for _, g := range gs {
		switch g.Outcome {
		case Fail:
			nf++
		case Undetermined:
			nu++
		}
		if g.Observed != nil {
			lower := c.Comparator == ">=" || c.Comparator == ">"
			if worst == nil || (lower && *g.Observed < *worst) || (!lower && *g.Observed > *worst) {
				worst, worstName = g.Observed, g.Group
			}
		}
	}
	switch {
	case nf > 0:
		out = Fail
	case nu > 0:
		out = Undetermined
	}
	ev := fmt.Sprintf("%d group(s): %d pass, %d fail, %d undetermined", len(gs), len(gs)-nf-nu, nf, nu)
	if worst != nil {
		ev += fmt.Sprintf("; closest to failing: %s (%.6g)", worstName, *worst)
	}
	return out, worst, ev
}
