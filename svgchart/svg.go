package svgchart

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Default chart size in CSS pixels.
const (
	DefaultWidth  = 640
	DefaultHeight = 400
	maxSide       = 20000 // larger sizes are refused: they would only be a mistake
)

// Options are the settings shared by every chart kind.
type Options struct {
	// Title is drawn above the chart and is its accessible name.
	Title string
	// Desc is the accessible long description. When empty, a summary of
	// the chart's content is generated.
	Desc string
	// Width and Height are the size in CSS pixels; zero means the default.
	Width, Height int
	// XLabel and YLabel name the axes.
	XLabel, YLabel string
	// ID prefixes the ids of the chart's elements (title, clip paths,
	// patterns). When empty, a prefix is derived from a hash of the chart's
	// output, so that distinct charts on one page do not collide.
	ID string
}

// Range bounds an axis. The zero value (Min == Max) means "choose from the
// data".
type Range struct{ Min, Max float64 }

func (r Range) set() bool {
	return r.Min < r.Max && !math.IsInf(r.Min, 0) && !math.IsInf(r.Max, 0)
}

// Error reports a chart that cannot be rendered as specified.
type Error struct {
	Chart string // chart kind: "bar chart", "line chart", ...
	Field string // the offending field, e.g. "Series[1].Values"
	Msg   string
	Err   error // a sentinel such as ErrSize or ErrLength, or nil
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "svgchart: " + e.Chart + ": " + e.Msg
	}
	return "svgchart: " + e.Chart + ": " + e.Field + ": " + e.Msg
}

// Unwrap returns the sentinel the error matches, if any.
func (e *Error) Unwrap() error { return e.Err }

// Sentinels matched by *Error values with errors.Is.
var (
	ErrSize   = errors.New("size out of range")
	ErrLength = errors.New("length mismatch")
)

func (o Options) size(chart string) (w, h float64, err error) {
	wi, hi := o.Width, o.Height
	if wi == 0 {
		wi = DefaultWidth
	}
	if hi == 0 {
		hi = DefaultHeight
	}
	if wi < 120 || hi < 80 || wi > maxSide || hi > maxSide {
		return 0, 0, &Error{Chart: chart, Field: "Width/Height", Err: ErrSize,
			Msg: fmt.Sprintf("%d×%d is outside 120×80 .. %d×%d", wi, hi, maxSide, maxSide)}
	}
	return float64(wi), float64(hi), nil
}

// idToken stands for the chart's id prefix while the body is written; it
// cannot occur in escaped user text because NUL is not a valid XML
// character and is removed by the escaper.
const idToken = "\x00id\x00"

// doc accumulates one SVG document.
type doc struct {
	b    bytes.Buffer
	w, h float64
}

func (d *doc) printf(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

// open writes the root element, the accessible title and description, a
// white background and the visible title.
func (d *doc) open(o Options, w, h float64, desc string) {
	d.w, d.h = w, h
	d.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-labelledby="%s-title %s-desc" font-family="sans-serif" font-size="12">`+"\n",
		num(w), num(h), num(w), num(h), idToken, idToken)
	title := o.Title
	if title == "" {
		title = "Chart"
	}
	d.printf(`<title id="%s-title">%s</title>`+"\n", idToken, esc(title))
	d.printf(`<desc id="%s-desc">%s</desc>`+"\n", idToken, esc(desc))
	d.printf(`<rect width="%s" height="%s" fill="#ffffff"/>`+"\n", num(w), num(h))
	if o.Title != "" {
		d.text(w/2, 20, fitText(o.Title, w-20, 15), `font-size="15" font-weight="bold" text-anchor="middle"`)
	}
}

// finish closes the document, replaces the id token and writes it out.
func (d *doc) finish(o Options, kind string, out io.Writer) error {
	d.b.WriteString("</svg>\n")
	id := o.ID
	if id == "" {
		h := fnv.New64a()
		h.Write([]byte(kind))
		h.Write(d.b.Bytes())
		id = fmt.Sprintf("svgc-%016x", h.Sum64())
	} else {
		id = sanitizeID(id)
	}
	body := bytes.ReplaceAll(d.b.Bytes(), []byte(idToken), []byte(id))
	_, err := out.Write(body)
	return err
}

// noData draws a visible notice in an otherwise empty plot area.
func (d *doc) noData(x, y, w, h float64) {
	d.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#999999" stroke-dasharray="4 4"/>`+"\n",
		num(x), num(y), num(w), num(h))
	d.text(x+w/2, y+h/2, "No data", `font-size="16" fill="#444444" text-anchor="middle" dominant-baseline="middle"`)
}

// text writes one text element; attrs is trusted markup written by this
// package, s is user text and is escaped.
func (d *doc) text(x, y float64, s, attrs string) {
	d.printf(`<text x="%s" y="%s" %s>%s</text>`+"\n", num(x), num(y), attrs, esc(s))
}

// textTip writes a text element that shows full as a tooltip when the
// visible label had to be shortened.
func (d *doc) textTip(x, y float64, shown, full, attrs string) {
	if shown == full {
		d.text(x, y, shown, attrs)
		return
	}
	d.printf(`<text x="%s" y="%s" %s><title>%s</title>%s</text>`+"\n", num(x), num(y), attrs, esc(full), esc(shown))
}

func (d *doc) line(x1, y1, x2, y2 float64, attrs string) {
	d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" %s/>`+"\n", num(x1), num(y1), num(x2), num(y2), attrs)
}

func (d *doc) rect(x, y, w, h float64, attrs string) {
	if w < 0 {
		x, w = x+w, -w
	}
	if h < 0 {
		y, h = y+h, -h
	}
	d.printf(`<rect x="%s" y="%s" width="%s" height="%s" %s/>`+"\n", num(x), num(y), num(w), num(h), attrs)
}

// num formats a coordinate with at most two decimals, deterministically.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	s := strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	if s == "-0" {
		return "0"
	}
	return s
}

// esc escapes s for XML text and attribute values and drops characters
// XML 1.0 does not allow (control characters, unpaired surrogates).
func esc(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				b.WriteRune('\uFFFD')
				continue
			}
		}
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			// not allowed in XML 1.0: dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sanitizeID keeps the characters that are safe in an XML id and a URL
// fragment.
func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || !(out[0] >= 'a' && out[0] <= 'z' || out[0] >= 'A' && out[0] <= 'Z') {
		out = "c" + out
	}
	return out
}

// textWidth estimates the rendered width of s at the given font size for
// a generic sans-serif font (about 0.58 em per character on average).
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * 0.58
}

// fitText shortens s with an ellipsis so that it fits in width.
func fitText(s string, width, size float64) string {
	if textWidth(s, size) <= width {
		return s
	}
	n := int(width / (size * 0.58))
	if n < 2 {
		n = 2
	}
	r := []rune(s)
	if n >= len(r) {
		return s
	}
	return string(r[:n-1]) + "…"
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// render runs a chart's draw function into out.
func render(o Options, kind string, out io.Writer, draw func(d *doc) error) error {
	var d doc
	if err := draw(&d); err != nil {
		return err
	}
	return d.finish(o, kind, out)
}

// bytesOf is the SVG() helper shared by every chart kind.
func bytesOf(write func(io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
