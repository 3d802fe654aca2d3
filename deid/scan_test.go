package deid_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

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

// TestScannerFirstKindAgreesWithFind checks the residual scan's single
// pass against Find on hand-picked values (overlapping occurrences, word
// edges, case, non-ASCII bytes) and on random values built from the
// identifiers' pieces.
func TestScannerFirstKindAgreesWithFind(t *testing.T) {
	s, _ := deid.NewScanner(nil)
	ids := deid.Identifiers{
		Names:      []string{"Doe^Jane^Q", "Li^Wei", "x-x^Ann-Marie"},
		IDs:        []string{"PAT-00042", "123456", "A77"},
		BirthDates: []string{"19650704", "20010203"},
	}
	is := s.ForInstance(ids)
	values := []string{
		"", "T1 MPRAGE", "DOE", "doe", "JDOE", "DOE1", "LI", "SLICE", "yx-x-x", "x-x-x", "ann-marie",
		"ref PAT-00042", "PAT-000421", "1234567", "123456", "born 1965-07-04", "04.07.1965", "July 4, 1965",
		"4 jul 1965", "04 JUL 1965", "2/3/2001", "3/2/2001", "02-03-2001", "20010203", "WEI\\LI", "Müller DOE",
		"DOE\x00", "A77A77", "a77 a77", "\x1b$BDOE",
	}
	pieces := []string{"doe", "DOE", "jane", "li", "wei", "x-x", "ann-marie", "pat-00042", "123456", "a77",
		"19650704", "1965-07-04", "04/07/1965", "jul 4, 1965", "2 february 2001", " ", "-", ".", "^", "0", "9", "x", "é"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(5) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		values = append(values, b.String())
	}
	for _, v := range values {
		hits := is.Find(v)
		kind, ok := is.FirstKind([]byte(v))
		if ok != (len(hits) > 0) || ok && kind != hits[0].Kind {
			t.Fatalf("FirstKind(%q) = %q %v, Find gives %v", v, kind, ok, hits)
		}
	}
}

// TestScannerReusedAcrossInstances prepares one scanner for several
// patients in turn, as the engine's reused scanners are: the needles
// follow the identifiers, also back to ones used before.
func TestScannerReusedAcrossInstances(t *testing.T) {
	s, _ := deid.NewScanner(nil)
	a := deid.Identifiers{Names: []string{"Doe^Jane"}, IDs: []string{"PAT-00042"}, BirthDates: []string{"19650704"}}
	b := deid.Identifiers{Names: []string{"Roe^Richard"}, IDs: []string{"XYZ-777"}, BirthDates: []string{"19800101"}}
	is := new(deid.InstanceScanner)
	for i, ids := range []deid.Identifiers{a, a, b, a, b, b} {
		is.Prepare(s, ids)
		other := b
		if ids.Names[0] == b.Names[0] {
			other = a
		}
		for _, v := range []string{ids.Names[0][:3], ids.IDs[0]} {
			if _, ok := is.FirstKind([]byte("x " + v + " y")); !ok {
				t.Errorf("step %d: %q not found", i, v)
			}
		}
		for _, v := range []string{other.Names[0][:3], other.IDs[0]} {
			if kind, ok := is.FirstKind([]byte("x " + v + " y")); ok {
				t.Errorf("step %d: %q found (%s) among another patient's identifiers", i, v, kind)
			}
		}
	}
}

// TestDateFormsMatchLayouts holds the hand-written date forms to the
// time package's formatting of the same layouts (lower case), over every
// day of several years, early years included.
func TestDateFormsMatchLayouts(t *testing.T) {
	for _, year := range []int{1, 999, 1900, 1965, 2000, 2024, 9999} {
		for day := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() == year; day = day.AddDate(0, 0, 1) {
			got := deid.DateForms(day.Format("20060102") + "\x00")
			if len(got) != len(deid.DateLayouts) {
				t.Fatalf("%s: %d forms, want %d", day.Format("20060102"), len(got), len(deid.DateLayouts))
			}
			for i, l := range deid.DateLayouts {
				if want := strings.ToLower(day.Format(l)); got[i] != want {
					t.Fatalf("%s in %q: got %q, want %q", day.Format("20060102"), l, got[i], want)
				}
			}
		}
	}
	if got := deid.DateForms("1965-07-04"); got != nil {
		t.Errorf("not a DA value: got %v", got)
	}
}
