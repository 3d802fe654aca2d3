package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunEvaluation checks the evaluation store's contract on a fresh database
// from open: plans validated, stored whole and found by project and model
// version; attempts numbered 1, 2, … per plan and never overwritten;
// sign-offs kept in order; unknown plans and attempts refused; and rows
// that cannot be updated or deleted, even with plain SQL.
func RunEvaluation(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	ctx := context.Background()
	db := open(t)
	s := Stores{Parties: sqlstore.NewPartyService(db), Users: sqlstore.NewUserService(db), Projects: sqlstore.NewProjectService(db)}
	party := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	user := MustUser(t, s, party, ethos.RoleMLEngineer)
	prj := MustProject(t, s, party, user.ID)
	es := sqlstore.NewEvaluationStore(db)

	plan := func(model string) *ethos.EvaluationPlan {
		return &ethos.EvaluationPlan{ProjectID: prj.ID, ModelVersionID: model, DatasetVersionID: "ds-test-1", Title: "held-out test",
			LabelColumn: "label", ScoreColumn: "score", Attributes: []string{"sex", "age_band"}, Threshold: 0.5, Prevalence: 0.1,
			MinGroupSize: 30, MinClassCount: 5, Bootstrap: 200, Seed: 7, GroupLabels: map[string]string{"sex=F": "women"},
			Criteria: json.RawMessage(`[{"metric":"sensitivity","scope":"overall","comparator":">=","value":0.8}]`),
			Digest:   "sha256:00", RegisteredBy: user.ID, AuditIndex: 3}
	}
	p1 := plan("mv-1")
	t.Run("plan_stored_whole", func(t *testing.T) {
		if err := es.CreateEvaluationPlan(ctx, p1); err != nil {
			t.Fatal(err)
		}
		if !ethos.ValidID(p1.ID) || p1.RegisteredAt.IsZero() {
			t.Fatalf("plan %+v: want an id and a registration time", p1)
		}
		got, err := es.FindEvaluationPlanByID(ctx, p1.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(p1)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("plan read back differs:\n got %s\nwant %s", b, a)
		}
	})
	t.Run("ErrInvalidPlan", func(t *testing.T) {
		bad := plan("mv-1")
		bad.Threshold = 2
		code(t, es.CreateEvaluationPlan(ctx, bad), ethos.EINVALID)
	})
	t.Run("ErrPlanUnknownProject", func(t *testing.T) {
		bad := plan("mv-1")
		bad.ProjectID = "prj-none"
		code(t, es.CreateEvaluationPlan(ctx, bad), ethos.ENOTFOUND)
	})
	t.Run("ErrPlanIDExists", func(t *testing.T) {
		dup := plan("mv-1")
		dup.ID = p1.ID
		code(t, es.CreateEvaluationPlan(ctx, dup), ethos.ECONFLICT)
	})
	t.Run("ErrPlanNotFound", func(t *testing.T) {
		_, err := es.FindEvaluationPlanByID(ctx, "evp-none")
		code(t, err, ethos.ENOTFOUND)
	})
	p2 := plan("mv-2")
	if err := es.CreateEvaluationPlan(ctx, p2); err != nil {
		t.Fatal(err)
	}
	t.Run("plans_filtered", func(t *testing.T) {
		mv := "mv-2"
		got, n, err := es.FindEvaluationPlans(ctx, ethos.EvaluationPlanFilter{ModelVersionID: &mv})
		if err != nil || n != 1 || len(got) != 1 || got[0].ID != p2.ID {
			t.Fatalf("by model version: %d plans (total %d), err %v; want only %s", len(got), n, err, p2.ID)
		}
		got, n, err = es.FindEvaluationPlans(ctx, ethos.EvaluationPlanFilter{ProjectID: &prj.ID})
		if err != nil || n != 2 || len(got) != 2 {
			t.Fatalf("by project: %d plans (total %d), err %v; want 2", len(got), n, err)
		}
	})

	run := func() *ethos.EvaluationRun {
		return &ethos.EvaluationRun{PlanID: p1.ID, InputDigest: "sha256:ab", InputBytes: 10, Rows: 3, Outcome: ethos.EvaluationFail,
			Failed: 1, Result: json.RawMessage(`{"schema_version":"ethos.eval/v1"}`), UploadedBy: user.ID, AuditIndex: 5}
	}
	var r1, r2 *ethos.EvaluationRun
	t.Run("attempts_numbered_never_overwritten", func(t *testing.T) {
		r1, r2 = run(), run()
		r2.Outcome = ethos.EvaluationPass
		for _, r := range []*ethos.EvaluationRun{r1, r2} {
			if err := es.CreateEvaluationRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if r1.Attempt != 1 || r2.Attempt != 2 || r1.ModelVersionID != "mv-1" || r1.ProjectID != prj.ID {
			t.Fatalf("attempts %d, %d (model %q, project %q); want 1, 2 of mv-1 in %s", r1.Attempt, r2.Attempt, r1.ModelVersionID, r1.ProjectID, prj.ID)
		}
		got, err := es.FindEvaluationRunByID(ctx, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != ethos.EvaluationFail || string(got.Result) != string(r1.Result) {
			t.Errorf("attempt 1 read back as %s with result %s", got.Outcome, got.Result)
		}
		list, n, err := es.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p1.ID})
		if err != nil || n != 2 || len(list) != 2 {
			t.Fatalf("list: %d (total %d), err %v; want 2", len(list), n, err)
		}
		if list[0].Attempt != 2 || list[0].Result != nil {
			t.Errorf("list: first is attempt %d with result %q; want the newest (2) without result", list[0].Attempt, list[0].Result)
		}
	})
	t.Run("ErrRunUnknownPlan", func(t *testing.T) {
		r := run()
		r.PlanID = "evp-none"
		code(t, es.CreateEvaluationRun(ctx, r), ethos.ENOTFOUND)
	})
	t.Run("ErrRunBadOutcome", func(t *testing.T) {
		r := run()
		r.Outcome = "maybe"
		code(t, es.CreateEvaluationRun(ctx, r), ethos.EINVALID)
	})
	t.Run("signoffs_in_order", func(t *testing.T) {
		if r1 == nil {
			t.Skip("no attempt")
		}
		for _, so := range []*ethos.EvaluationSignoff{
			{RunID: r1.ID, Kind: ethos.SignoffEthics, Decision: ethos.DecisionRejected, Reason: "fails the gap criterion", By: "u1", Role: ethos.RoleEthicsReviewer},
			{RunID: r1.ID, Kind: ethos.SignoffWaiver, Decision: ethos.DecisionWaived, Reason: "accepted by the committee", Waives: []string{"C2"}, By: "u1", Role: ethos.RoleEthicsReviewer},
			{RunID: r1.ID, Kind: ethos.SignoffAcknowledgement, Decision: ethos.DecisionAcknowledged, Reason: "read", By: "u2", Role: ethos.RolePatientAdvocate},
		} {
			if err := es.CreateEvaluationSignoff(ctx, so); err != nil {
				t.Fatal(err)
			}
		}
		got, err := es.FindEvaluationSignoffs(ctx, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Kind != ethos.SignoffEthics || got[1].Waives[0] != "C2" || got[2].Role != ethos.RolePatientAdvocate {
			t.Fatalf("sign-offs read back out of order or incomplete: %+v", got)
		}
		none, err := es.FindEvaluationSignoffs(ctx, r2.ID)
		if err != nil || len(none) != 0 {
			t.Fatalf("attempt 2: %d sign-offs, err %v; want none", len(none), err)
		}
	})
	t.Run("ErrSignoffUnknownRun", func(t *testing.T) {
		code(t, es.CreateEvaluationSignoff(ctx, &ethos.EvaluationSignoff{RunID: "evr-none", Kind: ethos.SignoffEthics}), ethos.ENOTFOUND)
	})
	t.Run("rows_immutable_in_sql", func(t *testing.T) {
		for _, q := range []string{
			"UPDATE evaluation_plans SET body = '{}'",
			"DELETE FROM evaluation_plans",
			"UPDATE evaluation_runs SET result = '{}'",
			"DELETE FROM evaluation_runs",
			"UPDATE evaluation_signoffs SET body = '{}'",
			"DELETE FROM evaluation_signoffs",
		} {
			if _, err := db.SQL().ExecContext(ctx, q); err == nil {
				t.Errorf("%s: succeeded, want refused", q)
			}
		}
		got, err := es.FindEvaluationPlanByID(ctx, p1.ID)
		if err != nil || got.Title != p1.Title {
			t.Errorf("plan after refused changes: %+v, %v", got, err)
		}
	})
}
