package training_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/training"
	"github.com/google/go-cmp/cmp"
)

// recorder keeps audit events.
type recorder struct {
	mu     sync.Mutex
	events []ethos.AuditEvent
}

func (r *recorder) Record(ctx context.Context, e ethos.AuditEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) find(action, decision string) []ethos.AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ethos.AuditEvent
	for _, e := range r.events {
		if e.Action == action && e.Decision == decision {
			out = append(out, e)
		}
	}
	return out
}

// datasets is the fake dataset service: version -> instance id -> subject.
type datasets map[string]map[string]ethos.SubjectKey

func (d datasets) DatasetSubjects(ctx context.Context, id string) (map[string]ethos.SubjectKey, error) {
	m, ok := d[id]
	if !ok {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %s not found", id)
	}
	return maps.Clone(m), nil
}

const project = "prj_cxr"

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	svc       *training.Service
	consents  *sqlite.ConsentService
	instances *sqlite.InstanceService
	lineage   *sqlstore.LineageService
	runs      *sqlstore.TrainingStore
	audit     *recorder
	data      datasets
	subjects  map[string]ethos.SubjectKey
	engineer  ethos.AccessRequest
	reviewer  ethos.AccessRequest
	governor  ethos.AccessRequest
}

func key(c string) ethos.SubjectKey { return ethos.SubjectKey(strings.Repeat(c, 64)) }

// setup makes subjects a..f, each with two CT chest instances in the
// project. a, b, c, e and f consent to ai-training; d only to research.
// Dataset versions: ds1 = a+b, ds2 = c, ds3 = b+c, ds4 = a+d+e, ds6 = c+f.
func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "data"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := db.Store()
	f := &fixture{consents: sqlite.NewConsentService(db), instances: sqlite.NewInstanceService(db), lineage: sqlstore.NewLineageService(store),
		runs: sqlstore.NewTrainingStore(store), audit: &recorder{}, data: datasets{}, subjects: map[string]ethos.SubjectKey{},
		engineer: ethos.AccessRequest{UserID: "usr_eng", PartyID: "pty_hosp", Roles: []ethos.Role{ethos.RoleMLEngineer}},
		reviewer: ethos.AccessRequest{UserID: "usr_rev", PartyID: "pty_hosp", Roles: []ethos.Role{ethos.RoleEthicsReviewer}},
		governor: ethos.AccessRequest{UserID: "usr_gov", PartyID: "pty_hosp", Roles: []ethos.Role{ethos.RoleEthicsReviewer}},
	}
	f.svc = &training.Service{Runs: f.runs, Obligations: sqlstore.NewObligationService(store), Lineage: f.lineage, Members: f.data,
		Instances: f.instances, Consents: f.consents, Auditor: f.audit, Now: func() time.Time { return now }}
	instances := map[string][]string{}
	for _, c := range []string{"a", "b", "c", "d", "e", "f"} {
		k := key(c)
		f.subjects[c] = k
		purpose := ethos.PurposeAITraining
		if c == "d" {
			purpose = ethos.PurposeResearch
		}
		cn := &ethos.Consent{ID: "cns-" + c, Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: k,
			DateTime:   time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
			Provision:  ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{purpose, ethos.PurposeResearch}}}
		if err := f.consents.CreateConsent(ctx, cn); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			in := &ethos.Instance{ID: fmt.Sprintf("ins_%s%d", c, i), ProjectID: project, SOPInstanceUID: fmt.Sprintf("1.2.3.%d.%d", c[0], i), Subject: k,
				Modality: "CT", BodyPart: "CHEST", Acquired: time.Date(2025, 5, 6, 0, 0, 0, 0, time.UTC), Status: ethos.InstanceStored,
				ConsentID: cn.ID, Blob: &ethos.BlobRef{Subject: k, Digest: strings.Repeat("0", 64), Size: 10}, Source: "file:batch-" + c, ReceivedBy: "usr_steward"}
			if _, err := f.instances.CreateInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
			instances[c] = append(instances[c], in.ID)
		}
	}
	for ds, who := range map[string]string{"ds1": "ab", "ds2": "c", "ds3": "bc", "ds4": "ade", "ds6": "cf"} {
		m := map[string]ethos.SubjectKey{}
		for _, c := range who {
			for _, id := range instances[string(c)] {
				m[id] = key(string(c))
			}
		}
		f.data[ds] = m
	}
	return f
}

