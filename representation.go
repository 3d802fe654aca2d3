package ethos

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Representation (quality check QC-COL-1): is every relevant group
// represented in the collected data, compared with a declared reference
// population?

// The attributes a representation report knows by name, in report order.
// Records may carry others; they are reported after these, by name.
const (
	AttrSex          = "sex"
	AttrAgeBand      = "age_band"
	AttrEthnicity    = "ethnicity"
	AttrInstitution  = "institution" // a pseudonym of the site, never its name
	AttrManufacturer = "manufacturer"
	AttrModel        = "model"
)

// StandardAttributes lists the named attributes in report order.
var StandardAttributes = []string{AttrSex, AttrAgeBand, AttrEthnicity, AttrInstitution, AttrManufacturer, AttrModel}

// InstanceAttributes is what the representation report knows of one
// collected instance. A missing value is the empty string (or an absent
// key). When Subject is set, the report counts subjects rather than
// instances (the first record of a subject stands for it).
type InstanceAttributes struct {
	Instance   string            `json:"instance,omitempty"` // SOP Instance UID or another non-identifying id
	Subject    SubjectKey        `json:"subject,omitempty"`
	Attributes map[string]string `json:"attributes"`
	// Label is the binary reference label when the collection has one
	// (true = condition present); nil means unlabelled.
	Label *bool `json:"label,omitempty"`
}

// ReferencePopulation declares the population a collection should
// represent: the expected share of each value of each attribute, the floor
// under which a group counts as under-represented and the size under which
// a group is too small to say much.
type ReferencePopulation struct {
	Name   string `json:"name"`
	Source string `json:"source,omitempty"` // where the expected shares come from (census, registry, catchment audit)
	// Floor is the lowest acceptable representation ratio (observed share
	// divided by expected share), e.g. 0.8. Groups below it are flagged.
	Floor float64 `json:"floor"`
	// SmallGroup is the count under which a group is warned as small
	// (its share and ratio are too uncertain to act on alone).
	SmallGroup int `json:"small_group"`
	// Expected maps attribute → value → expected share in [0, 1]. Shares
	// of one attribute sum to at most 1; values a collection may contain
	// but the reference does not list are reported as "not in reference".
	Expected map[string]map[string]float64 `json:"expected"`
}

// Validate checks the reference and names the first bad field.
func (r *ReferencePopulation) Validate() error {
	if strings.TrimSpace(r.Name) == "" {
		return Errorf(EINVALID, "reference: name is required")
	}
	if !(r.Floor > 0 && r.Floor <= 1) {
		return Errorf(EINVALID, "reference: floor %v must be in (0, 1]", r.Floor)
	}
	if r.SmallGroup < 0 {
		return Errorf(EINVALID, "reference: small_group %d must not be negative", r.SmallGroup)
	}
	if len(r.Expected) == 0 {
		return Errorf(EINVALID, "reference: expected: no attribute declared")
	}
	attrs := make([]string, 0, len(r.Expected))
	for a := range r.Expected {
		attrs = append(attrs, a)
	}
	slices.Sort(attrs)
	for _, a := range attrs {
		if !ValidAttributeName(a) {
			return Errorf(EINVALID, "reference: expected: attribute %q: want lowercase letters, digits and _", a)
		}
		vals := r.Expected[a]
		if len(vals) == 0 {
			return Errorf(EINVALID, "reference: expected.%s: no value declared", a)
		}
		keys := make([]string, 0, len(vals))
		for v := range vals {
			keys = append(keys, v)
		}
		slices.Sort(keys)
		sum := 0.0
		for _, v := range keys {
			s := vals[v]
			if strings.TrimSpace(v) == "" {
				return Errorf(EINVALID, "reference: expected.%s: empty value", a)
			}
			if math.IsNaN(s) || s <= 0 || s > 1 {
				return Errorf(EINVALID, "reference: expected.%s[%q]: share %v must be in (0, 1]", a, v, s)
			}
			sum += s
		}
		if sum > 1+1e-6 {
			return Errorf(EINVALID, "reference: expected.%s: shares sum to %s, more than 1", a, fmt.Sprint(math.Round(sum*1e6)/1e6))
		}
	}
	return nil
}

// ValidAttributeName reports whether s is a usable attribute name: 1–64 of
// a-z, 0-9 and _, starting with a letter.
func ValidAttributeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// AgeBand returns the ten-year band of an age in whole years ("0-9",
// "10-19", …, "80-89", "90+"), or "" for a negative age. Reference
// populations declare age shares with these labels.
func AgeBand(years int) string {
	switch {
	case years < 0:
		return ""
	case years >= 90:
		return "90+"
	}
	lo := years / 10 * 10
	return fmt.Sprintf("%d-%d", lo, lo+9)
}
