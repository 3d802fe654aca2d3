package audit

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Event is one audit event: who did what to which resource, at which
// lifecycle stage, for which purpose, and — for access decisions — whether
// it was allowed and why. It never carries patient identifiers.
type Event struct {
	Time      time.Time // stored UTC with nanoseconds; the Log stamps it when zero
	Actor     string    // user id, token id or "system"
	Party     string    // party id of the actor ("" for system)
	Action    string    // e.g. "project.create", "access.decide", "token.revoke"
	Resource  string    // e.g. "project/p1", "token/t9"
	Stage     string    // lifecycle stage or ""
	Purpose   string    // declared purpose or ""
	Decision  string    // "allow" or "deny" for access decisions; "" for state changes
	Reason    string    // rule id or human-readable reason
	RequestID string
}

// Decision values.
const (
	Allow = "allow"
	Deny  = "deny"
)

// EventVersion is the value of the "v" member of the canonical form. A
// future change of the event's members gets a new version; readers refuse
// versions they do not know.
const EventVersion = 1

// MaxLeafSize bounds the canonical form of one event, so a reader never
// allocates more than this for a leaf.
const MaxLeafSize = 64 << 10

// timeLayout is the canonical time: UTC, always nine fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// fieldNames are the members of the canonical form in the order they are
// written: RFC 8785 orders members by their names, so this order is the
// sorted one and the encoding is the JCS canonical form.
var fieldNames = [...]string{
	"action", "actor", "decision", "party", "purpose", "reason",
	"request_id", "resource", "stage", "time", "v",
}

// memberKeys are `"name":` for each string member, written and matched
// as one piece.
var memberKeys = func() (k [9]string) {
	for i := range k {
		k[i] = `"` + fieldNames[i] + `":`
	}
	return k
}()

// fields returns pointers to the string members in canonical order (all
// but "time" and "v").
func (e *Event) fields() [9]*string {
	return [9]*string{&e.Action, &e.Actor, &e.Decision, &e.Party, &e.Purpose,
		&e.Reason, &e.RequestID, &e.Resource, &e.Stage}
}

// Validate reports whether e can be logged: Actor and Action set, a known
// Decision, a time in years 0001–9999, every member valid UTF-8, and the
// encoded form within MaxLeafSize.
func (e *Event) Validate() error {
	_, err := e.MarshalCanonical()
	return err
}

// MarshalCanonical returns the canonical bytes of e, the leaf stored in
// the log. The form is a JSON object with exactly these members, every one
// always present, in this order, without whitespace:
//
//	action actor decision party purpose reason request_id resource stage time v
//
// Strings are written as RFC 8785 (JSON Canonicalization Scheme) writes
// them: '"' and '\' escaped with a backslash; U+0008, U+0009, U+000A,
// U+000C, U+000D as \b \t \n \f \r; the other characters below U+0020 as
// \u00xx with lowercase hex; everything else as raw UTF-8. "time" is UTC
// with exactly nine fractional digits (2026-01-02T03:04:05.000000000Z) and
// "v" is the number EventVersion. The result is therefore the JCS form of
// the object: any RFC 8785 implementation re-encodes it to the same bytes.
func (e *Event) MarshalCanonical() ([]byte, error) {
	return e.appendCanonical(make([]byte, 0, 256))
}

func (e *Event) appendCanonical(b []byte) ([]byte, error) {
	if e.Actor == "" {
		return nil, &EventError{Field: "actor", Msg: "is empty"}
	}
	if e.Action == "" {
		return nil, &EventError{Field: "action", Msg: "is empty"}
	}
	switch e.Decision {
	case "", Allow, Deny:
	default:
		return nil, &EventError{Field: "decision", Msg: `is not "allow", "deny" or empty`}
	}
	t := e.Time.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return nil, &EventError{Field: "time", Msg: "is outside years 0001-9999"}
	}
	b = append(b, '{')
	for i, p := range e.fields() {
		if !utf8.ValidString(*p) {
			return nil, &EventError{Field: fieldNames[i], Msg: "is not valid UTF-8"}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, memberKeys[i]...)
		b = appendString(b, *p)
	}
	b = append(b, `,"time":"`...)
	b = appendTime(b, t)
	b = append(b, `","v":`...)
	b = strconv.AppendInt(b, EventVersion, 10)
	b = append(b, '}')
	if len(b) > MaxLeafSize {
		return nil, &EventError{Field: "", Msg: fmt.Sprintf("encodes to %d bytes, more than %d", len(b), MaxLeafSize)}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as an RFC 8785 JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// EventError reports an event that cannot be logged. Field names the
// member; the value itself is never included (it may be sensitive).
type EventError struct {
	Field string
	Msg   string
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return "audit: event " + e.Msg
	}
	return "audit: event " + e.Field + " " + e.Msg
}

// DecodeError reports a leaf that is not the canonical form of an event,
// with the byte offset where decoding stopped. The leaf's content is never
// quoted.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("audit: leaf is not a canonical event: at byte %d: %s", e.Offset, e.Msg)
}

// DecodeEvent parses the canonical form written by MarshalCanonical. It
// accepts exactly the bytes MarshalCanonical produces and nothing else
// (no whitespace, no other member order, no other escapes), so for every
// leaf it accepts, re-encoding the event gives the leaf back.
func DecodeEvent(leaf []byte) (Event, error) {
	return decodeEvent(leaf, false)
}

// checkCanonical reports whether leaf is a canonical event, like
// DecodeEvent, without building the event (no allocation when no string
// holds an escape): Verify runs it on every leaf.
func checkCanonical(leaf []byte) error {
	_, err := decodeEvent(leaf, true)
	return err
}