func (f *fixture) register(t *testing.T, ds string) *ethos.TrainingRun {
	t.Helper()
	r, err := f.svc.RegisterTrainingRun(context.Background(), f.engineer, newRun(ds), "req-"+ds)
	if err != nil {
		t.Fatalf("register on %s: %v", ds, err)
	}
	return r
}

func newRun(ds string) *ethos.TrainingRun {
	return &ethos.TrainingRun{ProjectID: project, DatasetVersion: ds, Split: "train", CodeVersion: "9fceb02d0ae598e95dc970b74767f19372d61af8",
		Parameters: map[string]string{"lr": "3e-4", "epochs": "30"}, Environment: map[string]string{"python": "3.12", "torch": "2.4.1"},
		ModelSHA256: strings.Repeat("c3", 32), ModelName: "cxr-triage", Metrics: map[string]float64{"val_auroc": 0.88}}
}

func (f *fixture) withdraw(t *testing.T, c string) []*ethos.Obligation {
	t.Helper()
	ctx := context.Background()
	k := f.subjects[c]
	if _, err := f.consents.WithdrawConsents(ctx, k, ethos.ConsentWithdrawal{At: now, RecordedBy: "usr_steward", RequestedBy: ethos.GrantorPatient}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.instances.SetSubjectStatus(ctx, k, ethos.InstanceWithdrawn); err != nil {
		t.Fatal(err)
	}
	obs, err := f.svc.OnWithdrawal(ctx, k, ethos.AccessRequest{UserID: "usr_steward", PartyID: "pty_hosp"}, "req-wdr-"+c)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func targets(obs []*ethos.Obligation) []string {
	out := []string{}
	for _, o := range obs {
		out = append(out, o.Target.String())
	}
	slices.Sort(out)
	return out
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	t.Run("CoveredRunIsRegistered", func(t *testing.T) {
		r := f.register(t, "ds1")
		if r.Status != ethos.RunRegistered || r.RegisteredBy != "usr_eng" || !r.RegisteredAt.Equal(now) || r.ModelVersion != ethos.ModelVersionID(r.ID) {
			t.Errorf("run %+v", r)
		}
		want := &ethos.ConsentCoverage{Purpose: ethos.PurposeAITraining, CheckedAt: now, Instances: 4, Subjects: 2, Covered: 4}
		if d := cmp.Diff(want, r.Coverage); d != "" {
			t.Errorf("coverage -want +got:\n%s", d)
		}
		if d := cmp.Diff([]ethos.DataSource{{Source: "file:batch-a", Instances: 2}, {Source: "file:batch-b", Instances: 2}}, r.Sources); d != "" {
			t.Errorf("sources -want +got:\n%s", d)
		}
		got, err := f.runs.FindTrainingRunByID(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Errorf("stored run -returned +stored:\n%s", d)
		}
		subs, err := f.lineage.Upstream(ctx, ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: r.ModelVersion}, ethos.WalkDerivations, ethos.LineageSubject)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]ethos.LineageNode{{Kind: ethos.LineageSubject, ID: string(key("a"))}, {Kind: ethos.LineageSubject, ID: string(key("b"))}}, subs); d != "" {
			t.Errorf("subjects behind the model -want +got:\n%s", d)
		}
		if ev := f.audit.find("training.register", "allow"); len(ev) != 1 || !strings.Contains(ev[0].Reason, "4 instances of 2 subjects") {
			t.Errorf("audit %+v", ev)
		}
	})
	t.Run("ErrConsentWithCounts", func(t *testing.T) {
		// ds4: a (covered), d (research only), e (withdrawn).
		ctx := context.Background()
		if _, err := f.consents.WithdrawConsents(ctx, f.subjects["e"], ethos.ConsentWithdrawal{At: now, RecordedBy: "usr_steward", RequestedBy: ethos.GrantorPatient}); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.RegisterTrainingRun(ctx, f.engineer, newRun("ds4"), "req-ds4")
		if ethos.ErrorCode(err) != ethos.ECONSENT {
			t.Fatalf("err %v, want consent", err)
		}
		ce, ok := errors.AsType[*training.CoverageError](err)
		if !ok {
			t.Fatalf("err %T, want *CoverageError", err)
		}
		want := &ethos.ConsentCoverage{Purpose: ethos.PurposeAITraining, CheckedAt: now, Instances: 6, Subjects: 3, Covered: 2, Withdrawn: 1, OutOfScope: 1,
			Uncovered: map[string]int{"OUT_OF_SCOPE": 2, "WITHDRAWN": 2}}
		if d := cmp.Diff(want, ce.Coverage); d != "" {
			t.Errorf("coverage -want +got:\n%s", d)
		}
		msg := ethos.ErrorMessage(err)
		for _, s := range []string{"4 of 6 instances", "1 subjects withdrew", "1 subjects out of scope", "QC-TRA-2"} {
			if !strings.Contains(msg, s) {
				t.Errorf("message %q lacks %q", msg, s)
			}
		}
		ev := f.audit.find("training.register", "deny")
		if len(ev) != 1 || ev[0].Reason != msg {
			t.Errorf("refusal audit %+v", ev)
		}
		ds := "ds4"
		if rs, _, _ := f.runs.FindTrainingRuns(ctx, ethos.TrainingRunFilter{DatasetVersion: &ds}); len(rs) != 0 {
			t.Errorf("refused run stored: %v", rs)
		}
		if _, err := f.lineage.Downstream(ctx, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "ds4"}, ethos.WalkAll); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("a refused registration recorded lineage (%v)", err)
		}
	})
	t.Run("ErrConsentForUnknownInstance", func(t *testing.T) {
		f.data["ds5"] = map[string]ethos.SubjectKey{"ins_a0": key("a"), "ins_ghost": key("a")}
		_, err := f.svc.RegisterTrainingRun(ctx, f.engineer, newRun("ds5"), "req-ds5")
		ce, ok := errors.AsType[*training.CoverageError](err)
		if !ok || ce.Coverage.Uncovered["UNKNOWN_INSTANCE"] != 1 || ce.Coverage.OutOfScope != 1 || ce.Coverage.Covered != 1 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("ErrInvalidRun", func(t *testing.T) {
		for name, mod := range map[string]func(r *ethos.TrainingRun){
			"NoCommit":    func(r *ethos.TrainingRun) { r.CodeVersion = "" },
			"ShortCommit": func(r *ethos.TrainingRun) { r.CodeVersion = "abc" },
			"BadSHA":      func(r *ethos.TrainingRun) { r.ModelSHA256 = strings.Repeat("g", 64) },
			"NoSplit":     func(r *ethos.TrainingRun) { r.Split = "" },
			"NaNMetric":   func(r *ethos.TrainingRun) { r.Metrics["x"] = func() float64 { z := 0.0; return z / z }() },
			"BadParamKey": func(r *ethos.TrainingRun) { r.Parameters["a b"] = "1" },
			"Backwards":   func(r *ethos.TrainingRun) { r.StartedAt, r.FinishedAt = now, now.Add(-time.Hour) },
		} {
			r := newRun("ds1")
			mod(r)
			if _, err := f.svc.RegisterTrainingRun(ctx, f.engineer, r, "req"); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("%s: err %v, want invalid", name, err)
			}
		}
	})
	t.Run("ErrNotFoundDataset", func(t *testing.T) {
		if _, err := f.svc.RegisterTrainingRun(ctx, f.engineer, newRun("ds-none"), "req"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("err %v, want not found", err)
		}
	})
	t.Run("ErrNotImplementedWithoutDatasets", func(t *testing.T) {
		svc := *f.svc
		svc.Members = nil
		if _, err := svc.RegisterTrainingRun(ctx, f.engineer, newRun("ds1"), "req"); ethos.ErrorCode(err) != ethos.ENOTIMPLEMENTED {
			t.Errorf("err %v, want not implemented", err)
		}
	})
}

