package evaluation

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// ReportData is what the report, the plain-language page and the model
// card are made from. Only Report is required: "ethos eval --format html"
// renders a report without a plan.
type ReportData struct {
	Report   *evalstat.Report
	Plan     *ethos.EvaluationPlan  // the pre-registered plan, if any
	Run      *ethos.EvaluationRun   // the attempt, if any
	Attempts []*ethos.EvaluationRun // every attempt of the plan, newest first
	Status   *ethos.EvaluationStatus
	Project  *ethos.Project
	Model    *ethos.ModelVersion // the training register's entry, if known
	// Source names the input of an evaluation without a plan.
	Source    string
	Generated time.Time
}

// reportMetrics are the columns of the per-group tables.
var reportMetrics = []string{"sensitivity", "specificity", "ppv", "npv", "auroc", "auprc", "brier", "ece", "calibration_slope", "net_benefit"}

// page is the template data.
type page struct {
	*ReportData
	Title     string
	Generated string
	Metrics   []string
	Labels    map[string]string
	Criteria  []criterionRow
	Groupings []groupingView
	Plain     plainView
	Small     []plainGroup
	Limits    []string
	Overall   []fairRow // the overall metrics in evalstat's report order
}

type criterionRow struct {
	evalstat.Judgement
	Text   string
	Waived bool
}

type groupingView struct {
	*evalstat.Grouping
	Charts   chartSet
	Fairness []fairRow
}

type fairRow struct {
	Name string
	V    evalstat.Value
}

type plainView struct {
	Overall     plainGroup
	Groups      []plainGroup
	IconFlagged template.HTML
	IconFalse   template.HTML
	PPV         string
	NPV         string
	Criteria    string
	HasCombined bool
}

var funcs = template.FuncMap{
	"num": func(v evalstat.Value) string {
		if !v.Defined() {
			return "—"
		}
		return fmt.Sprintf("%.3f", v.Estimate)
	},
	"ci": func(v evalstat.Value) string {
		if iv, m, ok := pickCI(v); ok && v.Defined() {
			return fmt.Sprintf("%.3f–%.3f (%s)", iv.Lower, iv.Upper, strings.ReplaceAll(m, "_", "-"))
		}
		return ""
	},
	"metric": func(g *evalstat.GroupResult, name string) evalstat.Value { return g.Metrics[name] },
	"f":      trimFloat,
	"obs": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.4g", *p)
	},
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"prev": func(p *float64) string {
		if p == nil {
			return "not declared"
		}
		return trimFloat(*p)
	},
	// svgdata makes a data URL of a base64 SVG that svgchart drew.
	"svgdata": func(b64 string) template.URL { return template.URL("data:image/svg+xml;base64," + b64) },
	"doc": func(name string) string {
		if i := evalstat.MetricIndex(name); i >= 0 {
			return evalstat.Metrics[i].Doc
		}
		return ""
	},
}

var tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.tmpl"))

// criterionText describes a criterion: its description, or its terms.
func criterionText(c evalstat.Criterion) string {
	if c.Description != "" {
		return c.Description
	}
	var b strings.Builder
	switch c.Scope {
	case "overall":
		b.WriteString("overall ")
	case "group":
		if c.Group != "" {
			b.WriteString(c.Group + ": ")
		} else {
			b.WriteString("every group of " + c.Attribute + ": ")
		}
	case "gap":
		agg := c.Aggregate
		if agg == "" && evalstat.MetricIndex(c.Metric) >= 0 {
			agg = "difference"
		}
		if agg != "" {
			b.WriteString(agg + " across " + c.Attribute + " of ")
		} else {
			b.WriteString("across " + c.Attribute + ": ")
		}
	}
	b.WriteString(c.Metric)
	if c.Bound == "ci_lower" || c.Bound == "ci_upper" {
		b.WriteString(" (" + strings.ReplaceAll(c.Bound, "_", " ") + ")")
	}
	fmt.Fprintf(&b, " %s %s", c.Comparator, trimFloat(c.Value))
	return b.String()
}

