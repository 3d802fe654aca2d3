package deid_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

func TestScannerFind(t *testing.T) {
	s, err := deid.NewScanner([]deid.Pattern{{Name: "mrn", Regex: `MRN\d{6}`}})
	if err != nil {
		t.Fatal(err)
	}
	is := s.ForInstance(deid.Identifiers{
		Names:      []string{"Doe^Jane^Q", "Li^Wei"},
		IDs:        []string{"PAT-00042"},
		BirthDates: []string{"19650704"},
	})
	tests := []struct {
		name, value string
		want        []string
	}{
		{"CleanValue", "T1 MPRAGE sagittal", nil},
		{"SurnameAnyCase", "follow-up for DOE", []string{"name"}},
		{"ShortSurnameAsWord", "Li protocol", []string{"name"}},
		{"ShortSurnameInsideWordIgnored", "SLICE thickness", nil},
		{"ID", "ref PAT-00042 ok", []string{"id"}},
		{"BirthDateISO", "born 1965-07-04", []string{"birth-date"}},
		{"BirthDateEuropean", "dob 04.07.1965", []string{"birth-date"}},
		{"BirthDateDICOM", "19650704", []string{"birth-date"}},
		{"Pattern", "see mrn123456", []string{"pattern:mrn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, h := range is.Find(tt.value) {
				got = append(got, h.Kind)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Find(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestScannerCleanText(t *testing.T) {
	s, _ := deid.NewScanner(nil)
	is := s.ForInstance(deid.Identifiers{Names: []string{"Doe^Jane"}, IDs: []string{"A77"}})
	tests := []struct{ name, in, want string }{
		{"Unchanged", "CT chest w/o contrast", "CT chest w/o contrast"},
		{"NameRemoved", "Jane Doe head CT", "head CT"},
		{"GenericDate", "prior 03/04/2019 study", "prior study"},
		{"Phone", "call 555-123-4567 now", "call now"},
		{"LongDigitRun", "acc 12345678", "acc"},
		{"ID", "A77 knee", "knee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := is.CleanText(tt.in)
			if got != tt.want {
				t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestScannerErrBadPattern(t *testing.T) {
	if _, err := deid.NewScanner([]deid.Pattern{{Name: "bad", Regex: "("}}); err == nil {
		t.Error("no error for a bad regex")
	}
}
