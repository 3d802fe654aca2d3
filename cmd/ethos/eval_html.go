package main

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"time"

	"github.com/ethos-imaging/ethos/evalstat"
)

// evalHTMLMetrics are the columns of the per-group tables of the HTML report.
var evalHTMLMetrics = []string{"sensitivity", "specificity", "ppv", "npv", "auroc", "auprc", "brier", "ece", "calibration_slope"}

// evalPage is the data of the HTML report.
type evalPage struct {
	Title     string
	Generated string
	Input     string
	Rep       *evalstat.Report
	Metrics   []string
	Small     []*evalstat.GroupResult
	Plain     []plainLine
}

// plainLine is one sentence of the plain-language summary.
type plainLine struct{ Group, Text string }

var evalFuncs = template.FuncMap{
	"num": func(v evalstat.Value) string {
		if !v.Defined() {
			return "—"
		}
		return fmt.Sprintf("%.3f", v.Estimate)
	},
	"ci": func(v evalstat.Value) string {
		if !v.Defined() {
			return ""
		}
		for _, m := range []string{evalstat.CIBootstrap, evalstat.CIDeLong, evalstat.CIWilson, evalstat.CIWald} {
			if iv, ok := v.CI[m]; ok {
				return fmt.Sprintf("%.3f to %.3f", iv.Lower, iv.Upper)
			}
		}
		return ""
	},
	"metric": func(g *evalstat.GroupResult, name string) evalstat.Value { return g.Metrics[name] },
	"charts": evalCharts,
	"f":      func(x float64) string { return fmt.Sprintf("%.4g", x) },
	"obs": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.4g", *p)
	},
	"prev": func(p *float64) string {
		if p == nil {
			return "not declared"
		}
		return fmt.Sprintf("%.4g", *p)
	},
}

