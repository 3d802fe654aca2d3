package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// evalAPI sends a JSON request as token and decodes the reply into out.
func evalAPI(t *testing.T, base, token, method, path string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEvaluationCommands drives the evaluation stage through the CLI
// against a running server, on the real flchain predictions.
func TestEvaluationCommands(t *testing.T) {
	dir, admin := initData(t)
	base := serveInProcess(t, dir)
	var who struct{ Party ethos.Party }
	evalAPI(t, base, admin, "GET", "/api/v1/whoami", nil, &who)
	tokenFor := func(roles ...ethos.Role) string {
		var u ethos.User
		evalAPI(t, base, admin, "POST", "/api/v1/users", map[string]any{"party_id": who.Party.ID, "name": string(roles[0]), "roles": roles}, &u)
		var tok struct{ Secret string }
		evalAPI(t, base, admin, "POST", "/api/v1/tokens", map[string]any{"user_id": u.ID, "name": "test"}, &tok)
		return tok.Secret
	}
	steward, engineer := tokenFor(ethos.RoleDataSteward), tokenFor(ethos.RoleMLEngineer)
	irb, advocate := tokenFor(ethos.RoleEthicsReviewer), tokenFor(ethos.RolePatientAdvocate)
	as := func(token string, args ...string) (string, string, int) {
		t.Helper()
		return runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": token}, args...)
	}

	out, stderr, code := as(steward, "project", "create", "--name", "Mortality risk", "--intended-use", "flag raised risk of death",
		"--modality", "OT", "--setting", "outpatient clinic", "--json")
	if code != 0 {
		t.Fatalf("project create: %d %s", code, stderr)
	}
	var prj ethos.Project
	json.Unmarshal([]byte(out), &prj)

	// The plan must name a model version the training register knows
	// (serve checks it); record one as the register would.
	registerModelVersion(t, dir, prj.ID, "flc-marker-v1")

	work := t.TempDir()
	crit := filepath.Join(work, "criteria.json")
	pred := filepath.Join(work, "flchain-predictions.csv")
	os.WriteFile(crit, []byte(evaltest.FLChainCriteria), 0o644)
	os.WriteFile(pred, evaltest.FLChainCSV(t), 0o644)
	planArgs := []string{"evaluation", "plan", "--project", prj.ID, "--model-version", "flc-marker-v1", "--dataset-version", "flchain-1995-2012",
		"--title", "Free light chain as a predictor of death", "--label", "death", "--score", "score", "--patient", "person",
		"--group", "sex", "--group", "age_band", "--intersect", "--prevalence", "0.1", "--criteria", crit, "--bootstrap", "200", "--seed", "2012",
		"--group-label", "sex=F=women", "--group-label", "sex=M=men"}

	t.Run("UsageThresholdRequired", func(t *testing.T) {
		if _, stderr, code := as(engineer, planArgs...); code != 2 || !strings.Contains(stderr, "--threshold") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("ErrAdvocateCannotRegister", func(t *testing.T) {
		if _, stderr, code := as(advocate, append(planArgs, "--threshold", "0.5")...); code == 0 || !strings.Contains(stderr, "may write at the evaluation stage") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("ErrUnknownModelVersion", func(t *testing.T) {
		args := append([]string(nil), planArgs...)
		args[5] = "no-such-model"
		if _, stderr, code := as(engineer, append(args, "--threshold", "0.5")...); code == 0 || !strings.Contains(stderr, "no-such-model not found") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	out, stderr, code = as(engineer, append(planArgs, "--threshold", "0.5", "--json")...)
	if code != 0 {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	var plan ethos.EvaluationPlan
	if err := json.Unmarshal([]byte(out), &plan); err != nil || plan.GroupLabels["sex=F"] != "women" || plan.Threshold != 0.5 {
		t.Fatalf("plan: %v %s", err, out)
	}

	// The flchain plan has criteria that fail (sex gap, oldest band):
	// upload exits 1 but records the attempt.
	out, stderr, code = as(engineer, "evaluation", "upload", "--plan", plan.ID, "--in", pred, "--json")
	if code != 1 || !strings.Contains(stderr, "acceptance criteria failed") {
		t.Fatalf("upload: exit %d %s", code, stderr)
	}
	var run ethos.EvaluationRun
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.Attempt != 1 || run.Rows != evaltest.FLChainRows {
		t.Fatalf("upload output: %v %s", err, out)
	}
	if out, _, code := as(advocate, "evaluation", "runs", "--plan", plan.ID); code != 0 || !strings.Contains(out, run.ID) {
		t.Errorf("runs: %d %s", code, out)
	}
	report := filepath.Join(work, "report.html")
	if _, stderr, code := as(advocate, "evaluation", "report", "--run", run.ID, "--out", report); code != 0 {
		t.Fatalf("report: %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(report); !bytes.Contains(b, []byte("For women:")) || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("report file lacks the plain-language labels or charts")
	}
	if out, _, code := as(advocate, "evaluation", "card", "--run", run.ID, "--format", "md"); code != 0 || !strings.Contains(out, "## Quantitative analysis") {
		t.Errorf("card: %d", code)
	}
	if _, stderr, code := as(engineer, "evaluation", "approved", "--model-version", "flc-marker-v1"); code != 1 || !strings.Contains(stderr, "no ethics review yet") {
		t.Errorf("approved before sign-off: exit %d %s", code, stderr)
	}

	out, stderr, code = as(irb, "evaluation", "signoff", "--run", run.ID, "--kind", "ethics-review", "--decision", "approved", "--reason", "accepted for a supervised pilot", "--json")
	if code != 0 {
		t.Fatalf("ethics: %d %s", code, stderr)
	}
	var st ethos.EvaluationStatus
	json.Unmarshal([]byte(out), &st)
	waive := []string{"evaluation", "signoff", "--run", run.ID, "--kind", "waiver", "--reason", "gap explained by age mix; monitored after deployment"}
	for _, b := range st.Blocking {
		if id, ok := strings.CutPrefix(b, "criterion "); ok {
			waive = append(waive, "--waive", strings.Fields(id)[0])
		}
	}
	if _, stderr, code := as(irb, waive...); code != 0 {
		t.Fatalf("waiver: %d %s", code, stderr)
	}
	if out, stderr, code := as(advocate, "evaluation", "signoff", "--run", run.ID, "--kind", "acknowledgement"); code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("acknowledgement: %d %s %s", code, out, stderr)
	}
	if out, _, code := as(engineer, "evaluation", "approved", "--model-version", "flc-marker-v1"); code != 0 || strings.TrimSpace(out) != run.ID {
		t.Errorf("approved: %d %q, want %s", code, out, run.ID)
	}
	if out, _, code := as(advocate, "evaluation", "status", "--run", run.ID); code != 0 || !strings.Contains(out, "acknowledged  true") {
		t.Errorf("status: %d %s", code, out)
	}
}

// registerModelVersion records a training run that produced model version
// id in project, straight in the data directory's database (the
// registration path itself is tested in training_test.go).
func registerModelVersion(t *testing.T, dir, project, id string) {
	t.Helper()
	db := sqlite.NewDB(dir)
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := &ethos.TrainingRun{ID: "run-" + id, ProjectID: project, DatasetVersion: "flchain-1995-2012", Split: "train",
		CodeVersion: "0123456789abcdef", ModelSHA256: strings.Repeat("ab", 32), ModelName: "free light chain marker",
		ModelVersion: id, Status: ethos.RunSignedOff, RegisteredBy: "usr_test"}
	if err := sqlstore.NewTrainingStore(db.Store()).CreateTrainingRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
}

// passEvaluation takes model version mv of project through the evaluation
// stage as a hospital would, so that a deployment may name it: the model
// version is recorded in the training register, then a plan is
// pre-registered, the flchain predictions are uploaded and judged, the
// ethics reviewer approves (waiving, with a reason, the criteria the
// flchain marker fails) and a patient advocate acknowledges the
// plain-language page. It returns the approved evaluation's run id.
func passEvaluation(t *testing.T, base, dir, project, mv, engineer, irb, advocate string) string {
	t.Helper()
	registerModelVersion(t, dir, project, mv)
	as := func(token string, args ...string) string {
		t.Helper()
		out, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": token}, args...)
		if code != 0 {
			t.Fatalf("ethos %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	work := t.TempDir()
	crit, pred := filepath.Join(work, "criteria.json"), filepath.Join(work, "predictions.csv")
	os.WriteFile(crit, []byte(evaltest.FLChainCriteria), 0o644)
	os.WriteFile(pred, evaltest.FLChainCSV(t), 0o644)
	var plan ethos.EvaluationPlan
	json.Unmarshal([]byte(as(engineer, "evaluation", "plan", "--project", project, "--model-version", mv, "--dataset-version", "flchain-1995-2012",
		"--title", "Free light chain as a predictor of death", "--label", "death", "--score", "score", "--patient", "person",
		"--group", "sex", "--group", "age_band", "--prevalence", "0.1", "--criteria", crit, "--bootstrap", "50", "--seed", "1",
		"--threshold", "0.5", "--json")), &plan)
	var run struct {
		ID string `json:"id"`
	}
	// The upload exits 1 when criteria fail (the flchain marker fails two);
	// the judged attempt is stored either way.
	out, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_SERVER": base, "ETHOS_TOKEN": engineer}, "evaluation", "upload", "--plan", plan.ID, "--in", pred, "--json")
	if code > 1 || json.Unmarshal([]byte(out), &run) != nil || run.ID == "" {
		t.Fatalf("upload: exit %d: %s %s", code, out, stderr)
	}
	var st ethos.EvaluationStatus
	json.Unmarshal([]byte(as(irb, "evaluation", "signoff", "--run", run.ID, "--kind", "ethics-review", "--decision", "approved",
		"--reason", "accepted for a supervised pilot", "--json")), &st)
	waive := []string{"evaluation", "signoff", "--run", run.ID, "--kind", "waiver", "--reason", "gaps explained; monitored after deployment"}
	for _, b := range st.Blocking {
		if id, ok := strings.CutPrefix(b, "criterion "); ok {
			waive = append(waive, "--waive", strings.Fields(id)[0])
		}
	}
	if len(waive) > 8 {
		as(irb, waive...)
	}
	as(advocate, "evaluation", "signoff", "--run", run.ID, "--kind", "acknowledgement")
	if got := strings.TrimSpace(as(engineer, "evaluation", "approved", "--model-version", mv)); got != run.ID {
		t.Fatalf("model version %s: approved evaluation %q, want %s", mv, got, run.ID)
	}
	return run.ID
}
