package evaluation_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

type fixture struct {
	svc     *evaluation.Service
	log     *audit.Log
	auditDB audit.Storage
	project *ethos.Project
	owner   ethos.EvaluationActor // ml engineer who registers and uploads
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "data"))
	db.Now = clk.Now
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(audittest.TestKey(t).Signer)
	if err != nil {
		t.Fatal(err)
	}
	auditDB := sqlite.NewAuditStorage(db)
	log := audit.NewLog(auditDB, signer)
	if err := log.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(); db.Close() })
	store := db.Store()
	party := &ethos.Party{Name: "St. Elsewhere", Type: ethos.PartyPublic}
	if err := sqlstore.NewPartyService(store).CreateParty(ctx, party); err != nil {
		t.Fatal(err)
	}
	u := &ethos.User{PartyID: party.ID, Name: "engineer", Roles: []ethos.Role{ethos.RoleMLEngineer}}
	if err := sqlstore.NewUserService(store).CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	prj := &ethos.Project{Name: "Mortality risk", IntendedUse: "flag raised risk of death", Modality: "OT", ClinicalSetting: "outpatient clinic", PartyID: party.ID}
	projects := sqlstore.NewProjectService(store)
	if err := projects.CreateProject(ctx, prj, u.ID); err != nil {
		t.Fatal(err)
	}
	svc := evaluation.New(sqlstore.NewEvaluationStore(store), evaltest.Auditor{Log: log})
	svc.Now, svc.Projects, svc.Lineage = clk.Now, projects, sqlstore.NewLineageService(store)
	return &fixture{svc: svc, log: log, auditDB: auditDB, project: prj,
		owner: ethos.EvaluationActor{UserID: u.ID, PartyID: party.ID, Roles: u.Roles, RequestID: "req-test"}}
}

// event reads the audit event at idx.
func (f *fixture) event(t testing.TB, idx int64) (audit.Event, error) {
	t.Helper()
	leaves, err := f.auditDB.Leaves(context.Background(), idx, idx+1)
	if err != nil {
		return audit.Event{}, err
	}
	return audit.DecodeEvent(leaves[0])
}

