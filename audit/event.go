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
		b = append(b, '"')
		b = append(b, fieldNames[i]...)
		b = append(b, '"', ':')
		b = appendString(b, *p)
	}
	b = append(b, `,"time":"`...)
	b = t.AppendFormat(b, timeLayout)
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
	var e Event
	d := decoder{b: leaf}
	if len(leaf) > MaxLeafSize {
		return e, &DecodeError{Offset: MaxLeafSize, Msg: "longer than MaxLeafSize"}
	}
	if !d.lit("{") {
		return e, d.err("expected '{'")
	}
	for i, p := range e.fields() {
		if i > 0 && !d.lit(",") {
			return e, d.err("expected ','")
		}
		if !d.lit(`"` + fieldNames[i] + `":`) {
			return e, d.err(fmt.Sprintf("expected member %q", fieldNames[i]))
		}
		s, err := d.str()
		if err != nil {
			return e, err
		}
		*p = s
	}
	if !d.lit(`,"time":"`) {
		return e, d.err(`expected member "time"`)
	}
	if len(d.b)-d.off < len(timeLayout) {
		return e, d.err("truncated time")
	}
	ts := string(d.b[d.off : d.off+len(timeLayout)])
	t, err := time.Parse(timeLayout, ts)
	if err != nil || t.Format(timeLayout) != ts {
		return e, d.err("time is not YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ")
	}
	e.Time = t
	d.off += len(timeLayout)
	if !d.lit(`","v":`) {
		return e, d.err(`expected member "v"`)
	}
	v := strconv.AppendInt(nil, EventVersion, 10)
	if !d.lit(string(v)) || !d.lit("}") {
		return e, d.err(fmt.Sprintf("unknown event version (this reader knows v=%d)", EventVersion))
	}
	if d.off != len(d.b) {
		return e, d.err("trailing bytes after the event")
	}
	switch e.Decision {
	case "", Allow, Deny:
	default:
		return e, &DecodeError{Offset: 0, Msg: "decision is not \"allow\", \"deny\" or empty"}
	}
	if e.Actor == "" || e.Action == "" {
		return e, &DecodeError{Offset: 0, Msg: "actor or action is empty"}
	}
	return e, nil
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
func (d *decoder) str() (string, error) {
	if !d.lit(`"`) {
		return "", d.err("expected '\"'")
	}
	start := d.off
	// Fast path: no escapes.
	for i := d.off; i < len(d.b); i++ {
		c := d.b[i]
		if c == '"' {
			s := d.b[start:i]
			if !utf8.Valid(s) {
				return "", d.err("string is not valid UTF-8")
			}
			d.off = i + 1
			return string(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var out []byte
	for {
		if d.off >= len(d.b) {
			return "", d.err("unterminated string")
		}
		c := d.b[d.off]
		switch {
		case c == '"':
			d.off++
			if !utf8.Valid(out) {
				return "", &DecodeError{Offset: start, Msg: "string is not valid UTF-8"}
			}
			return string(out), nil
		case c < 0x20:
			return "", d.err("raw control character in string")
		case c != '\\':
			out = append(out, c)
			d.off++
			continue
		}
		if d.off+1 >= len(d.b) {
			return "", d.err("truncated escape")
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
				return "", d.err(`\u escape is only canonical for control characters`)
			}
			hi, lo := unhex(d.b[d.off+4]), unhex(d.b[d.off+5])
			if hi > 1 || lo > 15 {
				return "", d.err(`\u escape is only canonical for control characters`)
			}
			r = hi<<4 | lo
			switch r {
			case '\b', '\t', '\n', '\f', '\r':
				return "", d.err("control character has a short escape in the canonical form")
			}
			out = append(out, r)
			d.off += 6
			continue
		default:
			return "", d.err("escape is not canonical")
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
