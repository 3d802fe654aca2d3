package deid_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/deid"
)

// el builds a text element.
func el(tag uint32, vr, v string) *deid.Element {
	b := []byte(v)
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return &deid.Element{Tag: tag, VR: vr, Value: b}
}

func seq(tag uint32, items ...*deid.Dataset) *deid.Element {
	return &deid.Element{Tag: tag, VR: "SQ", Items: items}
}

func ds(elems ...*deid.Element) *deid.Dataset {
	d := &deid.Dataset{}
	for _, e := range elems {
		d.Set(e)
		e.Dirty = false
	}
	return d
}

// ctInstance returns a CT dataset with identifiers at the top level, in
// sequences and in a private block.
func ctInstance() (*deid.Dataset, *deid.Dataset) {
	meta := ds(
		el(0x00020002, "UI", "1.2.840.10008.5.1.4.1.1.2"),
		el(0x00020003, "UI", "1.2.3.4.5.6.7"),
		el(0x00020010, "UI", "1.2.840.10008.1.2.1"),
		el(0x00020016, "AE", "HOSPITAL_PACS"),
	)
	d := ds(
		el(0x00080005, "CS", "ISO_IR 100"),
		el(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2"),
		el(0x00080018, "UI", "1.2.3.4.5.6.7"),
		el(0x00080020, "DA", "20190315"),
		el(0x00080021, "DA", "20190315"),
		el(0x00080030, "TM", "101500"),
		el(0x00080050, "SH", "ACC12345"),
		el(0x00080060, "CS", "CT"),
		el(0x00080070, "LO", "GE MEDICAL SYSTEMS"),
		el(0x00080080, "LO", "General Hospital"),
		el(0x00080090, "PN", "Welby^Marcus"),
		el(0x00081030, "LO", "CT chest for Jane Doe"),
		seq(0x00081110, ds(el(0x00081150, "UI", "1.2.840.10008.3.1.2.3.1"), el(0x00081155, "UI", "1.2.3.99"))),
		el(0x00100010, "PN", "Doe^Jane"),
		el(0x00100020, "LO", "PAT-00042"),
		el(0x00100030, "DA", "19650704"),
		el(0x00100040, "CS", "F"),
		el(0x00101010, "AS", "095Y"),
		seq(0x00101002, ds(el(0x00100020, "LO", "OTHER-ID-77"))),
		el(0x00130010, "LO", "ACME PRIVATE"),
		el(0x00131010, "LO", "Doe private note"),
		el(0x0020000D, "UI", "1.2.3.4"),
		el(0x0020000E, "UI", "1.2.3.4.5"),
		el(0x00200052, "UI", "1.2.3.4.9"),
		el(0x00280010, "US", "\x00\x02"),
		el(0x00280301, "CS", "NO"),
		seq(0x00400275, ds(el(0x00400007, "LO", "Scheduled step"), el(0x00400002, "DA", "20190314"))),
		el(0x60000010, "US", "\x00\x02"),
		&deid.Element{Tag: 0x60003000, VR: "OW", Value: make([]byte, 8)},
		&deid.Element{Tag: 0x7FE00010, VR: "OW", Value: make([]byte, 8)},
	)
	return meta, d
}

func mustEngine(tb testing.TB, opts deid.Options, p *deid.Profile) *deid.Engine {
	tb.Helper()
	cfg, err := deid.NewConfig(p, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return deid.NewEngine(cfg, mustKeys(tb, "engine test secret 0123456789"))
}

func text(d *deid.Dataset, tag uint32) (string, bool) {
	e := d.Find(tag)
	if e == nil {
		return "", false
	}
	return strings.TrimRight(string(e.Value), " \x00"), true
}

func TestApplyBasicProfile(t *testing.T) {
	meta, d := ctInstance()
	e := mustEngine(t, 0, nil)
	out, err := e.Apply(meta, d)
	if err != nil {
		t.Fatal(err)
	}
	if out.Quarantine {
		t.Fatalf("quarantined: %v", out.Reasons)
	}
	keys := mustKeys(t, "engine test secret 0123456789")
	tests := []struct {
		name    string
		tag     uint32
		present bool
		want    string
	}{
		{"StudyDateZeroed", 0x00080020, true, ""},
		{"SeriesDateRemoved", 0x00080021, false, ""},
		{"AccessionZeroed", 0x00080050, true, ""},
		{"ManufacturerKept", 0x00080070, true, "GE MEDICAL SYSTEMS"},
		{"InstitutionRemoved", 0x00080080, false, ""},
		{"ReferringPhysicianZeroed", 0x00080090, true, ""},
		{"StudyDescriptionRemoved", 0x00081030, false, ""},
		{"BirthDateZeroed", 0x00100030, true, ""},
		{"AgeRemoved", 0x00101010, false, ""},
		{"OtherIDsSequenceRemoved", 0x00101002, false, ""},
		{"PrivateRemoved", 0x00131010, false, ""},
		{"PrivateCreatorRemoved", 0x00130010, false, ""},
		{"SOPInstanceUIDMapped", 0x00080018, true, keys.UID("1.2.3.4.5.6.7")},
		{"StudyUIDMapped", 0x0020000D, true, keys.UID("1.2.3.4")},
		{"FrameOfReferenceMapped", 0x00200052, true, keys.UID("1.2.3.4.9")},
		{"SOPClassKept", 0x00080016, true, "1.2.840.10008.5.1.4.1.1.2"},
		{"OverlayGroupRemoved", 0x60000010, false, ""},
		{"OverlayDataRemoved", 0x60003000, false, ""},
		{"RequestAttributesRemoved", 0x00400275, false, ""},
		{"IdentityRemovedFlag", 0x00120062, true, "YES"},
		{"LongitudinalRemoved", 0x00280303, true, "REMOVED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := text(d, tt.tag)
			if ok != tt.present {
				t.Fatalf("present = %v, want %v", ok, tt.present)
			}
			if ok && got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
		})
	}
	pid, _ := text(d, 0x00100020)
	pn, _ := text(d, 0x00100010)
	if !strings.HasPrefix(pid, "ETHOS-") || pn != pid {
		t.Errorf("patient ID %q / name %q: want the same ETHOS- pseudonym", pid, pn)
	}
	if ref := d.Find(0x00081110); ref != nil {
		t.Errorf("Referenced Study Sequence (X/Z, Type 3) kept")
	}
	if got, _ := text(meta, 0x00020003); got != keys.UID("1.2.3.4.5.6.7") {
		t.Errorf("media storage SOP instance UID = %q, want the new SOP UID", got)
	}
	if meta.Find(0x00020016) != nil {
		t.Error("source AE title kept in the file meta")
	}
	codes := d.Find(0x00120064)
	if codes == nil || len(codes.Items) != 1 {
		t.Fatalf("code sequence = %+v, want one item (113100)", codes)
	}
	if v, _ := text(codes.Items[0], 0x00080100); v != "113100" {
		t.Errorf("code = %q, want 113100", v)
	}
	if out.Counts["(0010,0010)"]["dummy"] != 1 || out.Counts["(gggg,eeee) private"]["remove"] != 2 {
		t.Errorf("counts = %v", out.Counts)
	}
	wantName := keys.UID("1.2.3.4") + "/" + keys.UID("1.2.3.4.5") + "/" + keys.UID("1.2.3.4.5.6.7") + ".dcm"
	if out.Name != wantName {
		t.Errorf("name = %q, want %q", out.Name, wantName)
	}
	if out.Group["sex"] != "F" || out.Group["ageBand"] != "90+" {
		t.Errorf("group = %v", out.Group)
	}
}

func TestApplyOptions(t *testing.T) {
	t.Run("RetainPatientCharacteristicsCapsAge", func(t *testing.T) {
		meta, d := ctInstance()
		if _, err := mustEngine(t, deid.Options(0).With(deid.RetainPatientCharacteristics), nil).Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := text(d, 0x00101010); got != "090Y" {
			t.Errorf("age = %q, want 090Y", got)
		}
		if got, _ := text(d, 0x00100040); got != "F" {
			t.Errorf("sex = %q, want F", got)
		}
	})
	t.Run("ModifiedDatesShiftConsistently", func(t *testing.T) {
		meta, d := ctInstance()
		_, d2 := ctInstance()
		e := mustEngine(t, deid.Options(0).With(deid.RetainLongitudinalModifiedDates), nil)
		if _, err := e.Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Apply(nil, d2); err != nil {
			t.Fatal(err)
		}
		study, _ := text(d, 0x00080020)
		series, _ := text(d, 0x00080021)
		if study == "20190315" || len(study) != 8 || study != series {
			t.Errorf("study %q series %q: want the same shifted date", study, series)
		}
		if again, _ := text(d2, 0x00080020); again != study {
			t.Errorf("second instance of the patient shifted to %q, first %q", again, study)
		}
		if got, _ := text(d, 0x00280303); got != "MODIFIED" {
			t.Errorf("longitudinal = %q", got)
		}
		codes := d.Find(0x00120064)
		if codes == nil || len(codes.Items) != 2 {
			t.Fatalf("want 2 method codes")
		}
		if v, _ := text(codes.Items[1], 0x00080100); v != "113107" {
			t.Errorf("option code = %q, want 113107", v)
		}
	})
	t.Run("ModifiedDatesMoveDTWithDAAndKeepTM", func(t *testing.T) {
		meta, d := ctInstance()
		d.Set(el(0x00080022, "DA", "20190315"))               // AcquisitionDate
		d.Set(el(0x00080032, "TM", "101500.25"))              // AcquisitionTime
		d.Set(el(0x0008002A, "DT", "20190315101500.25+0100")) // AcquisitionDateTime
		d.Set(el(0x00080033, "TM", "call Jane"))              // ContentTime, not a time
		d.Set(el(0x00189507, "DA", "20190310"))               // unlisted date
		e := mustEngine(t, deid.Options(0).With(deid.RetainLongitudinalModifiedDates), nil)
		if _, err := e.Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		date, _ := text(d, 0x00080022)
		tm, _ := text(d, 0x00080032)
		dt, _ := text(d, 0x0008002A)
		if date == "20190315" || dt != date+tm+"+0100" {
			t.Errorf("DA %q TM %q DT %q: want DT = shifted DA + TM + offset", date, tm, dt)
		}
		if tm != "101500.25" {
			t.Errorf("TM = %q, want it unchanged by a whole-day shift", tm)
		}
		if got, _ := text(d, 0x00080033); got != "" {
			t.Errorf("unreadable TM kept as %q, want it emptied", got)
		}
		unlisted, _ := text(d, 0x00189507)
		want, _ := deid.ShiftDA("20190310", dayDiff(t, "20190315", date))
		if unlisted != want {
			t.Errorf("unlisted date = %q, want %q (moved by the same offset)", unlisted, want)
		}
	})
	t.Run("CleanGraphicsRemovesOverlaysAndCurvesCleansAnnotationText", func(t *testing.T) {
		meta, d := ctInstance()
		d.Set(el(0x60004000, "LT", "overlay by Jane Doe"))
		d.Set(el(0x50000005, "US", "\x01\x00"))
		d.Set(&deid.Element{Tag: 0x50003000, VR: "OW", Value: make([]byte, 8)})
		d.Set(el(0x50020022, "LO", "curve of Doe"))
		d.Set(seq(0x00700001, ds(
			el(0x00700002, "CS", "LAYER1"),
			seq(0x00700008, ds(el(0x00700006, "ST", "Jane Doe 1965"))),
			seq(0x00700009, ds(el(0x00700023, "CS", "POLYLINE"))),
		)))
		out, err := mustEngine(t, deid.Options(0).With(deid.CleanGraphics), nil).Apply(meta, d)
		if err != nil {
			t.Fatal(err)
		}
		if out.Quarantine {
			t.Fatalf("quarantined: %v", out.Reasons)
		}
		for _, tag := range []uint32{0x60000010, 0x60003000, 0x60004000, 0x50000005, 0x50003000, 0x50020022} {
			if _, ok := text(d, tag); ok {
				t.Errorf("(%04X,%04X) kept under Clean Graphics", tag>>16, tag&0xFFFF)
			}
		}
		ga := d.Find(0x00700001)
		if ga == nil || len(ga.Items) != 1 {
			t.Fatal("graphic annotation sequence lost: Clean Graphics cleans it")
		}
		to := ga.Items[0].Find(0x00700008)
		if to == nil || len(to.Items) != 1 {
			t.Fatal("text object lost")
		}
		if got, _ := text(to.Items[0], 0x00700006); strings.Contains(got, "Doe") || strings.Contains(got, "Jane") {
			t.Errorf("annotation text = %q, still names the patient", got)
		}
		if got, _ := text(ga.Items[0].Find(0x00700009).Items[0], 0x00700023); got != "POLYLINE" {
			t.Errorf("graphic type = %q, want the geometry kept", got)
		}
		if got := out.Counts["(60xx,3000)"]["remove"]; got != 1 {
			t.Errorf("overlay data removals counted %d, want 1 (counts %v)", got, out.Counts["(60xx,3000)"])
		}
	})
	t.Run("EmbeddedOverlayQuarantined", func(t *testing.T) {
		meta, d := ctInstance()
		d.Set(el(0x60020100, "US", "\x10\x00")) // 16 bits: in the pixel data
		d.Set(el(0x60020102, "US", "\x0f\x00"))
		out, err := mustEngine(t, 0, nil).Apply(meta, d)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Quarantine || !strings.Contains(strings.Join(out.Reasons, ";"), "overlay 6002 embedded") {
			t.Errorf("quarantine %v reasons %v: want the embedded overlay named", out.Quarantine, out.Reasons)
		}
	})
	t.Run("RetainUIDsKeeps", func(t *testing.T) {
		meta, d := ctInstance()
		if _, err := mustEngine(t, deid.Options(0).With(deid.RetainUIDs), nil).Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := text(d, 0x00080018); got != "1.2.3.4.5.6.7" {
			t.Errorf("SOP UID = %q", got)
		}
	})
	t.Run("CleanDescriptorsRemovesNames", func(t *testing.T) {
		meta, d := ctInstance()
		if _, err := mustEngine(t, deid.Options(0).With(deid.CleanDescriptors), nil).Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := text(d, 0x00081030); got != "CT chest for" {
			t.Errorf("study description = %q, want %q", got, "CT chest for")
		}
	})
	t.Run("RetainSafePrivateKeepsListedOnly", func(t *testing.T) {
		p := &deid.Profile{SafePrivate: []deid.SafePrivate{{Group: 0x0013, Creator: "ACME PRIVATE", Element: 0x11}}}
		meta, d := ctInstance()
		d.Set(el(0x00131011, "DS", "1.5"))
		if _, err := mustEngine(t, deid.Options(0).With(deid.RetainSafePrivate), p).Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if _, ok := text(d, 0x00131011); !ok {
			t.Error("safe private element removed")
		}
		if _, ok := text(d, 0x00130010); !ok {
			t.Error("creator of a kept block removed")
		}
		if _, ok := text(d, 0x00131010); ok {
			t.Error("unsafe private element kept")
		}
	})
	t.Run("OverrideKeepsTag", func(t *testing.T) {
		p, err := deid.DecodeProfile(strings.NewReader(`{"overrides":[{"tag":"(0008,0080)","action":"keep"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		meta, d := ctInstance()
		if _, err := mustEngine(t, 0, p).Apply(meta, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := text(d, 0x00080080); got != "General Hospital" {
			t.Errorf("institution = %q", got)
		}
	})
}

func TestApplyQuarantine(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(d *deid.Dataset)
		opts   deid.Options
		prof   string
		reason string
	}{
		{"BurnedInYes", func(d *deid.Dataset) { d.Set(el(0x00280301, "CS", "YES")) }, 0, "", "BurnedInAnnotation is YES"},
		{"UltrasoundWithoutFlag", func(d *deid.Dataset) { d.Set(el(0x00080060, "CS", "US")); d.Delete(0x00280301) }, 0, "", "absent on US"},
		{"ResidualNameInKeptText", func(d *deid.Dataset) { d.Set(el(0x00180015, "CS", "DOE")) }, 0, "", "residual identifier (name)"},
		{"ResidualPattern", func(d *deid.Dataset) { d.Set(el(0x00180015, "CS", "MRN123456")) }, 0, `{"patterns":[{"name":"mrn","regex":"MRN\\d{6}"}]}`, "pattern:mrn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, d := ctInstance()
			for _, e := range d.Elements {
				e.Dirty = false
			}
			tt.edit(d)
			for _, e := range d.Elements {
				e.Dirty = false
			}
			var p *deid.Profile
			if tt.prof != "" {
				var err error
				if p, err = deid.DecodeProfile(strings.NewReader(tt.prof)); err != nil {
					t.Fatal(err)
				}
			}
			out, err := mustEngine(t, tt.opts, p).Apply(meta, d)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Quarantine || !strings.Contains(strings.Join(out.Reasons, ";"), tt.reason) {
				t.Errorf("quarantine = %v %v, want reason %q", out.Quarantine, out.Reasons, tt.reason)
			}
			if strings.Contains(strings.Join(out.Reasons, ";"), "DOE") {
				t.Error("reason contains the identifier")
			}
		})
	}
	t.Run("CleanPixelDataCovers", func(t *testing.T) {
		p, _ := deid.DecodeProfile(strings.NewReader(`{"cleanPixels":[{"modality":"CT","rects":[[0,0,10,10]]}]}`))
		meta, d := ctInstance()
		d.Set(el(0x00280301, "CS", "YES"))
		d.Set(&deid.Element{Tag: 0x7FE00010, VR: "OW", Value: make([]byte, 4)})
		for _, e := range d.Elements {
			e.Dirty = false
		}
		out, err := mustEngine(t, deid.Options(0).With(deid.CleanPixelData), p).Apply(meta, d)
		if err != nil {
			t.Fatal(err)
		}
		if out.Quarantine || len(out.PixelRects) != 1 {
			t.Errorf("quarantine %v %v rects %v", out.Quarantine, out.Reasons, out.PixelRects)
		}
	})
}

func TestApplyErrNoSOPInstanceUID(t *testing.T) {
	_, err := mustEngine(t, 0, nil).Apply(nil, ds(el(0x00100010, "PN", "A^B")))
	if err == nil {
		t.Error("no error")
	}
}

func TestApplyUnlistedUIDs(t *testing.T) {
	meta, d := ctInstance()
	d.Set(el(0x00080016, "UI", "1.3.12.2.1107.5.9.1")) // a private SOP class
	d.Set(el(0x00081167, "UI", "1.2.3.4.77"))          // Multi-frame Source SOP Instance UID: not in Table E.1-1
	d.Set(el(0x0008010C, "UI", "2.16.840.1.113883.6.96"))
	for _, e := range d.Elements {
		e.Dirty = false
	}
	if _, err := mustEngine(t, 0, nil).Apply(meta, d); err != nil {
		t.Fatal(err)
	}
	keys := mustKeys(t, "engine test secret 0123456789")
	if got, _ := text(d, 0x00080016); got != "1.3.12.2.1107.5.9.1" {
		t.Errorf("private SOP class UID changed to %q", got)
	}
	if got, _ := text(d, 0x0008010C); got != "2.16.840.1.113883.6.96" {
		t.Errorf("coding scheme UID changed to %q", got)
	}
	if got, _ := text(d, 0x00081167); got != keys.UID("1.2.3.4.77") {
		t.Errorf("unlisted instance UID = %q, want it mapped", got)
	}
}

func srInstance() (*deid.Dataset, *deid.Dataset) {
	meta, d := ctInstance()
	d.Set(el(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.88.33"))
	d.Delete(0x7FE00010)
	code := ds(el(0x00080100, "SH", "121106"), el(0x00080102, "SH", "DCM"), el(0x00080104, "LO", "Comment"))
	d.Set(seq(0x0040A730, ds(
		el(0x0040A010, "CS", "CONTAINS"),
		el(0x0040A040, "CS", "TEXT"),
		seq(0x0040A043, code),
		el(0x0040A160, "UT", "Jane Doe seen on 03/04/2019, stable"),
	)))
	for _, e := range d.Elements {
		e.Dirty = false
	}
	return meta, d
}

func TestApplyStructuredContent(t *testing.T) {
	tests := []struct {
		name string
		opts deid.Options
		want string
	}{
		{"BasicDummiesText", 0, "ANONYMIZED"},
		{"CleanStructuredContentRemovesIdentifiers", deid.Options(0).With(deid.CleanStructuredContent), "seen on , stable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, d := srInstance()
			out, err := mustEngine(t, tt.opts, nil).Apply(meta, d)
			if err != nil {
				t.Fatal(err)
			}
			if out.Quarantine {
				t.Fatalf("quarantined: %v", out.Reasons)
			}
			cs := d.Find(0x0040A730)
			if cs == nil || len(cs.Items) != 1 {
				t.Fatal("content sequence lost")
			}
			item := cs.Items[0]
			got, _ := text(item, 0x0040A160)
			want := strings.ReplaceAll(tt.want, " ,", ",")
			if got != tt.want && got != want {
				t.Errorf("text value = %q, want %q", got, tt.want)
			}
			meaning, _ := text(item.Find(0x0040A043).Items[0], 0x00080104)
			if meaning != "Comment" {
				t.Errorf("code meaning = %q, want it kept", meaning)
			}
		})
	}
}

// dayDiff returns the whole days from a to b (both YYYYMMDD).
func dayDiff(t *testing.T, a, b string) int {
	t.Helper()
	ta, err1 := time.Parse("20060102", a)
	tb, err2 := time.Parse("20060102", b)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad dates %q %q", a, b)
	}
	return int(tb.Sub(ta).Hours() / 24)
}