func (f *fixture) plan(t testing.TB) *ethos.EvaluationPlan {
	t.Helper()
	p := evaltest.FLChainPlan(f.project.ID)
	if err := f.svc.RegisterPlan(context.Background(), f.owner, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegisterPlan(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	edit := func(fn func(p *ethos.EvaluationPlan)) *ethos.EvaluationPlan {
		p := evaltest.FLChainPlan(f.project.ID)
		fn(p)
		return p
	}
	tests := []struct {
		name    string
		plan    *ethos.EvaluationPlan
		code    string
		wantErr string
	}{
		{"OK", edit(func(p *ethos.EvaluationPlan) {}), "", ""},
		{"ErrNoClinicalCriterion", edit(func(p *ethos.EvaluationPlan) {
			p.Criteria = json.RawMessage(`[{"metric":"auroc","scope":"overall","comparator":">=","value":0.7},{"metric":"auroc","scope":"gap","attribute":"sex","comparator":"<=","value":0.1}]`)
		}), ethos.EINVALID, "clinically meaningful"},
		{"ErrNoSubgroupCriterion", edit(func(p *ethos.EvaluationPlan) {
			p.Criteria = json.RawMessage(`[{"metric":"sensitivity","scope":"overall","comparator":">=","value":0.7}]`)
		}), ethos.EINVALID, "subgroups"},
		{"ErrAttributeNotInPlan", edit(func(p *ethos.EvaluationPlan) {
			p.Criteria = json.RawMessage(`[{"metric":"sensitivity","scope":"gap","attribute":"race","comparator":"<=","value":0.05}]`)
		}), ethos.EINVALID, `attribute: not one of the plan's groupings`},
		{"ErrPrevalenceNeeded", edit(func(p *ethos.EvaluationPlan) { p.Prevalence = 0 }), ethos.EINVALID, "target prevalence"},
		{"ErrDuplicateCriterionID", edit(func(p *ethos.EvaluationPlan) {
			p.Criteria = json.RawMessage(`[{"id":"A","metric":"sensitivity","scope":"overall","comparator":">=","value":0.7},{"id":"A","metric":"sensitivity","scope":"gap","attribute":"sex","comparator":"<=","value":0.1}]`)
		}), ethos.EINVALID, "used twice"},
		{"ErrUnknownMetric", edit(func(p *ethos.EvaluationPlan) {
			p.Criteria = json.RawMessage(`[{"metric":"accuracy_plus","scope":"overall","comparator":">=","value":0.7}]`)
		}), ethos.EINVALID, "unknown metric"},
		{"ErrThreshold", edit(func(p *ethos.EvaluationPlan) { p.Threshold = 1.5 }), ethos.EINVALID, "threshold"},
		{"ErrNoAttributes", edit(func(p *ethos.EvaluationPlan) { p.Attributes = nil }), ethos.EINVALID, "attributes"},
		{"ErrProjectNotFound", edit(func(p *ethos.EvaluationPlan) { p.ProjectID = "prj-none" }), ethos.ENOTFOUND, "project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.log.Size()
			err := f.svc.RegisterPlan(ctx, f.owner, tc.plan)
			if got := ethos.ErrorCode(err); got != tc.code {
				t.Fatalf("error %v: code %q, want %q", err, got, tc.code)
			}
			if tc.code != "" {
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want it to mention %q", err, tc.wantErr)
				}
				// A refused plan writes nothing, not even an audit event.
				if f.log.Size() != before {
					t.Errorf("audit log grew from %d to %d on a refused plan", before, f.log.Size())
				}
				return
			}
			p := tc.plan
			if p.AuditIndex != before || !strings.HasPrefix(p.Digest, "sha256:") || p.RegisteredBy != f.owner.UserID {
				t.Errorf("plan audit index %d (log size before %d), digest %q, by %q", p.AuditIndex, before, p.Digest, p.RegisteredBy)
			}
			ev, err := f.event(t, p.AuditIndex)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Action != "evaluation.plan.register" || !strings.Contains(ev.Reason, p.Digest) || !ev.Time.Equal(p.RegisteredAt) {
				t.Errorf("audit event %+v does not pre-register the plan (digest %s at %v)", ev, p.Digest, p.RegisteredAt)
			}
			var cs []evalstat.Criterion
			if err := json.Unmarshal(p.Criteria, &cs); err != nil || len(cs) != 5 || cs[4].ID != "C5" {
				t.Errorf("stored criteria %s (%v)", p.Criteria, err)
			}
			got, err := f.svc.FindEvaluationPlanByID(ctx, p.ID)
			if err != nil || got.Digest != p.Digest {
				t.Errorf("stored plan: %+v, %v", got, err)
			}
		})
	}
	t.Run("ErrModelVersionUnknown", func(t *testing.T) {
		f.svc.CheckModelVersion = func(ctx context.Context, projectID, id string) error {
			return ethos.Errorf(ethos.ENOTFOUND, "model version %s not found", id)
		}
		defer func() { f.svc.CheckModelVersion = nil }()
		err := f.svc.RegisterPlan(ctx, f.owner, evaltest.FLChainPlan(f.project.ID))
		if ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "flc-marker-v1") {
			t.Errorf("error %v, want the model version not found", err)
		}
	})
}

func TestUploadBeforePlanIsImpossible(t *testing.T) {
	f := newFixture(t)
	before := f.log.Size()
	_, err := f.svc.UploadPredictions(context.Background(), f.owner, "evp-none", bytes.NewReader(evaltest.FLChainCSV(t)))
	if ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "registered plan") {
		t.Fatalf("error %v, want not found naming the registered plan", err)
	}
	if f.log.Size() != before {
		t.Errorf("audit log grew on a refused upload")
	}
}