var evalTmpl = template.Must(template.New("eval").Funcs(evalFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;max-width:75rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:.2rem .45rem;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}
.ci{color:#555;font-size:.85em;display:block}
.pass{background:#e3f4e3}.fail{background:#fbe0e0}.undetermined{background:#fff4d6}
tr.small td{background:#fff8e6}
.meta{color:#444}.note{color:#555;font-size:.9em}
.charts{display:flex;flex-wrap:wrap;gap:1rem;margin:.5rem 0}svg.chart{font-family:inherit;background:#fff}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-before:auto}table,svg.chart{break-inside:avoid}}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="meta">Input: {{.Input}} · generated {{.Generated}} · schema {{.Rep.SchemaVersion}}</p>
<p class="meta">Operating threshold {{f .Rep.Settings.Threshold}} (positive when score ≥ threshold) ·
declared prevalence {{prev .Rep.Settings.Prevalence}} ·
{{if .Rep.Bootstrap}}{{.Rep.Bootstrap.Resamples}} bootstrap resamples (seed {{.Rep.Bootstrap.Seed}}, {{.Rep.Bootstrap.Method}}){{else}}analytic intervals only (no bootstrap){{end}} ·
groups below {{.Rep.Settings.MinGroupSize}} rows or {{.Rep.Settings.MinClassCount}} cases of either class are flagged{{if .Rep.Settings.ZeroDivision}} · fairlearn-compatible zero_division=0{{end}}.</p>

{{if .Rep.Criteria}}<h2 id="criteria">Acceptance criteria</h2>
<table><tr><th class="l">Criterion</th><th class="l">Outcome</th><th>Observed</th><th class="l">Evidence</th></tr>
{{range .Rep.Criteria}}<tr class="{{.Outcome}}"><td class="l">{{if .Criterion.ID}}{{.Criterion.ID}}: {{end}}{{if .Criterion.Description}}{{.Criterion.Description}}{{else}}{{.Criterion.Scope}} {{.Criterion.Attribute}} {{.Criterion.Metric}} {{.Criterion.Bound}} {{.Criterion.Comparator}} {{.Criterion.Value}}{{end}}</td>
<td class="l">{{.Outcome}}</td><td>{{obs .Observed}}</td><td class="l">{{.Evidence}}</td></tr>
{{end}}</table>{{end}}

<h2 id="plain">In plain words</h2>
<p>At the operating threshold, out of 100 people who have the condition, the model flags about:</p>
<ul>{{range .Plain}}<li><b>{{.Group}}</b>: {{.Text}}</li>{{end}}</ul>
{{if .Small}}<p><b>Too small to judge:</b> {{range $i, $g := .Small}}{{if $i}}, {{end}}{{$g.Name}} (n={{$g.N}}, {{$g.Positives}} with the condition){{end}}. Numbers for these groups are shown but should not be relied on.</p>{{end}}

<h2 id="overall">Overall ({{.Rep.Overall.N}} rows, {{.Rep.Overall.Positives}} positive)</h2>
<table><tr><th class="l">Metric</th><th>Estimate</th><th>95 % CI</th><th class="l">Note</th></tr>
{{$o := .Rep.Overall}}{{range $name, $v := $o.Metrics}}<tr><td class="l">{{$name}}</td><td>{{num $v}}</td><td>{{ci $v}}</td><td class="l">{{$v.Reason}}</td></tr>
{{end}}</table>

{{range .Rep.Groupings}}{{$gp := .}}<h2 id="g-{{.Name}}">By {{.Name}}</h2>
<table><tr><th class="l">Group</th><th>n</th><th>positives</th>{{range $.Metrics}}<th>{{.}}</th>{{end}}<th class="l">flags</th></tr>
{{range .Groups}}{{$g := .}}<tr{{if .TooSmallToJudge}} class="small"{{end}}><td class="l">{{.Name}}</td><td>{{.N}}</td><td>{{.Positives}}</td>
{{range $.Metrics}}{{$v := metric $g .}}<td>{{num $v}}<span class="ci">{{ci $v}}</span></td>{{end}}<td class="l">{{range .Flags}}{{.}} {{end}}</td></tr>
{{end}}</table>
<div class="charts">{{range charts $.Rep $gp}}{{.}}{{end}}</div>
<h3>Fairness across {{.Name}}</h3>
<table><tr><th class="l">Measure</th><th>Estimate</th><th>95 % CI</th></tr>
{{range $k, $v := .Fairness}}<tr><td class="l">{{$k}}</td><td>{{num $v}}</td><td>{{ci $v}}</td></tr>{{end}}</table>
{{end}}
<p class="note">Definitions: docs/metrics.md. Intervals: bootstrap percentile when resampled, otherwise DeLong (AUROC), Wilson (proportions) or Wald (calibration fits).</p>
</body></html>
`))

func writeEvalHTML(w io.Writer, rep *evalstat.Report, o *evalOptions) error {
	p := evalPage{
		Title:     "Model evaluation report",
		Generated: time.Now().UTC().Format(time.RFC3339),
		Input:     o.in,
		Rep:       rep,
		Metrics:   evalHTMLMetrics,
	}
	seen := map[string]bool{}
	add := func(g *evalstat.GroupResult) {
		if g.TooSmallToJudge && !seen[g.Name] {
			seen[g.Name] = true
			p.Small = append(p.Small, g)
		}
		sens := g.Metrics["sensitivity"]
		if !sens.Defined() {
			p.Plain = append(p.Plain, plainLine{g.Name, "cannot be said (" + sens.Reason + ")"})
			return
		}
		text := fmt.Sprintf("%d", int(math.Round(100*sens.Estimate)))
		for _, m := range []string{evalstat.CIBootstrap, evalstat.CIWilson} {
			if iv, ok := sens.CI[m]; ok {
				text += fmt.Sprintf(" (between %d and %d)", int(math.Round(100*iv.Lower)), int(math.Round(100*iv.Upper)))
				break
			}
		}
		if g.TooSmallToJudge {
			text += " — too few people to judge"
		}
		p.Plain = append(p.Plain, plainLine{g.Name, text})
	}
	add(rep.Overall)
	for _, gp := range rep.Groupings {
		for _, g := range gp.Groups {
			add(g)
		}
	}
	var buf bytes.Buffer
	if err := evalTmpl.Execute(&buf, p); err != nil {
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}
