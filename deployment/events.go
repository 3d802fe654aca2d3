package deployment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Inference events arrive from a clinic's inference service. They must
// carry no patient identifier (QC-DEP-1 monitoring runs on pseudonymous
// data). The screening rule, in full (docs/deployment.md repeats it):
//
//  1. Closed schema: a record may hold only the fields of an event
//     (event_id, time, case_id, site, score, decision, latency_ms,
//     reader_action, sex, age_band, acquisition{…}). Any other field is
//     refused, whatever its value: a name, a patient id or a birth date
//     cannot slip in under a new key.
//  2. Closed vocabularies: sex is M, F or O; age_band is a band "LO-HI"
//     at least five years wide with HI at most 89, or "90+" (exact ages
//     and ages over 89 identify); reader_action is accepted or overridden.
//  3. Shapes of identifiers in every text value (ids and free text; the
//     screen is ethos.IdentifierProblem, shared with the other stages):
//     a calendar date (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, MM/DD/YYYY with
//     '-', '/' or '.', years 1900–2099) — dates of birth, and every other
//     date, belong only in "time"; a '^' (the DICOM person-name
//     separator); an '@' (e-mail); a US social security number
//     (ddd-dd-dddd).
//  4. Record numbers: an id (event_id, case_id) made only of digits is
//     refused (medical record and accession numbers are); free text
//     (site, acquisition fields) may not hold six or more digits in a row.
//
// A refusal names the field and the rule, never the value.

// FieldError is one field of one record that breaks a rule.
type FieldError struct {
	Field   string // JSON path, e.g. "acquisition.protocol"; "" for the whole record
	Problem string // the rule broken, without the offending value
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// Unwrap makes a FieldError an EINVALID error.
func (e *FieldError) Unwrap() error { return ethos.Errorf(ethos.EINVALID, "%s", e.Error()) }

// MaxEventBytes bounds one event record.
const MaxEventBytes = 16 << 10

// MaxFutureSkew is how far after the server's clock an event time may be.
const MaxFutureSkew = 5 * time.Minute

type acquisitionIn struct {
	Manufacturer      string   `json:"manufacturer"`
	ModelName         string   `json:"model_name"`
	SoftwareVersion   string   `json:"software_version"`
	BodyPart          string   `json:"body_part"`
	Protocol          string   `json:"protocol"`
	KVP               *float64 `json:"kvp"`
	SliceThickness    *float64 `json:"slice_thickness"`
	PixelSpacing      *float64 `json:"pixel_spacing"`
	Modality          string   `json:"modality"`
	InstitutionPseudo string   `json:"institution_pseudo"`
}

type eventIn struct {
	EventID     string         `json:"event_id"`
	Time        string         `json:"time"`
	CaseID      string         `json:"case_id"`
	Site        string         `json:"site"`
	Score       *float64       `json:"score"`
	Decision    *bool          `json:"decision"`
	LatencyMS   *float64       `json:"latency_ms"`
	Reader      string         `json:"reader_action"`
	Sex         string         `json:"sex"`
	AgeBand     string         `json:"age_band"`
	Acquisition *acquisitionIn `json:"acquisition"`
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data; errors name the field or the byte offset, not values.
func decodeStrict(raw []byte, v any) error {
	if len(raw) > MaxEventBytes {
		return &FieldError{Problem: fmt.Sprintf("record larger than %d bytes", MaxEventBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Problem: "data after the JSON object"}
	}
	return nil
}

// safeFieldName matches field names that may be echoed in an error.
var safeFieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func jsonProblem(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &FieldError{Problem: fmt.Sprintf("malformed JSON at byte offset %d", se.Offset)}
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return &FieldError{Problem: "a record must be a JSON object"}
		}
		return &FieldError{Field: te.Field, Problem: fmt.Sprintf("got JSON %s, want %s", te.Value, jsonKind(te.Type.String()))}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &FieldError{Problem: "malformed JSON: unexpected end of record"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if !safeFieldName.MatchString(name) {
			name = "(name not shown)"
		}
		return &FieldError{Field: name, Problem: "unknown field: events carry only the documented fields, so identifiers cannot ride along"}
	}
	return &FieldError{Problem: "invalid JSON record"}
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "float"), strings.Contains(goType, "int"):
		return "number"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "struct"), strings.Contains(goType, "map"):
		return "object"
	}
	return "string"
}

