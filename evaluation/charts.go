package evaluation

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/svgchart"
)

// maxCurveGroups bounds the groups drawn on one curve chart (ROC,
// calibration, decision curve), so lines stay tellable apart; forest plots
// show every group.
const maxCurveGroups = 8

// minCalibrationBin is the fewest rows a score bin needs to be drawn on a
// calibration curve: the observed rate of a handful of people is noise.
// (The tables and the JSON keep every bin.)
const minCalibrationBin = 10

// forestMetrics are the metrics drawn as forest plots for each grouping.
var forestMetrics = []struct{ name, title string }{
	{"sensitivity", "Sensitivity"},
	{"specificity", "Specificity"},
	{"auroc", "AUROC"},
	{"ppv_at_prevalence", "PPV at the declared prevalence"},
	{"net_benefit", "Net benefit at the operating threshold"},
}

// pickCI returns the interval a report shows for v: the bootstrap one when
// resampled, otherwise the analytic one (DeLong, Wilson, Wald).
func pickCI(v evalstat.Value) (evalstat.Interval, string, bool) {
	for _, m := range []string{evalstat.CIBootstrap, evalstat.CIDeLong, evalstat.CIWilson, evalstat.CIWald, evalstat.CIExact} {
		if iv, ok := v.CI[m]; ok {
			return iv, m, true
		}
	}
	return evalstat.Interval{}, "", false
}

// chartSet is the charts of one grouping.
type chartSet struct {
	Curves []template.HTML // ROC, calibration, decision curve (absent with too many groups)
	Forest []template.HTML
	Note   string
}

func svgHTML(c interface{ SVG() ([]byte, error) }) (template.HTML, error) {
	b, err := c.SVG()
	if err != nil {
		return "", err
	}
	return template.HTML(b), nil // svgchart escapes all text it writes
}

