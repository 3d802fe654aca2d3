package uid_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom/uid"
)

func TestLookupSyntax(t *testing.T) {
	tests := []struct {
		name                                string
		in                                  string
		ok, implicit, big, deflated, encaps bool
	}{
		{"ImplicitLE", "1.2.840.10008.1.2\x00", true, true, false, false, false},
		{"ExplicitLE", "1.2.840.10008.1.2.1", true, false, false, false, false},
		{"ExplicitBE", "1.2.840.10008.1.2.2 ", true, false, true, false, false},
		{"Deflated", uid.DeflatedExplicitVRLittleEndian, true, false, false, true, false},
		{"RLE", uid.RLELossless, true, false, false, false, true},
		{"UnknownIsEncapsulatedLE", "1.2.3.4", false, false, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := uid.LookupSyntax(tc.in)
			if ok != tc.ok || s.Implicit != tc.implicit || s.BigEndian != tc.big || s.Deflated != tc.deflated || s.Encapsulated != tc.encaps {
				t.Errorf("LookupSyntax(%q) = %+v, %v", tc.in, s, ok)
			}
		})
	}
}

func TestValid(t *testing.T) {
	for _, u := range []string{"1.2.840.10008.1.2", "2.25.0", "1.2.3.40"} {
		if !uid.Valid(u) {
			t.Errorf("Valid(%q) = false", u)
		}
	}
	for _, u := range []string{"", "1..2", "1.02", "1.2.a", strings.Repeat("1.", 40) + "1", "1.2."} {
		if uid.Valid(u) {
			t.Errorf("Valid(%q) = true", u)
		}
	}
	a, b := uid.New(), uid.New()
	if a == b || !uid.Valid(a) || !strings.HasPrefix(a, "2.25.") {
		t.Errorf("New() = %q, %q", a, b)
	}
}
