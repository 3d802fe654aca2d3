package deid_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestTableMatchesStandard re-reads the standard's JSON and checks that
// every row made it into the generated table with its actions.
func TestTableMatchesStandard(t *testing.T) {
	path := filepath.Join(testenv.Shared(t), "dicom-standard", "confidentiality_profile_attributes.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	table := deid.Table()
	if len(table) != len(rows) {
		t.Fatalf("generated table has %d rows, standard has %d", len(table), len(rows))
	}
	for _, row := range rows {
		id := row["id"]
		if strings.HasPrefix(id, "gggg") || strings.Contains(id, "x") {
			continue
		}
		tag, err := deid.ParseTag(id)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := deid.LookupRule(tag)
		if !ok {
			t.Errorf("%s %s: not in generated table", row["tag"], row["name"])
			continue
		}
		if string(r.Basic) != row["basicProfile"] {
			t.Errorf("%s: basic %q, standard %q", row["tag"], r.Basic, row["basicProfile"])
		}
		if got, want := string(r.Options[deid.RetainUIDs]), row["rtnUIDsOpt"]; got != want {
			t.Errorf("%s: retain UIDs %q, standard %q", row["tag"], got, want)
		}
		if got, want := string(r.Options[deid.CleanDescriptors]), row["cleanDescOpt"]; got != want {
			t.Errorf("%s: clean descriptors %q, standard %q", row["tag"], got, want)
		}
	}
}

func TestLookupRule(t *testing.T) {
	tests := []struct {
		name  string
		tag   uint32
		basic deid.Code
		found bool
	}{
		{"PatientName", 0x00100010, "Z", true},
		{"OverlayDataGroup6002", 0x60023000, "X", true},
		{"CurveData", 0x50040010, "X", true},
		{"PrivateOddGroup", 0x00091001, "X", true},
		{"NotListedRows", 0x00280010, "", false},
		{"OverlayRowsNotListed", 0x60000010, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := deid.LookupRule(tt.tag)
			if ok != tt.found {
				t.Fatalf("found = %v, want %v", ok, tt.found)
			}
			if ok && r.Basic != tt.basic {
				t.Errorf("basic = %q, want %q", r.Basic, tt.basic)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		code deid.Code
		typ  deid.AttrType
		want deid.Action
	}{
		{"X/Z", deid.Type3, deid.Remove},
		{"X/Z", deid.Type2, deid.Zero},
		{"X/Z", deid.TypeUnknown, deid.Zero},
		{"X/D", deid.Type3, deid.Remove},
		{"X/D", deid.Type2, deid.Dummy},
		{"X/D", deid.Type1, deid.Dummy},
		{"Z/D", deid.Type2, deid.Zero},
		{"Z/D", deid.Type3, deid.Zero},
		{"Z/D", deid.Type1, deid.Dummy},
		{"X/Z/D", deid.Type3, deid.Remove},
		{"X/Z/D", deid.Type2, deid.Zero},
		{"X/Z/D", deid.Type1, deid.Dummy},
		{"X/Z/D", deid.TypeUnknown, deid.Dummy},
		{"X/Z/U*", deid.Type3, deid.Remove},
		{"X/Z/U*", deid.Type2, deid.Zero},
		{"X/Z/U*", deid.Type1, deid.UID},
		{"K", deid.Type1, deid.Keep},
		{"U", deid.Type3, deid.UID},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(string(tt.code), "/", "")+"_"+tt.want.String(), func(t *testing.T) {
			got, err := deid.Resolve(tt.code, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%s, %d) = %s, want %s", tt.code, tt.typ, got, tt.want)
			}
		})
	}
	t.Run("ErrUnknownCode", func(t *testing.T) {
		if _, err := deid.Resolve("Q", deid.Type1); err == nil {
			t.Error("no error for an unknown code")
		}
	})
}

func TestRuleCodeOptions(t *testing.T) {
	r, _ := deid.LookupRule(0x0018700C) // Date of Last Detector Calibration: X/D, dev K, modified C
	tests := []struct {
		name string
		opts deid.Options
		want deid.Code
	}{
		{"BasicCompound", 0, "X/D"},
		{"ModifiedDatesCleans", deid.Options(0).With(deid.RetainLongitudinalModifiedDates), "C"},
		{"KeepWinsOverClean", deid.Options(0).With(deid.RetainLongitudinalModifiedDates, deid.RetainDeviceIdentity), "K"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _, _ := r.Code(tt.opts); got != tt.want {
				t.Errorf("code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	t.Run("AllNamesRoundTrip", func(t *testing.T) {
		for _, o := range deid.AllOptions() {
			got, err := deid.ParseOption(o.String())
			if err != nil || got != o {
				t.Errorf("ParseOption(%q) = %v, %v", o, got, err)
			}
			if v, m := o.Code(); !strings.HasPrefix(v, "1131") || m == "" {
				t.Errorf("%s: code %q %q", o, v, m)
			}
		}
	})
	t.Run("ErrExclusiveDates", func(t *testing.T) {
		if _, err := deid.ParseOptions("retain-longitudinal-full-dates,retain-longitudinal-modified-dates"); err == nil {
			t.Error("no error")
		}
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		if _, err := deid.ParseOptions("retain-everything"); err == nil {
			t.Error("no error")
		}
	})
}
