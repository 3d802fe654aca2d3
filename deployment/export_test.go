package deployment

import "github.com/ethos-imaging/ethos"

// DecodeEventReflect decodes an event record with encoding/json under the
// strict rules (unknown fields refused), the reference the hand-written
// reader is checked against.
func DecodeEventReflect(raw []byte) (map[string]any, error) {
	var in eventIn
	if err := decodeStrict(raw, &in); err != nil {
		return nil, err
	}
	return eventInMap(&in), nil
}

// DecodeEventFast decodes an event record with the hand-written reader.
func DecodeEventFast(raw []byte) (map[string]any, error) {
	var in eventIn
	if err := readEvent(raw, &in); err != nil {
		return nil, err
	}
	return eventInMap(&in), nil
}

func eventInMap(in *eventIn) map[string]any {
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	m := map[string]any{"event_id": in.EventID, "time": in.Time, "case_id": in.CaseID, "site": in.Site, "score": f(in.Score),
		"latency_ms": f(in.LatencyMS), "reader_action": in.Reader, "sex": in.Sex, "age_band": in.AgeBand, "decision": nil}
	if in.Decision != nil {
		m["decision"] = *in.Decision
	}
	if a := in.Acquisition; a != nil {
		m["acquisition"] = map[string]any{"manufacturer": a.Manufacturer, "model_name": a.ModelName, "software_version": a.SoftwareVersion,
			"body_part": a.BodyPart, "protocol": a.Protocol, "kvp": f(a.KVP), "slice_thickness": f(a.SliceThickness), "pixel_spacing": f(a.PixelSpacing),
			"modality": a.Modality, "institution_pseudo": a.InstitutionPseudo}
	}
	return m
}

// EventJSON is the bytes EventDigest hashes.
func EventJSON(e *ethos.InferenceEvent) []byte { return appendEventJSON(nil, e) }
