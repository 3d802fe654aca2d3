package ethos

import "unicode/utf8"

// The shapes of patient identifiers, recognised in text a user or a
// clinic's system sends (one screen for every stage; deployment's event
// screening and the server's free-text fields use it). A string is
// refused when it holds:
//
//   - a control character, or is not valid UTF-8;
//   - '^', the separator of DICOM person names (PN), or '@' (an e-mail
//     address);
//   - a calendar date: YYYYMMDD as one run of eight digits, or at the
//     start of a run of up to 14 (a DICOM date-time), or year, month and
//     day joined by the same '-', '/' or '.' in the orders YYYY-MM-DD,
//     DD-MM-YYYY and MM-DD-YYYY, years 1900 to 2099 (one-digit months
//     and days too, but not in Y.M.D, which version numbers share), or
//     D/M/YY and M/D/YY with slashes;
//   - a US social security number (ddd-dd-dddd);
//   - in an identifier field, nothing but digits (medical record and
//     accession numbers are); in text, six or more digits in a row.

// digitRun is a run of digits in a string and the byte after it.
type digitRun struct {
	val   int  // value (meaningful up to 9 digits)
	n     int  // number of digits
	after byte // the byte after the run, 0 at the end
	start int
	end   int
}

// maxRuns is how many runs of digits fit the stack buffer of the
// screening; longer texts spill to the heap.
const maxRuns = 16

// digitGroups appends the runs of digits of s to gs.
func digitGroups(gs []digitRun, s string) []digitRun {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		g := digitRun{start: i}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if g.n < 9 {
				g.val = g.val*10 + int(s[i]-'0')
			}
			g.n++
			i++
		}
		g.end = i
		if i < len(s) {
			g.after = s[i]
		}
		gs = append(gs, g)
	}
	return gs
}

func isYear(g digitRun) bool  { return g.n == 4 && g.val >= 1900 && g.val <= 2099 }
func isMonth(g digitRun) bool { return g.n <= 2 && g.val >= 1 && g.val <= 12 }
func isDay(g digitRun) bool   { return g.n <= 2 && g.val >= 1 && g.val <= 31 }

// hasDate reports whether s holds a calendar date: YYYYMMDD as one run of
// eight digits, or three runs joined by the same separator ('-', '/' or
// '.') read as year-month-day, day-month-year or month-day-year.
func hasDate(gs []digitRun) bool {
	for i, g := range gs {
		if g.n == 8 && isCompactDate(g.val) {
			return true
		}
		if i+2 >= len(gs) {
			continue
		}
		a, b, c := g, gs[i+1], gs[i+2]
		sep := a.after
		if (sep != '-' && sep != '/' && sep != '.') || b.start != a.end+1 || b.after != sep || c.start != b.end+1 {
			continue
		}
		switch {
		case isYear(a) && isMonth(b) && isDay(c) && (b.n == 2 && c.n == 2 || sep != '.'):
			// 1961-04-12, and 1961-4-2 or 1961/4/2 (not 2024.1.5, a
			// version number as often as a date).
			return true
		case isYear(c) && ((isDay(a) && isMonth(b)) || (isMonth(a) && isDay(b))):
			return true
		case sep == '/' && c.n == 2 && ((isDay(a) && isMonth(b)) || (isMonth(a) && isDay(b))):
			// 4/12/61: a two-digit year, written with slashes.
			return true
		}
	}
	return false
}

// isCompactDate reports whether v, eight digits, reads as YYYYMMDD.
func isCompactDate(v int) bool {
	return isYear(digitRun{n: 4, val: v / 10000}) && isMonth(digitRun{n: 2, val: v / 100 % 100}) && isDay(digitRun{n: 2, val: v % 100})
}

// hasDateTime reports a run of 9 to 14 digits that starts with YYYYMMDD:
// a DICOM date-time (DT) such as 20240115123045, which an identifier
// field must not carry either.
func hasDateTime(gs []digitRun) bool {
	for _, g := range gs {
		// val holds the first nine digits of a longer run.
		if g.n >= 9 && g.n <= 14 && isCompactDate(g.val/10) {
			return true
		}
	}
	return false
}

// hasSSN reports a US social security number: runs of 3, 2 and 4 digits
// joined by '-'.
func hasSSN(gs []digitRun) bool {
	for i := 0; i+2 < len(gs); i++ {
		a, b, c := gs[i], gs[i+1], gs[i+2]
		if a.n == 3 && b.n == 2 && c.n == 4 && a.after == '-' && b.after == '-' && b.start == a.end+1 && c.start == b.end+1 {
			return true
		}
	}
	return false
}

// IdentifierProblem says why s looks like it holds a patient identifier,
// or returns "" when it does not. isID says s is an identifier field (an
// event or case id), where a string of digits alone is refused too; in
// text, six or more digits in a row are. The answer never quotes s. It
// reads s once (strings without digits, '^' or '@' cost one pass) and
// allocates nothing for strings of up to 16 runs of digits.
//
// The screen recognises shapes, not names: "Jane Doe" passes. Callers
// use it where text they cannot keep out must be kept from carrying the
// identifiers that have a shape, and keep typed text out of logs, errors
// and audit entries everywhere else (see AuditText).
func IdentifierProblem(s string, isID bool) string {
	digits := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return "holds control characters"
		case c == '^':
			return "holds '^', the separator of DICOM person names: names are refused"
		case c == '@':
			return "holds '@', like an e-mail address: contact details are refused"
		case c >= '0' && c <= '9':
			digits = true
		}
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if !digits {
		return ""
	}
	var buf [maxRuns]digitRun
	gs := digitGroups(buf[:0], s)
	switch {
	case hasDate(gs) || hasDateTime(gs):
		return "holds a calendar date: dates of birth (and any other date typed as text) are refused"
	case hasSSN(gs):
		return "has the shape of a social security number"
	case isID && len(gs) == 1 && gs[0].n == len(s):
		return "is all digits, like a medical record or accession number: use a pseudonymous id"
	}
	if !isID {
		for _, g := range gs {
			if g.n >= 6 {
				return "holds six or more digits in a row, like a record number"
			}
		}
	}
	return ""
}
