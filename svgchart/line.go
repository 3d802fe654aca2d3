package svgchart

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Series is one line of a line chart. X and Y have the same length;
// points with a NaN or infinite coordinate break the line.
type Series struct {
	Name string
	X, Y []float64
	// Reference marks a reference line (chance diagonal, ideal
	// calibration, treat-all): drawn thin, grey and dashed, without
	// markers.
	Reference bool
	// Points draws a marker on every point (for a few binned points such
	// as a calibration curve). Otherwise markers are placed on at most
	// a dozen evenly spaced points, enough to tell series apart.
	Points bool
}

// LineChart is a chart of several series of (x, y) points.
type LineChart struct {
	Options
	Series []Series
	// XRange and YRange fix the axes; lines outside are clipped.
	XRange, YRange Range
	// XFormat and YFormat format tick labels; nil uses plain numbers.
	XFormat, YFormat func(float64) string
}

const lineKind = "line chart"

// ROCChart returns a line chart of ROC curves (X = false positive rate,
// Y = true positive rate) on the unit square with the chance diagonal.
func ROCChart(o Options, curves []Series) *LineChart {
	if o.XLabel == "" {
		o.XLabel = "False positive rate (1 − specificity)"
	}
	if o.YLabel == "" {
		o.YLabel = "True positive rate (sensitivity)"
	}
	s := append(append([]Series(nil), curves...), Series{Name: "Chance", X: []float64{0, 1}, Y: []float64{0, 1}, Reference: true})
	return &LineChart{Options: o, Series: s, XRange: Range{0, 1}, YRange: Range{0, 1}}
}

// CalibrationChart returns a chart of calibration curves (X = mean
// predicted probability per bin, Y = observed frequency) on the unit
// square with the line of perfect calibration. Every bin is marked.
func CalibrationChart(o Options, curves []Series) *LineChart {
	if o.XLabel == "" {
		o.XLabel = "Predicted probability"
	}
	if o.YLabel == "" {
		o.YLabel = "Observed frequency"
	}
	s := make([]Series, 0, len(curves)+1)
	for _, c := range curves {
		c.Points = true
		s = append(s, c)
	}
	s = append(s, Series{Name: "Perfect calibration", X: []float64{0, 1}, Y: []float64{0, 1}, Reference: true})
	return &LineChart{Options: o, Series: s, XRange: Range{0, 1}, YRange: Range{0, 1}}
}

// DecisionCurveChart returns a decision curve: net benefit (Y) against
// threshold probability (X) for each model, with the treat-all curve
// given by the caller and the treat-none line at zero. The Y axis starts a
// little below zero so that the strongly negative tail of treat-all does
// not flatten the curves of interest (it is clipped).
func DecisionCurveChart(o Options, models []Series, treatAll Series) *LineChart {
	if o.XLabel == "" {
		o.XLabel = "Threshold probability"
	}
	if o.YLabel == "" {
		o.YLabel = "Net benefit"
	}
	if treatAll.Name == "" {
		treatAll.Name = "Treat all"
	}
	treatAll.Reference = true
	s := append(append([]Series(nil), models...), treatAll)
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ymax := math.Inf(-1)
	for _, c := range s {
		for i := range min(len(c.X), len(c.Y)) {
			if finite(c.X[i]) && finite(c.Y[i]) {
				xlo, xhi = math.Min(xlo, c.X[i]), math.Max(xhi, c.X[i])
				ymax = math.Max(ymax, c.Y[i])
			}
		}
	}
	ch := &LineChart{Options: o}
	if xlo < xhi {
		s = append(s, Series{Name: "Treat none", X: []float64{xlo, xhi}, Y: []float64{0, 0}, Reference: true})
	}
	if ymax > 0 {
		step := niceStep(ymax, 5)
		ch.YRange = Range{-step, math.Ceil(ymax/step-1e-9) * step}
	}
	ch.Series = s
	return ch
}

// SVG renders the chart.
func (c *LineChart) SVG() ([]byte, error) { return bytesOf(c.WriteSVG) }

// WriteSVG renders the chart to w.
func (c *LineChart) WriteSVG(w io.Writer) error {
	W, H, err := c.size(lineKind)
	if err != nil {
		return err
	}
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return &Error{Chart: lineKind, Field: fmt.Sprintf("Series[%d]", i), Err: ErrLength,
				Msg: fmt.Sprintf("X has %d values and Y has %d", len(s.X), len(s.Y))}
		}
	}
	desc := c.Desc
	if desc == "" {
		desc = c.summary()
	}
	return render(c.Options, lineKind, w, func(d *doc) error {
		d.open(c.Options, W, H, desc)
		c.draw(d, W, H)
		return nil
	})
}