// TestUploadFLChain uploads the real flchain predictions and checks the
// stored result is exactly what evalstat computes on the same rows with
// the plan's settings, judged by the plan's criteria.
func TestUploadFLChain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.plan(t)
	data := evaltest.FLChainCSV(t)
	run, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if run.Attempt != 1 || run.Rows != evaltest.FLChainRows || run.InputDigest != "sha256:"+hex.EncodeToString(sum[:]) || run.InputBytes != int64(len(data)) {
		t.Errorf("attempt %d, rows %d, digest %s, bytes %d", run.Attempt, run.Rows, run.InputDigest, run.InputBytes)
	}
	if run.AuditIndex <= p.AuditIndex || !run.UploadedAt.After(p.RegisteredAt) {
		t.Errorf("upload at audit index %d / %v, plan registered at %d / %v: the plan must come first", run.AuditIndex, run.UploadedAt, p.AuditIndex, p.RegisteredAt)
	}

	// The same evaluation, straight from the engine.
	tab, err := evalstat.ReadCSV(bytes.NewReader(data), evalstat.CSVSpec{Label: "death", Score: "score", Groups: []string{"sex", "age_band"}, Cluster: "person"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := evalstat.Evaluate(tab, evaluation.Config(p, 0))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := evaluation.PlanCriteria(p)
	if err != nil {
		t.Fatal(err)
	}
	want.Judge(cs)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(run.Result, wantJSON) {
		t.Errorf("stored result differs from evalstat's on the same rows (%d vs %d bytes)", len(run.Result), len(wantJSON))
	}
	if want.Overall.Positives != 2169 || len(want.Groupings) != 3 {
		t.Errorf("flchain: %d deaths, %d groupings; want 2169 and 3", want.Overall.Positives, len(want.Groupings))
	}
	pass, fail, und := 0, 0, 0
	for _, j := range want.Criteria {
		t.Logf("%s %s: %s", j.Criterion.ID, j.Outcome, j.Evidence)
		switch j.Outcome {
		case evalstat.Pass:
			pass++
		case evalstat.Fail:
			fail++
		default:
			und++
		}
	}
	if run.Passed != pass || run.Failed != fail || run.Undetermined != und || len(want.Criteria) != 5 {
		t.Errorf("run counts %d/%d/%d, engine %d/%d/%d", run.Passed, run.Failed, run.Undetermined, pass, fail, und)
	}
	// C1: the marker's AUROC is 0.682 with a lower bound above 0.65.
	if want.Criteria[0].Outcome != evalstat.Pass {
		t.Errorf("C1 %s: %s", want.Criteria[0].Outcome, want.Criteria[0].Evidence)
	}

	t.Run("lineage_recorded", func(t *testing.T) {
		ls := f.svc.Lineage.(ethos.LineageService)
		up, err := ls.Upstream(ctx, ethos.LineageNode{Kind: ethos.LineageEvaluation, ID: run.ID}, ethos.WalkAll)
		if err != nil {
			t.Fatal(err)
		}
		want := map[ethos.LineageNode]bool{{Kind: ethos.LineageModelVersion, ID: p.ModelVersionID}: true, {Kind: ethos.LineageDatasetVersion, ID: p.DatasetVersionID}: true}
		for _, n := range up {
			delete(want, n)
		}
		if len(want) != 0 {
			t.Errorf("upstream of the evaluation %v lacks %v", up, want)
		}
	})
	t.Run("second_upload_is_a_new_attempt", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		run2, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(gz.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(gz.Bytes())
		if run2.Attempt != 2 || run2.ID == run.ID || run2.InputDigest != "sha256:"+hex.EncodeToString(sum[:]) || !bytes.Equal(run2.Result, run.Result) {
			t.Errorf("attempt %d (%s), digest %s; want attempt 2, a new id, the gzip bytes' digest and the same result", run2.Attempt, run2.ID, run2.InputDigest)
		}
		first, err := f.svc.FindEvaluationRunByID(ctx, run.ID)
		if err != nil || first.Attempt != 1 || !bytes.Equal(first.Result, run.Result) {
			t.Errorf("attempt 1 after attempt 2: %v", err)
		}
		runs, n, err := f.svc.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID})
		if err != nil || n != 2 || runs[0].ID != run2.ID {
			t.Errorf("attempts listed: %d, %v", n, err)
		}
	})
}

func TestUploadBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.plan(t)
	tests := []struct {
		name, csv, want string
	}{
		{"ErrMissingColumn", "person,sex,age_band,score\np1,F,50-59,0.4\n", `"death"`},
		{"ErrLabelNotBinary", "person,sex,age_band,death,score\np1,F,50-59,1,0.4\np2,M,60-69,2,0.5\n", "row 2"},
		{"ErrScoreOutOfRange", "person,sex,age_band,death,score\np1,F,50-59,1,1.4\n", "score"},
		{"ErrEmpty", "", "predictions"},
		{"ErrBadGzip", "\x1f\x8bnot gzip", "gzip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.log.Size()
			_, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, strings.NewReader(tc.csv))
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want invalid mentioning %q", err, tc.want)
			}
			if f.log.Size() != before {
				t.Error("audit log grew on bad input")
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		f.svc.MaxUploadBytes = 1000
		defer func() { f.svc.MaxUploadBytes = 0 }()
		_, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(evaltest.FLChainCSV(t)))
		if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), "larger than 1000 bytes") {
			t.Fatalf("error %v", err)
		}
	})
	if _, n, _ := f.svc.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID}); n != 0 {
		t.Errorf("%d attempts stored from bad input, want none", n)
	}
}

