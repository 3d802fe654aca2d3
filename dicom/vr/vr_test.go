package vr_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/dicom/vr"
)

func TestProperties(t *testing.T) {
	tests := []struct {
		v    vr.VR
		long bool
		pad  byte
		word int
		kind vr.Kind
	}{
		{vr.PN, false, ' ', 1, vr.KindString},
		{vr.UI, false, 0, 1, vr.KindString},
		{vr.OB, true, 0, 1, vr.KindBytes},
		{vr.OW, true, 0, 2, vr.KindBytes},
		{vr.OV, true, 0, 8, vr.KindBytes},
		{vr.SV, true, 0, 8, vr.KindNumber},
		{vr.UV, true, 0, 8, vr.KindNumber},
		{vr.UC, true, ' ', 1, vr.KindString},
		{vr.UR, true, ' ', 1, vr.KindText},
		{vr.UT, true, ' ', 1, vr.KindText},
		{vr.UN, true, 0, 1, vr.KindBytes},
		{vr.SQ, true, 0, 1, vr.KindSequence},
		{vr.AT, false, 0, 2, vr.KindNumber},
		{vr.FD, false, 0, 8, vr.KindNumber},
		{vr.US, false, 0, 2, vr.KindNumber},
	}
	for _, tc := range tests {
		t.Run(tc.v.String(), func(t *testing.T) {
			if tc.v.LongLength() != tc.long || tc.v.Padding() != tc.pad || tc.v.WordSize() != tc.word || tc.v.Kind() != tc.kind {
				t.Errorf("%s: long=%v pad=%q word=%d kind=%d", tc.v, tc.v.LongLength(), tc.v.Padding(), tc.v.WordSize(), tc.v.Kind())
			}
		})
	}
}

func TestParse(t *testing.T) {
	if len(vr.All()) != 34 {
		t.Errorf("All() has %d VRs, want 34", len(vr.All()))
	}
	for _, v := range vr.All() {
		got, ok := vr.FromString(v.String())
		if !ok || got != v {
			t.Errorf("FromString(%s) = %v %v", v, got, ok)
		}
	}
	for _, bad := range []string{"", "X", "ZZ", "pn", "\x00\x01"} {
		if _, ok := vr.FromString(bad); ok {
			t.Errorf("FromString(%q) accepted", bad)
		}
	}
	if s := vr.VR(0x0102).String(); s != "0x0102" {
		t.Errorf("unprintable VR String = %q", s)
	}
	if vr.VR(0).LongLength() != true {
		t.Error("unknown VR must be treated as long")
	}
}

// TestKnownEveryCode checks the dense lookup against the list of standard
// VRs for all 65,536 two-byte codes, including lower-case letters, digits
// and bytes just outside 'A'..'Z'.
func TestKnownEveryCode(t *testing.T) {
	std := map[vr.VR]bool{}
	for _, v := range vr.All() {
		std[v] = true
	}
	for i := range 1 << 16 {
		v := vr.VR(i)
		if v.Known() != std[v] {
			t.Errorf("%v (0x%04x): Known() = %v", v, i, v.Known())
		}
		if _, ok := vr.Parse(byte(i>>8), byte(i)); ok != std[v] {
			t.Errorf("Parse(0x%04x) known = %v", i, ok)
		}
		if !std[v] && (!v.LongLength() || v.WordSize() != 1 || v.Kind() != vr.KindNone) {
			t.Errorf("%v: an unknown VR must read as long, word size 1, no kind", v)
		}
	}
}

// TestCodeMatchesString checks the inlinable Code against String for
// every two-byte value: the code of a standard VR, false for the rest.
func TestCodeMatchesString(t *testing.T) {
	for i := range 1 << 16 {
		v := vr.VR(i)
		_, known := vr.Parse(byte(i>>8), byte(i))
		code, ok := v.Code()
		if ok != known || ok && code != v.String() || !ok && code != "" {
			t.Fatalf("%04X: Code = %q, %v; String %q, standard %v", i, code, ok, v.String(), known)
		}
	}
}
