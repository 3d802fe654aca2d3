package deployment

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written reader for the one JSON shape an inference event has.
// encoding/json decodes by reflection and allocates a decoder per record;
// at tens of thousands of events a second that was the largest CPU cost
// of ingestion after SQLite itself (docs/benchmarks-deploy.md). The reader
// keeps the rules of the strict decoder and is stricter in three places:
// field names match exactly (encoding/json folds case), a field given
// twice is refused (encoding/json keeps the last), and a string that is
// not valid UTF-8 is left as is for the screening to refuse (encoding/json
// replaces the bad bytes). FuzzEventReader checks it against
// encoding/json on every input both accept.

// valueKind names a JSON value kind in type errors.
type valueKind byte

const (
	kindString valueKind = iota
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

func (k valueKind) String() string {
	return [...]string{"string", "number", "bool", "null", "object", "array"}[k]
}

// jsonReader reads records; i is the offset of the next byte in the
// current one. A reader reused for the records of a batch hands out
// numbers and acquisition blocks from slabs (one allocation for many
// events) and interns short text values that repeat.
type jsonReader struct {
	b []byte
	i int

	nums   []float64
	acqs   []acquisitionIn
	intern map[string]string
}

// maxInterned bounds the intern table of one batch.
const maxInterned = 512

// internable is the longest value that is interned.
const internable = 64

func (r *jsonReader) num(v float64) *float64 {
	if len(r.nums) == cap(r.nums) {
		r.nums = make([]float64, 0, min(256, max(4, 2*cap(r.nums))))
	}
	r.nums = append(r.nums, v)
	return &r.nums[len(r.nums)-1]
}

func (r *jsonReader) acq() *acquisitionIn {
	if len(r.acqs) == cap(r.acqs) {
		r.acqs = make([]acquisitionIn, 0, min(64, max(1, 2*cap(r.acqs))))
	}
	r.acqs = append(r.acqs, acquisitionIn{})
	return &r.acqs[len(r.acqs)-1]
}

// text returns b as a string, interned when shared is set and the reader
// has an intern table.
func (r *jsonReader) text(b []byte, shared bool) string {
	if !shared || r.intern == nil || len(b) > internable {
		return string(b)
	}
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.intern) < maxInterned {
		r.intern[s] = s
	}
	return s
}

var (
	jsonTrue  = true
	jsonFalse = false
)

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// bad is a syntax error at the current offset.
func (r *jsonReader) bad() error {
	if r.i >= len(r.b) {
		return &FieldError{Problem: "malformed JSON: unexpected end of record"}
	}
	return &FieldError{Problem: fmt.Sprintf("malformed JSON at byte offset %d", r.i)}
}

// kind reports the kind of the value starting at the current offset.
func (r *jsonReader) kind() (valueKind, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	switch c := r.b[r.i]; {
	case c == '"':
		return kindString, true
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber, true
	case c == 't' || c == 'f':
		return kindBool, true
	case c == 'n':
		return kindNull, true
	case c == '{':
		return kindObject, true
	case c == '[':
		return kindArray, true
	}
	return 0, false
}

func typeError(field string, got valueKind, want string) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf("got JSON %s, want %s", got, want)}
}

// literal consumes the literal word (true, false, null).
func (r *jsonReader) literal(word string) error {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		// Point at the first byte that differs.
		for k := 0; k < len(word) && r.i < len(r.b) && r.b[r.i] == word[k]; k++ {
			r.i++
		}
		return r.bad()
	}
	r.i += len(word)
	return nil
}

// str reads a string value (the current byte is '"'). Without escapes the
// result is one allocation; invalid UTF-8 is kept for the caller to judge.
func (r *jsonReader) str(shared bool) (string, error) {
	r.i++ // opening quote
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.text(r.b[start:r.i], shared)
			r.i++
			return s, nil
		case c == '\\':
			return r.strEscaped(start)
		case c < 0x20:
			return "", r.bad()
		}
		r.i++
	}
	return "", r.bad()
}

// key reads a member name (the current byte is '"') without copying it
// when it holds no escapes.
func (r *jsonReader) key() ([]byte, error) {
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return r.b[start:j], nil
		case c == '\\' || c < 0x20:
			s, err := r.str(false)
			return []byte(s), err
		}
	}
	r.i = len(r.b)
	return nil, r.bad()
}

