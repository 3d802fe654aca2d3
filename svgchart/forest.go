package svgchart

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// ForestRow is one row of a forest plot: a point estimate with its
// confidence interval. NaN bounds draw the estimate alone; a NaN estimate
// prints "undefined" (with Note giving the reason).
type ForestRow struct {
	Label                  string
	Estimate, Lower, Upper float64
	// Note is printed after the interval, e.g. "n = 14, too small".
	Note string
	// Muted draws the row hollow and grey (for example a group too small
	// to judge).
	Muted bool
	// Heading makes the row a bold group heading without an estimate.
	Heading bool
}

// RefLine is a vertical reference line of a forest plot or a horizontal
// threshold line of a timeline.
type RefLine struct {
	Value float64
	Label string
}

// ForestPlot shows one estimate and interval per row against a common
// horizontal axis, with optional reference lines (an overall value, a
// no-difference line, an acceptance threshold). When Height is zero it is
// computed from the number of rows.
type ForestPlot struct {
	Options
	Rows       []ForestRow
	References []RefLine
	XRange     Range
	// Format formats the estimates and the axis; nil chooses a precision
	// from the axis step.
	Format func(float64) string
}

const forestKind = "forest plot"

const forestRowH = 22.0

// SVG renders the plot.
func (c *ForestPlot) SVG() ([]byte, error) { return bytesOf(c.WriteSVG) }

// WriteSVG renders the plot to w.
func (c *ForestPlot) WriteSVG(w io.Writer) error {
	o := c.Options
	extra := 0.0
	if o.Title != "" {
		extra = 22
	}
	if o.Height == 0 {
		o.Height = int(math.Min(maxSide, 12+extra+22+float64(max(len(c.Rows), 3))*forestRowH+28+18+8))
	}
	W, H, err := o.size(forestKind)
	if err != nil {
		return err
	}
	desc := c.Desc
	if desc == "" {
		desc = c.summary()
	}
	return render(o, forestKind, w, func(d *doc) error {
		d.open(o, W, H, desc)
		c.draw(d, W, H)
		return nil
	})
}

func (c *ForestPlot) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Forest plot of %d rows", len(c.Rows))
	if c.XLabel != "" {
		fmt.Fprintf(&b, " of %s", c.XLabel)
	}
	b.WriteString(".")
	f := c.fmt(0.001)
	for i, r := range c.Rows {
		if i == 60 {
			b.WriteString(" …")
			break
		}
		if r.Heading {
			fmt.Fprintf(&b, " %s:", r.Label)
			continue
		}
		fmt.Fprintf(&b, " %s %s;", r.Label, c.interval(r, f))
	}
	for _, r := range c.References {
		fmt.Fprintf(&b, " Reference %s at %s.", orDash(r.Label), f(r.Value))
	}
	return b.String()
}

func (c *ForestPlot) fmt(step float64) func(float64) string {
	if c.Format != nil {
		return c.Format
	}
	return func(v float64) string { return tickLabel(v, step) }
}

func (c *ForestPlot) interval(r ForestRow, f func(float64) string) string {
	if !finite(r.Estimate) {
		s := "undefined"
		if r.Note != "" {
			s += " (" + r.Note + ")"
		}
		return s
	}
	s := f(r.Estimate)
	if finite(r.Lower) && finite(r.Upper) {
		s += " (" + f(r.Lower) + "–" + f(r.Upper) + ")"
	}
	if r.Note != "" {
		s += " " + r.Note
	}
	return s
}

