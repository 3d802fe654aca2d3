package main

import (
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
)

// evalCSVHeader is the header of ethos eval --format csv: one row per
// group metric, aggregate, fairness measure and criterion.
var evalCSVHeader = []string{
	"kind", "grouping", "group", "n", "positives", "negatives", "too_small_to_judge",
	"metric", "statistic", "estimate", "undefined_reason",
	"wilson_lower", "wilson_upper", "clopper_pearson_lower", "clopper_pearson_upper",
	"delong_lower", "delong_upper", "wald_lower", "wald_upper",
	"bootstrap_lower", "bootstrap_upper", "bootstrap_skipped",
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', 17, 64) }

func valueCells(v evalstat.Value) []string {
	cells := []string{"", v.Reason}
	if v.Defined() {
		cells[0] = fmtFloat(v.Estimate)
	}
	for _, m := range []string{evalstat.CIWilson, evalstat.CIExact, evalstat.CIDeLong, evalstat.CIWald, evalstat.CIBootstrap} {
		if iv, ok := v.CI[m]; ok {
			cells = append(cells, fmtFloat(iv.Lower), fmtFloat(iv.Upper))
		} else {
			cells = append(cells, "", "")
		}
	}
	return append(cells, strconv.Itoa(v.Skipped))
}

func writeEvalCSV(w io.Writer, rep *evalstat.Report) error {
	cw := csv.NewWriter(w)
	cw.Write(evalCSVHeader)
	group := func(grouping string, g *evalstat.GroupResult) {
		for _, m := range evalstat.Metrics {
			row := []string{"group", grouping, g.Name, strconv.FormatInt(g.N, 10), strconv.FormatInt(g.Positives, 10),
				strconv.FormatInt(g.Negatives, 10), strconv.FormatBool(g.TooSmallToJudge), m.Name, "estimate"}
			cw.Write(append(row, valueCells(g.Metrics[m.Name])...))
		}
	}
	group("", rep.Overall)
	for _, gp := range rep.Groupings {
		for _, g := range gp.Groups {
			group(gp.Name, g)
		}
	}
	for _, gp := range rep.Groupings {
		for _, m := range evalstat.Metrics {
			a := gp.Aggregates[m.Name]
			for _, s := range []struct {
				name, group string
				v           evalstat.Value
			}{
				{"min", a.MinGroup, a.Min}, {"max", a.MaxGroup, a.Max}, {"difference", "", a.Difference},
				{"difference_to_overall", "", a.DifferenceToOverall}, {"ratio", "", a.Ratio},
				{"ratio_to_overall", "", a.RatioToOverall}, {"worst", a.WorstGroup, a.Worst},
			} {
				row := []string{"aggregate", gp.Name, s.group, "", "", "", "", m.Name, s.name}
				cw.Write(append(row, valueCells(s.v)...))
			}
		}
		names := make([]string, 0, len(gp.Fairness))
		for k := range gp.Fairness {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			row := []string{"fairness", gp.Name, "", "", "", "", "", k, "estimate"}
			cw.Write(append(row, valueCells(gp.Fairness[k])...))
		}
	}
	for _, j := range rep.Criteria {
		c := j.Criterion
		obs := ""
		if j.Observed != nil {
			obs = fmtFloat(*j.Observed)
		}
		label := c.ID
		if label == "" {
			label = strings.TrimSpace(c.Scope + " " + c.Attribute + " " + c.Metric)
		}
		row := []string{"criterion", c.Attribute, c.Group, "", "", "", "", c.Metric, label, obs, j.Outcome + ": " + j.Evidence}
		for len(row) < len(evalCSVHeader) {
			row = append(row, "")
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