func actor(id string, roles ...ethos.Role) ethos.EvaluationActor {
	return ethos.EvaluationActor{UserID: id, PartyID: "pty-x", Roles: roles}
}

func TestSignOffAndApprovedEvaluation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.plan(t)
	irb := actor("usr-irb", ethos.RoleEthicsReviewer)
	advocate := actor("usr-advocate", ethos.RolePatientAdvocate)

	if _, err := f.svc.ApprovedEvaluation(ctx, "mv-none"); ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "no registered evaluation plan") {
		t.Errorf("unknown model version: %v", err)
	}
	if _, err := f.svc.ApprovedEvaluation(ctx, p.ModelVersionID); ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "no predictions uploaded") {
		t.Errorf("plan without upload: %v", err)
	}
	run, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(evaltest.FLChainCSV(t)))
	if err != nil {
		t.Fatal(err)
	}
	var rep evalstat.Report
	if err := json.Unmarshal(run.Result, &rep); err != nil {
		t.Fatal(err)
	}
	var notPassed []string
	for _, j := range rep.Criteria {
		if j.Outcome != evalstat.Pass {
			notPassed = append(notPassed, j.Criterion.ID)
		}
	}

	refused := []struct {
		name string
		who  ethos.EvaluationActor
		so   ethos.EvaluationSignoff
		code string
	}{
		{"ErrEthicsByUploader", ethos.EvaluationActor{UserID: f.owner.UserID, Roles: []ethos.Role{ethos.RoleEthicsReviewer}}, ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: ethos.DecisionApproved, Reason: "fine"}, ethos.EFORBIDDEN},
		{"ErrEthicsWithoutRole", actor("usr-clin", ethos.RoleClinician), ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: ethos.DecisionApproved, Reason: "fine"}, ethos.EFORBIDDEN},
		{"ErrEthicsNoReason", irb, ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: ethos.DecisionApproved}, ethos.EINVALID},
		{"ErrEthicsBadDecision", irb, ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: "maybe", Reason: "x"}, ethos.EINVALID},
		{"ErrAcknowledgeByEngineer", actor("usr-eng", ethos.RoleMLEngineer), ethos.EvaluationSignoff{Kind: ethos.SignoffAcknowledgement}, ethos.EFORBIDDEN},
		{"ErrWaiveUnknownCriterion", irb, ethos.EvaluationSignoff{Kind: ethos.SignoffWaiver, Reason: "x", Waives: []string{"C9"}}, ethos.EINVALID},
		{"ErrWaiveNothing", irb, ethos.EvaluationSignoff{Kind: ethos.SignoffWaiver, Reason: "x"}, ethos.EINVALID},
		{"ErrUnknownKind", irb, ethos.EvaluationSignoff{Kind: "vibe-check"}, ethos.EINVALID},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			so := tc.so
			if _, err := f.svc.SignOff(ctx, tc.who, run.ID, &so); ethos.ErrorCode(err) != tc.code {
				t.Errorf("error %v, want %s", err, tc.code)
			}
		})
	}
	for _, j := range rep.Criteria {
		if j.Outcome == evalstat.Pass {
			t.Run("ErrWaivePassedCriterion", func(t *testing.T) {
				_, err := f.svc.SignOff(ctx, irb, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffWaiver, Reason: "x", Waives: []string{j.Criterion.ID}})
				if ethos.ErrorCode(err) != ethos.EINVALID {
					t.Errorf("error %v", err)
				}
			})
			break
		}
	}

	st, err := f.svc.SignOff(ctx, irb, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: ethos.DecisionRejected, Reason: "sex gap unexplained"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Passed || st.Ethics != ethos.DecisionRejected {
		t.Fatalf("after rejection: %+v", st)
	}
	st, err = f.svc.SignOff(ctx, irb, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffEthics, Decision: ethos.DecisionApproved, Reason: "committee minute 12: accepted for a supervised pilot", Reference: "IRB-2026-12"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Ethics != ethos.DecisionApproved || st.Passed {
		t.Fatalf("approved without acknowledgement must not pass: %+v", st)
	}
	if len(notPassed) > 0 {
		if _, err := f.svc.ApprovedEvaluation(ctx, p.ModelVersionID); ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "criterion "+notPassed[0]) {
			t.Errorf("with criteria not passed: %v", err)
		}
		st, err = f.svc.SignOff(ctx, irb, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffWaiver, Reason: "gap explained by age mix; monitored after deployment", Waives: notPassed})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.ApprovedEvaluation(ctx, p.ModelVersionID); ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), "QC-EVA-1") {
		t.Errorf("without acknowledgement: %v", err)
	}
	st, err = f.svc.SignOff(ctx, advocate, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffAcknowledgement, Reason: "read and understood"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Passed || len(st.Blocking) != 0 || len(st.Signoffs) < 3 {
		t.Fatalf("after approval, waivers and acknowledgement: %+v", st)
	}
	id, err := f.svc.ApprovedEvaluation(ctx, p.ModelVersionID)
	if err != nil || id != run.ID {
		t.Fatalf("ApprovedEvaluation = %q, %v; want %s", id, err, run.ID)
	}
	for _, so := range st.Signoffs {
		ev, err := f.event(t, so.AuditIndex)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Action != "evaluation.signoff."+string(so.Kind) || ev.Actor != so.By || strings.Contains(ev.Reason, so.Reason) {
			t.Errorf("sign-off audit event %+v: want action, actor, and the reason's hash not its text", ev)
		}
	}

	t.Run("new_attempt_supersedes", func(t *testing.T) {
		run2, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(evaltest.FLChainCSV(t)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ApprovedEvaluation(ctx, p.ModelVersionID); ethos.ErrorCode(err) != ethos.ENOTFOUND || !strings.Contains(err.Error(), run2.ID) {
			t.Errorf("after a new attempt: %v", err)
		}
		_, err = f.svc.SignOff(ctx, advocate, run.ID, &ethos.EvaluationSignoff{Kind: ethos.SignoffAcknowledgement})
		if ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("sign-off of a superseded attempt: %v", err)
		}
		old, err := f.svc.Status(ctx, run.ID)
		if err != nil || old.Passed || old.Latest {
			t.Errorf("superseded attempt status %+v, %v", old, err)
		}
	})
}

