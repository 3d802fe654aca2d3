package deployment_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

func TestDefaultMatrixRegions(t *testing.T) {
	m := deployment.DefaultMatrix()
	tests := []struct {
		s    ethos.RiskScore
		want ethos.RiskRegion
	}{
		{ethos.RiskScore{Severity: 1, Probability: 1}, ethos.RiskAcceptable},
		{ethos.RiskScore{Severity: 1, Probability: 5}, ethos.RiskALARP},
		{ethos.RiskScore{Severity: 3, Probability: 3}, ethos.RiskALARP},
		{ethos.RiskScore{Severity: 5, Probability: 1}, ethos.RiskALARP},
		{ethos.RiskScore{Severity: 5, Probability: 2}, ethos.RiskUnacceptable},
		{ethos.RiskScore{Severity: 2, Probability: 5}, ethos.RiskUnacceptable},
	}
	for _, tt := range tests {
		got, err := deployment.Region(m, tt.s)
		if err != nil || got != tt.want {
			t.Errorf("Region(%+v) = %q, %v; want %q", tt.s, got, err, tt.want)
		}
	}
	for _, bad := range []ethos.RiskScore{{Severity: 0, Probability: 1}, {Severity: 1}, {Severity: 6, Probability: 1}, {Severity: 1, Probability: 6}} {
		if _, err := deployment.Region(m, bad); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("Region(%+v): err %v, want invalid", bad, err)
		}
	}
}

