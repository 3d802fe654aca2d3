package deployment_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

// marshalled is what the digest hashed before it was written by hand:
// encoding/json of the event without receipt time and label.
func marshalled(t *testing.T, e *ethos.InferenceEvent) string {
	c := *e
	c.ReceivedAt, c.Label = time.Time{}, nil
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEventDigestMatchesJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	full, err := deployment.ParseEvent([]byte(good), now, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	full.DeploymentID, full.ReceivedAt = "dep_1", now
	full.Label = &ethos.EventLabel{CaseID: full.CaseID, Positive: true}
	tests := []struct {
		name string
		e    *ethos.InferenceEvent
	}{
		{"Full", full},
		{"Minimal", &ethos.InferenceEvent{EventID: "e", CaseID: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{"NanosAndZone", &ethos.InferenceEvent{EventID: "e", Time: time.Date(2026, 1, 2, 3, 4, 5, 120, time.FixedZone("x", 3600))}},
		{"Escapes", &ethos.InferenceEvent{EventID: "e\"\\<>&\b\f\n\r\t\x01", Site: "caf\u00e9 \u2028\u2029 \xff", Reader: "a"}},
		{"Floats", &ethos.InferenceEvent{Score: 1e-7, LatencyMS: f(1e21), Acquisition: ethos.Acquisition{KVP: f(120), SliceThickness: f(0.000001), PixelSpacing: f(-2.5e-300)}}},
		{"LargeExponent", &ethos.InferenceEvent{Score: math.MaxFloat64, LatencyMS: f(math.SmallestNonzeroFloat64)}},
		{"AcquisitionParts", &ethos.InferenceEvent{Acquisition: ethos.Acquisition{ModelName: "m", PixelSpacing: f(0.7), InstitutionPseudo: "i"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(deployment.EventJSON(tt.e)), marshalled(t, tt.e); got != want {
				t.Errorf("hand-written encoding\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzEventDigest(f *testing.F) {
	f.Add("ev-1", "c-7f3a", "Main ED", "SIEMENS", "Thorax <1.0> & Br40", "F", 0.81, 95.0, 120.0, int64(1772362800123456789), true)
	f.Add("e\x00", "\u2028", "\xff\xfe", "", "\"\\", "", 1e-7, 1e21, -0.0, int64(0), false)
	f.Fuzz(func(t *testing.T, id, cs, site, maker, protocol, sex string, score, lat, kvp float64, ns int64, dec bool) {
		if math.IsNaN(score) || math.IsInf(score, 0) || math.IsNaN(lat) || math.IsInf(lat, 0) || math.IsNaN(kvp) || math.IsInf(kvp, 0) {
			return // never accepted by the screening, not encodable by encoding/json
		}
		e := &ethos.InferenceEvent{DeploymentID: "dep_f", EventID: id, CaseID: cs, Site: site, Time: time.Unix(0, ns).UTC(), Score: score, Decision: dec,
			LatencyMS: &lat, Sex: sex, Acquisition: ethos.Acquisition{Manufacturer: maker, Protocol: protocol, KVP: &kvp}}
		if got, want := string(deployment.EventJSON(e)), marshalled(t, e); got != want {
			t.Fatalf("hand-written encoding\n got %s\nwant %s", got, want)
		}
	})
}
