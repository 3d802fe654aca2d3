package collection

import (
	"bytes"
	"embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos/svgchart"
)

// WriteJSON writes the report as indented JSON (docs/representation.md
// documents every field; Version says which form it is).
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("representation report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{
	"row", "breakdown", "attribute_1", "value_1", "attribute_2", "value_2",
	"count", "known", "share", "share_lower", "share_upper",
	"expected", "ratio", "under_floor", "shortfall", "absent", "small", "not_in_reference",
	"labelled", "positives", "prevalence", "prevalence_lower", "prevalence_upper",
}

// WriteCSV writes one row per group of every breakdown (row = "group") and
// one row per breakdown with missing values (row = "missing": count is
// the number of units without a value, known the number of units, share
// the missing share). Empty cells mean "not defined". Values that a
// spreadsheet would take for a formula are prefixed with an apostrophe.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, b := range append(append([]*Breakdown(nil), r.Attributes...), r.Intersections...) {
		attr := func(i int) string {
			if i < len(b.Attributes) {
				return b.Attributes[i]
			}
			return ""
		}
		if b.Missing > 0 {
			row := make([]string, len(CSVHeader))
			row[0], row[1], row[2], row[4] = "missing", b.Key(), attr(0), attr(1)
			row[6], row[7], row[8] = strconv.Itoa(b.Missing), strconv.Itoa(r.Units), ff(b.MissingShare)
			cw.Write(row)
		}
		for _, g := range b.Groups {
			val := func(i int) string {
				if i < len(g.Values) {
					return cellSafe(g.Values[i])
				}
				return ""
			}
			row := []string{
				"group", b.Key(), attr(0), val(0), attr(1), val(1),
				strconv.Itoa(g.Count), strconv.Itoa(b.Known), ff(g.Share), ff(g.ShareCI.Lower), ff(g.ShareCI.Upper),
				fp(g.Expected), fp(g.Ratio), fb(g.UnderFloor), fb(g.Shortfall), fb(g.Absent), fb(g.Small), fb(g.NotInReference),
				strconv.Itoa(g.Labelled), strconv.Itoa(g.Positives), fp(g.Prevalence), "", "",
			}
			if g.PrevalenceCI != nil {
				row[21], row[22] = ff(g.PrevalenceCI.Lower), ff(g.PrevalenceCI.Upper)
			}
			cw.Write(row)
		}
	}
	cw.Flush()
	return cw.Error()
}

func ff(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', 6, 64)
}

func fp(x *float64) string {
	if x == nil {
		return ""
	}
	return ff(*x)
}

func fb(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// cellSafe keeps a spreadsheet from evaluating a value as a formula.
func cellSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

//go:embed representation.html.tmpl
var htmlFS embed.FS

var htmlTemplate = template.Must(template.New("representation.html.tmpl").Funcs(template.FuncMap{
	"pct": func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" },
	"pctp": func(x *float64) string {
		if x == nil {
			return "—"
		}
		return strconv.FormatFloat(100**x, 'f', 1, 64) + "%"
	},
	"ratio": func(x *float64) string {
		if x == nil {
			return "—"
		}
		return strconv.FormatFloat(*x, 'f', 2, 64)
	},
	"mul100": func(x float64) float64 { return 100 * x },
	"ci": func(c Interval) string {
		return strconv.FormatFloat(100*c.Lower, 'f', 1, 64) + "–" + strconv.FormatFloat(100*c.Upper, 'f', 1, 64) + "%"
	},
}).ParseFS(htmlFS, "representation.html.tmpl"))

type htmlBreakdown struct {
	*Breakdown
	Title string
	Chart template.HTML // empty when there is nothing to draw
}

type htmlPage struct {
	*Report
	Flags, Warnings int
	Attributes      []htmlBreakdown
	Intersections   []htmlBreakdown
	HasLabels       bool
}

// WriteHTML writes a self-contained, print-friendly HTML page: summary,
// findings, and for every attribute a bar chart of observed against
// expected shares and a table; intersections as tables (with a chart when
// the reference covers them). The page is rendered into a buffer first,
// so nothing is written when rendering fails.
func (r *Report) WriteHTML(w io.Writer) error {
	p := htmlPage{Report: r, HasLabels: r.Labelled > 0}
	for _, f := range r.Findings {
		if f.Severity == "flag" {
			p.Flags++
		} else {
			p.Warnings++
		}
	}
	for i, b := range r.Attributes {
		hb, err := htmlBreakdownOf(b, fmt.Sprintf("a%d", i))
		if err != nil {
			return err
		}
		p.Attributes = append(p.Attributes, hb)
	}
	for i, b := range r.Intersections {
		hb, err := htmlBreakdownOf(b, fmt.Sprintf("x%d", i))
		if err != nil {
			return err
		}
		p.Intersections = append(p.Intersections, hb)
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, p); err != nil {
		return fmt.Errorf("representation report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// maxChartGroups bounds the bars of one chart; a breakdown with more
// groups is shown as a table only.
const maxChartGroups = 40

func htmlBreakdownOf(b *Breakdown, id string) (htmlBreakdown, error) {
	hb := htmlBreakdown{Breakdown: b, Title: strings.ReplaceAll(b.Key(), "×", " × ")}
	if len(b.Groups) == 0 || len(b.Groups) > maxChartGroups || (len(b.Attributes) > 1 && b.Reference == "") {
		return hb, nil
	}
	c := &svgchart.BarChart{
		Options: svgchart.Options{
			Title:  "Observed share: " + hb.Title,
			Width:  720,
			Height: 90 + 26*len(b.Groups),
			XLabel: "share of " + strconv.Itoa(b.Known) + " with a value",
			ID:     "rep-" + id,
		},
		Horizontal:    true,
		ShowValues:    true,
		Format:        svgchart.Percent(1),
		ReferenceName: "Expected (reference)",
	}
	obs := svgchart.BarSeries{Name: "Observed"}
	var ref []float64
	hasRef := false
	for _, g := range b.Groups {
		c.Categories = append(c.Categories, g.Label())
		obs.Values = append(obs.Values, g.Share)
		if g.Expected != nil {
			ref = append(ref, *g.Expected)
			hasRef = true
		} else {
			ref = append(ref, math.NaN())
		}
	}
	if hasRef {
		obs.Reference = ref
		c.Title = "Observed and expected share: " + hb.Title
	}
	c.Series = []svgchart.BarSeries{obs}
	svg, err := c.SVG()
	if err != nil {
		return hb, fmt.Errorf("representation chart %s: %w", b.Key(), err)
	}
	hb.Chart = template.HTML(svg)
	return hb, nil
}