// TestConcurrentUploadsGetDistinctAttempts uploads four times at once: four
// attempts numbered 1 to 4, each with its own audit event.
func TestConcurrentUploadsGetDistinctAttempts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := evaltest.FLChainPlan(f.project.ID)
	p.Bootstrap = 0
	if err := f.svc.RegisterPlan(ctx, f.owner, p); err != nil {
		t.Fatal(err)
	}
	data := evaltest.FLChainCSV(t)
	before := f.log.Size()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := f.svc.UploadPredictions(ctx, f.owner, p.ID, bytes.NewReader(data))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	runs, n, err := f.svc.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID})
	if err != nil || n != 4 {
		t.Fatalf("%d attempts, %v", n, err)
	}
	seen := map[int]bool{}
	for _, r := range runs {
		seen[r.Attempt] = true
	}
	if len(seen) != 4 || !seen[1] || !seen[4] || f.log.Size() != before+4 {
		t.Errorf("attempt numbers %v, %d audit events; want 1–4 and 4 events", seen, f.log.Size()-before)
	}
}

// FuzzUploadPredictions sends arbitrary bytes as predictions (seeded with
// the head of the real flchain predictions, plain and gzip): the upload
// either succeeds with a judged attempt or fails as invalid input, never
// panics, and a failure stores and audits nothing.
func FuzzUploadPredictions(f *testing.F) {
	head := evaltest.FLChainCSV(f)
	lines := bytes.SplitAfterN(head, []byte("\n"), 80)
	seed := bytes.Join(lines[:79], nil)
	f.Add(seed)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(seed)
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte("person,sex,age_band,death,score\n"))
	f.Add([]byte("person,sex,age_band,death,score\np1,F,50-59,1,NaN\n"))
	fx := newFixture(f)
	p := evaltest.FLChainPlan(fx.project.ID)
	p.Bootstrap = 0
	if err := fx.svc.RegisterPlan(context.Background(), fx.owner, p); err != nil {
		f.Fatal(err)
	}
	fx.svc.MaxUploadBytes, fx.svc.MaxCSVBytes = 1<<20, 4<<20
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		before := fx.log.Size()
		_, n0, _ := fx.svc.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID})
		run, err := fx.svc.UploadPredictions(ctx, fx.owner, p.ID, bytes.NewReader(data))
		_, n1, _ := fx.svc.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID})
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			if fx.log.Size() != before || n1 != n0 {
				t.Fatal("a refused upload wrote to the audit log or the store")
			}
			return
		}
		if run.Rows <= 0 || n1 != n0+1 || fx.log.Size() != before+1 {
			t.Fatalf("attempt with %d rows; %d attempts after %d", run.Rows, n1, n0)
		}
	})
}
