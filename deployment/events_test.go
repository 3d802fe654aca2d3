package deployment_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const good = `{"event_id":"ev-1","time":"2026-03-01T11:00:00+01:00","case_id":"c-7f3a","score":0.81,"latency_ms":95,
"reader_action":"overridden","sex":"F","age_band":"65-74","site":"Main ED",
"acquisition":{"manufacturer":"SIEMENS","model_name":"SOMATOM Force","software_version":"syngo CT VB10A","body_part":"CHEST",
"protocol":"Thorax 1.0 Br40","kvp":120,"slice_thickness":1,"pixel_spacing":0.7,"modality":"CT"}}`

// with replaces one top-level or acquisition field of good.
func with(path string, v any) string {
	var m map[string]any
	json.Unmarshal([]byte(good), &m)
	if k, ok := strings.CutPrefix(path, "acquisition."); ok {
		m["acquisition"].(map[string]any)[k] = v
	} else if v == nil {
		delete(m, path)
	} else {
		m[path] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParseEvent(t *testing.T) {
	e, err := deployment.ParseEvent([]byte(good), now, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) || !e.Decision || e.Reader != ethos.ReaderOverridden || *e.Acquisition.KVP != 120 {
		t.Errorf("parsed %+v", e)
	}
	low, _ := deployment.ParseEvent([]byte(with("score", 0.2)), now, 0.5)
	if low.Decision {
		t.Error("decision not derived from the threshold when absent")
	}
	tests := []struct {
		name, rec, field, rule string
	}{
		{"UnknownFieldRefused", with("patient_name", "x"), "patient_name", "unknown field"},
		{"UnknownFieldNameNotEchoed", with("Patient Name", "x"), "(name not shown)", "unknown field"},
		{"NameInProtocol", with("acquisition.protocol", "CHEST DOE^JANE"), "acquisition.protocol", "person names"},
		{"BirthDateISO", with("site", "ED 1961-04-12"), "site", "calendar date"},
		{"BirthDateDICOM", with("acquisition.protocol", "PA 19610412"), "acquisition.protocol", "calendar date"},
		{"BirthDateEuropean", with("case_id", "c-12.04.1961"), "case_id", "calendar date"},
		{"BirthDateUS", with("acquisition.institution_pseudo", "4/12/1961"), "acquisition.institution_pseudo", "calendar date"},
		{"MRNAsCaseID", with("case_id", "00482913"), "case_id", "all digits"},
		{"MRNInFreeText", with("site", "ward 7 bed 4829133"), "site", "six or more digits"},
		{"SSN", with("acquisition.protocol", "x 078-05-1120"), "acquisition.protocol", "social security"},
		{"Email", with("site", "dr.x@example.org"), "site", "e-mail"},
		{"ExactAge", with("age_band", "067Y"), "age_band", "band"},
		{"NarrowBand", with("age_band", "66-67"), "age_band", "five years"},
		{"OldAgeBand", with("age_band", "85-94"), "age_band", "90+"},
		{"BadSex", with("sex", "female"), "sex", "M, F or O"},
		{"ScoreRange", with("score", 1.2), "score", "out of range"},
		{"ScoreMissing", with("score", nil), "score", "required"},
		{"ScoreType", with("score", "high"), "score", "want number"},
		{"TimeNoZone", with("time", "2026-03-01T11:00:00"), "time", "RFC 3339"},
		{"TimeFuture", with("time", "2026-03-02T11:00:00Z"), "time", "after the server"},
		{"EventIDMissing", with("event_id", nil), "event_id", "required"},
		{"ReaderAction", with("reader_action", "ignored"), "reader_action", "accepted or overridden"},
		{"KVP", with("acquisition.kvp", -3), "acquisition.kvp", "out of range"},
		{"NotObject", `[1,2]`, "", "JSON object"},
		{"Malformed", `{"event_id":`, "", "malformed JSON"},
		{"Trailing", good + `{}`, "", "data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deployment.ParseEvent([]byte(tt.rec), now, 0.5)
			fe, ok := errors.AsType[*deployment.FieldError](err)
			if !ok {
				t.Fatalf("err %v, want a *FieldError", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Problem, tt.rule) {
				t.Errorf("got field %q problem %q, want field %q with %q", fe.Field, fe.Problem, tt.field, tt.rule)
			}
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("code %q, want invalid", ethos.ErrorCode(err))
			}
			for _, leak := range []string{"DOE", "1961", "00482913", "4829133", "078-05", "example.org"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q echoes the offending value", err)
				}
			}
		})
	}
}

