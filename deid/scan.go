package deid

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Identifiers are the original identifiers of one instance, gathered
// before de-identification, against which the remaining text is checked.
type Identifiers struct {
	Names      []string // person names of the patient (PN values, any form)
	IDs        []string // patient IDs, other IDs, accession numbers
	BirthDates []string // DA values
}

// Pattern is a configured regular expression for identifiers that the
// instance itself does not reveal (a hospital's MRN format, for example).
type Pattern struct {
	Name  string `json:"name"`
	Regex string `json:"regex"`
}

// Hit is one residual identifier found in a value. It names the kind of
// identifier and never carries the identifier itself.
type Hit struct {
	Kind   string // "name", "id", "birth-date" or "pattern:<name>"
	Offset int    // byte offset of the match in the value
	Len    int
}

func (h Hit) String() string { return h.Kind }

// Scanner holds the compiled configured patterns; it is shared by all
// instances of a run.
type Scanner struct {
	patterns []namedRegexp
}

type namedRegexp struct {
	name string
	re   *regexp.Regexp
}

// NewScanner compiles the configured patterns. Patterns are matched
// case-insensitively.
func NewScanner(patterns []Pattern) (*Scanner, error) {
	s := &Scanner{}
	for i, p := range patterns {
		if p.Name == "" {
			return nil, fmt.Errorf("deid: pattern %d has no name", i)
		}
		re, err := regexp.Compile("(?i)" + p.Regex)
		if err != nil {
			return nil, fmt.Errorf("deid: pattern %q: %w", p.Name, err)
		}
		s.patterns = append(s.patterns, namedRegexp{p.Name, re})
	}
	return s, nil
}

// needle is one lower-cased identifier string to look for.
type needle struct {
	text string
	kind string
	word bool // must be bounded by non-alphanumerics (name parts)
}

// InstanceScanner checks values against one instance's identifiers.
type InstanceScanner struct {
	s       *Scanner
	needles []needle
}

// minNameLen is the shortest name part searched for: one-letter initials
// would match everywhere.
const minNameLen = 2

// minIDLen is the shortest identifier searched for.
const minIDLen = 3

// ForInstance prepares a scanner for the identifiers of one instance.
func (s *Scanner) ForInstance(ids Identifiers) *InstanceScanner {
	is := &InstanceScanner{s: s}
	seen := map[string]bool{}
	add := func(text, kind string, word bool) {
		text = strings.ToLower(strings.TrimSpace(text))
		if seen[text] {
			return
		}
		seen[text] = true
		is.needles = append(is.needles, needle{text, kind, word})
	}
	for _, n := range ids.Names {
		for _, part := range nameParts(n) {
			if utf8.RuneCountInString(part) >= minNameLen {
				add(part, "name", true)
			}
		}
	}
	for _, id := range ids.IDs {
		id = strings.TrimSpace(strings.TrimRight(id, "\x00"))
		// Short all-digit IDs ("1", "42") are too common in ordinary
		// values to be searched for; IDs with letters need 3 characters.
		if len(id) >= minIDLen && (!isDigits(id) || len(id) >= minDigitIDLen) {
			add(id, "id", isAlnum(id))
		}
	}
	for _, d := range ids.BirthDates {
		for _, f := range dateForms(d) {
			add(f, "birth-date", true)
		}
	}
	return is
}

// nameParts splits a PN value into its words: components (^), groups (=)
// and the words inside them.
func nameParts(pn string) []string {
	return strings.FieldsFunc(pn, func(r rune) bool {
		return r == '^' || r == '=' || r == ',' || r == '.' || r == '\\' || unicode.IsSpace(r) || r == 0
	})
}

// dateForms writes a DA value in the forms people type it in text.
func dateForms(da string) []string {
	t, err := time.Parse("20060102", strings.TrimSpace(strings.TrimRight(da, "\x00")))
	if err != nil {
		return nil
	}
	layouts := []string{
		"20060102", "2006-01-02", "2006/01/02", "2006.01.02",
		"02/01/2006", "01/02/2006", "02.01.2006", "02-01-2006", "01-02-2006",
		"2 Jan 2006", "02 Jan 2006", "Jan 2, 2006", "January 2, 2006", "2 January 2006",
		"1/2/2006", "2/1/2006",
	}
	out := make([]string, 0, len(layouts))
	for _, l := range layouts {
		out = append(out, t.Format(l))
	}
	return out
}

// minDigitIDLen is the shortest all-digit identifier searched for.
const minDigitIDLen = 5

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// Find returns the residual identifiers in value.
func (is *InstanceScanner) Find(value string) []Hit {
	if value == "" {
		return nil
	}
	var hits []Hit
	lower := strings.ToLower(value)
	for _, n := range is.needles {
		from := 0
		for {
			i := strings.Index(lower[from:], n.text)
			if i < 0 {
				break
			}
			i += from
			end := i + len(n.text)
			if !n.word || (boundary(lower, i-1) && boundary(lower, end)) {
				hits = append(hits, Hit{Kind: n.kind, Offset: i, Len: len(n.text)})
			}
			from = end
			if from >= len(lower) {
				break
			}
		}
	}
	for _, p := range is.s.patterns {
		for _, m := range p.re.FindAllStringIndex(value, -1) {
			if m[1] > m[0] {
				hits = append(hits, Hit{Kind: "pattern:" + p.name, Offset: m[0], Len: m[1] - m[0]})
			}
		}
	}
	if len(lower) != len(value) {
		// Lower-casing changed byte lengths (rare scripts): offsets of
		// needle hits are not valid in value; report them without position.
		for i := range hits {
			if !strings.HasPrefix(hits[i].Kind, "pattern:") {
				hits[i].Offset, hits[i].Len = 0, 0
			}
		}
	}
	return hits
}

// boundary reports whether byte i of s is outside s or not a letter or
// digit (ASCII; non-ASCII bytes count as letters).
func boundary(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	c := s[i]
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80)
}

// genericClean lists the forms of identifiers that Clean removes from
// free text even when the instance does not reveal them: dates, times with
// a date, e-mail addresses, telephone numbers and long digit runs (record
// numbers).
var genericClean = regexp.MustCompile(`(?i)` + strings.Join([]string{
	`\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b`,
	`\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b`,
	`\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b`,
	`\b\d{1,2}\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{2,4}\b`,
	`\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{2,4}\b`,
	`[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}`,
	`\+?\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{3,4}\b`,
	`\b\d{6,}\b`,
}, "|"))

// CleanText removes from a free-text value every residual identifier of
// the instance, every configured pattern and the generic identifier forms
// (genericClean). Removed spans become a single space so words do not
// join. It reports whether anything was removed.
func (is *InstanceScanner) CleanText(value string) (string, bool) {
	type span struct{ a, b int }
	var spans []span
	for _, h := range is.Find(value) {
		if h.Len == 0 {
			// Position unknown: drop the whole value.
			return "", true
		}
		spans = append(spans, span{h.Offset, h.Offset + h.Len})
	}
	for _, m := range genericClean.FindAllStringIndex(value, -1) {
		spans = append(spans, span{m[0], m[1]})
	}
	if len(spans) == 0 {
		return value, false
	}
	remove := make([]bool, len(value))
	for _, s := range spans {
		for i := s.a; i < s.b && i < len(value); i++ {
			remove[i] = true
		}
	}
	var b strings.Builder
	gap := false
	for i := 0; i < len(value); i++ {
		if remove[i] {
			gap = true
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteByte(value[i])
	}
	return strings.Join(strings.Fields(b.String()), " "), true
}
