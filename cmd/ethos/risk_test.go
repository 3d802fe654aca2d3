package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

// riskRegisterFile writes a register covering the whole catalogue, with
// the given acknowledgements, and returns its path.
func riskRegisterFile(t *testing.T, acks []ethos.Role) string {
	t.Helper()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	reg := ethos.RiskRegister{ProjectID: "prj_1", Revision: 2, RevisedAt: at.Add(-time.Hour),
		StakeholderRoles: []ethos.Role{ethos.RoleClinician, ethos.RoleEthicsReviewer}}
	for _, h := range deployment.Catalogue() {
		reg.Risks = append(reg.Risks, ethos.Risk{ID: "R-" + h.ID, Hazard: h,
			Initial:  ethos.RiskScore{Severity: 4, Probability: 3},
			Controls: []ethos.RiskControl{{Description: "second reader", Kind: ethos.ControlProtective, Verification: "audit of 200 reads"}},
			Residual: &ethos.RiskScore{Severity: 4, Probability: 1}, ALARPRationale: "further reduction removes the benefit"})
	}
	for _, r := range acks {
		reg.Acknowledgements = append(reg.Acknowledgements, ethos.RiskAcknowledgement{UserID: "usr_" + string(r), Role: r, Revision: 2, At: at})
	}
	data, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "register.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRiskCLI(t *testing.T) {
	complete := riskRegisterFile(t, []ethos.Role{ethos.RoleClinician, ethos.RoleEthicsReviewer})
	unacked := riskRegisterFile(t, []ethos.Role{ethos.RoleClinician})
	inc := filepath.Join("testdata", "risk", "incident.json")
	atts := filepath.Join("testdata", "risk", "attestations.json")
	badMatrix := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(badMatrix, []byte(`{"severity":["a","b","c","d","e"],"probability":["1","2","3","4","5"],"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUQU"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{"MatrixDefault", []string{"risk", "matrix"}, 0, []string{"5 catastrophic", "1 negligible  "}, ""},
		{"ErrMatrixConfig", []string{"risk", "matrix", "--matrix", badMatrix}, 1, nil, "grid row 5 column 4"},
		{"Catalogue", []string{"risk", "catalogue"}, 0, []string{"HAZ-DRIFT", "HAZ-WRONG-PATIENT"}, ""},
		{"CheckComplete", []string{"risk", "check", "--register", complete}, 0, nil, "is complete: 11 risks"},
		{"ErrCheckMissingAck", []string{"risk", "check", "--register", unacked}, 1, []string{"acknowledgements: no ethics-reviewer has acknowledged revision 2"}, "not complete: 1 gaps"},
		{"ErrCheckNotARegister", []string{"risk", "check", "--register", inc}, 1, nil, `unknown field "id"`},
		{"Deadlines", []string{"risk", "deadlines", "--incident", inc, "--now", "2026-11-10T00:00:00Z"}, 0, []string{
			"2026-10-26 09:00:00 CET            MET",
			"2026-11-07 23:59:59.999999999 CET  OVERDUE",
			"HIPAA 45 CFR 164.406     media NY",
			"2026-12-22 23:59:59.999999999 EST  PENDING",
		}, ""},
		{"Compliance", []string{"risk", "compliance", "--register", complete, "--incident", inc, "--attestations", atts, "--now", "2026-11-10T00:00:00Z"}, 0, []string{
			"AIA-9 ", "PASS", "AIA-73", "FAIL", "overdue", "GDPR-33", "AIA-27", "WAIVED", "4 pass, 1 waived, 1 fail, 18 need attestation",
		}, ""},
		{"ErrNoAction", []string{"risk"}, 2, nil, "needs an action"},
		{"ErrUnknownAction", []string{"risk", "fly"}, 2, nil, "unknown action"},
		{"ErrBadNow", []string{"risk", "deadlines", "--incident", inc, "--now", "yesterday"}, 2, nil, "--now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}