// parseBand reads "LO-HI", each one to three digits.
func parseBand(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	num := func(t string) (int, bool) {
		if len(t) < 1 || len(t) > 3 {
			return 0, false
		}
		v := 0
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return 0, false
			}
			v = v*10 + int(t[i]-'0')
		}
		return v, true
	}
	lo, ok1 := num(a)
	hi, ok2 := num(b)
	return lo, hi, ok1 && ok2
}

func checkText(field, s string, max int, isID bool) error {
	if len(s) > max {
		return &FieldError{Field: field, Problem: fmt.Sprintf("longer than %d bytes", max)}
	}
	if p := ethos.IdentifierProblem(s, isID); p != "" {
		return &FieldError{Field: field, Problem: p}
	}
	return nil
}

func checkRange(field string, v *float64, lo, hi float64, loOpen bool) error {
	if v == nil {
		return nil
	}
	x := *v
	if math.IsNaN(x) || math.IsInf(x, 0) || x > hi || x < lo || (loOpen && x == lo) {
		open := "["
		if loOpen {
			open = "("
		}
		return &FieldError{Field: field, Problem: fmt.Sprintf("out of range %s%g, %g]", open, lo, hi)}
	}
	return nil
}

// CheckAgeBand checks an age band: "" (unknown), "LO-HI" at least five
// years wide with HI ≤ 89, or "90+".
func CheckAgeBand(s string) error {
	if s == "" || s == "90+" {
		return nil
	}
	lo, hi, ok := parseBand(s)
	if !ok {
		return &FieldError{Field: "age_band", Problem: `want a band "LO-HI" (e.g. "65-74") or "90+"; exact ages are refused`}
	}
	switch {
	case hi > 89:
		return &FieldError{Field: "age_band", Problem: `ages over 89 identify: use "90+"`}
	case hi-lo < 4:
		return &FieldError{Field: "age_band", Problem: "a band narrower than five years is close to an exact age"}
	}
	return nil
}

// ParseEvent screens one raw record and returns the event. now is the
// server's clock (event times may not be later than now+MaxFutureSkew);
// threshold decides the decision when the record omits it. DeploymentID,
// Site (when empty) and ReceivedAt are the caller's to set.
func ParseEvent(raw []byte, now time.Time, threshold float64) (*ethos.InferenceEvent, error) {
	var p eventParser
	e := new(ethos.InferenceEvent)
	if err := p.parse(raw, now, threshold, e); err != nil {
		return nil, err
	}
	return e, nil
}

// eventParser screens the records of one batch. It shares allocations
// between them: numbers and acquisition blocks come from slabs, and the
// text values that repeat from event to event (scanner makes, software
// versions, protocols, sites, bands) are interned.
type eventParser struct {
	r jsonReader
}