func (c *ForestPlot) draw(d *doc, W, H float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	has := false
	for _, r := range c.Rows {
		if r.Heading {
			continue
		}
		for _, v := range []float64{r.Estimate, r.Lower, r.Upper} {
			if finite(v) {
				lo, hi, has = math.Min(lo, v), math.Max(hi, v), true
			}
		}
	}
	for _, r := range c.References {
		if finite(r.Value) {
			lo, hi = math.Min(lo, r.Value), math.Max(hi, r.Value)
		}
	}
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	if !has {
		d.noData(12, top, W-24, H-top-12)
		return
	}
	ax := niceAxis(lo, hi, c.XRange, 5)
	tick := c.fmt(ax.step)
	val := c.fmt(ax.step / 10)

	labelW := 0.0
	textW := 0.0
	for _, r := range c.Rows {
		labelW = math.Max(labelW, textWidth(r.Label, 11)+8)
		if !r.Heading {
			textW = math.Max(textW, textWidth(c.interval(r, val), 11))
		}
	}
	labelW = math.Min(labelW, W*0.3)
	textW = math.Min(textW, W*0.3)
	px0, px1 := 12+labelW+8, W-12-textW-10
	py0 := top + 18 // room for reference labels
	bottom := 28.0
	if c.XLabel != "" {
		bottom += 18
	}
	py1 := H - bottom
	if px1-px0 < 40 || py1-py0 < 10 {
		d.noData(12, top, W-24, math.Max(H-top-12, 10))
		return
	}
	xs := linear{ax.lo, ax.hi, px0, px1}
	rowH := (py1 - py0) / float64(max(len(c.Rows), 1))
	for _, t := range ax.ticks {
		p := xs.at(t)
		d.line(p, py0, p, py1, `stroke="`+colGrid+`"`)
		d.text(p, py1+15, tick(t), `font-size="11" text-anchor="middle" fill="#222222"`)
	}
	d.line(px0, py1, px1, py1, `stroke="`+colAxis+`"`)
	for i, r := range c.References {
		if !finite(r.Value) || r.Value < ax.lo || r.Value > ax.hi {
			continue
		}
		p := xs.at(r.Value)
		d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"%s><title>%s</title></line>`+"\n",
			num(p), num(py0-4), num(p), num(py1), colRef, refDash(i), esc(r.Label+" "+val(r.Value)))
		if r.Label != "" {
			d.text(p, py0-7, fitText(r.Label, 140, 10), `font-size="10" text-anchor="middle" fill="#444444"`)
		}
	}
	for i, r := range c.Rows {
		y := py0 + rowH*float64(i) + rowH/2
		if i%2 == 1 {
			d.rect(12, y-rowH/2, W-24, rowH, `fill="#000000" fill-opacity="0.035"`)
		}
		weight := ""
		if r.Heading {
			weight = ` font-weight="bold"`
		}
		d.textTip(12, y+4, fitText(r.Label, labelW, 11), r.Label, `font-size="11" fill="#222222"`+weight)
		if r.Heading {
			continue
		}
		d.textTip(W-12, y+4, fitText(c.interval(r, val), textW, 11), c.interval(r, val), `font-size="11" text-anchor="end" fill="#222222"`)
		if !finite(r.Estimate) {
			d.text((px0+px1)/2, y+4, "undefined", `font-size="10" font-style="italic" text-anchor="middle" fill="#444444"`)
			continue
		}
		col := colour(0)
		if r.Muted {
			col = "#777777"
		}
		if finite(r.Lower) && finite(r.Upper) {
			a, b := xs.at(clamp(r.Lower, ax.lo, ax.hi)), xs.at(clamp(r.Upper, ax.lo, ax.hi))
			d.line(a, y, b, y, fmt.Sprintf(`stroke="%s" stroke-width="1.8"`, col))
			capOrArrow(d, a, y, r.Lower < ax.lo, -1, col)
			capOrArrow(d, b, y, r.Upper > ax.hi, 1, col)
		}
		if r.Estimate >= ax.lo && r.Estimate <= ax.hi {
			p := xs.at(r.Estimate)
			fill := col
			if r.Muted {
				fill = "#ffffff"
			}
			d.printf(`<rect x="%s" y="%s" width="9" height="9" fill="%s" stroke="%s" stroke-width="1.5"><title>%s</title></rect>`+"\n",
				num(p-4.5), num(y-4.5), fill, col, esc(r.Label+": "+c.interval(r, val)))
		}
	}
	axisLabels(d, Options{XLabel: c.XLabel}, px0, px1, py0, py1-6, 0)
}

// capOrArrow ends an interval with a cap, or with an arrow head when the
// interval continues beyond the axis.
func capOrArrow(d *doc, x, y float64, beyond bool, dir float64, col string) {
	if beyond {
		d.printf(`<path d="M%s,%s L%s,%s L%s,%s Z" fill="%s"/>`+"\n",
			num(x+dir*6), num(y), num(x), num(y-4), num(x), num(y+4), col)
		return
	}
	d.line(x, y-4, x, y+4, fmt.Sprintf(`stroke="%s" stroke-width="1.8"`, col))
}
