package checks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/checks"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const dep = "deployment dep_1"

// TestProjectChecks breaks one piece of evidence at a time in a project
// where every check passes, and checks the status (and the problem named)
// of the check that evidence answers; every other check must keep its
// baseline status.
func TestProjectChecks(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		scope  string
		breakf func(w *world)
		want   ethos.CheckStatus
		why    string // a substring of the problems
	}{
		// QC-COL-1
		{"Pass/COL1WarningsOnly", "QC-COL-1", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/COL1GroupUnderFloor", "QC-COL-1", "", func(w *world) { w.records[1].Body = representation("flag", "warning") }, ethos.CheckFail, "sex F: sex=F: finding A"},
		{"Pending/COL1NoReport", "QC-COL-1", "", func(w *world) { w.records = w.records[:1] }, ethos.CheckPending, "no representation report"},
		{"Pending/COL1Unreadable", "QC-COL-1", "", func(w *world) { w.records[1].Body = json.RawMessage(`{"version":1}`) }, ethos.CheckPending, "not a representation report"},
		{"Pending/COL1Stale", "QC-COL-1", "", func(w *world) { w.instances[1].ReceivedAt = at(4) }, ethos.CheckPending, "1 instance was stored after"},
		{"Pass/COL1LatestReportCounts", "QC-COL-1", "", func(w *world) {
			w.records = append(w.records, &ethos.StageRecord{ID: "rec_old", ProjectID: prj, Stage: ethos.StageCollection, Kind: checks.RepresentationKind, Body: representation("flag"), CreatedAt: at(2)})
		}, ethos.CheckPass, ""},
		{"Attestation/COL1NoRecordStore", "QC-COL-1", "", func(w *world) {}, ethos.CheckAttestation, "no stage records"},
		// QC-COL-2
		{"Pass/COL2", "QC-COL-2", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Pending/COL2NothingReceived", "QC-COL-2", "", func(w *world) { w.instances = nil }, ethos.CheckPending, "no instance"},
		{"Fail/COL2ConsentWithdrawn", "QC-COL-2", "", func(w *world) { w.consents["cns_b"].Status = ethos.ConsentInactive }, ethos.CheckFail, "consent cns_b is inactive, yet 1 instance is stored under it"},
		{"Fail/COL2ConsentEnded", "QC-COL-2", "", func(w *world) { w.consents["cns_a"].Provision.Period.End = at(20) }, ethos.CheckFail, "not in force now"},
		{"Fail/COL2ConsentNotOnFile", "QC-COL-2", "", func(w *world) { delete(w.consents, "cns_a") }, ethos.CheckFail, "consent cns_a is not on file, yet 1 instance is stored under it"},
		{"Fail/COL2NoConsent", "QC-COL-2", "", func(w *world) { w.instances[0].ConsentID = "" }, ethos.CheckFail, "1 stored instance names no consent: ins_1"},
		{"Fail/COL2QuarantineKeptBytes", "QC-COL-2", "", func(w *world) { w.instances[2].Blob = w.instances[0].Blob }, ethos.CheckFail, "1 quarantined instance still names stored bytes: ins_3"},
		{"Fail/COL2NoDataKey", "QC-COL-2", "", func(w *world) { delete(w.keys, subjectB) }, ethos.CheckFail, "no data key"},
		{"Fail/COL2AuditTampered", "QC-COL-2", "", func(w *world) { w.audit = &checks.AuditVerification{Problem: "event 7 differs from its stored hash"} }, ethos.CheckFail, "event 7"},
		{"Pass/COL2WithdrawnKept", "QC-COL-2", "", func(w *world) { w.instances[1].Status = ethos.InstanceWithdrawn }, ethos.CheckPass, ""},
		// QC-PRO-1
		{"Pass/PRO1", "QC-PRO-1", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Pending/PRO1NoRun", "QC-PRO-1", "", func(w *world) { w.procRuns, w.versions = nil, nil }, ethos.CheckPending, "no processing run"},
		{"Fail/PRO1ItemsMissing", "QC-PRO-1", "", func(w *world) { w.procRuns[0].Items = w.procRuns[0].Items[:1] }, ethos.CheckFail, "incomplete"},
		{"Fail/PRO1NoActionCounts", "QC-PRO-1", "", func(w *world) { w.procRuns[0].Actions = nil }, ethos.CheckFail, "removed, replaced or kept"},
		{"Fail/PRO1Unfinished", "QC-PRO-1", "", func(w *world) { w.procRuns[0].FinishedAt = time.Time{} }, ethos.CheckFail, "finishing time"},
		// QC-PRO-2
		{"Pass/PRO2", "QC-PRO-2", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/PRO2GroupFlagged", "QC-PRO-2", "", func(w *world) {
			b := w.procRuns[0].Bias
			b.Flagged, b.Groups[0].Flagged, b.Groups[0].Rate, b.Groups[0].RestRate = 1, true, 0.4, 0.05
		}, ethos.CheckFail, "group sex=F lost 40.0%"},
		{"Fail/PRO2NoBiasTable", "QC-PRO-2", "", func(w *world) { w.procRuns[0].Bias = nil }, ethos.CheckFail, "no per-group exclusion rates"},
		{"Pass/PRO2OldUnusedRunNotJudged", "QC-PRO-2", "", func(w *world) {
			old := *w.procRuns[0]
			old.ID, old.StartedAt, old.Bias = "prc_0", at(4), nil
			w.procRuns = append([]*ethos.ProcessingRun{&old}, w.procRuns...)
		}, ethos.CheckPass, ""},
		// QC-TRA-1
		{"Pass/TRA1", "QC-TRA-1", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Pending/TRA1NoRun", "QC-TRA-1", "", func(w *world) { w.trainRuns = nil }, ethos.CheckPending, "no training run"},
		{"Fail/TRA1Unsigned", "QC-TRA-1", "", func(w *world) { w.trainRuns[0].Status, w.trainRuns[0].SignOff = ethos.RunRegistered, nil }, ethos.CheckFail, "no reviewer's sign-off yet"},
		{"Fail/TRA1SelfSignOff", "QC-TRA-1", "", func(w *world) { w.trainRuns[0].SignOff.Reviewer = "usr_ml" }, ethos.CheckFail, "signed off by the user who registered it"},
		{"Fail/TRA1RejectedDeployed", "QC-TRA-1", "", func(w *world) { w.trainRuns[0].Status = ethos.RunRejected }, ethos.CheckFail, "rejected training run trn_1 is deployed"},
		{"Fail/TRA1Incomplete", "QC-TRA-1", "", func(w *world) { w.trainRuns[0].CodeVersion = "" }, ethos.CheckFail, "code_version"},
		// QC-TRA-2
		{"Pass/TRA2", "QC-TRA-2", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/TRA2Uncovered", "QC-TRA-2", "", func(w *world) { w.trainRuns[0].Coverage.Covered = 1 }, ethos.CheckFail, "covered 1 of 2"},
		{"Fail/TRA2NoRecheck", "QC-TRA-2", "", func(w *world) { w.trainRuns[0].Coverage = nil }, ethos.CheckFail, "no consent re-check"},
		{"Fail/TRA2DatasetVersionUnknown", "QC-TRA-2", "", func(w *world) { w.trainRuns[0].DatasetVersion = "dsv_gone" }, ethos.CheckFail, "dsv_gone is not recorded"},
		{"Fail/TRA2NoSources", "QC-TRA-2", "", func(w *world) { w.trainRuns[0].Sources = nil }, ethos.CheckFail, "sources are not disclosed"},
		{"Fail/TRA2OpenObligation", "QC-TRA-2", "", func(w *world) {
			w.obligations = []*ethos.Obligation{{ID: "obl_1", Target: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mdl_1"}, Status: ethos.ObligationOpen}}
		}, ethos.CheckFail, "obligation obl_1"},
		{"Pass/TRA2ResolvedObligation", "QC-TRA-2", "", func(w *world) {
			w.obligations = []*ethos.Obligation{{ID: "obl_1", Target: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mdl_1"}, Status: ethos.ObligationResolved}}
		}, ethos.CheckPass, ""},
		// QC-EVA-1
		{"Pass/EVA1", "QC-EVA-1", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Pending/EVA1NoPlan", "QC-EVA-1", "", func(w *world) { w.plans, w.attempts = nil, nil }, ethos.CheckPending, "no evaluation plan"},
		{"Pending/EVA1NoUpload", "QC-EVA-1", "", func(w *world) { w.attempts = nil }, ethos.CheckPending, "no predictions uploaded"},
		{"Pending/EVA1AwaitingAck", "QC-EVA-1", "", func(w *world) {
			w.statuses["evr_1"].Acknowledged = false
			w.deployments = nil
		}, ethos.CheckPending, "awaits acknowledgement"},
		{"Fail/EVA1DeployedUnacknowledged", "QC-EVA-1", "", func(w *world) { w.statuses["evr_1"].Acknowledged = false }, ethos.CheckFail, "is deployed (dep_1)"},
		{"Pass/EVA1Waived", "QC-EVA-1", "", func(w *world) {
			st := w.statuses["evr_1"]
			st.Acknowledged, st.Waived = false, []string{ethos.WaiveAcknowledgement}
		}, ethos.CheckPass, ""},
		{"Pending/EVA1LatestAttemptCounts", "QC-EVA-1", "", func(w *world) {
			w.attempts = append(w.attempts, &ethos.EvaluationRun{ID: "evr_2", PlanID: "evp_1", ModelVersionID: "mdl_2", Attempt: 2, UploadedAt: at(20), AuditIndex: 80})
		}, ethos.CheckPending, "attempt evr_2"},
		// QC-EVA-2
		{"Pass/EVA2", "QC-EVA-2", "", func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/EVA2NoClinicalMetric", "QC-EVA-2", "", func(w *world) {
			w.planErr = ethos.Errorf(ethos.EINVALID, "criteria: none is on a clinically meaningful metric")
		}, ethos.CheckFail, "clinically meaningful"},
		{"Fail/EVA2EventNotRegistration", "QC-EVA-2", "", func(w *world) { w.events[50].Action = "evaluation.predictions.upload" }, ethos.CheckFail, "audit event 50 is not the registration"},
		{"Fail/EVA2EventMissing", "QC-EVA-2", "", func(w *world) { delete(w.events, 50) }, ethos.CheckFail, "not in the audit log"},
		{"Fail/EVA2DigestDiffers", "QC-EVA-2", "", func(w *world) { w.plans[0].Digest = hex64 }, ethos.CheckFail, "not the registration"},
		{"Fail/EVA2NoDigest", "QC-EVA-2", "", func(w *world) { w.plans[0].Digest = "" }, ethos.CheckFail, "not the registration"},
		{"Fail/EVA2UploadedFirst", "QC-EVA-2", "", func(w *world) { w.attempts[0].AuditIndex = 40 }, ethos.CheckFail, "before plan evp_1 was registered"},
		{"Pass/EVA2NoAttemptYet", "QC-EVA-2", "", func(w *world) { w.attempts = nil }, ethos.CheckPass, ""},
		// QC-DEP-1
		{"Pass/DEP1", "QC-DEP-1", dep, func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/DEP1MonitorFails", "QC-DEP-1", dep, func(w *world) {
			w.monitor["dep_1"].Pass, w.monitor["dep_1"].Failures = false, []string{"no inference events in the last 2 days"}
		}, ethos.CheckFail, "no inference events"},
		{"Fail/DEP1LiveWithoutPlan", "QC-DEP-1", dep, func(w *world) { delete(w.monitor, "dep_1") }, ethos.CheckFail, "without a monitoring plan"},
		{"Pending/DEP1NotLiveYet", "QC-DEP-1", dep, func(w *world) {
			w.deployments[0].Status = ethos.DeploymentRegistered
			delete(w.monitor, "dep_1")
		}, ethos.CheckPending, "no monitoring plan yet"},
		{"Pending/DEP1NoDeployment", "QC-DEP-1", "", func(w *world) { w.deployments = nil }, ethos.CheckPending, "no model version of the project is deployed"},
		{"Pending/DEP1AllRetired", "QC-DEP-1", "", func(w *world) { w.deployments[0].Status = ethos.DeploymentRetired }, ethos.CheckPending, "retired"},
		// QC-DEP-2
		{"Pass/DEP2", "QC-DEP-2", dep, func(w *world) {}, ethos.CheckPass, ""},
		{"Attestation/DEP2ItemUnattested", "QC-DEP-2", dep, func(w *world) {
			r := &w.compliance["dep_1"][1]
			r.Outcome, r.Attestation, r.Reason = ethos.ComplianceAttestationNeeded, nil, "needs an attestation by ethics-reviewer"
		}, ethos.CheckAttestation, "GDPR-35 (GDPR art. 35): needs an attestation by ethics-reviewer"},
		{"Fail/DEP2ItemFails", "QC-DEP-2", dep, func(w *world) {
			r := &w.compliance["dep_1"][0]
			r.Outcome, r.Reason = ethos.ComplianceFail, "register incomplete"
		}, ethos.CheckFail, "EUAIA-9"},
		{"Pending/DEP2FailsBeforeGoLive", "QC-DEP-2", dep, func(w *world) {
			w.deployments[0].Status = ethos.DeploymentRegistered
			r := &w.compliance["dep_1"][0]
			r.Outcome, r.Reason = ethos.ComplianceFail, "register incomplete"
		}, ethos.CheckPending, "EUAIA-9"},
		// QC-DEP-3
		{"Pass/DEP3", "QC-DEP-3", dep, func(w *world) {}, ethos.CheckPass, ""},
		{"Fail/DEP3Unacknowledged", "QC-DEP-3", dep, func(w *world) {
			w.compliance["dep_1"][0].Observation = &ethos.Observation{Detail: "role ethics-reviewer has not acknowledged revision 1"}
		}, ethos.CheckFail, "ethics-reviewer has not acknowledged"},
		{"Pending/DEP3BeforeGoLive", "QC-DEP-3", dep, func(w *world) {
			w.deployments[0].Status = ethos.DeploymentRegistered
			w.compliance["dep_1"][0].Observation = &ethos.Observation{Detail: "role ethics-reviewer has not acknowledged revision 1"}
		}, ethos.CheckPending, "before go-live"},
		{"Pending/DEP3NoRegisterYet", "QC-DEP-3", dep, func(w *world) {
			w.deployments[0].Status = ethos.DeploymentRegistered
			delete(w.registers, "dep_1")
		}, ethos.CheckPending, "no risk register yet"},
		{"Fail/DEP3LiveWithoutGoLive", "QC-DEP-3", dep, func(w *world) { w.changes["dep_1"] = w.changes["dep_1"][:1] }, ethos.CheckFail, "holds no go-live"},
	}
	for _, tc := range tests {
		// The consent cases run twice: consents read one by one, and in
		// batches.
		batch := []bool{false}
		if tc.id == "QC-COL-2" {
			batch = append(batch, true)
		}
		for _, b := range batch {
			name := tc.name
			if b {
				name += "/ConsentBatch"
			}
			t.Run(name, func(t *testing.T) {
				runCase(t, tc.id, tc.scope, tc.breakf, tc.want, tc.why, b, strings.HasPrefix(tc.name, "Attestation/COL1"))
			})
		}
	}
}

// runCase answers the checks of a world broken by breakf and checks one
// answer: its status and a substring of its problems.
func runCase(t *testing.T, id, scope string, breakf func(*world), want ethos.CheckStatus, why string, batch, noRecords bool) {
	t.Helper()
	w := newWorld()
	breakf(w)
	s := w.service()
	if noRecords {
		s.Records = nil
	}
	if batch {
		s.ConsentBatch = w
	}
	pc, err := s.ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	q := find(pc, id, scope)
	if q == nil {
		t.Fatalf("no %s (scope %q) in %d checks", id, scope, len(pc.Checks))
	}
	if q.Status != want {
		t.Fatalf("%s: status %s, want %s; problems: %s", id, q.Status, want, problems(q))
	}
	if !strings.Contains(problems(q), why) {
		t.Errorf("%s: problems %q lack %q", id, problems(q), why)
	}
	if q.Status == ethos.CheckPass && len(q.Problems) > 0 {
		t.Errorf("%s passes with problems %q", id, problems(q))
	}
	if q.Summary == "" || len(q.Evidence) == 0 && q.Status != ethos.CheckPending && q.Status != ethos.CheckAttestation {
		t.Errorf("%s: summary %q, %d evidence", id, q.Summary, len(q.Evidence))
	}
}

// TestBaselinePasses: the world every table case starts from passes every
// check, with evidence for each.
func TestBaselinePasses(t *testing.T) {
	pc, err := newWorld().service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Checks) != 11 {
		t.Fatalf("%d checks, want 11", len(pc.Checks))
	}
	for _, q := range pc.Checks {
		if q.Status != ethos.CheckPass || len(q.Evidence) == 0 {
			t.Errorf("%s %s: %s with %d evidence; problems: %s", q.ID, q.Scope, q.Status, len(q.Evidence), problems(q))
		}
	}
}

// TestGolden fixes the JSON form of ProjectChecks (the web UI renders it).
func TestGolden(t *testing.T) {
	w := newWorld()
	w.trainRuns[0].Status, w.trainRuns[0].SignOff = ethos.RunRegistered, nil
	w.records = w.records[:1]
	pc, err := w.service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(pc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "project-checks.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ProjectChecks JSON differs from %s (run with -update after checking the change):\n%s", path, got)
	}
}

// TestNoDeploymentServer: without a deployment registry the three
// deployment checks are answered once, for the project, as needing
// attestation; without a project store nothing is answered.
func TestNoDeploymentServer(t *testing.T) {
	w := newWorld()
	s := w.service()
	s.Deployments, s.Monitor = nil, nil
	pc, err := s.ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"QC-DEP-1", "QC-DEP-2", "QC-DEP-3"} {
		if q := find(pc, id, ""); q == nil || q.Status != ethos.CheckAttestation {
			t.Errorf("%s: %+v, want needs-attestation for the project", id, q)
		}
	}
	s.Projects = nil
	if _, err := s.ProjectChecks(context.Background(), prj); ethos.ErrorCode(err) != ethos.ENOTIMPLEMENTED {
		t.Errorf("no project store: %v", err)
	}
}

func TestErrUnknownProject(t *testing.T) {
	_, err := newWorld().service().ProjectChecks(context.Background(), "prj_other")
	if ethos.ErrorCode(err) != ethos.ENOTFOUND {
		t.Fatalf("unknown project: %v, want ENOTFOUND", err)
	}
}

// failingRecords fails every read, as a broken database would.
type failingRecords struct{}

var errDisk = errors.New("disk I/O error")

func (failingRecords) FindRecords(context.Context, ethos.RecordFilter) ([]*ethos.StageRecord, int, error) {
	return nil, 0, errDisk
}

func TestErrStoreFailure(t *testing.T) {
	s := newWorld().service()
	s.Records = failingRecords{}
	_, err := s.ProjectChecks(context.Background(), prj)
	if !errors.Is(err, errDisk) {
		t.Fatalf("store failure: %v, want it wrapped", err)
	}
}

// TestChecksMatchFramework: the eleven checks, their stages and aspects
// are the framework's (../shared/framework/quality-checks.json).
func TestChecksMatchFramework(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Shared(t), "framework", "quality-checks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fw struct {
		Checks []struct {
			ID     string      `json:"id"`
			Stage  ethos.Stage `json:"stage"`
			Aspect string      `json:"aspect"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &fw); err != nil {
		t.Fatal(err)
	}
	if len(fw.Checks) != len(checks.Checks) {
		t.Fatalf("framework has %d checks, package %d", len(fw.Checks), len(checks.Checks))
	}
	for i, c := range fw.Checks {
		got := checks.Checks[i]
		if got.ID != c.ID || got.Stage != c.Stage || got.Aspect != c.Aspect {
			t.Errorf("check %d: %s/%s/%s, framework %s/%s/%s", i, got.ID, got.Stage, got.Aspect, c.ID, c.Stage, c.Aspect)
		}
	}
	// And every answer carries the framework's order, stage and aspect.
	pc, err := newWorld().service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range pc.Checks {
		if c := fw.Checks[i]; q.ID != c.ID || q.Stage != c.Stage || q.Aspect != c.Aspect || !q.Status.Valid() {
			t.Errorf("answer %d: %s/%s/%s/%s, framework %s/%s/%s", i, q.ID, q.Stage, q.Aspect, q.Status, c.ID, c.Stage, c.Aspect)
		}
	}
}

// TestRepresentationCanary reads a report "ethos collection
// representation" wrote for the shared canary DICOM files against a
// reference declaring age bands the canary lacks
// (testdata/representation-canary.json): every absent group is a problem
// named by breakdown and group.
func TestRepresentationCanary(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "representation-canary.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	w.records[1].Body = body
	pc, err := w.service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	q := find(pc, "QC-COL-1", "")
	if q.Status != ethos.CheckFail || len(q.Problems) != 9 || q.Problems[0] != "age_band 40-49: no subject at all, 20.0% expected" {
		t.Fatalf("QC-COL-1 from the canary report: %s, %d problems: %s", q.Status, len(q.Problems), problems(q))
	}
	if !strings.Contains(q.Summary, "9 groups are under the declared floor") {
		t.Errorf("summary %q", q.Summary)
	}
}

// FuzzRepresentationRecord feeds arbitrary record bodies to QC-COL-1: it
// must answer (never fail the request, never panic) with a known status
// and a bounded list of problems.
func FuzzRepresentationRecord(f *testing.F) {
	canary, err := os.ReadFile(filepath.Join("testdata", "representation-canary.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canary)
	f.Add([]byte(representation("flag", "warning")))
	f.Add([]byte(`{"version":1,"check":"QC-COL-1","reference":{"name":"x"},"findings":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := newWorld()
		w.records[1].Body = body
		pc, err := w.service().ProjectChecks(context.Background(), prj)
		if err != nil {
			t.Fatal(err)
		}
		q := find(pc, "QC-COL-1", "")
		if !q.Status.Valid() || len(q.Problems) > 26 || len(q.Evidence) == 0 {
			t.Fatalf("status %q, %d problems, %d evidence", q.Status, len(q.Problems), len(q.Evidence))
		}
	})
}

// summary is a store's count of instance records.
type summary ethos.InstanceSummary

func (s *summary) SummarizeInstances(context.Context, string) (*ethos.InstanceSummary, error) {
	return (*ethos.InstanceSummary)(s), nil
}

// TestCOL2FromStoreSummary: with the store's aggregate counts, breaches
// are named up to the bound and the rest counted.
func TestCOL2FromStoreSummary(t *testing.T) {
	var ids []string
	for i := range 30 {
		ids = append(ids, fmt.Sprintf("ins_%02d", i))
	}
	tests := []struct {
		name string
		sum  ethos.InstanceSummary
		want ethos.CheckStatus
		why  string
	}{
		{"Pass", ethos.InstanceSummary{ByStatus: map[ethos.InstanceStatus]int{ethos.InstanceStored: 2}, StoredByConsent: map[string]int{"cns_a": 1, "cns_b": 1},
			Subjects: []ethos.SubjectKey{subjectA, subjectB}}, ethos.CheckPass, ""},
		{"FailNoConsentBeyondBound", ethos.InstanceSummary{ByStatus: map[ethos.InstanceStatus]int{ethos.InstanceStored: 40}, StoredByConsent: map[string]int{"": 30, "cns_a": 10},
			Examples: map[string][]string{"no-consent": ids[:25]}, Subjects: []ethos.SubjectKey{subjectA}}, ethos.CheckFail, "30 stored instances name no consent: ins_00, ins_01"},
		{"FailQuarantineKeptBytes", ethos.InstanceSummary{ByStatus: map[ethos.InstanceStatus]int{ethos.InstanceQuarantined: 3}, QuarantinedWithBlob: 1,
			Examples: map[string][]string{"quarantined-blob": {"ins_9"}}}, ethos.CheckFail, "1 quarantined instance still names stored bytes: ins_9"},
		{"FailNoBlob", ethos.InstanceSummary{ByStatus: map[ethos.InstanceStatus]int{ethos.InstanceStored: 1}, StoredByConsent: map[string]int{"cns_a": 1}, StoredWithoutBlob: 1,
			Examples: map[string][]string{"no-blob": {"ins_1"}}, Subjects: []ethos.SubjectKey{subjectA}}, ethos.CheckFail, "1 stored instance has no encrypted blob: ins_1"},
		{"Pending", ethos.InstanceSummary{}, ethos.CheckPending, "no instance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newWorld().service()
			sum := summary(tc.sum)
			s.Summaries = &sum
			pc, err := s.ProjectChecks(context.Background(), prj)
			if err != nil {
				t.Fatal(err)
			}
			q := find(pc, "QC-COL-2", "")
			if q.Status != tc.want || !strings.Contains(problems(q), tc.why) {
				t.Fatalf("QC-COL-2: %s; problems %q, want %s with %q", q.Status, problems(q), tc.want, tc.why)
			}
			if len(q.Problems) > 26 {
				t.Errorf("%d problems listed", len(q.Problems))
			}
		})
	}
}

// TestProcessingVerdictRemembered: a processing record never changes, so
// a service reads a run's items once; a record listed differently under
// the same id is read and judged again.
func TestProcessingVerdictRemembered(t *testing.T) {
	w := newWorld()
	s := w.service()
	ctx := context.Background()
	for range 3 {
		if _, err := s.ProjectChecks(ctx, prj); err != nil {
			t.Fatal(err)
		}
	}
	if w.runReads != 1 {
		t.Fatalf("run read %d times for three answers, want once", w.runReads)
	}
	w.procRuns[0].Items = w.procRuns[0].Items[:1]
	w.procRuns[0].Inputs, w.procRuns[0].Written = 1, 1
	pc, err := s.ProjectChecks(ctx, prj)
	if err != nil {
		t.Fatal(err)
	}
	if w.runReads != 2 {
		t.Errorf("changed listing: run read %d times, want again", w.runReads)
	}
	if q := find(pc, "QC-PRO-1", ""); q.Status != ethos.CheckPass {
		t.Errorf("QC-PRO-1 after the re-read: %s %v", q.Status, q.Problems)
	}
}

// TestListingsReadOncePerAnswer: the listings several checks read (the
// deployments, processing runs, dataset versions, training runs and
// evaluation plans) are
// read once per answer, each in one page here, not once per check.
func TestListingsReadOncePerAnswer(t *testing.T) {
	w := newWorld()
	s := w.service()
	for answer := 1; answer <= 2; answer++ {
		if _, err := s.ProjectChecks(context.Background(), prj); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"FindDeployments", "FindProcessingRuns", "FindDatasetVersions", "FindTrainingRuns", "FindEvaluationPlans"} {
			if got := w.listings[m]; got != answer {
				t.Errorf("after answer %d: %s called %d times, want %d", answer, m, got, answer)
			}
		}
	}
}

// TestPendingSummaryCapitalizesWholeRune: a pending answer's summary is its
// first problem with a capital letter, and a problem beginning with a
// letter of more than one byte (text another stage wrote) stays valid
// UTF-8.
func TestPendingSummaryCapitalizesWholeRune(t *testing.T) {
	w := newWorld()
	w.deployments[0].Status = ethos.DeploymentRegistered
	w.monitor["dep_1"].Pass, w.monitor["dep_1"].Failures = false, []string{"ébauche du plan de surveillance"}
	pc, err := w.service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	q := find(pc, "QC-DEP-1", "deployment dep_1")
	if want := "Ébauche du plan de surveillance (deployment is registered)."; q.Status != ethos.CheckPending || q.Summary != want {
		t.Fatalf("QC-DEP-1: %s, summary %q, want pending with %q", q.Status, q.Summary, want)
	}
}

// TestCOL2ExamplesSmallestIDs: read record by record (no store summary),
// the breaches named are the smallest ids, as the store's summary names
// them, whatever order the instances were received in.
func TestCOL2ExamplesSmallestIDs(t *testing.T) {
	w := newWorld()
	for i := range 30 {
		// Received in descending order of id.
		w.instances = append(w.instances, &ethos.Instance{ID: fmt.Sprintf("ins_x%02d", 29-i), ProjectID: prj, Subject: subjectA,
			Status: ethos.InstanceStored, Blob: w.instances[0].Blob, ReceivedAt: at(1)})
	}
	pc, err := w.service().ProjectChecks(context.Background(), prj)
	if err != nil {
		t.Fatal(err)
	}
	q := find(pc, "QC-COL-2", "")
	want := "30 stored instances name no consent: ins_x00, ins_x01, "
	if q.Status != ethos.CheckFail || !strings.Contains(problems(q), want) || !strings.Contains(problems(q), "ins_x24 and 5 more") {
		t.Fatalf("QC-COL-2: %s; problems %s, want %q … ins_x24 and 5 more", q.Status, problems(q), want)
	}
}