func (c *LineChart) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Line chart with %d series", len(c.Series))
	if c.XLabel != "" || c.YLabel != "" {
		fmt.Fprintf(&b, " of %s against %s", orDash(c.YLabel), orDash(c.XLabel))
	}
	b.WriteString(".")
	for _, s := range c.Series {
		n := 0
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				n++
			}
		}
		kind := "series"
		if s.Reference {
			kind = "reference line"
		}
		fmt.Fprintf(&b, " %s (%s, %d points).", orDash(s.Name), kind, n)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (c *LineChart) draw(d *doc, W, H float64) {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	has := false
	for _, s := range c.Series {
		if s.Reference {
			continue // reference lines do not stretch the axes
		}
		for i := range s.X {
			x, y := s.X[i], s.Y[i]
			if finite(x) && finite(y) {
				xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
				ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
				has = true
			}
		}
	}
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	var items []legendItem
	nData, nRef := 0, 0
	styles := make([]int, len(c.Series))
	for i, s := range c.Series {
		if s.Reference {
			styles[i] = nRef
			items = append(items, legendItem{s.Name, swatchLine(colRef, 1.5, refDash(nRef), -1)})
			nRef++
		} else {
			styles[i] = nData
			items = append(items, legendItem{s.Name, swatchLine(colour(nData), 2, dash(nData), nData)})
			nData++
		}
	}
	legendH := legendHeight(items, W-24)
	if !has {
		d.noData(12, top, W-24, H-top-12-legendH)
		drawLegend(d, items, 12, H-6-legendH, W-24)
		return
	}
	xa := niceAxis(xlo, xhi, c.XRange, 6)
	ya := niceAxis(ylo, yhi, c.YRange, 5)
	xfmt := func(v float64) string {
		if c.XFormat != nil {
			return c.XFormat(v)
		}
		return tickLabel(v, xa.step)
	}
	yfmt := func(v float64) string {
		if c.YFormat != nil {
			return c.YFormat(v)
		}
		return tickLabel(v, ya.step)
	}
	tickW := 0.0
	for _, t := range ya.ticks {
		tickW = math.Max(tickW, textWidth(yfmt(t), 11))
	}
	left := 12 + tickW + 8
	if c.YLabel != "" {
		left += 18
	}
	bottom := 24 + legendH + 8
	if c.XLabel != "" {
		bottom += 18
	}
	px0, px1, py0, py1 := left, W-18, top, H-bottom
	if px1-px0 < 20 || py1-py0 < 20 {
		d.noData(12, top, W-24, math.Max(H-top-12, 10))
		return
	}
	xs := linear{xa.lo, xa.hi, px0, px1}
	ys := linear{ya.lo, ya.hi, py1, py0}
	plotFrame(d, xs, ys, xa, ya, xfmt, yfmt, px0, px1, py0, py1)
	d.printf(`<clipPath id="%s-clip"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n",
		idToken, num(px0), num(py0), num(px1-px0), num(py1-py0))
	d.printf(`<g clip-path="url(#%s-clip)">`+"\n", idToken)
	// reference lines under the data
	for i, s := range c.Series {
		if s.Reference {
			d.printf(`<path d="%s" fill="none" stroke="%s" stroke-width="1.5"%s><title>%s</title></path>`+"\n",
				pathData(s.X, s.Y, xs, ys), colRef, refDash(styles[i]), esc(s.Name))
		}
	}
	for i, s := range c.Series {
		if s.Reference {
			continue
		}
		k := styles[i]
		d.printf(`<g aria-label="%s">`+"\n", esc(orDash(s.Name)))
		d.printf(`<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`+"\n",
			pathData(s.X, s.Y, xs, ys), colour(k), dash(k))
		for _, j := range markerIndexes(s) {
			marker(d, k, xs.at(s.X[j]), ys.at(s.Y[j]), colour(k))
		}
		d.b.WriteString("</g>\n")
	}
	d.b.WriteString("</g>\n")
	axisLabels(d, c.Options, px0, px1, py0, py1, 0)
	drawLegend(d, items, 12, H-6-legendH, W-24)
}

var refDashes = []string{"5 4", "1.5 3", "9 3 1.5 3"}

func refDash(i int) string {
	return fmt.Sprintf(` stroke-dasharray="%s"`, refDashes[i%len(refDashes)])
}

// plotFrame draws grid lines, tick labels and the axis lines.
func plotFrame(d *doc, xs, ys linear, xa, ya axis, xfmt, yfmt func(float64) string, px0, px1, py0, py1 float64) {
	for _, t := range xa.ticks {
		p := xs.at(t)
		d.line(p, py0, p, py1, `stroke="`+colGrid+`"`)
		d.text(p, py1+15, xfmt(t), `font-size="11" text-anchor="middle" fill="#222222"`)
	}
	for _, t := range ya.ticks {
		p := ys.at(t)
		d.line(px0, p, px1, p, `stroke="`+colGrid+`"`)
		d.text(px0-6, p+4, yfmt(t), `font-size="11" text-anchor="end" fill="#222222"`)
	}
	d.line(px0, py1, px1, py1, `stroke="`+colAxis+`"`)
	d.line(px0, py0, px0, py1, `stroke="`+colAxis+`"`)
}

// pathData builds an SVG path through the finite points, starting a new
// sub-path after every gap.
func pathData(x, y []float64, xs, ys linear) string {
	var b strings.Builder
	pen := false
	for i := range x {
		if !finite(x[i]) || !finite(y[i]) {
			pen = false
			continue
		}
		// keep far-away points bounded so coordinates stay printable
		px := clamp(xs.at(x[i]), -1e5, 1e5)
		py := clamp(ys.at(y[i]), -1e5, 1e5)
		if pen {
			b.WriteString(" L")
		} else {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("M")
		}
		b.WriteString(num(px))
		b.WriteByte(',')
		b.WriteString(num(py))
		pen = true
	}
	if b.Len() == 0 {
		return "M0,0"
	}
	return b.String()
}

// markerIndexes chooses which points of s get a marker.
func markerIndexes(s Series) []int {
	var idx []int
	for i := range s.X {
		if finite(s.X[i]) && finite(s.Y[i]) {
			idx = append(idx, i)
		}
	}
	if s.Points || len(idx) <= 12 {
		return idx
	}
	out := make([]int, 0, 12)
	for k := range 12 {
		out = append(out, idx[k*(len(idx)-1)/11])
	}
	return out
}