func TestScreeningKeepsOrdinaryValues(t *testing.T) {
	for _, v := range []string{"syngo CT VB10A", "VE11C", "4.2.1", "DV29.1_R03_2034.a", "Br40 1.0 mm", "120 kV 2.5 s", "ED-2", "v2024.1", "Optima CT660"} {
		if _, err := deployment.ParseEvent([]byte(with("acquisition.software_version", v)), now, 0.5); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
	for _, id := range []string{"c-7f3a", "a1b2c3d4e5f60718", "evt-000123", "case.42"} {
		if _, err := deployment.ParseEvent([]byte(with("case_id", id)), now, 0.5); err != nil {
			t.Errorf("case id %q refused: %v", id, err)
		}
	}
}

func TestParseLabel(t *testing.T) {
	l, err := deployment.ParseLabel([]byte(`{"case_id":"c-1","positive":true,"source":"pathology","at":"2026-02-20T08:00:00Z"}`), now)
	if err != nil || !l.Positive || l.Source != ethos.LabelPathology {
		t.Fatalf("%+v %v", l, err)
	}
	for name, rec := range map[string]string{
		"PositiveMissing": `{"case_id":"c-1","source":"pathology"}`,
		"BadSource":       `{"case_id":"c-1","positive":true,"source":"gut feeling"}`,
		"UnknownField":    `{"case_id":"c-1","positive":true,"source":"pathology","mrn":"1234567"}`,
		"MRNCaseID":       `{"case_id":"1234567","positive":true,"source":"pathology"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := deployment.ParseLabel([]byte(rec), now); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("err %v, want invalid", err)
			}
		})
	}
}

// corpusEvent builds an event from the acquisition attributes of a real
// DICOM file of the shared corpus.
func corpusEvents(f *testing.F) {
	dir := testenv.DICOMDir(f)
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || n >= 8 {
			return nil
		}
		fh, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer fh.Close()
		df, err := dicom.Parse(fh, dicom.SkipPixelData())
		if err != nil {
			return nil
		}
		ds := df.Dataset
		acq := map[string]any{}
		for k, tg := range map[string]tag.Tag{"manufacturer": tag.Manufacturer, "model_name": tag.ManufacturerModelName, "software_version": tag.SoftwareVersions,
			"body_part": tag.BodyPartExamined, "protocol": tag.ProtocolName, "modality": tag.Modality} {
			if v := strings.TrimSpace(ds.Text(tg)); v != "" {
				acq[k] = v
			}
		}
		b, _ := json.Marshal(map[string]any{"event_id": "e" + string(rune('a'+n)), "time": "2026-03-01T10:00:00Z", "case_id": "c1", "score": 0.5, "acquisition": acq})
		f.Add(b)
		n++
		return nil
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(with("acquisition.protocol", "DOE^JANE 1961-04-12")))
	f.Add([]byte(`{"event_id":"x","time":"2026-03-01T10:00:00Z","case_id":"1","score":0}`))
	corpusEvents(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := deployment.ParseEvent(raw, now, 0.5)
		if err != nil {
			if _, ok := errors.AsType[*deployment.FieldError](err); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// An accepted event re-encodes to a record that is accepted again
		// with the same content.
		again, err := deployment.ParseEvent(reencode(t, e), now, 0.5)
		if err != nil {
			t.Fatalf("re-encoded event refused: %v", err)
		}
		if deployment.EventDigest(again) != deployment.EventDigest(e) {
			t.Fatalf("round trip changed the event: %+v vs %+v", e, again)
		}
	})
}

func reencode(t *testing.T, e *ethos.InferenceEvent) []byte {
	m := map[string]any{"event_id": e.EventID, "time": e.Time.Format(time.RFC3339Nano), "case_id": e.CaseID, "score": e.Score, "decision": e.Decision}
	if e.Site != "" {
		m["site"] = e.Site
	}
	if e.LatencyMS != nil {
		m["latency_ms"] = *e.LatencyMS
	}
	if e.Reader != "" {
		m["reader_action"] = e.Reader
	}
	if e.Sex != "" {
		m["sex"] = e.Sex
	}
	if e.AgeBand != "" {
		m["age_band"] = e.AgeBand
	}
	if e.Acquisition != (ethos.Acquisition{}) {
		m["acquisition"] = e.Acquisition
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseLabel(f *testing.F) {
	f.Add([]byte(`{"case_id":"c-1","positive":true,"source":"pathology","at":"2026-02-20T08:00:00Z"}`))
	f.Add([]byte(`{"case_id":"1234567","positive":false,"source":"follow-up"}`))
	f.Add([]byte(`{"case_id":"c-1","positive":true,"source":"report-concordance","name":"DOE^JANE"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, err := deployment.ParseLabel(raw, now)
		if err != nil {
			if _, ok := errors.AsType[*deployment.FieldError](err); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		b, _ := json.Marshal(map[string]any{"case_id": l.CaseID, "positive": l.Positive, "source": l.Source, "at": l.At.Format(time.RFC3339Nano)})
		again, err := deployment.ParseLabel(b, now)
		if err != nil || *again != *l {
			t.Fatalf("round trip: %+v -> %+v, %v", l, again, err)
		}
	})
}

// FuzzEventReader checks the hand-written event reader against
// encoding/json under the strict rules: whatever the reader accepts (in
// valid UTF-8) encoding/json accepts with the same values, and whatever
// encoding/json accepts the reader accepts too, unless a field is given
// twice or in other letter case, the two places the reader is stricter.
func FuzzEventReader(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(with("acquisition.protocol", "Thorax \u00e9\u2028 <b>&")))
	f.Add([]byte(`{"event_id":"e\u0041\ud83d\ude00","time":null,"score":-0.0e+1,"decision":false,"acquisition":null}`))
	f.Add([]byte(`{"score":1,"score":2}`))
	f.Add([]byte(`{"Score":1}`))
	f.Add([]byte(` {"event_id" : "a\"b\\c\/d\b\f\n\r\t" } `))
	f.Add([]byte(`{"kvp":1e400}`))
	corpusEvents(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ferr := deployment.DecodeEventFast(raw)
		ref, rerr := deployment.DecodeEventReflect(raw)
		if ferr != nil {
			if _, ok := errors.AsType[*deployment.FieldError](ferr); !ok {
				t.Fatalf("reader error of type %T: %v", ferr, ferr)
			}
		}
		switch {
		case ferr == nil && utf8.Valid(raw):
			if rerr != nil {
				t.Fatalf("reader accepts, encoding/json refuses: %v", rerr)
			}
			if diff := cmp.Diff(ref, fast); diff != "" {
				t.Fatalf("values differ (-encoding/json +reader):\n%s", diff)
			}
		case ferr != nil && rerr == nil:
			if p := ferr.Error(); !strings.Contains(p, "given twice") && !strings.Contains(p, "unknown field") {
				t.Fatalf("encoding/json accepts, reader refuses: %v", ferr)
			}
		}
	})
}
