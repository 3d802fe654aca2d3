package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/storetest"
)

// TestDeploymentCommands drives a real "ethos serve" with the deployment
// commands: registration behind the evaluation gate (a passed, signed-off
// evaluation of the model version), events with a bad
// record, the risk register, acknowledgements and go-live.
func TestDeploymentCommands(t *testing.T) {
	bin := ethosBinary(t)
	dir, admin := initData(t)
	_, base := startServer(t, bin, dir)
	tmp := t.TempDir()
	as := func(token string, wantCode int, args ...string) string {
		t.Helper()
		out, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": token}, args...)
		if code != wantCode {
			t.Fatalf("ethos %s: exit %d, want %d: %s%s", strings.Join(args, " "), code, wantCode, out, stderr)
		}
		return out + stderr
	}
	out, _, _ := runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": admin}, "party", "list", "--json")
	var parties struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &parties); err != nil || len(parties.Items) == 0 {
		t.Fatalf("party list: %v %q", err, out)
	}
	partyID := parties.Items[0].ID
	mkUser := func(name, roles string) (id, token string) {
		var u struct {
			ID string `json:"id"`
		}
		json.Unmarshal([]byte(as(admin, 0, "user", "create", "--party", partyID, "--name", name, "--roles", roles, "--json")), &u)
		var tk struct {
			Secret string `json:"secret"`
		}
		json.Unmarshal([]byte(as(admin, 0, "token", "create", "--user", u.ID, "--json")), &tk)
		return u.ID, tk.Secret
	}
	_, eng := mkUser("engineer", "ml-engineer")
	_, ethics := mkUser("reviewer", "ethics-reviewer")
	clinID, clin := mkUser("radiologist", "clinician")
	var prj struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(as(admin, 0, "project", "create", "--name", "Chest", "--intended-use", "triage", "--modality", "DX", "--setting", "ED", "--json")), &prj)
	_, advocate := mkUser("advocate", "patient-advocate")
	passEvaluation(t, base, dir, prj.ID, "mv-7", eng, ethics, advocate)
	plan := filepath.Join(tmp, "plan.json")
	os.WriteFile(plan, []byte(`{"stakeholder_roles":["clinician","ethics-reviewer"]}`), 0o600)
	reg := func(mv string, code int) string {
		return as(eng, code, "deployment", "register", "--project", prj.ID, "--model-version", mv, "--site", "Main ED", "--intended-use", "flag pneumothorax",
			"--threshold", "0.5", "--responsible", clinID, "--plan", plan, "--json")
	}
	if msg := reg("mv-8", 1); !strings.Contains(msg, "model version mv-8 cannot be deployed: model version mv-8 has no registered evaluation plan") {
		t.Errorf("refusal without evaluation: %q", msg)
	}
	var dep struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(reg("mv-7", 0)), &dep)

	events := filepath.Join(tmp, "events.jsonl")
	now := time.Now().Add(-time.Minute)
	lines := string(storetest.Event("e1", "k1", now, 0.8)) + "\n" + string(storetest.Event("e2", "k2", now, 0.2)) + "\n" +
		`{"event_id":"e3","time":"2026-01-01T00:00:00Z","case_id":"k3","score":0.5,"patient_id":"4711"}` + "\n"
	os.WriteFile(events, []byte(lines), 0o600)
	if msg := as(eng, 1, "events", "post", "--deployment", dep.ID, events); !strings.Contains(msg, "3 received, 2 stored, 0 duplicates, 1 rejected") || !strings.Contains(msg, "record 2: patient_id: unknown field") {
		t.Errorf("events post: %q", msg)
	}
	if msg := as(eng, 0, "events", "post", "--deployment", dep.ID, "--batch", "1", writeFile(t, tmp, "again.jsonl", string(storetest.Event("e1", "k1", now, 0.8)))); !strings.Contains(msg, "0 stored, 1 duplicates") {
		t.Errorf("replay: %q", msg)
	}

	regFile := filepath.Join(tmp, "register.json")
	b, _ := json.Marshal(storetest.CompleteRegister())
	os.WriteFile(regFile, b, 0o600)
	as(eng, 0, "risk", "put", "--deployment", dep.ID, "--register", regFile)
	if msg := as(eng, 1, "risk", "check", "--deployment", dep.ID); !strings.Contains(msg, "no clinician has acknowledged revision 1") {
		t.Errorf("risk check before acknowledgements: %q", msg)
	}
	as(clin, 0, "deployment", "ack", dep.ID, "--role", "clinician", "--risk-revision", "1")
	as(ethics, 0, "deployment", "ack", dep.ID, "--role", "ethics-reviewer", "--risk-revision", "1")
	as(eng, 1, "deployment", "golive", dep.ID, "--reason", "approved", "--expected-effect", "AI triage in use", "--notified", "clinician") // not an approver
	as(ethics, 0, "deployment", "golive", dep.ID, "--reason", "risk file complete", "--expected-effect", "AI triage in use", "--notified", "clinician")
	as(clin, 0, "deployment", "ack", dep.ID, "--role", "clinician", "--change", "2")
	show := as(clin, 0, "deployment", "show", dep.ID)
	if !strings.Contains(show, "LIVE") || !strings.Contains(show, "2  ") || !strings.Contains(show, "go-live") {
		t.Errorf("show after go-live:\n%s", show)
	}
	as(eng, 0, "deployment", "suspend", dep.ID, "--reason", "drift alert", "--expected-effect", "no AI triage", "--notified", "clinician")
	if msg := as(eng, 1, "events", "post", "--deployment", dep.ID, writeFile(t, tmp, "late.jsonl", string(storetest.Event("e9", "k9", now, 0.8)))); !strings.Contains(msg, "suspended") {
		t.Errorf("events for a suspended deployment: %q", msg)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeploymentPlanValidator(t *testing.T) {
	full, err := os.ReadFile("../../deployment/monitor/testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(full, &m); err != nil {
		t.Fatal(err)
	}
	m["stakeholder_roles"] = []string{"clinician", "ethics-reviewer"}
	withRoles, _ := json.Marshal(m)
	for name, tt := range map[string]struct {
		plan string
		ok   bool
	}{
		"OnlyStakeholders":    {`{"stakeholder_roles":["clinician"]}`, true},
		"MonitorPlanAndRoles": {string(withRoles), true},
		"UnknownMonitorField": {`{"stakeholder_roles":["clinician"],"windows":"weekly"}`, false},
		"IncompleteMonitor":   {`{"window":{"every":"weekly"}}`, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := deploymentPlanValidator([]byte(tt.plan))
			if (err == nil) != tt.ok {
				t.Errorf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
