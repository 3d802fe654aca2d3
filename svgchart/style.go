package svgchart

import "fmt"

// Palette is the Okabe–Ito palette (Okabe and Ito, "Color Universal
// Design", 2002), reordered so that the first colours have the most
// contrast on white. It stays distinguishable under the common forms of
// colour-vision deficiency; series also differ by pattern, dash or marker.
var Palette = []string{
	"#0072B2", // blue
	"#E69F00", // orange
	"#009E73", // bluish green
	"#D55E00", // vermilion
	"#CC79A7", // reddish purple
	"#56B4E9", // sky blue
	"#000000", // black
	"#F0E442", // yellow (weak on white: last)
}

func colour(i int) string { return Palette[i%len(Palette)] }

// Status colours for bands and alerts (from the same palette family).
const (
	colOK    = "#009E73"
	colWarn  = "#E69F00"
	colAlert = "#D55E00"
	colRef   = "#555555"
	colGrid  = "#e3e3e3"
	colAxis  = "#333333"
)

// dashes differ per line series so lines are told apart without colour.
var dashes = []string{"", "8 4", "2 3", "10 3 2 3", "5 5", "12 3 2 3 2 3"}

func dash(i int) string {
	d := dashes[i%len(dashes)]
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

// patternCount is the number of distinct bar fill patterns.
const patternCount = 6

// writePatterns defines one fill per series: the series colour overlaid
// with a white texture (none, diagonal, dots, cross-hatch, horizontal,
// vertical), so bars differ in greyscale print as well.
func writePatterns(d *doc, n int) {
	if n == 0 {
		return
	}
	d.b.WriteString("<defs>\n")
	for i := range n {
		c := colour(i)
		d.printf(`<pattern id="%s-p%d" patternUnits="userSpaceOnUse" width="8" height="8">`, idToken, i)
		d.printf(`<rect width="8" height="8" fill="%s"/>`, c)
		switch i % patternCount {
		case 1:
			d.printf(`<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#ffffff" stroke-width="1.6"/>`)
		case 2:
			d.printf(`<circle cx="4" cy="4" r="1.7" fill="#ffffff"/>`)
		case 3:
			d.printf(`<path d="M0,0 l8,8 M8,0 l-8,8" stroke="#ffffff" stroke-width="1.2"/>`)
		case 4:
			d.printf(`<path d="M0,4 h8" stroke="#ffffff" stroke-width="1.6"/>`)
		case 5:
			d.printf(`<path d="M4,0 v8" stroke="#ffffff" stroke-width="1.6"/>`)
		}
		d.b.WriteString("</pattern>\n")
	}
	d.b.WriteString("</defs>\n")
}

func patternFill(i int) string { return fmt.Sprintf(`url(#%s-p%d)`, idToken, i) }

// marker draws marker shape i centred on (x, y).
func marker(d *doc, i int, x, y float64, fill string) {
	const r = 3.5
	stroke := fmt.Sprintf(`fill="%s" stroke="#ffffff" stroke-width="0.8"`, fill)
	switch i % 6 {
	case 0:
		d.printf(`<circle cx="%s" cy="%s" r="%s" %s/>`+"\n", num(x), num(y), num(r), stroke)
	case 1:
		d.printf(`<rect x="%s" y="%s" width="%s" height="%s" %s/>`+"\n", num(x-r), num(y-r), num(2*r), num(2*r), stroke)
	case 2:
		d.printf(`<path d="M%s,%s L%s,%s L%s,%s Z" %s/>`+"\n", num(x), num(y-r-1), num(x+r+0.5), num(y+r), num(x-r-0.5), num(y+r), stroke)
	case 3:
		d.printf(`<path d="M%s,%s L%s,%s L%s,%s L%s,%s Z" %s/>`+"\n", num(x), num(y-r-1), num(x+r+1), num(y), num(x), num(y+r+1), num(x-r-1), num(y), stroke)
	case 4:
		d.printf(`<path d="M%s,%s L%s,%s M%s,%s L%s,%s" stroke="%s" stroke-width="2"/>`+"\n", num(x-r), num(y-r), num(x+r), num(y+r), num(x-r), num(y+r), num(x+r), num(y-r), fill)
	case 5:
		d.printf(`<path d="M%s,%s L%s,%s L%s,%s Z" %s/>`+"\n", num(x), num(y+r+1), num(x+r+0.5), num(y-r), num(x-r-0.5), num(y-r), stroke)
	}
}

// legendItem is one entry of a legend; draw paints its 16×10 swatch with
// the top-left corner at (x, y).
type legendItem struct {
	label string
	draw  func(d *doc, x, y float64)
}

const (
	legendRow  = 18.0
	legendFont = 11.0
)

// legendRows lays items out left to right, wrapping at width, and returns
// the x offset of each item and its row.
func legendLayout(items []legendItem, width float64) (xs []float64, rows []int, nrows int) {
	x, row := 0.0, 0
	for _, it := range items {
		w := 22 + textWidth(fitText(it.label, width-30, legendFont), legendFont) + 16
		if x > 0 && x+w > width {
			x, row = 0, row+1
		}
		xs = append(xs, x)
		rows = append(rows, row)
		x += w
	}
	if len(items) > 0 {
		nrows = row + 1
	}
	return
}

// legendHeight is the vertical space a legend of items needs.
func legendHeight(items []legendItem, width float64) float64 {
	_, _, n := legendLayout(items, width)
	return float64(n) * legendRow
}

// drawLegend writes the legend with its top-left at (x0, y0).
func drawLegend(d *doc, items []legendItem, x0, y0, width float64) {
	if len(items) == 0 {
		return
	}
	xs, rows, _ := legendLayout(items, width)
	d.b.WriteString(`<g aria-label="Legend">` + "\n")
	for i, it := range items {
		x, y := x0+xs[i], y0+float64(rows[i])*legendRow
		it.draw(d, x, y+2)
		shown := fitText(it.label, width-30, legendFont)
		d.textTip(x+22, y+11, shown, it.label, `font-size="11" fill="#222222"`)
	}
	d.b.WriteString("</g>\n")
}

func swatchPattern(i int) func(d *doc, x, y float64) {
	return func(d *doc, x, y float64) {
		d.rect(x, y, 16, 10, fmt.Sprintf(`fill="%s" stroke="%s" stroke-width="0.8"`, patternFill(i), colAxis))
	}
}

func swatchLine(stroke string, width float64, dashAttr string, markerIdx int) func(d *doc, x, y float64) {
	return func(d *doc, x, y float64) {
		d.line(x, y+5, x+16, y+5, fmt.Sprintf(`stroke="%s" stroke-width="%s"%s`, stroke, num(width), dashAttr))
		if markerIdx >= 0 {
			marker(d, markerIdx, x+8, y+5, stroke)
		}
	}
}
