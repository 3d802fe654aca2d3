package evaluation

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
)

// This file turns a report into plain language for readers without
// statistics (QC-EVA-1): natural frequencies out of 100 people with their
// range, groups too small to judge, and the limitations a reader must know.

// plainGroup is one group's plain-language numbers.
type plainGroup struct {
	Label      string // plain words ("women aged 65 and over")
	Name       string // the technical name ("sex=F|age_band=65+")
	N          int64
	Positives  int64
	Negatives  int64
	Flagged    string // of 100 with the condition, how many are flagged
	FalseAlarm string // of 100 without it, how many are wrongly flagged
	TooSmall   bool
	Combined   bool   // an intersection of several attributes
	Reasons    string // why too small
}

// perHundred says "about 92 (between 88 and 95)" for a proportion, or why
// it cannot be said.
func perHundred(v evalstat.Value) string {
	if !v.Defined() {
		return "cannot be said (" + v.Reason + ")"
	}
	s := fmt.Sprintf("about %d", int(math.Round(100*v.Estimate)))
	if iv, _, ok := pickCI(v); ok {
		lo, hi := int(math.Round(100*iv.Lower)), int(math.Round(100*iv.Upper))
		if lo != hi {
			s += fmt.Sprintf(" (between %d and %d)", lo, hi)
		}
	}
	return s
}

// groupLabel returns plain words for a group: the plan's label for the
// whole name, else its parts' labels joined, else "attribute value".
func groupLabel(labels map[string]string, name string) string {
	if name == "overall" {
		return "everyone"
	}
	if l := labels[name]; l != "" {
		return l
	}
	var parts []string
	for _, p := range strings.Split(name, "|") {
		if l := labels[p]; l != "" {
			parts = append(parts, l)
			continue
		}
		a, v, _ := strings.Cut(p, "=")
		parts = append(parts, strings.ReplaceAll(a, "_", " ")+" "+v)
	}
	return strings.Join(parts, ", ")
}

func plainOf(labels map[string]string, g *evalstat.GroupResult) plainGroup {
	pg := plainGroup{Label: groupLabel(labels, g.Name), Name: g.Name, N: g.N, Positives: g.Positives, Negatives: g.Negatives, TooSmall: g.TooSmallToJudge, Combined: len(g.Values) > 1}
	pg.Flagged = perHundred(g.Metrics["sensitivity"])
	pg.FalseAlarm = perHundred(g.Metrics["fpr"])
	if g.TooSmallToJudge {
		var why []string
		for _, f := range g.Flags {
			switch f {
			case evalstat.FlagSmallGroup:
				why = append(why, fmt.Sprintf("only %d people", g.N))
			case evalstat.FlagFewPositives:
				why = append(why, fmt.Sprintf("only %d with the condition", g.Positives))
			case evalstat.FlagFewNegatives:
				why = append(why, fmt.Sprintf("only %d without it", g.Negatives))
			}
		}
		pg.Reasons = strings.Join(why, ", ")
	}
	return pg
}

// limitations lists what a reader must know before trusting the numbers,
// computed from the report.
func limitations(rep *evalstat.Report, datasetVersion string) []string {
	var out []string
	s := rep.Settings
	out = append(out, fmt.Sprintf("All numbers are for the operating threshold %s only (a score at or above it counts as flagged); another threshold gives other numbers.", trimFloat(s.Threshold)))
	if datasetVersion != "" {
		out = append(out, fmt.Sprintf("The numbers describe the test data set %s. They carry over only to patients, scanners and sites like those in it; groups not recorded in the attributes (%s) were not checked.", datasetVersion, strings.Join(s.Attributes, ", ")))
	} else {
		out = append(out, fmt.Sprintf("The numbers describe the rows evaluated. Groups not recorded in the attributes (%s) were not checked.", strings.Join(s.Attributes, ", ")))
	}
	small, undefined := 0, map[string][]string{}
	groups := []*evalstat.GroupResult{rep.Overall}
	for _, gp := range rep.Groupings {
		groups = append(groups, gp.Groups...)
	}
	wide := []string{}
	for _, g := range groups {
		if g.TooSmallToJudge {
			small++
			continue
		}
		for _, m := range []string{"sensitivity", "specificity", "auroc"} {
			if v := g.Metrics[m]; !v.Defined() {
				undefined[m] = append(undefined[m], g.Name)
			}
		}
		if iv, _, ok := pickCI(g.Metrics["sensitivity"]); ok && iv.Upper-iv.Lower > 0.2 {
			wide = append(wide, g.Name)
		}
	}
	if small > 0 {
		out = append(out, fmt.Sprintf("%d group(s) are too small to judge (fewer than %d people, or fewer than %d with or without the condition): their numbers are shown but must not be relied on.", small, s.MinGroupSize, s.MinClassCount))
	}
	keys := make([]string, 0, len(undefined))
	for k := range undefined {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, m := range keys {
		out = append(out, fmt.Sprintf("%s could not be computed for %s.", m, strings.Join(undefined[m], ", ")))
	}
	if len(wide) > 0 {
		out = append(out, fmt.Sprintf("The share of cases found is uncertain by more than 20 points for %s: few people with the condition.", strings.Join(wide, ", ")))
	}
	if rep.Bootstrap == nil {
		out = append(out, "No bootstrap was run: the differences between groups carry no confidence interval, only the groups' own numbers do.")
	}
	if s.Prevalence == nil {
		out = append(out, fmt.Sprintf("No target prevalence was declared: predictive values reflect the test data's share with the condition (%s), which may differ where the model is used.", percent(rep.Overall.Metrics["prevalence"])))
	}
	if v := rep.Overall.Metrics["calibration_slope"]; v.Defined() {
		if iv, _, ok := pickCI(v); ok && (iv.Lower > 1 || iv.Upper < 1) {
			out = append(out, fmt.Sprintf("The scores are not calibrated probabilities (calibration slope %.2f, interval %.2f to %.2f, where 1 is ideal): read them as a ranking, not as a patient's risk.", v.Estimate, iv.Lower, iv.Upper))
		}
	}
	und := 0
	for _, j := range rep.Criteria {
		if j.Outcome == evalstat.Undetermined {
			und++
		}
	}
	if und > 0 {
		out = append(out, fmt.Sprintf("%d acceptance criteria could not be decided (a value undefined or a group too small): they count as not met unless waived.", und))
	}
	return out
}

func percent(v evalstat.Value) string {
	if !v.Defined() {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%%", 100*v.Estimate)
}
