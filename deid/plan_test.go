package deid_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

// TestPlansMatchRuleResolution holds the per-configuration plans to
// resolving Table E.1-1 element by element: for every row's tag (and
// tags of the masked rows and unlisted ones), under several option sets,
// SOP classes and nesting, the plan gives the action the row's code
// resolves to for the attribute's type (Clean, Shift under Modified
// Dates, removal of graphics under Clean Graphics).
func TestPlansMatchRuleResolution(t *testing.T) {
	optionSets := []deid.Options{0,
		deid.Options(0).With(deid.RetainLongitudinalModifiedDates, deid.CleanDescriptors, deid.RetainPatientCharacteristics),
		deid.Options(0).With(deid.CleanGraphics, deid.CleanStructuredContent, deid.RetainUIDs, deid.RetainDeviceIdentity),
		deid.Options(0).With(deid.RetainLongitudinalFullDates, deid.RetainInstitutionIdentity, deid.RetainSafePrivate),
	}
	tags := []uint32{0x60003000, 0x60023000, 0x601E4000, 0x50000010, 0x50200000, 0x00080001, 0x00280010, 0x7FE00010}
	for _, r := range deid.Table() {
		if !r.Private {
			tags = append(tags, r.Tag)
		}
	}
	contexts := []struct {
		sop      string
		enhanced bool
	}{{"1.2.840.10008.5.1.4.1.1.2", false}, {"1.2.840.10008.5.1.4.1.1.4.1", true}, {"1.2.840.10008.5.1.4.1.1.88.22", false},
		{"1.2.840.10008.5.1.4.1.1.481.5", false}, {"1.2.840.10008.5.1.4.1.1.9.1.1", false}, {"1.2.840.10008.5.1.4.1.1.66.4", false}}
	for _, opts := range optionSets {
		cfg, err := deid.NewConfig(nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			for _, c := range contexts {
				for _, nested := range []bool{false, true} {
					got, ok := deid.PlanAction(cfg, tag, c.sop, c.enhanced, nested)
					r, wok := deid.LookupRule(tag)
					if ok != wok {
						t.Fatalf("%08X: plan found %v, LookupRule %v", tag, ok, wok)
					}
					if !ok {
						continue
					}
					code, _, _ := r.Code(opts)
					var want deid.Action
					switch {
					case code == "C" && (r.Tag == 0x60003000 && r.Mask == 0xFF00FFFF || r.Tag == 0x50000000 && r.Mask == 0xFF000000):
						want = deid.Remove
					case code == "C":
						want = deid.Clean
						if r.Options[deid.RetainLongitudinalModifiedDates] == "C" && opts.Has(deid.RetainLongitudinalModifiedDates) {
							want = deid.Shift
						}
					default:
						if want, err = deid.Resolve(code, deid.AttrTypeOf(tag, c.sop, c.enhanced, nested)); err != nil {
							want = deid.Remove
						}
					}
					if got != want {
						t.Errorf("options %v, %08X in %s (enhanced %v, nested %v): plan %v, rule %v", opts, tag, c.sop, c.enhanced, nested, got, want)
					}
				}
			}
		}
	}
}

// TestPlansAbsentTags looks up tags Table E.1-1 does not list (every
// element of a few groups): the plan table must miss exactly where
// LookupRule does.
func TestPlansAbsentTags(t *testing.T) {
	cfg, err := deid.NewConfig(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []uint32{0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x0040, 0x5000, 0x6000, 0x7FE0} {
		for e := uint32(0); e <= 0xFFFF; e++ {
			tag := g<<16 | e
			_, ok := deid.PlanAction(cfg, tag, "1.2.840.10008.5.1.4.1.1.2", false, false)
			if _, want := deid.LookupRule(tag); ok != want {
				t.Fatalf("%08X: plan found %v, LookupRule %v", tag, ok, want)
			}
		}
	}
}
