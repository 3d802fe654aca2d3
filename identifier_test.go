package ethos_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

func TestIdentifierProblem(t *testing.T) {
	tests := []struct {
		name string
		s    string
		isID bool
		want string // a part of the problem; "" for none
	}{
		{"OrdinaryText", "retention period ended; erasure asked by the DPO", false, ""},
		{"VersionNumbers", "syngo CT VB10A 4.2.1 v2024.1", false, ""},
		{"ShortNumbers", "ward 7 bed 12, 30 cases, 120 kV", false, ""},
		{"PseudonymousID", "c-7f3a", true, ""},
		{"HexID", "a1b2c3d4e5f60718", true, ""},
		{"Empty", "", false, ""},
		{"ErrPersonName", "CHEST DOE^JANE", false, "person names"},
		{"ErrEmail", "dr.x@example.org", false, "e-mail"},
		{"ErrControl", "line\nbreak", false, "control"},
		{"ErrInvalidUTF8", "caf\xe9", false, "UTF-8"},
		{"ErrISODate", "seen 1961-04-12", false, "calendar date"},
		{"ErrDICOMDate", "PA 19610412", false, "calendar date"},
		{"ErrEuropeanDate", "12.04.1961", false, "calendar date"},
		{"ErrUSDate", "4/12/1961", false, "calendar date"},
		{"ErrISODateOneDigitMonthDay", "seen 1984-1-5", false, "calendar date"},
		{"ErrSlashDateTwoDigitYear", "born 4/12/61", false, "calendar date"},
		{"ErrDICOMDateTimeInID", "P20240115123045", true, "calendar date"},
		{"ErrDICOMDateTimeInText", "acquired 20240115123045", false, "calendar date"},
		{"DottedVersionNotDate", "firmware 2024.1.5", false, ""},
		{"FractionNotDate", "1/2 dose", false, ""},
		{"LongIDNotDate", "evt-123456789012", true, ""},
		{"ErrSSN", "x 078-05-1120", false, "social security"},
		{"ErrMRNInText", "MRN 004417731", false, "six or more digits"},
		{"ErrDigitsOnlyID", "00482913", true, "all digits"},
		{"DigitsOnlyTextShort", "00482", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ethos.IdentifierProblem(tt.s, tt.isID)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("IdentifierProblem(%q, %t) = %q, want %q", tt.s, tt.isID, got, tt.want)
			}
		})
	}
}

func TestIdentifierProblemAllocatesNothing(t *testing.T) {
	s := "protocol 12 run 3 of 7, 2 mm, 120 kV, 0.7 spacing, series 4"
	if n := testing.AllocsPerRun(100, func() { ethos.IdentifierProblem(s, false) }); n != 0 {
		t.Errorf("%v allocations per screen, want 0", n)
	}
}

// FuzzIdentifierProblem: the screen never panics and its answer never
// quotes the text it screened.
func FuzzIdentifierProblem(f *testing.F) {
	for _, s := range []string{"CHEST DOE^JANE", "seen 1961-04-12", "MRN 004417731", "x 078-05-1120", "ordinary words", "12.04.1961", "00482913"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, isID bool) {
		p := ethos.IdentifierProblem(s, isID)
		if len(s) >= 8 && p != "" && strings.Contains(p, s) {
			t.Errorf("the problem %q quotes the text", p)
		}
	})
}
