package main

// Hand-written SVG charts for the HTML report: ROC and calibration curves
// per group, a forest plot of a metric by group with its interval, and the
// decision curve. They are plain inline SVG (no script, nothing loaded from
// the network). When the shared svgchart package lands, these helpers are
// to be replaced by it.

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
)

// evalPalette is a colour-blind-safe palette (Okabe–Ito).
var evalPalette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

type chartSeries struct {
	Name   string
	Points [][2]float64
	Dashed bool
	Dots   bool
}

type chartFrame struct {
	w, h                   float64
	left, right, top, bot  float64
	xmin, xmax, ymin, ymax float64
}

func (f chartFrame) x(v float64) float64 {
	return f.left + (v-f.xmin)/(f.xmax-f.xmin)*(f.w-f.left-f.right)
}

func (f chartFrame) y(v float64) float64 {
	return f.h - f.bot - (v-f.ymin)/(f.ymax-f.ymin)*(f.h-f.top-f.bot)
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// lineChart draws series on linear axes with ticks every 0.2 of the range.
func lineChart(title, xlabel, ylabel string, f chartFrame, series []chartSeries, diagonal bool) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, f.w, f.h+16*float64((len(series)+1)/2), f.w, f.h+16*float64((len(series)+1)/2))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&b, `<text x="%.1f" y="14" font-size="13" font-weight="bold">%s</text>`, f.left, esc(title))
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, f.left, f.top, f.w-f.left-f.right, f.h-f.top-f.bot)
	for i := 0; i <= 5; i++ {
		xv := f.xmin + float64(i)/5*(f.xmax-f.xmin)
		yv := f.ymin + float64(i)/5*(f.ymax-f.ymin)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, f.x(xv), f.top, f.x(xv), f.h-f.bot)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, f.left, f.y(yv), f.w-f.right, f.y(yv))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%.2g</text>`, f.x(xv), f.h-f.bot+12, xv)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%.2g</text>`, f.left-4, f.y(yv)+3, yv)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, (f.left+f.w-f.right)/2, f.h-f.bot+26, esc(xlabel))
	fmt.Fprintf(&b, `<text x="12" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 12 %.1f)">%s</text>`, (f.top+f.h-f.bot)/2, (f.top+f.h-f.bot)/2, esc(ylabel))
	if diagonal {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="4 3"/>`, f.x(f.xmin), f.y(f.ymin), f.x(f.xmax), f.y(f.ymax))
	}
	fmt.Fprintf(&b, `<g clip-path="none">`)
	for i, s := range series {
		col := evalPalette[i%len(evalPalette)]
		if len(s.Points) > 0 {
			var pts []string
			for _, p := range s.Points {
				yv := math.Max(f.ymin, math.Min(f.ymax, p[1]))
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", f.x(p[0]), f.y(yv)))
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="5 3"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`, col, dash, strings.Join(pts, " "))
			if s.Dots {
				for _, p := range pts {
					xy := strings.Split(p, ",")
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, xy[0], xy[1], col)
				}
			}
		}
		lx := f.left + float64(i%2)*(f.w-f.left-f.right)/2
		ly := f.h + 4 + 16*float64(i/2)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, lx, ly, lx+18, ly, col)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`, lx+22, ly+3, esc(s.Name))
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// forestPlot draws one metric's estimate and interval for each group.
func forestPlot(title string, groups []*evalstat.GroupResult, metric string) template.HTML {
	rowH, left, right, top := 18.0, 190.0, 20.0, 28.0
	w := 620.0
	h := top + rowH*float64(len(groups)) + 30
	f := chartFrame{w: w, h: h, left: left, right: right, top: top, bot: 30, xmin: 0, xmax: 1}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, w, h, w, h)
	fmt.Fprintf(&b, `<title>%s</title><text x="%.1f" y="14" font-size="13" font-weight="bold">%s</text>`, esc(title), left, esc(title))
	for i := 0; i <= 5; i++ {
		xv := float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, f.x(xv), top, f.x(xv), h-30)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%.1f</text>`, f.x(xv), h-18, xv)
	}
	for i, g := range groups {
		y := top + rowH*float64(i) + rowH/2
		v := g.Metrics[metric]
		label := g.Name
		if g.TooSmallToJudge {
			label += " (too small)"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%s</text>`, left-6, y+3, esc(label))
		if !v.Defined() {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#777">undefined</text>`, left+4, y+3)
			continue
		}
		for _, m := range []string{evalstat.CIBootstrap, evalstat.CIDeLong, evalstat.CIWilson, evalstat.CIWald} {
			if iv, ok := v.CI[m]; ok {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-width="1.4"/>`, f.x(math.Max(0, iv.Lower)), y, f.x(math.Min(1, iv.Upper)), y)
				break
			}
		}
		col := evalPalette[0]
		if g.TooSmallToJudge {
			col = evalPalette[1]
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"><title>%s %s %.3f</title></rect>`, f.x(v.Estimate)-3.5, y-3.5, col, esc(g.Name), esc(metric), v.Estimate)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// evalCharts builds the charts of one grouping (at most 8 groups per
// curve chart, so lines stay tellable apart; the forest plots show all).
func evalCharts(rep *evalstat.Report, gp *evalstat.Grouping) []template.HTML {
	groups := append([]*evalstat.GroupResult{rep.Overall}, gp.Groups...)
	var out []template.HTML
	if len(groups) <= len(evalPalette) {
		frame := chartFrame{w: 360, h: 320, left: 44, right: 12, top: 24, bot: 34, xmin: 0, xmax: 1, ymin: 0, ymax: 1}
		var roc, cal, dc []chartSeries
		lo, hi := 0.0, 0.0
		for _, g := range groups {
			roc = append(roc, chartSeries{Name: g.Name, Points: g.Curves.ROC})
			var pts [][2]float64
			for _, bin := range g.Curves.Calibration {
				if bin.MeanScore != nil {
					pts = append(pts, [2]float64{*bin.MeanScore, *bin.Observed})
				}
			}
			cal = append(cal, chartSeries{Name: g.Name, Points: pts, Dots: true})
			var nb [][2]float64
			for _, p := range g.Curves.Decision {
				nb = append(nb, [2]float64{p.Threshold, p.NetBenefit})
				hi = math.Max(hi, p.NetBenefit)
			}
			dc = append(dc, chartSeries{Name: g.Name, Points: nb})
		}
		var all [][2]float64
		for _, p := range rep.Overall.Curves.Decision {
			all = append(all, [2]float64{p.Threshold, p.TreatAll})
		}
		dc = append(dc, chartSeries{Name: "treat everyone (overall)", Points: all, Dashed: true})
		// Ticks at -¼, 0, ¼, ½, ¾ and 1 of the top, rounded up to a tenth.
		hi = math.Max(0.1, math.Ceil(hi*1.05*10)/10)
		lo = -hi / 4
		out = append(out,
			lineChart("ROC curve by "+gp.Name, "false positive rate", "true positive rate", frame, roc, true),
			lineChart("Calibration by "+gp.Name, "mean predicted risk (bin)", "observed rate", frame, cal, true),
			lineChart("Decision curve by "+gp.Name, "threshold probability", "net benefit", chartFrame{w: 360, h: 320, left: 44, right: 12, top: 24, bot: 34, xmin: 0, xmax: 1, ymin: lo, ymax: hi}, dc, false))
	}
	out = append(out,
		forestPlot("Sensitivity by "+gp.Name+" (95 % CI)", groups, "sensitivity"),
		forestPlot("AUROC by "+gp.Name+" (95 % CI)", groups, "auroc"))
	return out
}