// parse screens raw into e.
func (p *eventParser) parse(raw []byte, now time.Time, threshold float64, e *ethos.InferenceEvent) error {
	var in eventIn
	p.r.b, p.r.i = raw, 0
	if err := p.r.event(&in); err != nil {
		return err
	}
	*e = ethos.InferenceEvent{EventID: in.EventID, CaseID: in.CaseID, Site: in.Site, LatencyMS: in.LatencyMS,
		Reader: ethos.ReaderAction(in.Reader), Sex: in.Sex, AgeBand: in.AgeBand}
	if !ethos.ValidID(in.EventID) {
		return &FieldError{Field: "event_id", Problem: "required: 1 to 64 letters, digits, '_', '-', '.'"}
	}
	if err := checkText("event_id", in.EventID, 64, true); err != nil {
		return err
	}
	if !ethos.ValidID(in.CaseID) {
		return &FieldError{Field: "case_id", Problem: "required: a pseudonymous id of 1 to 64 letters, digits, '_', '-', '.'"}
	}
	if err := checkText("case_id", in.CaseID, 64, true); err != nil {
		return err
	}
	if in.Time == "" {
		return &FieldError{Field: "time", Problem: "required (RFC 3339 with a zone offset)"}
	}
	t, err := time.Parse(time.RFC3339Nano, in.Time)
	if err != nil {
		return &FieldError{Field: "time", Problem: "not an RFC 3339 time with a zone offset"}
	}
	if t.After(now.Add(MaxFutureSkew)) {
		return &FieldError{Field: "time", Problem: fmt.Sprintf("more than %s after the server's clock", MaxFutureSkew)}
	}
	if t.Year() < 2000 {
		return &FieldError{Field: "time", Problem: "before the year 2000"}
	}
	e.Time = t.UTC()
	if in.Score == nil {
		return &FieldError{Field: "score", Problem: "required"}
	}
	if err := checkRange("score", in.Score, 0, 1, false); err != nil {
		return err
	}
	e.Score = *in.Score
	if in.Decision != nil {
		e.Decision = *in.Decision
	} else {
		e.Decision = e.Score >= threshold
	}
	if err := checkRange("latency_ms", in.LatencyMS, 0, 3600e3, false); err != nil {
		return err
	}
	switch e.Reader {
	case "", ethos.ReaderAccepted, ethos.ReaderOverridden:
	default:
		return &FieldError{Field: "reader_action", Problem: "want accepted or overridden"}
	}
	switch in.Sex {
	case "", "M", "F", "O":
	default:
		return &FieldError{Field: "sex", Problem: "want M, F or O"}
	}
	if err := CheckAgeBand(in.AgeBand); err != nil {
		return err
	}
	if err := checkText("site", in.Site, 128, false); err != nil {
		return err
	}
	if a := in.Acquisition; a != nil {
		for _, f := range [...]struct {
			name, v string
		}{
			{"acquisition.manufacturer", a.Manufacturer}, {"acquisition.model_name", a.ModelName}, {"acquisition.software_version", a.SoftwareVersion},
			{"acquisition.body_part", a.BodyPart}, {"acquisition.protocol", a.Protocol}, {"acquisition.modality", a.Modality},
			{"acquisition.institution_pseudo", a.InstitutionPseudo},
		} {
			if err := checkText(f.name, f.v, 128, false); err != nil {
				return err
			}
		}
		if err := checkRange("acquisition.kvp", a.KVP, 0, 200, true); err != nil {
			return err
		}
		if err := checkRange("acquisition.slice_thickness", a.SliceThickness, 0, 100, true); err != nil {
			return err
		}
		if err := checkRange("acquisition.pixel_spacing", a.PixelSpacing, 0, 10, true); err != nil {
			return err
		}
		e.Acquisition = ethos.Acquisition{Manufacturer: a.Manufacturer, ModelName: a.ModelName, SoftwareVersion: a.SoftwareVersion,
			BodyPart: a.BodyPart, Protocol: a.Protocol, KVP: a.KVP, SliceThickness: a.SliceThickness, PixelSpacing: a.PixelSpacing,
			Modality: a.Modality, InstitutionPseudo: a.InstitutionPseudo}
	}
	return nil
}

type labelIn struct {
	CaseID   string            `json:"case_id"`
	Positive *bool             `json:"positive"`
	Source   ethos.LabelSource `json:"source"`
	At       string            `json:"at"`
}

// ParseLabel screens one ground-truth record: case_id (screened like an
// event's), positive (required), source (report-concordance, pathology or
// follow-up) and at (RFC 3339; default now).
func ParseLabel(raw []byte, now time.Time) (*ethos.EventLabel, error) {
	var in labelIn
	if err := decodeStrict(raw, &in); err != nil {
		return nil, err
	}
	if !ethos.ValidID(in.CaseID) {
		return nil, &FieldError{Field: "case_id", Problem: "required: a pseudonymous id of 1 to 64 letters, digits, '_', '-', '.'"}
	}
	if err := checkText("case_id", in.CaseID, 64, true); err != nil {
		return nil, err
	}
	if in.Positive == nil {
		return nil, &FieldError{Field: "positive", Problem: "required (true or false)"}
	}
	switch in.Source {
	case ethos.LabelReport, ethos.LabelPathology, ethos.LabelFollowUp:
	default:
		return nil, &FieldError{Field: "source", Problem: "want report-concordance, pathology or follow-up"}
	}
	l := &ethos.EventLabel{CaseID: in.CaseID, Positive: *in.Positive, Source: in.Source, At: now.UTC()}
	if in.At != "" {
		t, err := time.Parse(time.RFC3339Nano, in.At)
		if err != nil {
			return nil, &FieldError{Field: "at", Problem: "not an RFC 3339 time with a zone offset"}
		}
		if t.After(now.Add(MaxFutureSkew)) {
			return nil, &FieldError{Field: "at", Problem: "in the future"}
		}
		l.At = t.UTC()
	}
	return l, nil
}
