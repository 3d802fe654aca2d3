package svgchart

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// TimePoint is one observation of a timeline.
type TimePoint struct {
	T time.Time
	V float64
}

// TimeSeries is one line of a timeline; points need not be sorted.
type TimeSeries struct {
	Name   string
	Points []TimePoint
}

// Level is the status a band stands for.
type Level int

// Band levels, drawn green, orange and vermilion with increasing texture.
const (
	LevelOK Level = iota
	LevelWarning
	LevelAlert
)

// Band shades a horizontal range of values (for example "PSI above 0.25:
// significant drift"). Min or Max may be infinite to reach the plot edge.
type Band struct {
	Min, Max float64
	Label    string
	Level    Level
}

// Alert marks a point in time where an alert was raised. A NaN V puts
// the mark at the top of the plot.
type Alert struct {
	T     time.Time
	V     float64
	Label string
}

// Timeline plots values over time with threshold bands, threshold lines
// and alert marks.
type Timeline struct {
	Options
	Series     []TimeSeries
	Bands      []Band
	Thresholds []RefLine
	Alerts     []Alert
	YRange     Range
	// From and To fix the time axis; zero values follow the data.
	From, To time.Time
	// Location is the time zone of the time labels (UTC when nil).
	Location *time.Location
	// YFormat formats the value ticks; nil uses plain numbers.
	YFormat func(float64) string
}

const timelineKind = "timeline"

// SVG renders the timeline.
func (c *Timeline) SVG() ([]byte, error) { return bytesOf(c.WriteSVG) }

// WriteSVG renders the timeline to w.
func (c *Timeline) WriteSVG(w io.Writer) error {
	W, H, err := c.size(timelineKind)
	if err != nil {
		return err
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		return &Error{Chart: timelineKind, Field: "From/To", Msg: "From must be before To"}
	}
	desc := c.Desc
	if desc == "" {
		desc = c.summary()
	}
	return render(c.Options, timelineKind, w, func(d *doc) error {
		d.open(c.Options, W, H, desc)
		c.draw(d, W, H)
		return nil
	})
}

func (c *Timeline) loc() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

func (c *Timeline) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Timeline with %d series", len(c.Series))
	if c.YLabel != "" {
		fmt.Fprintf(&b, " of %s", c.YLabel)
	}
	b.WriteString(".")
	for _, s := range c.Series {
		fmt.Fprintf(&b, " %s: %d points.", orDash(s.Name), len(s.Points))
	}
	for _, t := range c.Thresholds {
		fmt.Fprintf(&b, " Threshold %s at %s.", orDash(t.Label), tickLabel(t.Value, 0.001))
	}
	if len(c.Alerts) > 0 {
		fmt.Fprintf(&b, " %d alerts:", len(c.Alerts))
		for i, a := range c.Alerts {
			if i == 30 {
				b.WriteString(" …")
				break
			}
			fmt.Fprintf(&b, " %s %s;", a.T.In(c.loc()).Format("2006-01-02 15:04"), a.Label)
		}
	}
	return b.String()
}

var bandFill = [...]string{colOK, colWarn, colAlert}

