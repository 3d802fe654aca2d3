package deid_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

func TestDecodeProfile(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    string
	}{
		{"Empty", `{}`, ""},
		{"Full", `{"name":"study-7","options":["clean-descriptors"],
			"overrides":[{"tag":"(0008,1030)","action":"keep","reason":"needed"},{"tag":"StationName","action":"X"}],
			"safePrivate":[{"group":25,"creator":"ACME 1.0","element":16,"vr":"DS"}],
			"patterns":[{"name":"mrn","regex":"MRN\\d+"}],
			"cleanPixels":[{"modality":"US","rects":[[0,0,640,40]]}],
			"dateShiftDays":{"min":10,"max":20},"maxAgeYears":89}`, ""},
		{"ErrUnknownField", `{"overide":[]}`, "unknown field"},
		{"ErrBadTag", `{"overrides":[{"tag":"(0008,XXXX)","action":"keep"}]}`, "tag"},
		{"ErrBadAction", `{"overrides":[{"tag":"00081030","action":"obliterate"}]}`, "unknown action"},
		{"ErrEvenPrivateGroup", `{"safePrivate":[{"group":16,"creator":"A","element":1}]}`, "not private"},
		{"ErrBadRegex", `{"patterns":[{"name":"p","regex":"("}]}`, "pattern"},
		{"ErrEmptyRect", `{"cleanPixels":[{"rects":[[0,0,0,5]]}]}`, "width"},
		{"ErrExclusiveOptions", `{"options":["retain-longitudinal-full-dates","retain-longitudinal-modified-dates"]}`, "exclude"},
		{"ErrSyntax", `{"name":`, "profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deid.DecodeProfile(strings.NewReader(tt.json))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigEffectiveAndHash(t *testing.T) {
	p, err := deid.DecodeProfile(strings.NewReader(`{"overrides":[{"tag":"(0008,1030)","action":"keep","reason":"study label"},{"tag":"(0028,0301)","action":"remove"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	base, err := deid.NewConfig(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	withProfile, err := deid.NewConfig(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	withOption, err := deid.NewConfig(nil, deid.Options(0).With(deid.RetainUIDs))
	if err != nil {
		t.Fatal(err)
	}
	if base.Hash() == withProfile.Hash() || base.Hash() == withOption.Hash() {
		t.Error("hash does not change with the configuration")
	}
	again, _ := deid.NewConfig(nil, 0)
	if again.Hash() != base.Hash() {
		t.Error("hash is not stable")
	}
	find := func(c *deid.Config, tag string) deid.EffectiveRow {
		for _, r := range c.Effective() {
			if r.Tag == tag {
				return r
			}
		}
		t.Fatalf("tag %s not in effective table", tag)
		return deid.EffectiveRow{}
	}
	if got := find(base, "(0008,1030)").Action; got != deid.Remove {
		t.Errorf("study description: %s, want remove", got)
	}
	if got := find(withProfile, "(0008,1030)").Action; got != deid.Keep {
		t.Errorf("study description with override: %s, want keep", got)
	}
	if got := find(withProfile, "(0028,0301)").Action; got != deid.Remove {
		t.Errorf("override outside the table: %s, want remove", got)
	}
	if got := find(withOption, "(0020,000D)").Action; got != deid.Keep {
		t.Errorf("study UID under retain-uids: %s, want keep", got)
	}
	if got := find(base, "(0020,000D)").Action; got != deid.UID {
		t.Errorf("study UID: %s, want uid", got)
	}
	var buf bytes.Buffer
	if err := base.WriteEffective(&buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n < len(deid.Table()) {
		t.Errorf("effective table has %d lines, want at least %d", n, len(deid.Table()))
	}
}
