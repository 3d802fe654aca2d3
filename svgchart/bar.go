package svgchart

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// BarSeries is one series of a bar chart: one value per category.
type BarSeries struct {
	Name   string
	Values []float64
	// Reference, when not nil, holds one reference value per category
	// (for example the expected share in the reference population), drawn
	// as a black marker across the bar. NaN means no marker for that bar.
	Reference []float64
}

// BarChart is a grouped bar chart: for every category, one bar per
// series. Horizontal bars suit long category labels. In a horizontal chart
// XLabel names the value axis (horizontal) and YLabel the categories.
type BarChart struct {
	Options
	Categories []string
	Series     []BarSeries
	Horizontal bool
	// ValueRange fixes the value axis; by default it spans zero and every
	// value and reference.
	ValueRange Range
	// ShowValues prints each bar's value at its end.
	ShowValues bool
	// Format formats values on the axis and on the bars (see Percent);
	// nil uses plain numbers.
	Format func(float64) string
	// ReferenceName labels the reference marker in the legend
	// ("Reference" when empty).
	ReferenceName string
}

const barKind = "bar chart"

// SVG renders the chart.
func (c *BarChart) SVG() ([]byte, error) { return bytesOf(c.WriteSVG) }

func (c *BarChart) validate() error {
	for i, s := range c.Series {
		if len(s.Values) != len(c.Categories) {
			return &Error{Chart: barKind, Field: fmt.Sprintf("Series[%d].Values", i), Err: ErrLength,
				Msg: fmt.Sprintf("has %d values for %d categories", len(s.Values), len(c.Categories))}
		}
		if s.Reference != nil && len(s.Reference) != len(c.Categories) {
			return &Error{Chart: barKind, Field: fmt.Sprintf("Series[%d].Reference", i), Err: ErrLength,
				Msg: fmt.Sprintf("has %d values for %d categories", len(s.Reference), len(c.Categories))}
		}
	}
	return nil
}

func (c *BarChart) summary() string {
	var b strings.Builder
	orient := "Vertical"
	if c.Horizontal {
		orient = "Horizontal"
	}
	fmt.Fprintf(&b, "%s bar chart of %d categories and %d series.", orient, len(c.Categories), len(c.Series))
	count := 0
	for _, s := range c.Series {
		if s.Name != "" {
			fmt.Fprintf(&b, " %s:", s.Name)
		}
		for j, v := range s.Values {
			if count == 60 {
				b.WriteString(" …")
				return b.String()
			}
			count++
			fmt.Fprintf(&b, " %s %s", c.Categories[j], c.format(v))
			if s.Reference != nil && finite(s.Reference[j]) {
				fmt.Fprintf(&b, " (%s %s)", strings.ToLower(c.refName()), c.format(s.Reference[j]))
			}
			b.WriteString(";")
		}
	}
	return b.String()
}

func (c *BarChart) refName() string {
	if c.ReferenceName == "" {
		return "Reference"
	}
	return c.ReferenceName
}

