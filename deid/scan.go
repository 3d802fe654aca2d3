package deid

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
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
	// The needles by first byte, for FirstKind's single pass: head[c]
	// is 1 + the index of the first needle starting with c (0: none),
	// next[i] the same for the needle after needle i; chains ascend.
	head    [256]uint8
	next    []uint8
	from    []int       // per needle: where its next occurrence may start
	indexed bool        // head and next are valid (at most 255 needles)
	last    Identifiers // what the needles were made from
}

// minNameLen is the shortest name part searched for: one-letter initials
// would match everywhere.
const minNameLen = 2

// minIDLen is the shortest identifier searched for.
const minIDLen = 3

// ForInstance prepares a scanner for the identifiers of one instance.
func (s *Scanner) ForInstance(ids Identifiers) *InstanceScanner {
	is := &InstanceScanner{}
	is.prepare(s, ids)
	return is
}

// prepare readies is (new, or used for another instance) for ids. The
// instances of a patient share their identifiers: when ids are those is
// was last prepared for, its needles are kept.
func (is *InstanceScanner) prepare(s *Scanner, ids Identifiers) {
	if is.s == s && is.indexed && slices.Equal(is.last.Names, ids.Names) && slices.Equal(is.last.IDs, ids.IDs) && slices.Equal(is.last.BirthDates, ids.BirthDates) {
		return
	}
	is.last.Names = append(is.last.Names[:0], ids.Names...)
	is.last.IDs = append(is.last.IDs[:0], ids.IDs...)
	is.last.BirthDates = append(is.last.BirthDates[:0], ids.BirthDates...)
	is.s = s
	is.needles = is.needles[:0]
	add := func(text, kind string, word bool) {
		text = strings.ToLower(strings.TrimSpace(text))
		for _, n := range is.needles {
			if n.text == text {
				return
			}
		}
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
	var forms [len(dateLayouts)]string
	for _, d := range ids.BirthDates {
		for _, f := range appendDateForms(forms[:0], d) {
			add(f, "birth-date", true)
		}
	}
	is.index()
}

// index builds the first-byte chains.
func (is *InstanceScanner) index() {
	is.head = [256]uint8{}
	is.indexed = len(is.needles) <= 255
	if !is.indexed {
		return
	}
	is.next = slices.Grow(is.next[:0], len(is.needles))[:len(is.needles)]
	is.from = slices.Grow(is.from[:0], len(is.needles))[:len(is.needles)]
	for i := len(is.needles) - 1; i >= 0; i-- {
		t := is.needles[i].text
		if t == "" {
			is.indexed = false // never made (ids are trimmed first); Find copes
			return
		}
		is.next[i] = is.head[t[0]]
		is.head[t[0]] = uint8(i + 1)
	}
}

// FirstKind reports the kind of Find(value)'s first hit, and whether
// there is one, for a value of ASCII bytes (as the residual scan holds
// them), without making the value a string or lower-casing it: one pass
// over the value tries, at each byte, only the needles that start with
// it. Like Find, it looks for each needle's occurrences one after the
// other (an occurrence overlapping one already found is not seen), so
// the two agree on every value; values with other bytes, and scanners
// with configured patterns, go through Find.
func (is *InstanceScanner) FirstKind(value []byte) (string, bool) {
	if !is.indexed || len(is.s.patterns) > 0 || !isASCII(value) {
		hits := is.Find(string(value))
		if len(hits) == 0 {
			return "", false
		}
		return hits[0].Kind, true
	}
	clear(is.from)
	best := len(is.needles)
	for i := 0; i < len(value); i++ {
		for k := is.head[lowerASCII(value[i])]; k != 0 && int(k-1) < best; k = is.next[k-1] {
			n := int(k - 1)
			t := is.needles[n].text
			if i < is.from[n] || !hasPrefixLower(value[i:], t) {
				continue
			}
			end := i + len(t)
			is.from[n] = end
			if !is.needles[n].word || boundaryBytes(value, i-1) && boundaryBytes(value, end) {
				best = n
			}
		}
	}
	if best == len(is.needles) {
		return "", false
	}
	return is.needles[best].kind, true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixLower reports whether b, lower-cased (ASCII), starts with t.
func hasPrefixLower(b []byte, t string) bool {
	if len(b) < len(t) {
		return false
	}
	for j := 0; j < len(t); j++ {
		if lowerASCII(b[j]) != t[j] {
			return false
		}
	}
	return true
}

// boundaryBytes is boundary for a value as bytes.
func boundaryBytes(b []byte, i int) bool {
	return i < 0 || i >= len(b) || !wordByte(b[i])
}

// nameParts splits a PN value into its words: components (^), groups (=)
// and the words inside them.
func nameParts(pn string) []string {
	return strings.FieldsFunc(pn, func(r rune) bool {
		return r == '^' || r == '=' || r == ',' || r == '.' || r == '\\' || unicode.IsSpace(r) || r == 0
	})
}

// dateLayouts are the forms (time package layouts) in which people type
// a date in text.
var dateLayouts = [...]string{
	"20060102", "2006-01-02", "2006/01/02", "2006.01.02",
	"02/01/2006", "01/02/2006", "02.01.2006", "02-01-2006", "01-02-2006",
	"2 Jan 2006", "02 Jan 2006", "Jan 2, 2006", "January 2, 2006", "2 January 2006",
	"1/2/2006", "2/1/2006",
}

// appendDateForms appends to out the forms in which people type the date
// of a DA value in text (none when it is not a date). The forms are
// made in one buffer (one allocation), month names in lower case as the
// scanner looks for them; dateLayouts lists them in time package terms
// (TestDateFormsMatchLayouts holds the two together).
func appendDateForms(out []string, da string) []string {
	t, err := time.Parse("20060102", strings.TrimSpace(strings.TrimRight(da, "\x00")))
	if err != nil {
		return out
	}
	y, mo, d := t.Date()
	m := int(mo)
	var yyyy [4]byte
	for i, v := 3, y; i >= 0; i, v = i-1, v/10 {
		yyyy[i] = byte('0' + v%10)
	}
	mm, dd := [2]byte{byte('0' + m/10), byte('0' + m%10)}, [2]byte{byte('0' + d/10), byte('0' + d%10)}
	short, long := monthNames[m-1][:3], monthNames[m-1]
	b := make([]byte, 0, 160)
	var ends [len(dateLayouts)]int
	k := 0
	end := func() { ends[k] = len(b); k++ }
	num := func(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }
	b = append(append(append(b, yyyy[:]...), mm[:]...), dd[:]...) // 20060102
	end()
	for _, sep := range []byte{'-', '/', '.'} { // 2006-01-02, 2006/01/02, 2006.01.02
		b = append(append(append(append(append(b, yyyy[:]...), sep), mm[:]...), sep), dd[:]...)
		end()
	}
	for _, f := range []struct {
		sep      byte
		dayFirst bool
	}{{'/', true}, {'/', false}, {'.', true}, {'-', true}, {'-', false}} { // 02/01/2006, 01/02/2006, 02.01.2006, 02-01-2006, 01-02-2006
		a, c := dd, mm
		if !f.dayFirst {
			a, c = mm, dd
		}
		b = append(append(append(append(append(b, a[:]...), f.sep), c[:]...), f.sep), yyyy[:]...)
		end()
	}
	b = append(append(append(append(num(b, d), ' '), short...), ' '), yyyy[:]...) // 2 Jan 2006
	end()
	b = append(append(append(append(append(b, dd[:]...), ' '), short...), ' '), yyyy[:]...) // 02 Jan 2006
	end()
	b = append(append(num(append(append(b, short...), ' '), d), ", "...), yyyy[:]...) // Jan 2, 2006
	end()
	b = append(append(num(append(append(b, long...), ' '), d), ", "...), yyyy[:]...) // January 2, 2006
	end()
	b = append(append(append(append(num(b, d), ' '), long...), ' '), yyyy[:]...) // 2 January 2006
	end()
	b = append(append(num(append(num(b, m), '/'), d), '/'), yyyy[:]...) // 1/2/2006
	end()
	b = append(append(num(append(num(b, d), '/'), m), '/'), yyyy[:]...) // 2/1/2006
	end()
	s := string(b)
	start := 0
	for _, e := range ends {
		out = append(out, s[start:e])
		start = e
	}
	return out
}

var monthNames = [12]string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

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
	return i < 0 || i >= len(s) || !wordByte(s[i])
}

// wordByte reports whether c is part of a word: an ASCII letter or digit,
// or a non-ASCII byte.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
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