// strEscaped finishes a string that holds escapes, from start.
func (r *jsonReader) strEscaped(start int) (string, error) {
	out := make([]byte, 0, r.i-start+16)
	out = append(out, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), nil
		case c < 0x20:
			return "", r.bad()
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		r.i++ // backslash
		if r.i >= len(r.b) {
			return "", r.bad()
		}
		e := r.b[r.i]
		r.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return "", r.bad()
			}
			ru := rune(c1)
			if utf16.IsSurrogate(ru) {
				// A pair is \uD8xx\uDCxx; a lone half becomes U+FFFD,
				// as encoding/json does.
				ru = utf8.RuneError
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					c2, ok := r.hex4()
					if !ok {
						return "", r.bad()
					}
					if dec := utf16.DecodeRune(rune(c1), rune(c2)); dec != utf8.RuneError {
						ru = dec
					} else {
						r.i = save // the second escape stands alone
					}
				}
			}
			out = utf8.AppendRune(out, ru)
		default:
			r.i--
			return "", r.bad()
		}
	}
	return "", r.bad()
}

func (r *jsonReader) hex4() (int, bool) {
	if len(r.b)-r.i < 4 {
		r.i = len(r.b)
		return 0, false
	}
	v := 0
	for range 4 {
		c := r.b[r.i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
		r.i++
	}
	return v, true
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

// number reads a JSON number and converts it; a number too large for a
// float64 is the field's error.
func (r *jsonReader) number(field string) (float64, error) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.i < len(r.b) && digit(r.b[r.i]):
		for r.i < len(r.b) && digit(r.b[r.i]) {
			r.i++
		}
	default:
		return 0, r.bad()
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.i >= len(r.b) || !digit(r.b[r.i]) {
			return 0, r.bad()
		}
		for r.i < len(r.b) && digit(r.b[r.i]) {
			r.i++
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.i >= len(r.b) || !digit(r.b[r.i]) {
			return 0, r.bad()
		}
		for r.i < len(r.b) && digit(r.b[r.i]) {
			r.i++
		}
	}
	v, err := strconv.ParseFloat(string(r.b[start:r.i]), 64)
	if err != nil {
		return 0, &FieldError{Field: field, Problem: "number out of the range of a 64-bit float"}
	}
	return v, nil
}

// nullOr checks that the value at the current offset is of kind want
// (named so in a type error) or null; a null is consumed and reported.
func (r *jsonReader) nullOr(field string, want valueKind, name string) (null bool, err error) {
	k, ok := r.kind()
	switch {
	case !ok:
		return false, r.bad()
	case k == kindNull:
		return true, r.literal("null")
	case k != want:
		return false, typeError(field, k, name)
	}
	return false, nil
}

// strField reads a string field; null leaves it empty. shared values are
// interned.
func (r *jsonReader) strField(field string, dst *string, shared bool) error {
	if null, err := r.nullOr(field, kindString, "string"); null || err != nil {
		return err
	}
	s, err := r.str(shared)
	*dst = s
	return err
}

// numField reads a number field; null leaves it nil.
func (r *jsonReader) numField(field string, dst **float64) error {
	if null, err := r.nullOr(field, kindNumber, "number"); null || err != nil {
		*dst = nil
		return err
	}
	v, err := r.number(field)
	if err != nil {
		return err
	}
	*dst = r.num(v)
	return nil
}

// boolField reads a boolean field; null leaves it nil.
func (r *jsonReader) boolField(field string, dst **bool) error {
	if null, err := r.nullOr(field, kindBool, "boolean"); null || err != nil {
		*dst = nil
		return err
	}
	if r.b[r.i] == 't' {
		*dst = &jsonTrue
		return r.literal("true")
	}
	*dst = &jsonFalse
	return r.literal("false")
}

// object reads the members of an object (the current byte is '{'),
// calling member for each name with the reader at the value. A name given
// twice is refused; seen holds one bit per known name, set by member.
func (r *jsonReader) object(prefix string, member func(name []byte) (bit uint32, err error)) error {
	r.i++
	var seen uint32
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		return nil
	}
	for {
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != '"' {
			return r.bad()
		}
		name, err := r.key()
		if err != nil {
			return err
		}
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return r.bad()
		}
		r.i++
		r.ws()
		bit, err := member(name)
		if err != nil {
			return err
		}
		if seen&bit != 0 {
			return &FieldError{Field: prefix + string(name), Problem: "given twice in one record"}
		}
		seen |= bit
		r.ws()
		if r.i >= len(r.b) {
			return r.bad()
		}
		switch r.b[r.i] {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.bad()
		}
	}
}

