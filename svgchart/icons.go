package svgchart

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// IconGroup is one highlighted group of an icon array.
type IconGroup struct {
	Label string
	Count int
}

// IconArray draws Total person icons in a grid and fills the first ones
// group by group ("of 100 patients with the condition, the model flags
// 92"): the plain-language chart of risk communication, readable without
// any axis. Groups differ by colour and by fill texture; the icons left
// over are drawn as grey outlines and labelled RestLabel.
type IconArray struct {
	Options
	Total     int // icons; 0 means 100
	Columns   int // icons per row; 0 means 10 (or fewer for a small Total)
	Groups    []IconGroup
	RestLabel string
}

const iconKind = "icon array"

// ErrValue is matched by errors about a value out of its range.
var ErrValue = fmt.Errorf("value out of range")

// SVG renders the icon array.
func (c *IconArray) SVG() ([]byte, error) { return bytesOf(c.WriteSVG) }

func (c *IconArray) total() int {
	if c.Total == 0 {
		return 100
	}
	return c.Total
}

// WriteSVG renders the icon array to w.
func (c *IconArray) WriteSVG(w io.Writer) error {
	W, H, err := c.size(iconKind)
	if err != nil {
		return err
	}
	total := c.total()
	if total < 1 || total > 1000 {
		return &Error{Chart: iconKind, Field: "Total", Err: ErrValue, Msg: fmt.Sprintf("%d icons is outside 1 .. 1000", total)}
	}
	if c.Columns < 0 {
		return &Error{Chart: iconKind, Field: "Columns", Err: ErrValue, Msg: "negative"}
	}
	used := 0
	for i, g := range c.Groups {
		if g.Count < 0 {
			return &Error{Chart: iconKind, Field: fmt.Sprintf("Groups[%d].Count", i), Err: ErrValue, Msg: "negative"}
		}
		used += g.Count
	}
	if used > total {
		return &Error{Chart: iconKind, Field: "Groups", Err: ErrValue, Msg: fmt.Sprintf("counts add up to %d, more than the %d icons", used, total)}
	}
	desc := c.Desc
	if desc == "" {
		var b strings.Builder
		fmt.Fprintf(&b, "Icon array of %d.", total)
		for _, g := range c.Groups {
			fmt.Fprintf(&b, " %d %s;", g.Count, g.Label)
		}
		if rest := total - used; rest > 0 {
			fmt.Fprintf(&b, " %d %s.", rest, orDash(c.RestLabel))
		}
		desc = b.String()
	}
	return render(c.Options, iconKind, w, func(d *doc) error {
		d.open(c.Options, W, H, desc)
		c.draw(d, W, H, total, used)
		return nil
	})
}

func (c *IconArray) draw(d *doc, W, H float64, total, used int) {
	cols := c.Columns
	if cols == 0 {
		cols = min(10, total)
	}
	cols = min(cols, total)
	rows := (total + cols - 1) / cols
	var items []legendItem
	for i, g := range c.Groups {
		items = append(items, legendItem{fmt.Sprintf("%d %s", g.Count, g.Label), swatchPattern(i)})
	}
	if rest := total - used; rest > 0 && c.RestLabel != "" {
		items = append(items, legendItem{fmt.Sprintf("%d %s", rest, c.RestLabel), func(d *doc, x, y float64) {
			d.rect(x, y, 16, 10, `fill="#ffffff" stroke="#888888"`)
		}})
	}
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	legendH := legendHeight(items, W-24)
	availW, availH := W-24, H-top-legendH-18
	cell := math.Min(availW/float64(cols), availH/float64(rows))
	if cell < 2 {
		d.noData(12, top, W-24, math.Max(H-top-12, 10))
		return
	}
	writePatterns(d, len(c.Groups))
	x0 := 12 + (availW-cell*float64(cols))/2
	y0 := top + (availH-cell*float64(rows))/2
	group, left := 0, 0
	if len(c.Groups) > 0 {
		left = c.Groups[0].Count
	}
	d.b.WriteString(`<g aria-hidden="true">` + "\n")
	for i := range total {
		for group < len(c.Groups) && left == 0 {
			group++
			if group < len(c.Groups) {
				left = c.Groups[group].Count
			}
		}
		fill, stroke := "#ffffff", "#888888"
		if group < len(c.Groups) {
			fill, stroke = patternFill(group), colAxis
			left--
		}
		x := x0 + cell*float64(i%cols)
		y := y0 + cell*float64(i/cols)
		person(d, x+cell/2, y+cell/2, cell*0.86, fill, stroke)
	}
	d.b.WriteString("</g>\n")
	drawLegend(d, items, 12, H-6-legendH, W-24)
}

// person draws a simple person icon of height s centred on (cx, cy): a
// round head above a body with rounded shoulders.
func person(d *doc, cx, cy, s float64, fill, stroke string) {
	r := s * 0.16
	hy := cy - s/2 + r
	d.printf(`<circle cx="%s" cy="%s" r="%s" fill="%s" stroke="%s" stroke-width="0.8"/>`, num(cx), num(hy), num(r), fill, stroke)
	bw, top, bottom := s*0.56, hy+r+s*0.04, cy+s/2
	l, rt := cx-bw/2, cx+bw/2
	sh := top + bw*0.4 // shoulder height
	d.printf(`<path d="M%s,%s L%s,%s Q%s,%s %s,%s Q%s,%s %s,%s L%s,%s Z" fill="%s" stroke="%s" stroke-width="0.8"/>`+"\n",
		num(l), num(bottom), num(l), num(sh), num(l), num(top), num(cx), num(top),
		num(rt), num(top), num(rt), num(sh), num(rt), num(bottom), fill, stroke)
}