func (c *Timeline) draw(d *doc, W, H float64) {
	var tlo, thi time.Time
	ylo, yhi := math.Inf(1), math.Inf(-1)
	has := false
	see := func(t time.Time, v float64) {
		if tlo.IsZero() || t.Before(tlo) {
			tlo = t
		}
		if thi.IsZero() || t.After(thi) {
			thi = t
		}
		if finite(v) {
			ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
		}
	}
	for _, s := range c.Series {
		for _, p := range s.Points {
			if finite(p.V) && !p.T.IsZero() {
				see(p.T, p.V)
				has = true
			}
		}
	}
	for _, a := range c.Alerts {
		if !a.T.IsZero() {
			see(a.T, a.V)
		}
	}
	for _, t := range c.Thresholds {
		if finite(t.Value) {
			ylo, yhi = math.Min(ylo, t.Value), math.Max(yhi, t.Value)
		}
	}
	for _, b := range c.Bands {
		for _, v := range []float64{b.Min, b.Max} {
			if finite(v) {
				ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
			}
		}
	}
	if !c.From.IsZero() {
		tlo = c.From
	}
	if !c.To.IsZero() {
		thi = c.To
	}
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	var items []legendItem
	for i, s := range c.Series {
		items = append(items, legendItem{s.Name, swatchLine(colour(i), 2, dash(i), i)})
	}
	for i, t := range c.Thresholds {
		items = append(items, legendItem{t.Label, swatchLine(colRef, 1.5, refDash(i), -1)})
	}
	if len(c.Alerts) > 0 {
		items = append(items, legendItem{"Alert", func(d *doc, x, y float64) { alertMark(d, x+8, y+5) }})
	}
	legendH := legendHeight(items, W-24)
	if !has {
		d.noData(12, top, W-24, H-top-12-legendH)
		drawLegend(d, items, 12, H-6-legendH, W-24)
		return
	}
	if !thi.After(tlo) {
		tlo, thi = tlo.Add(-12*time.Hour), thi.Add(12*time.Hour)
	}
	ya := niceAxis(ylo, yhi, c.YRange, 5)
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
	px0, px1, py0, py1 := left, W-24, top, H-bottom
	if px1-px0 < 20 || py1-py0 < 20 {
		d.noData(12, top, W-24, math.Max(H-top-12, 10))
		return
	}
	t0 := float64(tlo.UnixMilli())
	xs := linear{t0, float64(thi.UnixMilli()), px0, px1}
	ys := linear{ya.lo, ya.hi, py1, py0}
	at := func(t time.Time) float64 { return xs.at(float64(t.UnixMilli())) }

	// bands first, under everything
	d.printf(`<defs><pattern id="%s-warn" patternUnits="userSpaceOnUse" width="8" height="8"><path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="%s" stroke-opacity="0.35" stroke-width="1"/></pattern>`, idToken, colWarn)
	d.printf(`<pattern id="%s-alert" patternUnits="userSpaceOnUse" width="8" height="8"><path d="M0,0 l8,8 M8,0 l-8,8" stroke="%s" stroke-opacity="0.35" stroke-width="1"/></pattern></defs>`+"\n", idToken, colAlert)
	for _, b := range c.Bands {
		lo, hi := clamp(nanTo(b.Min, ya.lo), ya.lo, ya.hi), clamp(nanTo(b.Max, ya.hi), ya.lo, ya.hi)
		if !(hi > lo) {
			continue
		}
		lv := min(max(int(b.Level), 0), 2)
		y0, y1 := ys.at(hi), ys.at(lo)
		d.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.12"><title>%s</title></rect>`+"\n",
			num(px0), num(y0), num(px1-px0), num(y1-y0), bandFill[lv], esc(b.Label))
		switch Level(lv) {
		case LevelWarning:
			d.rect(px0, y0, px1-px0, y1-y0, fmt.Sprintf(`fill="url(#%s-warn)"`, idToken))
		case LevelAlert:
			d.rect(px0, y0, px1-px0, y1-y0, fmt.Sprintf(`fill="url(#%s-alert)"`, idToken))
		}
		if b.Label != "" && y1-y0 >= 12 {
			d.text(px1-4, y0+12, fitText(b.Label, (px1-px0)/2, 10), `font-size="10" text-anchor="end" fill="#333333"`)
		}
	}
	// time grid
	ticks, layout := timeTicks(tlo, thi, max(2, int((px1-px0)/90)), c.loc())
	for _, t := range ticks {
		p := at(t)
		d.line(p, py0, p, py1, `stroke="`+colGrid+`"`)
		d.text(p, py1+15, t.Format(layout), `font-size="11" text-anchor="middle" fill="#222222"`)
	}
	for _, t := range ya.ticks {
		p := ys.at(t)
		d.line(px0, p, px1, p, `stroke="`+colGrid+`" stroke-opacity="0.8"`)
		d.text(px0-6, p+4, yfmt(t), `font-size="11" text-anchor="end" fill="#222222"`)
	}
	d.line(px0, py1, px1, py1, `stroke="`+colAxis+`"`)
	d.line(px0, py0, px0, py1, `stroke="`+colAxis+`"`)
	d.printf(`<clipPath id="%s-clip"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n",
		idToken, num(px0-6), num(py0-6), num(px1-px0+12), num(py1-py0+12))
	d.printf(`<g clip-path="url(#%s-clip)">`+"\n", idToken)
	for i, t := range c.Thresholds {
		if !finite(t.Value) {
			continue
		}
		p := ys.at(t.Value)
		d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"%s><title>%s</title></line>`+"\n",
			num(px0), num(p), num(px1), num(p), colRef, refDash(i), esc(t.Label+" "+yfmt(t.Value)))
	}
	for i, s := range c.Series {
		pts := slices.Clone(s.Points)
		slices.SortStableFunc(pts, func(a, b TimePoint) int { return a.T.Compare(b.T) })
		xv := make([]float64, len(pts))
		yv := make([]float64, len(pts))
		for j, p := range pts {
			xv[j], yv[j] = float64(p.T.UnixMilli()), p.V
			if p.T.IsZero() {
				yv[j] = math.NaN()
			}
		}
		d.printf(`<g aria-label="%s">`+"\n", esc(orDash(s.Name)))
		d.printf(`<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`+"\n",
			pathData(xv, yv, xs, ys), colour(i), dash(i))
		for _, j := range markerIndexes(Series{X: xv, Y: yv, Points: len(pts) <= 60}) {
			marker(d, i, xs.at(xv[j]), ys.at(yv[j]), colour(i))
		}
		d.b.WriteString("</g>\n")
	}
	alerts := slices.Clone(c.Alerts)
	slices.SortStableFunc(alerts, func(a, b Alert) int { return cmp.Compare(a.T.UnixNano(), b.T.UnixNano()) })
	for _, a := range alerts {
		if a.T.IsZero() {
			continue
		}
		x := at(a.T)
		y := py0 + 6
		if finite(a.V) {
			y = ys.at(clamp(a.V, ya.lo, ya.hi))
		}
		d.printf(`<g><title>%s</title>`, esc("Alert "+a.T.In(c.loc()).Format("2006-01-02 15:04")+": "+a.Label))
		d.line(x, py0, x, py1, `stroke="`+colAlert+`" stroke-width="1" stroke-dasharray="2 2"`)
		alertMark(d, x, y)
		d.b.WriteString("</g>\n")
	}
	d.b.WriteString("</g>\n")
	axisLabels(d, c.Options, px0, px1, py0, py1, 0)
	drawLegend(d, items, 12, H-6-legendH, W-24)
}

func nanTo(v, def float64) float64 {
	if math.IsNaN(v) {
		return def
	}
	return v
}

// alertMark draws a warning triangle with an exclamation mark.
func alertMark(d *doc, x, y float64) {
	d.printf(`<path d="M%s,%s L%s,%s L%s,%s Z" fill="%s" stroke="#000000" stroke-width="1"/>`,
		num(x), num(y-8), num(x+7), num(y+5), num(x-7), num(y+5), colAlert)
	d.printf(`<path d="M%s,%s V%s M%s,%s V%s" stroke="#ffffff" stroke-width="1.6"/>`+"\n",
		num(x), num(y-4), num(y+0.5), num(x), num(y+2), num(y+3.5))
}