// build prepares the template data.
func build(d *ReportData) (*page, error) {
	if d.Report == nil || d.Report.Overall == nil {
		return nil, fmt.Errorf("evaluation report: no results")
	}
	if d.Generated.IsZero() {
		d.Generated = time.Now()
	}
	p := &page{ReportData: d, Generated: d.Generated.UTC().Format(time.RFC3339), Metrics: reportMetrics, Title: "Model evaluation report"}
	if d.Plan != nil {
		p.Title = d.Plan.Title
		p.Labels = d.Plan.GroupLabels
	}
	rep := d.Report
	waived := map[string]bool{}
	if d.Status != nil {
		for _, w := range d.Status.Waived {
			waived[w] = true
		}
	}
	var crit []evalstat.Criterion
	met := 0
	for _, j := range rep.Criteria {
		crit = append(crit, j.Criterion)
		p.Criteria = append(p.Criteria, criterionRow{Judgement: j, Text: criterionText(j.Criterion), Waived: waived[j.Criterion.ID]})
		if j.Outcome == evalstat.Pass {
			met++
		}
	}
	for _, m := range evalstat.Metrics {
		if v, ok := rep.Overall.Metrics[m.Name]; ok {
			p.Overall = append(p.Overall, fairRow{m.Name, v})
		}
	}
	for i, gp := range rep.Groupings {
		cs, err := groupingCharts(rep, gp, crit, fmt.Sprintf("g%d", i))
		if err != nil {
			return nil, err
		}
		gv := groupingView{Grouping: gp, Charts: cs}
		for _, name := range evalstat.FairnessNames {
			if v, ok := gp.Fairness[name]; ok {
				gv.Fairness = append(gv.Fairness, fairRow{name, v})
			}
		}
		p.Groupings = append(p.Groupings, gv)
	}

	// Plain language.
	pv := &p.Plain
	pv.Overall = plainOf(p.Labels, rep.Overall)
	seen := map[string]bool{}
	for _, gp := range rep.Groupings {
		for _, g := range gp.Groups {
			pg := plainOf(p.Labels, g)
			pv.Groups = append(pv.Groups, pg)
			pv.HasCombined = pv.HasCombined || pg.Combined
			if g.TooSmallToJudge && !seen[g.Name] {
				seen[g.Name] = true
				p.Small = append(p.Small, pg)
			}
		}
	}
	if rep.Overall.TooSmallToJudge {
		p.Small = append([]plainGroup{pv.Overall}, p.Small...)
	}
	if v := rep.Overall.Metrics["sensitivity"]; v.Defined() {
		h, err := iconChart("Of 100 patients who have the condition", "are flagged by the model", "are missed", int(math.Round(100*v.Estimate)), "icon-tp")
		if err != nil {
			return nil, err
		}
		pv.IconFlagged = h
	}
	if v := rep.Overall.Metrics["fpr"]; v.Defined() {
		h, err := iconChart("Of 100 patients who do not have the condition", "are flagged anyway (false alarms)", "are correctly not flagged", int(math.Round(100*v.Estimate)), "icon-fp")
		if err != nil {
			return nil, err
		}
		pv.IconFalse = h
	}
	if rep.Settings.Prevalence != nil {
		prev := *rep.Settings.Prevalence
		where := fmt.Sprintf("Where %s in 100 patients have the condition", trimFloat(100*prev))
		if v := rep.Overall.Metrics["ppv_at_prevalence"]; v.Defined() {
			pv.PPV = fmt.Sprintf("%s, of every 100 patients the model flags %s really have it; the others are false alarms.", where, perHundred(v))
		}
		if v := rep.Overall.Metrics["npv_at_prevalence"]; v.Defined() {
			pv.NPV = fmt.Sprintf("%s, of every 100 patients the model does not flag %s are truly free of it.", where, perHundred(v))
		}
	}
	if n := len(rep.Criteria); n > 0 {
		when := "before the results were computed"
		if d.Plan != nil {
			when = fmt.Sprintf("on %s, before the results existed (audit log entry %d)", d.Plan.RegisteredAt.UTC().Format("2 January 2006"), d.Plan.AuditIndex)
		}
		pv.Criteria = fmt.Sprintf("The evaluation plan, fixed %s, set %d test(s) the model had to meet. %d of them were met.", when, n, met)
		if len(waived) > 0 {
			pv.Criteria += fmt.Sprintf(" The ethics reviewer accepted %d unmet item(s) with a written reason.", len(waived))
		}
	}
	ds := ""
	if d.Plan != nil {
		ds = d.Plan.DatasetVersionID
	}
	p.Limits = limitations(rep, ds)
	return p, nil
}

func render(w io.Writer, name string, d *ReportData) error {
	p, err := build(d)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		return err
	}
	_, err = buf.WriteTo(w)
	return err
}

// WriteHTML writes the full report: pre-registration evidence, criteria
// with their evidence, sign-offs, the plain-language summary, overall and
// per-group tables with ROC, calibration and decision curves and forest
// plots (hand-written SVG, no script), groups too small to judge,
// limitations and the attempt history. The page prints on A4.
func WriteHTML(w io.Writer, d *ReportData) error { return render(w, "report.html.tmpl", d) }

// WritePlainHTML writes the plain-language page for non-technical
// readers (QC-EVA-1).
func WritePlainHTML(w io.Writer, d *ReportData) error { return render(w, "plain.html.tmpl", d) }