func unknownField(prefix string, raw []byte) error {
	name := "(name not shown)"
	if safeFieldName.Match(raw) {
		name = prefix + string(raw)
	}
	return &FieldError{Field: name, Problem: "unknown field: events carry only the documented fields, so identifiers cannot ride along"}
}

// readEvent decodes one event record into in with the rules of
// decodeStrict: one JSON object of known fields, nothing after it.
func readEvent(raw []byte, in *eventIn) error {
	r := jsonReader{b: raw}
	return r.event(in)
}

// event decodes the reader's record into in.
func (r *jsonReader) event(in *eventIn) error {
	raw := r.b
	if len(raw) > MaxEventBytes {
		return &FieldError{Problem: fmt.Sprintf("record larger than %d bytes", MaxEventBytes)}
	}
	r.ws()
	if k, ok := r.kind(); !ok || k != kindObject {
		if ok && json.Valid(raw) {
			return &FieldError{Problem: "a record must be a JSON object"}
		}
		return r.bad()
	}
	err := r.object("", func(name []byte) (uint32, error) {
		switch string(name) {
		case "event_id":
			return 1 << 0, r.strField("event_id", &in.EventID, false)
		case "time":
			return 1 << 1, r.strField("time", &in.Time, false)
		case "case_id":
			return 1 << 2, r.strField("case_id", &in.CaseID, false)
		case "site":
			return 1 << 3, r.strField("site", &in.Site, true)
		case "score":
			return 1 << 4, r.numField("score", &in.Score)
		case "decision":
			return 1 << 5, r.boolField("decision", &in.Decision)
		case "latency_ms":
			return 1 << 6, r.numField("latency_ms", &in.LatencyMS)
		case "reader_action":
			return 1 << 7, r.strField("reader_action", &in.Reader, true)
		case "sex":
			return 1 << 8, r.strField("sex", &in.Sex, true)
		case "age_band":
			return 1 << 9, r.strField("age_band", &in.AgeBand, true)
		case "acquisition":
			return 1 << 10, r.acquisition(&in.Acquisition)
		}
		return 0, unknownField("", name)
	})
	if err != nil {
		return err
	}
	r.ws()
	if r.i < len(r.b) {
		return &FieldError{Problem: "data after the JSON object"}
	}
	return nil
}

// acquisition reads the acquisition object (or null).
func (r *jsonReader) acquisition(dst **acquisitionIn) error {
	if null, err := r.nullOr("acquisition", kindObject, "object"); null || err != nil {
		*dst = nil
		return err
	}
	a := *dst
	if a == nil {
		a = r.acq()
		*dst = a
	}
	return r.object("acquisition.", func(name []byte) (uint32, error) {
		switch string(name) {
		case "manufacturer":
			return 1 << 0, r.strField("acquisition.manufacturer", &a.Manufacturer, true)
		case "model_name":
			return 1 << 1, r.strField("acquisition.model_name", &a.ModelName, true)
		case "software_version":
			return 1 << 2, r.strField("acquisition.software_version", &a.SoftwareVersion, true)
		case "body_part":
			return 1 << 3, r.strField("acquisition.body_part", &a.BodyPart, true)
		case "protocol":
			return 1 << 4, r.strField("acquisition.protocol", &a.Protocol, true)
		case "kvp":
			return 1 << 5, r.numField("acquisition.kvp", &a.KVP)
		case "slice_thickness":
			return 1 << 6, r.numField("acquisition.slice_thickness", &a.SliceThickness)
		case "pixel_spacing":
			return 1 << 7, r.numField("acquisition.pixel_spacing", &a.PixelSpacing)
		case "modality":
			return 1 << 8, r.strField("acquisition.modality", &a.Modality, true)
		case "institution_pseudo":
			return 1 << 9, r.strField("acquisition.institution_pseudo", &a.InstitutionPseudo, true)
		}
		return 0, unknownField("acquisition.", name)
	})
}
