package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// newEvalFixture is newFixture with the evaluation stage wired in, as
// cmd/ethos serve wires it.
func newEvalFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		var logs bytes.Buffer
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		t.Cleanup(func() {
			// Uploads extend their deadlines through the status recorder.
			if strings.Contains(logs.String(), "cannot extend") {
				t.Errorf("server warnings:\n%s", logs.String())
			}
		})
		ev := evaluation.New(sqlstore.NewEvaluationStore(f.db.Store()), f.auditor)
		ev.Now, ev.Projects, ev.Workers = f.clock.Now, f.projects, 1
		s.Evaluations, s.MaxPredictionsBytes = ev, 1<<20
	})
}

// raw sends a request with a raw body and returns the status, the content
// type and the body.
func (f *fixture) raw(method, path, token, contentType string, body []byte) (int, string, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestEvaluationAPI runs the whole stage over HTTP on the real flchain
// predictions: pre-registration, uploads, reports, sign-off, the approved
// evaluation, with the policy deciding and the audit log recording.
func TestEvaluationAPI(t *testing.T) {
	f := newEvalFixture(t)
	steward := f.user(f.owner, ethos.RoleDataSteward)
	engineer := f.user(f.owner, ethos.RoleMLEngineer)
	irb := f.user(f.owner, ethos.RoleEthicsReviewer)
	advocate := f.user(f.owner, ethos.RolePatientAdvocate)
	auditor := f.user(f.owner, ethos.RoleAuditor)
	vendor := f.party("Acme Imaging AI", ethos.PartyPrivate)
	vendorEngineer := f.user(vendor, ethos.RoleResearcher)

	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", steward, map[string]any{"name": "Mortality risk", "intended_use": "flag raised risk of death",
		"modality": "OT", "clinical_setting": "outpatient clinic"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	csv := evaltest.FLChainCSV(t)

	t.Run("ErrUploadBeforePlan", func(t *testing.T) {
		code, _, body := f.raw("POST", "/api/v1/evaluation/plans/evp-none/predictions", engineer, "text/csv", csv)
		if code != 404 {
			t.Fatalf("status %d: %s", code, body)
		}
	})

	planIn := evaltest.FLChainPlan(prj.ID)
	body := map[string]any{"project_id": prj.ID, "model_version_id": planIn.ModelVersionID, "dataset_version_id": planIn.DatasetVersionID,
		"title": planIn.Title, "intended_use": planIn.IntendedUse, "label_column": "death", "score_column": "score", "patient_column": "person",
		"attributes": planIn.Attributes, "intersect": true, "group_labels": planIn.GroupLabels, "threshold": 0.5, "prevalence": 0.1,
		"bootstrap": 200, "seed": 2012, "criteria": json.RawMessage(evaltest.FLChainCriteria)}
	t.Run("ErrAdvocateCannotRegister", func(t *testing.T) {
		if code, m := f.do("POST", "/api/v1/evaluation/plans", advocate, body, nil); code != 403 {
			t.Fatalf("status %d %v, want 403", code, m)
		}
		ev := f.lastEvents(1)[0]
		if ev.Action != "access.write" || ev.Decision != "deny" || ev.Stage != "evaluation" {
			t.Errorf("deny not audited: %+v", ev)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		bad := map[string]any{"project_id": prj.ID, "criterion": "x"}
		if code, m := f.do("POST", "/api/v1/evaluation/plans", engineer, bad, nil); code != 400 {
			t.Fatalf("status %d %v", code, m)
		}
	})
	var plan ethos.EvaluationPlan
	if code, m := f.do("POST", "/api/v1/evaluation/plans", engineer, body, &plan); code != 201 {
		t.Fatalf("register plan: %d %v", code, m)
	}
	t.Run("plan_preregistered_in_audit_log", func(t *testing.T) {
		var ev struct {
			Event struct{ Action, Reason, Time string }
		}
		if code, m := f.do("GET", fmt.Sprintf("/api/v1/audit/events/%d", plan.AuditIndex), auditor, nil, &ev); code != 200 {
			t.Fatalf("%d %v", code, m)
		}
		if ev.Event.Action != "evaluation.plan.register" || !strings.Contains(ev.Event.Reason, plan.Digest) {
			t.Errorf("audit event %d: %+v", plan.AuditIndex, ev.Event)
		}
	})
	t.Run("open_to_other_party_types", func(t *testing.T) {
		var got ethos.EvaluationPlan
		if code, m := f.do("GET", "/api/v1/evaluation/plans/"+plan.ID, vendorEngineer, nil, &got); code != 200 || got.Digest != plan.Digest {
			t.Fatalf("private party researcher: %d %v", code, m)
		}
		ev := f.lastEvents(1)[0]
		if ev.Action != "access.read" || ev.Decision != "allow" || ev.Resource != "evaluation-plan/"+plan.ID {
			t.Errorf("read not audited: %+v", ev)
		}
	})
	t.Run("ErrAdminSeesNoStageData", func(t *testing.T) {
		if code, _ := f.do("GET", "/api/v1/evaluation/plans/"+plan.ID, f.admin, nil, nil); code != 403 {
			t.Errorf("admin read: %d, want 403", code)
		}
	})
	t.Run("ErrBadPredictions", func(t *testing.T) {
		code, _, b := f.raw("POST", "/api/v1/evaluation/plans/"+plan.ID+"/predictions", engineer, "text/csv", []byte("person,sex,age_band,death,score\np1,F,50-59,yes,0.3\n"))
		if code != 400 || !strings.Contains(string(b), "row 1") {
			t.Fatalf("status %d: %s", code, b)
		}
		code, _, b = f.raw("POST", "/api/v1/evaluation/plans/"+plan.ID+"/predictions", engineer, "application/json", csv)
		if code != 400 {
			t.Fatalf("JSON content type: status %d: %s", code, b)
		}
		big := bytes.Repeat(csv, 6) // over the test server's 1 MiB
		code, _, b = f.raw("POST", "/api/v1/evaluation/plans/"+plan.ID+"/predictions", engineer, "text/csv", big)
		if code != 413 {
			t.Fatalf("over the size limit: status %d: %s", code, b)
		}
	})

	upload := func() ethos.EvaluationRun {
		t.Helper()
		code, _, b := f.raw("POST", "/api/v1/evaluation/plans/"+plan.ID+"/predictions", engineer, "text/csv", csv)
		if code != 201 {
			t.Fatalf("upload: %d %s", code, b)
		}
		var run ethos.EvaluationRun
		if err := json.Unmarshal(b, &run); err != nil {
			t.Fatal(err)
		}
		return run
	}
	first := upload()
	run := upload()
	if first.Attempt != 1 || run.Attempt != 2 || run.Rows != evaltest.FLChainRows || run.Result != nil {
		t.Fatalf("attempts %d, %d; rows %d", first.Attempt, run.Attempt, run.Rows)
	}
	var runs struct {
		Items []ethos.EvaluationRun
		Total int
	}
	if code, _ := f.do("GET", "/api/v1/evaluation/plans/"+plan.ID+"/runs", advocate, nil, &runs); code != 200 || runs.Total != 2 || runs.Items[0].ID != run.ID {
		t.Fatalf("runs: %d %+v", code, runs)
	}
	var full ethos.EvaluationRun
	if code, _ := f.do("GET", "/api/v1/evaluation/runs/"+run.ID, auditor, nil, &full); code != 200 {
		t.Fatal(code)
	}
	var rep evalstat.Report
	if err := json.Unmarshal(full.Result, &rep); err != nil || rep.Overall.N != evaltest.FLChainRows || len(rep.Criteria) != 5 {
		t.Fatalf("result: %v", err)
	}

	t.Run("reports", func(t *testing.T) {
		for _, tc := range []struct {
			path, ct string
			want     []string
		}{
			{"/report", "text/html", []string{"Pre-registration (QC-EVA-2)", plan.Digest, "In plain words", "Of 100 patients who have the condition, the model flags about",
				"For women:", "ROC curve by sex", "Calibration by age_band", "Decision curve by sex", "Sensitivity by sex|age_band", "ROC curve by sex|age_band, sex=F", "Calibration by sex|age_band, sex=M", "Groups too small to judge", "Limitations", "Every attempt of this plan"}},
			{"/report?format=plain", "text/html", []string{"in plain words", "For people aged 80 and over:", "wrongly flags", "Where 10 in 100 patients have the condition"}},
			{"/report?format=json", "application/json", []string{`"schema_version":"ethos.eval/v1"`}},
			{"/model-card", "application/json", []string{`"model_details"`, `"quantitative_analysis"`, `"performance_metrics"`, `"considerations"`, `"ethical_considerations"`, `"flchain-1995-2012"`}},
			{"/model-card?format=md", "text/markdown", []string{"# Model card:", "## Quantitative analysis", "| sex=F | sensitivity |"}},
			{"/model-card?format=html", "text/html", []string{"Model card:", "data:image/svg"}},
		} {
			code, ct, b := f.raw("GET", "/api/v1/evaluation/runs/"+run.ID+tc.path, advocate, "", nil)
			if code != 200 || !strings.HasPrefix(ct, tc.ct) {
				t.Errorf("%s: %d %s", tc.path, code, ct)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
		}
		req, _ := http.NewRequest("GET", f.url+"/api/v1/evaluation/runs/"+run.ID+"/report", nil)
		req.Header.Set("Authorization", "Bearer "+advocate)
		req.Header.Set("Accept", "application/json")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept: application/json gave %v %v", resp.Header.Get("Content-Type"), err)
		} else {
			resp.Body.Close()
		}
		if code, _, _ := f.raw("GET", "/api/v1/evaluation/runs/"+run.ID+"/report?format=pdf", advocate, "", nil); code != 400 {
			t.Errorf("unknown format: %d", code)
		}
		// The model card's numbers are the report's.
		_, _, b := f.raw("GET", "/api/v1/evaluation/runs/"+run.ID+"/model-card", advocate, "", nil)
		var mc evaluation.ModelCard
		if err := json.Unmarshal(b, &mc); err != nil {
			t.Fatal(err)
		}
		for _, m := range mc.QuantitativeAnalysis.PerformanceMetrics {
			if m.Slice == "overall" && m.Type == "auroc" {
				if want := fmt.Sprintf("%.4f", rep.Overall.Metrics["auroc"].Estimate); m.Value != want {
					t.Errorf("model card AUROC %s, report %s", m.Value, want)
				}
			}
		}
	})

	signoff := func(token string, in map[string]any) (int, ethos.EvaluationStatus) {
		t.Helper()
		var st ethos.EvaluationStatus
		code, m := f.do("POST", "/api/v1/evaluation/runs/"+run.ID+"/signoffs", token, in, &st)
		if code >= 300 {
			t.Logf("sign-off: %d %v", code, m)
		}
		return code, st
	}
	t.Run("signoff", func(t *testing.T) {
		if code, _ := signoff(engineer, map[string]any{"kind": "ethics-review", "decision": "approved", "reason": "mine"}); code != 403 {
			t.Errorf("engineer approving: %d, want 403", code)
		}
		if code, _ := f.do("GET", "/api/v1/evaluation/approved?model_version_id="+plan.ModelVersionID, engineer, nil, nil); code != 404 {
			t.Errorf("approved before sign-off: %d", code)
		}
		code, st := signoff(irb, map[string]any{"kind": "ethics-review", "decision": "approved", "reason": "accepted for a supervised pilot", "reference": "IRB minute 12"})
		if code != 201 || st.Ethics != "approved" || st.Passed {
			t.Fatalf("ethics approval: %d %+v", code, st)
		}
		var failed []string
		for _, j := range rep.Criteria {
			if j.Outcome != evalstat.Pass {
				failed = append(failed, j.Criterion.ID)
			}
		}
		if len(failed) == 0 {
			t.Fatal("flchain plan: expected some criteria not to pass (sex gap, oldest band's specificity)")
		}
		waiver := withFakePatient("gap explained by age mix; monitored after deployment")
		code, st = signoff(irb, map[string]any{"kind": "waiver", "reason": waiver, "waives": failed})
		if code != 201 {
			t.Fatalf("waiver: %d", code)
		}
		// The waiver's reason is on the sign-off; the audit entry has
		// only AuditText of it.
		if i := slices.IndexFunc(st.Signoffs, func(so *ethos.EvaluationSignoff) bool { return so.Kind == ethos.SignoffWaiver }); i < 0 || st.Signoffs[i].Reason != waiver {
			t.Errorf("the waiver's reason is not kept on the sign-off: %+v", st.Signoffs)
		}
		if ev := lastOf(t, f.lastEvents(3), "evaluation.signoff.waiver"); !strings.Contains(ev.Reason, "reason on the sign-off: "+ethos.AuditText(waiver)) {
			t.Errorf("waiver audited as %q", ev.Reason)
		}
		f.auditClean()
		if code, _ := signoff(advocate, map[string]any{"kind": "acknowledgement", "reason": "read the plain-language page"}); code != 201 {
			t.Fatalf("acknowledgement: %d", code)
		}
		var st2 ethos.EvaluationStatus
		if code, _ := f.do("GET", "/api/v1/evaluation/runs/"+run.ID+"/status", vendorEngineer, nil, &st2); code != 200 || !st2.Passed {
			t.Fatalf("status: %d %+v", code, st2)
		}
		var ok struct {
			EvaluationID string `json:"evaluation_id"`
		}
		if code, m := f.do("GET", "/api/v1/evaluation/approved?model_version_id="+plan.ModelVersionID, engineer, nil, &ok); code != 200 || ok.EvaluationID != run.ID {
			t.Fatalf("approved: %d %v", code, m)
		}
		// The superseded first attempt cannot be signed off.
		code, m := f.do("POST", "/api/v1/evaluation/runs/"+first.ID+"/signoffs", irb, map[string]any{"kind": "ethics-review", "decision": "approved", "reason": "x"}, nil)
		if code != 409 {
			t.Errorf("superseded attempt: %d %v", code, m)
		}
		if rep := f.verify(); rep == nil {
			t.Error("audit log does not verify")
		}
	})
	t.Run("report_in_chromium", func(t *testing.T) {
		chromium := testenv.Tool(t, "chromium")
		dir := t.TempDir()
		out := os.Getenv("ETHOS_ARTIFACTS")
		if out == "" {
			out = dir
		}
		for _, pg := range []struct{ path, name string }{
			{"/report", "evaluation-report"},
			{"/report?format=plain", "evaluation-plain"},
			{"/model-card?format=html", "evaluation-model-card"},
		} {
			_, _, b := f.raw("GET", "/api/v1/evaluation/runs/"+run.ID+pg.path, advocate, "", nil)
			file := filepath.Join(dir, pg.name+".html")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(out, pg.name+".png")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
				"--disable-background-networking", "--disable-component-update", "--no-first-run", "--enable-logging=stderr", "--v=0",
				"--window-size=1280,7000", "--screenshot="+shot, "--user-data-dir="+filepath.Join(dir, "profile-"+pg.name), "file://"+file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			cancel()
			if err != nil {
				t.Fatalf("chromium %s: %v\n%s", pg.name, err, stderr.String())
			}
			if strings.Contains(stderr.String(), "Uncaught") || strings.Contains(stderr.String(), "CONSOLE") {
				t.Errorf("%s: console errors:\n%s", pg.name, stderr.String())
			}
			// 3 groupings × 5 forest plots, 3 curve charts for sex and for age
			// band, 6 for the intersection (two panels), 2 icon arrays: 29.
			if n := strings.Count(string(b), "<svg"); pg.name == "evaluation-report" && n < 29 {
				t.Errorf("report has %d charts", n)
			}
			fh, err := os.Open(shot)
			if err != nil {
				t.Fatalf("no screenshot: %v", err)
			}
			img, err := png.Decode(fh)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
			// Not blank: the page's charts and text leave many distinct colours.
			colours := map[uint32]bool{}
			bd := img.Bounds()
			for y := bd.Min.Y; y < bd.Max.Y; y += 3 {
				for x := bd.Min.X; x < bd.Max.X; x += 3 {
					r, g, b, _ := img.At(x, y).RGBA()
					colours[(r>>12)<<8|(g>>12)<<4|b>>12] = true
				}
			}
			if len(colours) < 20 {
				t.Errorf("%s screenshot has %d colours: blank?", pg.name, len(colours))
			}
			t.Logf("screenshot %s", shot)
		}
		// Print-ready: the report prints to A4 pages, one section after a
		// page break each.
		pdf := filepath.Join(out, "evaluation-report.pdf")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
			"--no-pdf-header-footer", "--print-to-pdf="+pdf, "--user-data-dir="+filepath.Join(dir, "profile-pdf"), "file://"+filepath.Join(dir, "evaluation-report.html"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("print to PDF: %v\n%s", err, b)
		}
		b, err := os.ReadFile(pdf)
		if err != nil {
			t.Fatal(err)
		}
		if pages := bytes.Count(b, []byte("/Type /Page\n")) + bytes.Count(b, []byte("/Type /Page ")) + bytes.Count(b, []byte("/Type /Page>")) + bytes.Count(b, []byte("/Type /Page/")); pages < 5 {
			t.Errorf("report printed to %d pages, want at least 5 (one per section)", pages)
		} else {
			t.Logf("report printed to %d A4 pages: %s", pages, pdf)
		}
		if !regexp.MustCompile(`/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]`).Match(b) {
			t.Error("report did not print on A4 (the @page rule)")
		}
	})
}