func TestParseMatrix(t *testing.T) {
	labels := `"severity":["a","b","c","d","e"],"probability":["1","2","3","4","5"]`
	tests := []struct {
		name, in, wantErr string
	}{
		{"Valid", `{` + labels + `,"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUUU"]}`, ""},
		{"ErrBadLetter", `{` + labels + `,"grid":["AAAAA","AAXAL","AALLU","ALLUU","LUUUU"]}`, "grid row 2 column 3"},
		{"ErrShortRow", `{` + labels + `,"grid":["AAAAA","AAAL","AALLU","ALLUU","LUUUU"]}`, "grid row 2"},
		{"ErrRowCount", `{` + labels + `,"grid":["AAAAA","AALLU","ALLUU","LUUUU"]}`, "want 5 rows"},
		{"ErrNotMonotoneSeverity", `{` + labels + `,"grid":["AAAAL","AAAAA","AALLU","ALLUU","LUUUU"]}`, "severity 2 probability 5"},
		{"ErrNotMonotoneProbability", `{` + labels + `,"grid":["AAAAA","AAALA","AALLU","ALLUU","LUUUU"]}`, "severity 2 probability 5"},
		{"ErrNoUnacceptable", `{` + labels + `,"grid":["AAAAA","AAAAL","AALLL","ALLLL","LLLLL"]}`, "at least one acceptable and one unacceptable"},
		{"ErrLabels", `{"severity":["a","b"],"probability":["1","2","3","4","5"],"grid":[]}`, "severity: want 5 labels"},
		{"ErrRepeatedLabel", `{"severity":["a","a","c","d","e"],"probability":["1","2","3","4","5"],"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUUU"]}`, `"a" repeated`},
		{"ErrUnknownField", `{` + labels + `,"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUUU"],"x":1}`, "unknown field"},
		{"ErrSyntax", `{"severity":[`, "risk matrix"},
		{"ErrTrailing", `{` + labels + `,"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUUU"]} {}`, "data after"},
		{"ErrTooLarge", `{"severity":["` + strings.Repeat("a", deployment.MaxMatrixConfig) + `"]}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := deployment.ParseMatrix(strings.NewReader(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r, _ := deployment.Region(m, ethos.RiskScore{Severity: 5, Probability: 5}); r != ethos.RiskUnacceptable {
					t.Errorf("5x5 = %s", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("err = %v, want invalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestFormatMatrixRoundTrip(t *testing.T) {
	var b strings.Builder
	if err := deployment.FormatMatrix(&b, deployment.DefaultMatrix()); err != nil {
		t.Fatal(err)
	}
	got, err := deployment.ParseMatrix(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got != deployment.DefaultMatrix() {
		t.Errorf("round trip changed the matrix:\n%s", b.String())
	}
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// completeRegister returns a register that passes Complete against the
// catalogue: every hazard assessed with verified controls.
func completeRegister() *ethos.RiskRegister {
	reg := &ethos.RiskRegister{
		ProjectID:        "prj_1",
		Revision:         3,
		RevisedAt:        t0.Add(-time.Hour),
		Matrix:           deployment.DefaultMatrix(),
		StakeholderRoles: []ethos.Role{ethos.RoleClinician, ethos.RoleMLEngineer, ethos.RoleEthicsReviewer},
	}
	for i, h := range deployment.Catalogue() {
		reg.Risks = append(reg.Risks, ethos.Risk{
			ID: "R" + string(rune('A'+i)), Hazard: h,
			Initial:  ethos.RiskScore{Severity: 3, Probability: 2},
			Controls: []ethos.RiskControl{{Description: "monitoring with alert", Kind: ethos.ControlProtective, Verification: "alert test run"}},
			Residual: &ethos.RiskScore{Severity: 3, Probability: 1},
		})
	}
	for _, r := range reg.StakeholderRoles {
		reg.Acknowledgements = append(reg.Acknowledgements, ethos.RiskAcknowledgement{UserID: "usr_" + string(r), Role: r, Revision: 3, At: t0})
	}
	return reg
}

func TestComplete(t *testing.T) {
	cat := deployment.Catalogue()
	tests := []struct {
		name string
		edit func(*ethos.RiskRegister)
		want []string // substrings, one per expected gap, in order
	}{
		{"Complete", func(*ethos.RiskRegister) {}, nil},
		{"ErrNoRisks", func(r *ethos.RiskRegister) { r.Risks = nil; r.NotApplicable = nil },
			append([]string{"the register has no risks"}, slices.Repeat([]string{"neither assessed nor declared"}, len(cat))...)},
		{"NotApplicableWithReason", func(r *ethos.RiskRegister) {
			r.Risks = r.Risks[1:]
			r.NotApplicable = map[string]string{cat[0].ID: "model runs offline on curated research data"}
		}, nil},
		{"ErrNotApplicableWithoutReason", func(r *ethos.RiskRegister) {
			r.Risks = r.Risks[1:]
			r.NotApplicable = map[string]string{cat[0].ID: " "}
		}, []string{"hazards: catalogue hazard " + cat[0].ID}},
		{"ErrNoControls", func(r *ethos.RiskRegister) { r.Risks[0].Controls = nil }, []string{"risk RA: controls: none"}},
		{"AcceptableInitialNeedsNoControl", func(r *ethos.RiskRegister) {
			r.Risks[0].Controls = nil
			r.Risks[0].Initial = ethos.RiskScore{Severity: 1, Probability: 1}
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 1, Probability: 1}
		}, nil},
		{"ErrControlUnverified", func(r *ethos.RiskRegister) { r.Risks[1].Controls[0].Verification = "" }, []string{"risk RB: controls[0].verification"}},
		{"ErrControlKind", func(r *ethos.RiskRegister) { r.Risks[1].Controls[0].Kind = "hope" }, []string{"controls[0].kind"}},
		{"ErrNoResidual", func(r *ethos.RiskRegister) { r.Risks[2].Residual = nil }, []string{"risk RC: residual: not re-scored"}},
		{"ErrResidualWorse", func(r *ethos.RiskRegister) { r.Risks[2].Residual = &ethos.RiskScore{Severity: 2, Probability: 3} }, []string{"scored worse", "alarp_rationale"}},
		{"ErrALARPWithoutRationale", func(r *ethos.RiskRegister) { r.Risks[0].Residual = &ethos.RiskScore{Severity: 3, Probability: 2} }, []string{"risk RA: alarp_rationale"}},
		{"ALARPWithRationale", func(r *ethos.RiskRegister) {
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 3, Probability: 2}
			r.Risks[0].ALARPRationale = "second reader already required; further reduction would remove the benefit"
		}, nil},
		{"ErrUnacceptableUnsigned", func(r *ethos.RiskRegister) {
			r.Risks[0].Initial = ethos.RiskScore{Severity: 5, Probability: 4}
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 5, Probability: 3}
		}, []string{"risk RA: acceptance: residual risk is unacceptable"}},
		{"UnacceptableSigned", func(r *ethos.RiskRegister) {
			r.Risks[0].Initial = ethos.RiskScore{Severity: 5, Probability: 4}
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 5, Probability: 3}
			r.Risks[0].Acceptance = &ethos.Signature{UserID: "usr_irb", Role: ethos.RoleEthicsReviewer, At: t0, Reason: "no alternative reader at night; benefit outweighs risk"}
		}, nil},
		{"ErrUnacceptableSignedByWrongRole", func(r *ethos.RiskRegister) {
			r.Risks[0].Initial = ethos.RiskScore{Severity: 5, Probability: 4}
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 5, Probability: 3}
			r.Risks[0].Acceptance = &ethos.Signature{UserID: "usr_ml", Role: ethos.RoleMLEngineer, At: t0, Reason: "fine"}
		}, []string{`signed as "ml-engineer"; only ethics-reviewer may accept`}},
		{"ErrUnacceptableSignatureIncomplete", func(r *ethos.RiskRegister) {
			r.Risks[0].Initial = ethos.RiskScore{Severity: 5, Probability: 4}
			r.Risks[0].Residual = &ethos.RiskScore{Severity: 5, Probability: 3}
			r.Risks[0].Acceptance = &ethos.Signature{UserID: "usr_irb", Role: ethos.RoleEthicsReviewer, Reason: "ok"}
		}, []string{"must name who signed, when and why"}},
		{"ErrAckOldRevision", func(r *ethos.RiskRegister) { r.Acknowledgements[0].Revision = 2 }, []string{"no clinician has acknowledged revision 3"}},
		{"ErrAckBeforeRevision", func(r *ethos.RiskRegister) { r.Acknowledgements[1].At = r.RevisedAt.Add(-time.Nanosecond) }, []string{"no ml-engineer has acknowledged revision 3"}},
		{"AckAtRevisionTime", func(r *ethos.RiskRegister) { r.Acknowledgements[1].At = r.RevisedAt }, nil},
		{"ErrNoRevisionTime", func(r *ethos.RiskRegister) { r.RevisedAt = time.Time{} }, []string{"revised_at"}},
		{"ErrAckMissing", func(r *ethos.RiskRegister) { r.Acknowledgements = r.Acknowledgements[:2] }, []string{"no ethics-reviewer has acknowledged"}},
		{"ErrNoStakeholders", func(r *ethos.RiskRegister) { r.StakeholderRoles = nil }, []string{"names no stakeholder roles"}},
		{"ErrBadInitial", func(r *ethos.RiskRegister) { r.Risks[0].Initial = ethos.RiskScore{Severity: 0, Probability: 9} }, []string{"risk RA: initial"}},
		{"ErrDuplicateID", func(r *ethos.RiskRegister) { r.Risks[1].ID = "RA" }, []string{"risk RA: id: repeated"}},
		{"ErrMatrix", func(r *ethos.RiskRegister) { r.Matrix.Regions[0][0] = "maybe" }, []string{"matrix: risk matrix: severity 1 probability 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := completeRegister()
			tt.edit(reg)
			gaps := deployment.Complete(reg, cat)
			if len(gaps) != len(tt.want) {
				t.Fatalf("got %d gaps %v, want %d %q", len(gaps), gaps, len(tt.want), tt.want)
			}
			for i, g := range gaps {
				if !strings.Contains(g.String(), tt.want[i]) {
					t.Errorf("gap %d = %q, want it to contain %q", i, g, tt.want[i])
				}
			}
			err := deployment.CheckComplete(reg, cat)
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("CheckComplete = %v", err)
			}
			if err != nil {
				if _, ok := errors.AsType[*deployment.IncompleteError](err); !ok || ethos.ErrorCode(err) != ethos.EINVALID {
					t.Errorf("CheckComplete error %T code %q", err, ethos.ErrorCode(err))
				}
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	cat := deployment.Catalogue()
	ids := map[string]bool{}
	for _, h := range cat {
		if h.ID == "" || h.Title == "" || h.Description == "" || h.Harm == "" || ids[h.ID] {
			t.Errorf("hazard %+v: empty field or repeated id", h)
		}
		ids[h.ID] = true
	}
	for _, want := range []string{"HAZ-DRIFT", "HAZ-UNDERREP", "HAZ-AUTOMATION-BIAS", "HAZ-CORRUPT-INPUT", "HAZ-WRONG-PATIENT", "HAZ-OUTAGE"} {
		if !ids[want] {
			t.Errorf("catalogue lacks %s", want)
		}
	}
}
