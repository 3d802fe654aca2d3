package deployment

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
)

// EventDigest is the SHA-256 (hex) of an event's content: every field the
// sender set, in a fixed order, without the receipt time or a label. Two
// records with the same id and digest are the same event sent twice.
//
// The bytes hashed are exactly what encoding/json writes for the event
// with ReceivedAt and Label cleared, so digests stored by earlier versions
// stay comparable; they are written by hand because json.Marshal cost
// a twentieth of the server's time per event (TestEventDigestMatchesJSON
// and FuzzEventDigest hold the two encodings equal).
func EventDigest(e *ethos.InferenceEvent) string {
	var buf [512]byte
	b := appendEventJSON(buf[:0], e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendEventJSON appends e as encoding/json would marshal it with a zero
// ReceivedAt and no Label.
func appendEventJSON(b []byte, e *ethos.InferenceEvent) []byte {
	b = append(b, `{"deployment_id":`...)
	b = appendJSONString(b, e.DeploymentID)
	b = append(b, `,"event_id":`...)
	b = appendJSONString(b, e.EventID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","case_id":`...)
	b = appendJSONString(b, e.CaseID)
	if e.Site != "" {
		b = append(b, `,"site":`...)
		b = appendJSONString(b, e.Site)
	}
	b = append(b, `,"score":`...)
	b = appendJSONFloat(b, e.Score)
	b = append(b, `,"decision":`...)
	b = strconv.AppendBool(b, e.Decision)
	if e.LatencyMS != nil {
		b = append(b, `,"latency_ms":`...)
		b = appendJSONFloat(b, *e.LatencyMS)
	}
	if e.Reader != "" {
		b = append(b, `,"reader_action":`...)
		b = appendJSONString(b, string(e.Reader))
	}
	if e.Sex != "" {
		b = append(b, `,"sex":`...)
		b = appendJSONString(b, e.Sex)
	}
	if e.AgeBand != "" {
		b = append(b, `,"age_band":`...)
		b = appendJSONString(b, e.AgeBand)
	}
	b = append(b, `,"acquisition":{`...)
	a := &e.Acquisition
	n := len(b)
	field := func(b []byte, name string) []byte {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		return append(b, '"', ':')
	}
	for _, f := range [...]struct {
		name, v string
	}{{"manufacturer", a.Manufacturer}, {"model_name", a.ModelName}, {"software_version", a.SoftwareVersion}, {"body_part", a.BodyPart}, {"protocol", a.Protocol}} {
		if f.v != "" {
			b = appendJSONString(field(b, f.name), f.v)
		}
	}
	for _, f := range [...]struct {
		name string
		v    *float64
	}{{"kvp", a.KVP}, {"slice_thickness", a.SliceThickness}, {"pixel_spacing", a.PixelSpacing}} {
		if f.v != nil {
			b = appendJSONFloat(field(b, f.name), *f.v)
		}
	}
	if a.Modality != "" {
		b = appendJSONString(field(b, "modality"), a.Modality)
	}
	if a.InstitutionPseudo != "" {
		b = appendJSONString(field(b, "institution_pseudo"), a.InstitutionPseudo)
	}
	return append(b, '}', '}')
}

// appendJSONFloat writes a float64 the way encoding/json does: decimal
// notation between 1e-6 and 1e21, exponent notation outside, with a
// one-digit negative exponent not padded.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s quoted the way encoding/json does, with its
// HTML-safe escapes: '<', '>' and '&' as \u003c, \u003e, \u0026; the
// line and paragraph separators escaped; invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