func (c *BarChart) format(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	if c.Format != nil {
		return c.Format(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// WriteSVG renders the chart to w.
func (c *BarChart) WriteSVG(w io.Writer) error {
	W, H, err := c.size(barKind)
	if err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	desc := c.Desc
	if desc == "" {
		desc = c.summary()
	}
	return render(c.Options, barKind, w, func(d *doc) error {
		d.open(c.Options, W, H, desc)
		c.draw(d, W, H)
		return nil
	})
}

func (c *BarChart) draw(d *doc, W, H float64) {
	// value extent
	lo, hi := 0.0, 0.0
	has := false
	hasRef := false
	for _, s := range c.Series {
		for j, v := range s.Values {
			if finite(v) {
				lo, hi, has = math.Min(lo, v), math.Max(hi, v), true
			}
			if s.Reference != nil && finite(s.Reference[j]) {
				r := s.Reference[j]
				lo, hi, has, hasRef = math.Min(lo, r), math.Max(hi, r), true, true
			}
		}
	}
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	var items []legendItem
	if len(c.Series) > 1 || (len(c.Series) == 1 && c.Series[0].Name != "") {
		for i, s := range c.Series {
			items = append(items, legendItem{s.Name, swatchPattern(i)})
		}
	}
	if hasRef {
		items = append(items, legendItem{c.refName(), func(d *doc, x, y float64) {
			refMarker(d, !c.Horizontal, x+8, y+5, 8)
		}})
	}
	legendH := legendHeight(items, W-24)
	if len(c.Categories) == 0 || len(c.Series) == 0 || !has {
		d.noData(12, top, W-24, H-top-12-legendH)
		drawLegend(d, items, 12, H-6-legendH, W-24)
		return
	}
	ax := niceAxis(lo, hi, c.ValueRange, 5)
	fmtTick := func(v float64) string {
		if c.Format != nil {
			return c.Format(v)
		}
		return tickLabel(v, ax.step)
	}
	writePatterns(d, len(c.Series))

	// margins
	tickW := 0.0
	for _, t := range ax.ticks {
		tickW = math.Max(tickW, textWidth(fmtTick(t), 11))
	}
	var left, bottom, right, rotW float64
	right = 16
	catW := 0.0
	for _, cat := range c.Categories {
		catW = math.Max(catW, textWidth(cat, 11))
	}
	if c.Horizontal {
		catW = math.Min(catW, W*0.35)
		left = 12 + catW + 8
		if c.YLabel != "" {
			left += 18
		}
		bottom = 22 + legendH + 8
		if c.XLabel != "" {
			bottom += 18
		}
		right = math.Max(16, textWidth(fmtTick(ax.hi), 11)/2+4)
		if c.ShowValues {
			right = math.Max(right, textWidth(c.format(ax.hi), 10)+8)
		}
	} else {
		left = 12 + tickW + 8
		if c.YLabel != "" {
			left += 18
		}
		bottom = 24 + legendH + 8
		// labels wider than their slot are written at an angle
		slotW := (W - left - right) / math.Max(1, float64(len(c.Categories)))
		if catW > slotW-2 {
			rotW = math.Min(catW, H*0.3/sin35)
			bottom += rotW*sin35 - 6
		}
		if c.XLabel != "" {
			bottom += 18
		}
	}
	if c.ShowValues && !c.Horizontal {
		top += 12
	}
	px0, px1, py0, py1 := left, W-right, top, H-bottom
	if px1-px0 < 20 || py1-py0 < 20 {
		d.noData(12, top, W-24, math.Max(H-top-12, 10))
		return
	}

	var val linear
	if c.Horizontal {
		val = linear{ax.lo, ax.hi, px0, px1}
	} else {
		val = linear{ax.lo, ax.hi, py1, py0}
	}
	// grid and value ticks
	for _, t := range ax.ticks {
		p := val.at(t)
		if c.Horizontal {
			d.line(p, py0, p, py1, `stroke="`+colGrid+`"`)
			d.text(p, py1+15, fmtTick(t), `font-size="11" text-anchor="middle" fill="#222222"`)
		} else {
			d.line(px0, p, px1, p, `stroke="`+colGrid+`"`)
			d.text(px0-6, p+4, fmtTick(t), `font-size="11" text-anchor="end" fill="#222222"`)
		}
	}

	nc, ns := float64(len(c.Categories)), float64(len(c.Series))
	var slot float64
	if c.Horizontal {
		slot = (py1 - py0) / nc
	} else {
		slot = (px1 - px0) / nc
	}
	group := slot * 0.8
	bw := group / ns
	zero := val.at(math.Max(ax.lo, math.Min(0, ax.hi)))
	d.b.WriteString(`<g aria-label="Bars">` + "\n")
	for j, cat := range c.Categories {
		start := slot*float64(j) + (slot-group)/2
		for i, s := range c.Series {
			v := s.Values[j]
			off := start + bw*float64(i)
			label := cat
			if s.Name != "" {
				label = s.Name + ", " + cat
			}
			label += ": " + c.format(v)
			if !finite(v) {
				if c.Horizontal {
					d.text(zero+4, py0+off+bw/2+4, "n/a", `font-size="10" fill="#444444"`)
				} else {
					d.text(px0+off+bw/2, zero-4, "n/a", `font-size="10" fill="#444444" text-anchor="middle"`)
				}
				continue
			}
			p := val.at(clamp(v, ax.lo, ax.hi))
			attrs := fmt.Sprintf(`fill="%s" stroke="%s" stroke-width="0.6"`, patternFill(i), colAxis)
			if c.Horizontal {
				d.printf(`<rect x="%s" y="%s" width="%s" height="%s" %s><title>%s</title></rect>`+"\n",
					num(math.Min(zero, p)), num(py0+off), num(math.Abs(p-zero)), num(bw*0.92), attrs, esc(label))
				if c.ShowValues {
					x, anchor := p+4, "start"
					if v < 0 {
						x, anchor = p-4, "end"
					}
					d.text(x, py0+off+bw*0.46+3.5, c.format(v), `font-size="10" fill="#222222" text-anchor="`+anchor+`"`)
				}
			} else {
				d.printf(`<rect x="%s" y="%s" width="%s" height="%s" %s><title>%s</title></rect>`+"\n",
					num(px0+off), num(math.Min(zero, p)), num(bw*0.92), num(math.Abs(p-zero)), attrs, esc(label))
				if c.ShowValues {
					y := p - 4
					if v < 0 {
						y = p + 12
					}
					d.text(px0+off+bw*0.46, y, c.format(v), `font-size="10" fill="#222222" text-anchor="middle"`)
				}
			}
			if s.Reference != nil && finite(s.Reference[j]) {
				r := val.at(clamp(s.Reference[j], ax.lo, ax.hi))
				if c.Horizontal {
					refMarker(d, false, r, py0+off+bw*0.46, bw*0.92+6)
				} else {
					refMarker(d, true, px0+off+bw*0.46, r, bw*0.92+6)
				}
			}
		}
		// category label
		if c.Horizontal {
			shown := fitText(cat, catW, 11)
			d.textTip(px0-6, py0+slot*float64(j)+slot/2+4, shown, cat, `font-size="11" text-anchor="end" fill="#222222"`)
		} else {
			if rotW > 0 {
				x, y := px0+slot*float64(j)+slot/2+3, py1+12
				d.printf(`<text x="%s" y="%s" font-size="11" text-anchor="end" fill="#222222" transform="rotate(-35 %s %s)">`,
					num(x), num(y), num(x), num(y))
				shown := fitText(cat, rotW, 11)
				if shown != cat {
					d.printf(`<title>%s</title>`, esc(cat))
				}
				d.printf("%s</text>\n", esc(shown))
			} else {
				shown := fitText(cat, slot-2, 11)
				d.textTip(px0+slot*float64(j)+slot/2, py1+16, shown, cat, `font-size="11" text-anchor="middle" fill="#222222"`)
			}
		}
	}
	d.b.WriteString("</g>\n")
	// axes
	if c.Horizontal {
		d.line(zero, py0, zero, py1, `stroke="`+colAxis+`"`)
		d.line(px0, py1, px1, py1, `stroke="`+colAxis+`"`)
	} else {
		d.line(px0, zero, px1, zero, `stroke="`+colAxis+`"`)
		d.line(px0, py0, px0, py1, `stroke="`+colAxis+`"`)
	}
	axisLabels(d, c.Options, px0, px1, py0, py1, math.Max(0, rotW*sin35-6))
	drawLegend(d, items, 12, H-6-legendH, W-24)
}

// axisLabels writes the x label under the plot (extra pixels lower when
// the tick labels are rotated) and the y label rotated at the left edge.
func axisLabels(d *doc, o Options, px0, px1, py0, py1, extra float64) {
	xOff := 34.0 + extra
	if o.XLabel != "" {
		d.text((px0+px1)/2, py1+xOff, fitText(o.XLabel, px1-px0, 12), `font-size="12" text-anchor="middle" fill="#222222"`)
	}
	if o.YLabel != "" {
		x, y := 16.0, (py0+py1)/2
		d.printf(`<text x="%s" y="%s" font-size="12" text-anchor="middle" fill="#222222" transform="rotate(-90 %s %s)">%s</text>`+"\n",
			num(x), num(y), num(x), num(y), esc(fitText(o.YLabel, py1-py0, 12)))
	}
}

// refMarker draws the reference marker: a black bar across a bar of the
// chart (vertical bars get a horizontal stroke) with a white halo so it
// stays visible on every fill.
func refMarker(d *doc, acrossVertical bool, x, y, length float64) {
	h := length / 2
	if acrossVertical {
		d.line(x-h, y, x+h, y, `stroke="#ffffff" stroke-width="5"`)
		d.line(x-h, y, x+h, y, `stroke="#000000" stroke-width="2.5"`)
	} else {
		d.line(x, y-h, x, y+h, `stroke="#ffffff" stroke-width="5"`)
		d.line(x, y-h, x, y+h, `stroke="#000000" stroke-width="2.5"`)
	}
}

// sin35 is the sine of the angle of rotated category labels.
const sin35 = 0.5736

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