// curveCharts draws the ROC, calibration and decision curves of groups
// (the overall population first).
func curveCharts(rep *evalstat.Report, groups []*evalstat.GroupResult, by, id string) ([]template.HTML, error) {
	var roc, cal, dc []svgchart.Series
	for _, g := range groups {
		s := svgchart.Series{Name: g.Name}
		for _, p := range g.Curves.ROC {
			s.X, s.Y = append(s.X, p[0]), append(s.Y, p[1])
		}
		roc = append(roc, s)
		c := svgchart.Series{Name: g.Name}
		for _, b := range g.Curves.Calibration {
			if b.MeanScore != nil && b.Observed != nil && b.N >= minCalibrationBin {
				c.X, c.Y = append(c.X, *b.MeanScore), append(c.Y, *b.Observed)
			}
		}
		cal = append(cal, c)
		d := svgchart.Series{Name: g.Name}
		for _, p := range g.Curves.Decision {
			d.X, d.Y = append(d.X, p.Threshold), append(d.Y, p.NetBenefit)
		}
		dc = append(dc, d)
	}
	all := svgchart.Series{Name: "Treat all (overall)"}
	for _, p := range rep.Overall.Curves.Decision {
		all.X, all.Y = append(all.X, p.Threshold), append(all.Y, p.TreatAll)
	}
	size := func(title, suffix string) svgchart.Options {
		return svgchart.Options{Title: title + " by " + by, Width: 420, Height: 400, ID: id + "-" + suffix}
	}
	var out []template.HTML
	for _, c := range []*svgchart.LineChart{
		svgchart.ROCChart(size("ROC curve", "roc"), roc),
		svgchart.CalibrationChart(size("Calibration", "cal"), cal),
		svgchart.DecisionCurveChart(size("Decision curve", "dc"), dc, all),
	} {
		h, err := svgHTML(c)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// groupingCharts draws ROC, calibration and decision curves of the overall
// population and each group of gp, and a forest plot per metric. crit
// adds each criterion's threshold on a metric as a reference line.
func groupingCharts(rep *evalstat.Report, gp *evalstat.Grouping, crit []evalstat.Criterion, id string) (chartSet, error) {
	var cs chartSet
	groups := append([]*evalstat.GroupResult{rep.Overall}, gp.Groups...)
	// The curves of a grouping go on one chart of each kind when they
	// fit; an intersection with more groups is drawn as small multiples,
	// one set per value of its first attribute (sex=F: every age band …).
	panels := [][]*evalstat.GroupResult{gp.Groups}
	suffix := []string{""}
	if len(gp.Groups)+1 > maxCurveGroups && gp.Kind == "intersection" && len(gp.Attributes) > 1 {
		panels, suffix = nil, nil
		first := gp.Attributes[0]
		idx := map[string]int{}
		for _, g := range gp.Groups {
			v := g.Values[first]
			i, ok := idx[v]
			if !ok {
				i = len(panels)
				idx[v] = i
				panels = append(panels, nil)
				suffix = append(suffix, ", "+first+"="+v)
			}
			panels[i] = append(panels[i], g)
		}
	}
	for k, panel := range panels {
		if len(panel)+1 > maxCurveGroups {
			cs.Note = fmt.Sprintf("%d groups: curves are drawn for at most %d groups at a time; the forest plots show every group.", len(panel), maxCurveGroups-1)
			continue
		}
		h, err := curveCharts(rep, append([]*evalstat.GroupResult{rep.Overall}, panel...), gp.Name+suffix[k], fmt.Sprintf("%s-%d", id, k))
		if err != nil {
			return cs, err
		}
		cs.Curves = append(cs.Curves, h...)
	}
	for _, fm := range forestMetrics {
		if fm.name == "ppv_at_prevalence" && rep.Settings.Prevalence == nil {
			continue
		}
		f := &svgchart.ForestPlot{Options: svgchart.Options{Title: fm.title + " by " + gp.Name + " (95% CI)", Width: 600, ID: id + "-f-" + fm.name},
			XRange: svgchart.Range{Min: 0, Max: 1}}
		if fm.name == "net_benefit" {
			f.XRange = svgchart.Range{}
		}
		for _, g := range groups {
			v := g.Metrics[fm.name]
			row := svgchart.ForestRow{Label: g.Name, Estimate: v.Estimate, Lower: math.NaN(), Upper: math.NaN(), Muted: g.TooSmallToJudge}
			if iv, _, ok := pickCI(v); ok {
				row.Lower, row.Upper = iv.Lower, iv.Upper
			}
			switch {
			case !v.Defined():
				row.Note = v.Reason
			case g.TooSmallToJudge:
				row.Note = fmt.Sprintf("n = %d, too small to judge", g.N)
			}
			f.Rows = append(f.Rows, row)
		}
		// The overall value is the first row; the reference lines are the
		// criteria's thresholds on this metric.
		for _, c := range crit {
			if c.Metric == fm.name && c.Scope != "gap" && (c.Bound == "" || c.Bound == "estimate" || c.Bound == "ci_lower" || c.Bound == "ci_upper") {
				f.References = append(f.References, svgchart.RefLine{Value: c.Value, Label: c.ID + " " + c.Comparator + " " + trimFloat(c.Value)})
			}
		}
		h, err := svgHTML(f)
		if err != nil {
			return cs, err
		}
		cs.Forest = append(cs.Forest, h)
	}
	return cs, nil
}

func trimFloat(x float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", x), "0"), ".")
}

// iconChart is the plain-language icon array: of 100 people, how many the
// model flags.
func iconChart(title, flagged, rest string, count int, id string) (template.HTML, error) {
	count = max(0, min(100, count))
	return svgHTML(&svgchart.IconArray{Options: svgchart.Options{Title: title, Width: 440, Height: 340, ID: id},
		Groups: []svgchart.IconGroup{{Label: flagged, Count: count}}, RestLabel: rest})
}
