package tag_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestFind(t *testing.T) {
	tests := []struct {
		name    string
		t       tag.Tag
		ok      bool
		keyword string
		vr      vr.VR
	}{
		{"Exact", tag.PatientName, true, "PatientName", vr.PN},
		{"Overlay60xxRepeats", tag.New(0x6002, 0x3000), true, "OverlayData", vr.OW},
		{"OverlayOddGroupIsPrivate", tag.New(0x6003, 0x3000), false, "", 0},
		{"OverlayPastGroup601E", tag.New(0x6020, 0x3000), false, "", 0},
		{"Curve50xx", tag.New(0x5010, 0x3000), true, "CurveData", vr.OW},
		{"Mask1000xxx0", tag.New(0x1000, 0x0120), true, "EscapeTriplet", vr.US},
		{"PrivateCreatorSynthesized", tag.New(0x0029, 0x0010), true, "PrivateCreator", vr.LO},
		{"GroupLengthSynthesized", tag.New(0x0018, 0x0000), true, "GroupLength", vr.UL},
		{"PrivateUnknown", tag.New(0x0029, 0x1010), false, "", 0},
		{"ItemHasNoVR", tag.ItemTag, true, "Item", vr.UN},
		{"OBorOWImplicitIsOW", tag.PixelData, true, "PixelData", vr.OW},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, ok := tag.Find(tc.t)
			if ok != tc.ok {
				t.Fatalf("Find(%s) ok = %v, want %v", tc.t, ok, tc.ok)
			}
			if !ok {
				return
			}
			if info.Keyword != tc.keyword || info.VR() != tc.vr {
				t.Errorf("Find(%s) = %s %s, want %s %s", tc.t, info.Keyword, info.VR(), tc.keyword, tc.vr)
			}
		})
	}
}

// TestDictionaryMatchesStandard checks every entry of attributes.json
// against the generated dictionary, so a stale dict_gen.go fails.
func TestDictionaryMatchesStandard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.Shared(t), "dicom-standard", "attributes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var attrs []struct {
		ID, Keyword, Name string
		VR                string `json:"valueRepresentation"`
		VM                string `json:"valueMultiplicity"`
		Retired           string
	}
	if err := json.Unmarshal(raw, &attrs); err != nil {
		t.Fatal(err)
	}
	if got := len(tag.All()); got != len(attrs) {
		t.Errorf("dictionary has %d entries, attributes.json %d", got, len(attrs))
	}
	for _, a := range attrs {
		// A repeating entry must be found for some value of its x digits
		// (the all-zero value may be another, exact, entry).
		var info tag.Info
		ok := false
		for _, d := range "02468ace" {
			id := strings.NewReplacer("x", string(d), "X", string(d)).Replace(a.ID)
			tg, err := tag.Parse(id)
			if err != nil {
				t.Fatalf("%s: %v", a.ID, err)
			}
			if info, ok = tag.Find(tg); ok && info.Name == a.Name {
				break
			}
			ok = false
		}
		if !ok {
			t.Errorf("%s (%s) not found", a.ID, a.Keyword)
			continue
		}
		if info.Name != a.Name || info.VM != a.VM || info.Retired != (a.Retired == "Y") {
			t.Errorf("%s: got %q %q retired=%v, want %q %q %s", a.ID, info.Name, info.VM, info.Retired, a.Name, a.VM, a.Retired)
		}
		var vrs []string
		for _, v := range info.VRs {
			vrs = append(vrs, v.String())
		}
		if want := a.VR; len(vrs) > 0 && strings.Join(vrs, " or ") != want {
			t.Errorf("%s: VRs %v, want %q", a.ID, vrs, want)
		}
		if a.Keyword != "" {
			if k, ok := tag.ByKeyword(a.Keyword); !ok || k.Tag != info.Tag {
				t.Errorf("ByKeyword(%q) = %v %v", a.Keyword, k.Tag, ok)
			}
		}
	}
}