func decodeEvent(leaf []byte, checkOnly bool) (Event, error) {
	var e Event
	d := decoder{b: leaf}
	var empty [9]bool
	var decision []byte
	if len(leaf) > MaxLeafSize {
		return e, &DecodeError{Offset: MaxLeafSize, Msg: "longer than MaxLeafSize"}
	}
	// One UTF-8 check of the whole leaf covers every string in it: the
	// quotes that bound them are ASCII, which never occurs inside a
	// multi-byte sequence, and escapes only produce ASCII.
	if !utf8.Valid(leaf) {
		off := 0
		for off < len(leaf) {
			r, n := utf8.DecodeRune(leaf[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return e, &DecodeError{Offset: off, Msg: "not valid UTF-8"}
	}
	if !d.lit("{") {
		return e, d.err("expected '{'")
	}
	for i, p := range e.fields() {
		if i > 0 && !d.lit(",") {
			return e, d.err("expected ','")
		}
		if !d.lit(memberKeys[i]) {
			return e, d.err(fmt.Sprintf("expected member %q", fieldNames[i]))
		}
		s, err := d.str()
		if err != nil {
			return e, err
		}
		empty[i] = len(s) == 0
		if i == 2 {
			decision = s
		}
		if !checkOnly {
			*p = string(s)
		}
	}
	if !d.lit(`,"time":"`) {
		return e, d.err(`expected member "time"`)
	}
	if len(d.b)-d.off < len(timeLayout) {
		return e, d.err("truncated time")
	}
	t, ok := parseTime(d.b[d.off : d.off+len(timeLayout)])
	if !ok {
		return e, d.err("time is not YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ")
	}
	e.Time = t
	d.off += len(timeLayout)
	if !d.lit(`","v":`) {
		return e, d.err(`expected member "v"`)
	}
	if !d.lit(versionTail) {
		return e, d.err(fmt.Sprintf("unknown event version (this reader knows v=%d)", EventVersion))
	}
	if d.off != len(d.b) {
		return e, d.err("trailing bytes after the event")
	}
	if dec := string(decision); dec != "" && dec != Allow && dec != Deny {
		return e, &DecodeError{Offset: 0, Msg: "decision is not \"allow\", \"deny\" or empty"}
	}
	if empty[0] || empty[1] {
		return e, &DecodeError{Offset: 0, Msg: "actor or action is empty"}
	}
	return e, nil
}

// versionTail is the end of every canonical event.
var versionTail = strconv.Itoa(EventVersion) + "}"

// appendTime writes t (UTC, years 1-9999) in timeLayout without the
// general formatter: it runs once per event.
func appendTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

func appendDigits(b []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

// parseTime reads timeLayout exactly; a date that does not exist (Feb 30,
// hour 24) is refused, not normalised.
func parseTime(s []byte) (time.Time, bool) {
	const layout = "dddd-dd-ddTdd:dd:dd.dddddddddZ"
	if len(s) != len(layout) {
		return time.Time{}, false
	}
	for i := range len(layout) {
		if layout[i] == 'd' {
			if s[i] < '0' || s[i] > '9' {
				return time.Time{}, false
			}
		} else if s[i] != layout[i] {
			return time.Time{}, false
		}
	}
	num := func(from, to int) int {
		v := 0
		for _, c := range s[from:to] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d := num(0, 4), num(5, 7), num(8, 10)
	h, mi, sec, ns := num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d || int(t.Month()) != mo {
		return time.Time{}, false
	}
	return t, true
}

type decoder struct {
	b   []byte
	off int
}

func (d *decoder) err(msg string) error { return &DecodeError{Offset: d.off, Msg: msg} }

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.off < len(s) || string(d.b[d.off:d.off+len(s)]) != s {
		return false
	}
	d.off += len(s)
	return true
}

// str reads one canonical JSON string.
func (d *decoder) str() ([]byte, error) {
	if !d.lit(`"`) {
		return nil, d.err("expected '\"'")
	}
	start := d.off
	// Fast path: no escapes.
	for i := d.off; i < len(d.b); i++ {
		c := d.b[i]
		if c == '"' {
			d.off = i + 1
			return d.b[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var out []byte
	for {
		if d.off >= len(d.b) {
			return nil, d.err("unterminated string")
		}
		c := d.b[d.off]
		switch {
		case c == '"':
			d.off++
			if out == nil {
				out = []byte{}
			}
			return out, nil
		case c < 0x20:
			return nil, d.err("raw control character in string")
		case c != '\\':
			out = append(out, c)
			d.off++
			continue
		}
		if d.off+1 >= len(d.b) {
			return nil, d.err("truncated escape")
		}
		e := d.b[d.off+1]
		var r byte
		switch e {
		case '"', '\\':
			r = e
		case 'b':
			r = '\b'
		case 't':
			r = '\t'
		case 'n':
			r = '\n'
		case 'f':
			r = '\f'
		case 'r':
			r = '\r'
		case 'u':
			if d.off+6 > len(d.b) || d.b[d.off+2] != '0' || d.b[d.off+3] != '0' {
				return nil, d.err(`\u escape is only canonical for control characters`)
			}
			hi, lo := unhex(d.b[d.off+4]), unhex(d.b[d.off+5])
			if hi > 1 || lo > 15 {
				return nil, d.err(`\u escape is only canonical for control characters`)
			}
			r = hi<<4 | lo
			switch r {
			case '\b', '\t', '\n', '\f', '\r':
				return nil, d.err("control character has a short escape in the canonical form")
			}
			out = append(out, r)
			d.off += 6
			continue
		default:
			return nil, d.err("escape is not canonical")
		}
		out = append(out, r)
		d.off += 2
	}
}

// unhex returns the value of a lowercase hex digit, or 255.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}