// TestWithdrawalObligations: a withdrawal after training opens
// obligations on exactly the dataset and model versions built from the
// subject's data, and on no others.
func TestWithdrawalObligations(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	r1, r2, r3 := f.register(t, "ds1"), f.register(t, "ds2"), f.register(t, "ds3")
	r1b := f.register(t, "ds1") // a second run on the same dataset version
	// Processing also derived ds6 from f, never trained on: it is reached
	// through lineage alone. The processing run used a's, c's and f's
	// instances: a walk through the activity would wrongly reach ds6 from a.
	prc := ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: "prc_1"}
	if err := f.lineage.RecordLineage(ctx,
		ethos.LineageEdge{From: prc, Relation: ethos.RelUsed, To: ethos.LineageNode{Kind: ethos.LineageInstance, ID: "ins_a0"}},
		ethos.LineageEdge{From: prc, Relation: ethos.RelUsed, To: ethos.LineageNode{Kind: ethos.LineageInstance, ID: "ins_c0"}},
		ethos.LineageEdge{From: prc, Relation: ethos.RelUsed, To: ethos.LineageNode{Kind: ethos.LineageInstance, ID: "ins_f0"}},
		ethos.LineageEdge{From: ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: "did_f0"}, Relation: ethos.RelWasGeneratedBy, To: prc},
		ethos.LineageEdge{From: ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: "did_f0"}, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageInstance, ID: "ins_f0"}},
		ethos.LineageEdge{From: ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "ds6"}, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: "did_f0"}},
	); err != nil {
		t.Fatal(err)
	}
	m := func(r *ethos.TrainingRun) string { return "model-version:" + r.ModelVersion }

	t.Run("SubjectAReachesDs1AndItsModels", func(t *testing.T) {
		obs := f.withdraw(t, "a")
		want := []string{"dataset-version:ds1", m(r1), m(r1b)}
		slices.Sort(want)
		if d := cmp.Diff(want, targets(obs)); d != "" {
			t.Errorf("-want +got:\n%s", d)
		}
		for _, o := range obs {
			if o.ProjectID != project || o.Status != ethos.ObligationOpen || o.Subject != key("a") || o.OpenedBy != "usr_steward" {
				t.Errorf("obligation %+v", o)
			}
		}
	})
	t.Run("AgainOpensNothing", func(t *testing.T) {
		if obs := f.withdraw(t, "a"); len(obs) != 0 {
			t.Errorf("opened %v again", targets(obs))
		}
	})
	t.Run("SubjectBReachesDs1AndDs3", func(t *testing.T) {
		obs := f.withdraw(t, "b")
		want := []string{"dataset-version:ds1", "dataset-version:ds3", m(r1), m(r1b), m(r3)}
		slices.Sort(want)
		if d := cmp.Diff(want, targets(obs)); d != "" {
			t.Errorf("-want +got:\n%s", d)
		}
	})
	t.Run("SubjectFReachesUntrainedDs6Only", func(t *testing.T) {
		obs := f.withdraw(t, "f")
		if d := cmp.Diff([]string{"dataset-version:ds6"}, targets(obs)); d != "" {
			t.Errorf("-want +got:\n%s", d)
		}
	})
	t.Run("SubjectWithoutLineageOpensNone", func(t *testing.T) {
		if obs := f.withdraw(t, "d"); len(obs) != 0 {
			t.Errorf("opened %v", targets(obs))
		}
	})
	t.Run("UntouchedVersionsStayFree", func(t *testing.T) {
		if err := f.svc.ExportGate(ctx, "ds2"); err != nil {
			t.Errorf("ds2 gate: %v", err)
		}
		all, _, err := f.svc.Obligations.FindObligations(ctx, ethos.ObligationFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range all {
			if o.Target.ID == "ds2" || o.Target.ID == r2.ModelVersion {
				t.Errorf("obligation on untouched %s", o.Target)
			}
		}
		if len(all) != 9 {
			t.Errorf("%d obligations in all, want 9", len(all))
		}
	})
	t.Run("ErrConflictExportAndRegistrationWhileOpen", func(t *testing.T) {
		err := f.svc.ExportGate(ctx, "ds1")
		if ethos.ErrorCode(err) != ethos.ECONFLICT || !strings.Contains(ethos.ErrorMessage(err), "2 open withdrawal obligations") || !strings.Contains(ethos.ErrorMessage(err), "obl_") {
			t.Errorf("gate: %v", err)
		}
		if _, err := f.svc.RegisterTrainingRun(ctx, f.engineer, newRun("ds1"), "req"); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("registration: err %v, want conflict", err)
		}
	})
	t.Run("NoSubjectKeyInAudit", func(t *testing.T) {
		b, _ := json.Marshal(f.audit.events)
		for c, k := range f.subjects {
			if strings.Contains(string(b), string(k)) || strings.Contains(string(b), k.Short()) {
				t.Errorf("subject %s named in the audit log", c)
			}
		}
		if n := len(f.audit.find("obligation.open", "")); n != 9 {
			t.Errorf("%d obligation.open events, want 9", n)
		}
	})
}