func TestPrivate(t *testing.T) {
	el := tag.New(0x0029, 0x1017)
	if !el.IsPrivate() || el.IsPrivateCreator() {
		t.Fatalf("%s: private=%v creator=%v", el, el.IsPrivate(), el.IsPrivateCreator())
	}
	cr, ok := el.PrivateCreator()
	if !ok || cr != tag.New(0x0029, 0x0010) {
		t.Errorf("PrivateCreator(%s) = %s %v, want (0029,0010)", el, cr, ok)
	}
	if got := tag.PrivateBlock(cr, 0x17); got != el {
		t.Errorf("PrivateBlock = %s, want %s", got, el)
	}
	for _, notPriv := range []tag.Tag{tag.PatientName, tag.New(0x0001, 0x0010), tag.New(0x0007, 0x1000), tag.ItemTag} {
		if notPriv.IsPrivate() {
			t.Errorf("%s reported private", notPriv)
		}
	}
	if _, ok := tag.New(0x0029, 0x0010).PrivateCreator(); ok {
		t.Error("creator element has a creator")
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"(0010,0010)", "0010,0010", "00100010"} {
		got, err := tag.Parse(s)
		if err != nil || got != tag.PatientName {
			t.Errorf("Parse(%q) = %s, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "(0010,00)", "zzzz,0010", "0010-0010x"} {
		if _, err := tag.Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	if got := tag.PatientID.String(); got != "(0010,0020)" {
		t.Errorf("String = %s", got)
	}
}

// TestDictVRMatchesFind checks the fast VR lookup against Find for every
// dictionary entry, repeating-group members, private creators, group
// lengths and tags the dictionary does not know.
func TestDictVRMatchesFind(t *testing.T) {
	tags := []tag.Tag{0x60023000, 0x50000010, 0x00090010, 0x00080000, 0x00090011, 0x7FE00010, 0xFFFFFFFF, 0x00000000, 0x00191001,
		// odd groups (private lookups skip the searches): not private
		// below 0009, creators, group lengths, odd repeating groups
		0x00030010, 0x00030000, 0x00071000, 0xFFFF0010, 0x00291010, 0x002900FF, 0x00290100, 0x00290000, 0x60013000, 0x50010010, 0x7F010010}
	for _, i := range tag.All() {
		tags = append(tags, i.Tag)
	}
	for _, tg := range tags {
		want, wok := tag.Find(tg)
		got, ok := tag.DictVR(tg)
		wantVR := want.VR()
		if !wok {
			wantVR = vr.UN
		}
		if ok != wok || got != wantVR {
			t.Errorf("%v: DictVR = %v, %v; Find gives %v, %v", tg, got, ok, wantVR, wok)
		}
	}
	for _, tt := range []struct {
		t  tag.Tag
		vr vr.VR
		ok bool
	}{
		{0x00290010, vr.LO, true}, {0x002900FF, vr.LO, true}, {0x00290000, vr.UL, true}, {0x00291010, vr.UN, false},
		{0x00030010, vr.UN, false}, {0x00030000, vr.UL, true}, {0x60013000, vr.UN, false}, {0x60003000, vr.OW, true},
	} {
		if got, ok := tag.DictVR(tt.t); got != tt.vr || ok != tt.ok {
			t.Errorf("%v: DictVR = %v, %v; want %v, %v", tt.t, got, ok, tt.vr, tt.ok)
		}
	}
}

func TestIsPixelData(t *testing.T) {
	for _, tc := range []struct {
		t    tag.Tag
		want bool
	}{
		{tag.PixelData, true},
		{tag.FloatPixelData, true},
		{tag.DoubleFloatPixelData, true},
		{tag.New(0x7FE0, 0x0000), false},
		{tag.New(0x7FE0, 0x0020), false},
		{tag.New(0x7FE1, 0x0010), false},
		{tag.PatientName, false},
	} {
		if got := tc.t.IsPixelData(); got != tc.want {
			t.Errorf("%s.IsPixelData() = %v, want %v", tc.t, got, tc.want)
		}
	}
}