func TestSignOffAndResolve(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	r1, r3 := f.register(t, "ds1"), f.register(t, "ds3")
	t.Run("ErrForbiddenSelfReview", func(t *testing.T) {
		_, err := f.svc.SignOffTrainingRun(ctx, f.engineer, r1.ID, ethos.TrainingSignOff{Decision: ethos.SignOffApproved}, "req")
		if ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Errorf("err %v, want forbidden", err)
		}
		if ev := f.audit.find("training.signoff", "deny"); len(ev) != 1 {
			t.Errorf("refusal not audited: %v", ev)
		}
	})
	t.Run("ErrForbiddenSigningForAnother", func(t *testing.T) {
		_, err := f.svc.SignOffTrainingRun(ctx, f.reviewer, r1.ID, ethos.TrainingSignOff{Reviewer: "usr_other", Decision: ethos.SignOffApproved}, "req")
		if ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Errorf("err %v, want forbidden", err)
		}
	})
	t.Run("NamedReviewerApproves", func(t *testing.T) {
		r, err := f.svc.SignOffTrainingRun(ctx, f.reviewer, r1.ID, ethos.TrainingSignOff{Decision: ethos.SignOffApproved, Note: "splits checked, no leakage"}, "req")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != ethos.RunSignedOff || r.SignOff.Reviewer != "usr_rev" || !r.SignOff.At.Equal(now) {
			t.Errorf("run %+v sign-off %+v", r, r.SignOff)
		}
		if _, err := f.svc.SignOffTrainingRun(ctx, f.reviewer, r1.ID, ethos.TrainingSignOff{Decision: ethos.SignOffRejected}, "req"); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("second sign-off: err %v, want conflict", err)
		}
		ev := f.audit.find("training.signoff", "")
		if len(ev) != 1 || !strings.Contains(ev[0].Reason, "usr_rev approved") {
			t.Errorf("sign-off audit %+v", ev)
		}
	})
	obs := f.withdraw(t, "b") // ds1, ds3, both models
	byTarget := map[string]*ethos.Obligation{}
	for _, o := range obs {
		byTarget[o.Target.String()] = o
	}
	t.Run("ErrConflictApprovingWhileOpen", func(t *testing.T) {
		_, err := f.svc.SignOffTrainingRun(ctx, f.reviewer, r3.ID, ethos.TrainingSignOff{Decision: ethos.SignOffApproved}, "req")
		if ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("err %v, want conflict", err)
		}
	})
	// ds2 holds c only: a version without b, for retraining.
	r2 := f.register(t, "ds2")
	m3 := byTarget["model-version:"+r3.ModelVersion]
	t.Run("ErrConflictRetrainStillDerivedFromSubject", func(t *testing.T) {
		_, err := f.svc.ResolveObligation(ctx, f.governor, m3.ID, ethos.ObligationResolution{Action: ethos.ResolveRetrain, Reference: r1.ModelVersion, Note: "retrained on the older version"}, "req")
		if ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("err %v, want conflict", err)
		}
	})
	t.Run("ErrInvalidRetrainUnknownVersion", func(t *testing.T) {
		_, err := f.svc.ResolveObligation(ctx, f.governor, m3.ID, ethos.ObligationResolution{Action: ethos.ResolveRetrain, Reference: "mdl_nowhere", Note: "retrained somewhere"}, "req")
		if ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v, want invalid", err)
		}
	})
	t.Run("RetrainWithoutSubjectResolves", func(t *testing.T) {
		o, err := f.svc.ResolveObligation(ctx, f.governor, m3.ID, ethos.ObligationResolution{Action: ethos.ResolveRetrain, Reference: r2.ModelVersion, Note: "retrained on ds2 without the subject"}, "req")
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != ethos.ObligationResolved || o.Resolution.By != "usr_gov" || !o.Resolution.At.Equal(now) {
			t.Errorf("resolved %+v %+v", o, o.Resolution)
		}
		if _, err := f.svc.ResolveObligation(ctx, f.governor, m3.ID, ethos.ObligationResolution{Action: ethos.ResolveRetire, Note: "retire it as well"}, "req"); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("second resolve: err %v, want conflict", err)
		}
	})
	t.Run("RetireMarksModelRetired", func(t *testing.T) {
		o := byTarget["model-version:"+r1.ModelVersion]
		if _, err := f.svc.ResolveObligation(ctx, f.governor, o.ID, ethos.ObligationResolution{Action: ethos.ResolveRetire, Note: "model withdrawn from use"}, "req"); err != nil {
			t.Fatal(err)
		}
		mv, err := f.runs.FindModelVersionByID(ctx, r1.ModelVersion)
		if err != nil {
			t.Fatal(err)
		}
		if mv.Status != ethos.ModelRetired {
			t.Errorf("model status %s, want retired", mv.Status)
		}
	})
	t.Run("GateOpensOnceResolved", func(t *testing.T) {
		if err := f.svc.ExportGate(ctx, "ds1"); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Fatalf("gate before: %v", err)
		}
		o := byTarget["dataset-version:ds1"]
		if _, err := f.svc.ResolveObligation(ctx, f.governor, o.ID, ethos.ObligationResolution{Action: ethos.ResolveExemption, Reference: "IRB-2026-114 amendment 3", Note: "kept for the audit trail of the approved model only"}, "req"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ExportGate(ctx, "ds1"); err != nil {
			t.Errorf("gate after: %v", err)
		}
		if n := len(f.audit.find("obligation.resolve", "")); n != 3 {
			t.Errorf("%d resolutions audited, want 3", n)
		}
	})
}

func TestProvenance(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	r := f.register(t, "ds1")
	if _, err := f.svc.Provenance(ctx, []ethos.LineageNode{{Kind: ethos.LineageModelVersion, ID: "mdl_never"}}); ethos.ErrorCode(err) != ethos.ENOTFOUND {
		t.Errorf("unknown node: err %v, want not found", err)
	}
	doc, err := f.svc.Provenance(ctx, []ethos.LineageNode{{Kind: ethos.LineageTrainingRun, ID: r.ID}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]map[string]any{}
	for sec, v := range raw {
		if sec == "prefix" {
			continue
		}
		var m map[string]map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("section %s: %v", sec, err)
		}
		got[sec] = m
	}
	run, model, ds := "ethos:training-run/"+r.ID, "ethos:model-version/"+r.ModelVersion, "ethos:dataset-version/ds1"
	for sec, names := range map[string][]string{
		"entity":   {model, ds, "ethos:instance/ins_a0", "ethos:instance/ins_b1", "ethos:subject/" + string(key("a")), "ethos:subject/" + string(key("b"))},
		"activity": {run},
		"agent":    {"ethos:agent/usr_eng"},
	} {
		for _, n := range names {
			if _, ok := got[sec][n]; !ok {
				t.Errorf("%s %s missing", sec, n)
			}
		}
	}
	if n := len(got["entity"]); n != 8 { // model, dataset, 4 instances, 2 subjects
		t.Errorf("%d entities, want 8: %v", n, slices.Collect(maps.Keys(got["entity"])))
	}
	if typ := got["entity"][ds]["prov:type"]; !cmp.Equal(typ, map[string]any{"$": "ethos:dataset-version", "type": "prov:QUALIFIED_NAME"}) {
		t.Errorf("prov:type of the dataset: %v", typ)
	}
	// Each relation names declared nodes, with the PROV-JSON keys of its kind.
	keys := map[string][2]string{
		"used": {"prov:activity", "prov:entity"}, "wasGeneratedBy": {"prov:entity", "prov:activity"},
		"wasDerivedFrom": {"prov:generatedEntity", "prov:usedEntity"}, "wasAssociatedWith": {"prov:activity", "prov:agent"},
	}
	class := map[string]string{"prov:activity": "activity", "prov:entity": "entity", "prov:generatedEntity": "entity", "prov:usedEntity": "entity", "prov:agent": "agent"}
	counts := map[string]int{}
	for rel, k := range keys {
		for id, attrs := range got[rel] {
			counts[rel]++
			if !strings.HasPrefix(id, "_:") {
				t.Errorf("%s id %s is not a blank node", rel, id)
			}
			for _, field := range k {
				name, _ := attrs[field].(string)
				if _, ok := got[class[field]][name]; !ok {
					t.Errorf("%s %s: %s %q is not declared as %s", rel, id, field, name, class[field])
				}
			}
		}
	}
	// used 1, wasGeneratedBy 1, wasAssociatedWith 1, wasDerivedFrom:
	// model<-ds, ds<-4 instances, 4 instances<-subjects = 9.
	if d := cmp.Diff(map[string]int{"used": 1, "wasGeneratedBy": 1, "wasAssociatedWith": 1, "wasDerivedFrom": 9}, counts); d != "" {
		t.Errorf("relation counts -want +got:\n%s", d)
	}
	if tm := got["used"]["_:u1"]["prov:time"]; tm != now.Format(time.RFC3339Nano) {
		t.Errorf("used time %v", tm)
	}
	if want := `{"ethos":"` + ethos.ProvNamespace + `"}`; string(raw["prefix"]) != want {
		t.Errorf("prefix %s, want %s", raw["prefix"], want)
	}
}
