package checks_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/checks"
)

// world is an in-memory project with everything the checks read. newWorld
// returns one where every check passes; the table tests break one thing
// at a time.
type world struct {
	now     time.Time
	project *ethos.Project

	records     []*ethos.StageRecord
	instances   []*ethos.Instance
	consents    map[string]*ethos.Consent
	keys        map[ethos.SubjectKey]*ethos.DataKey
	audit       *checks.AuditVerification
	events      map[int64]*ethos.AuditEvent
	procRuns    []*ethos.ProcessingRun
	versions    []*ethos.DatasetVersion
	trainRuns   []*ethos.TrainingRun
	obligations []*ethos.Obligation
	plans       []*ethos.EvaluationPlan
	attempts    []*ethos.EvaluationRun
	statuses    map[string]*ethos.EvaluationStatus
	planErr     error
	deployments []*ethos.Deployment
	changes     map[string][]*ethos.DeploymentChange
	registers   map[string]*ethos.RiskRegister
	compliance  map[string][]ethos.ComplianceResult
	monitor     map[string]*ethos.MonitorStatus

	runReads int            // ProcessingRun calls
	listings map[string]int // listing calls by method
}

const (
	prj      = "prj_demo"
	subjectA = ethos.SubjectKey("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	subjectB = ethos.SubjectKey("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	hex64    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hex64b   = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(days int) time.Time { return t0.AddDate(0, 0, days) }

// representation returns a representation report body with the given
// finding severities.
func representation(severities ...string) json.RawMessage {
	type finding struct {
		Kind, Severity, Breakdown, Group, Message string
	}
	var fs []map[string]string
	for i, s := range severities {
		kind := "small_group"
		if s == "flag" {
			kind = "under_floor"
		}
		fs = append(fs, map[string]string{"kind": kind, "severity": s, "breakdown": "sex", "group": "F",
			"message": "sex=F: finding " + string(rune('A'+i))})
	}
	if fs == nil {
		fs = []map[string]string{}
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "check": "QC-COL-1", "unit": "subject", "units": 2,
		"reference": map[string]any{"name": "catchment 2025", "floor": 0.8}, "findings": fs})
	return b
}

func newWorld() *world {
	w := &world{now: at(40)}
	w.project = &ethos.Project{ID: prj, Name: "Nodules", Stage: ethos.StageDeployment, PartyID: "pty_1"}
	w.records = []*ethos.StageRecord{
		{ID: "rec_note", ProjectID: prj, Stage: ethos.StageCollection, Kind: "note", Body: json.RawMessage(`{}`), CreatedAt: at(1)},
		{ID: "rec_rep", ProjectID: prj, Stage: ethos.StageCollection, Kind: checks.RepresentationKind, Body: representation("warning"), CreatedBy: "usr_steward", CreatedAt: at(3)},
	}
	blob := func(s ethos.SubjectKey) *ethos.BlobRef { return &ethos.BlobRef{Subject: s, Digest: hex64, Size: 10} }
	w.instances = []*ethos.Instance{
		{ID: "ins_1", ProjectID: prj, Subject: subjectA, Status: ethos.InstanceStored, ConsentID: "cns_a", Blob: blob(subjectA), ReceivedAt: at(1)},
		{ID: "ins_2", ProjectID: prj, Subject: subjectB, Status: ethos.InstanceStored, ConsentID: "cns_b", Blob: blob(subjectB), ReceivedAt: at(2)},
		{ID: "ins_3", ProjectID: prj, Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineNoConsent, ReceivedAt: at(2)},
	}
	w.consents = map[string]*ethos.Consent{
		"cns_a": {ID: "cns_a", Status: ethos.ConsentActive, Subject: subjectA, DateTime: at(-100)},
		"cns_b": {ID: "cns_b", Status: ethos.ConsentActive, Subject: subjectB, DateTime: at(-100)},
	}
	w.keys = map[ethos.SubjectKey]*ethos.DataKey{
		subjectA: {ID: "k1", Subject: subjectA, MasterKeyID: "mk1", Wrapped: []byte{1}},
		subjectB: {ID: "k2", Subject: subjectB, MasterKeyID: "mk1", Wrapped: []byte{2}},
	}
	w.audit = &checks.AuditVerification{OK: true, Size: 120, CheckpointSize: 100, Unsigned: 20, Root: "root"}

	item := func(in string, s ethos.SubjectKey) ethos.ProcessingItem {
		return ethos.ProcessingItem{InstanceID: in, Subject: s, Status: ethos.ItemWritten, InputSHA256: hex64, OutputSHA256: hex64b,
			Output: &ethos.BlobRef{Subject: s, Digest: hex64b, Size: 9}, OutputUID: "2.25.1"}
	}
	w.procRuns = []*ethos.ProcessingRun{{ID: "prc_1", ProjectID: prj, StartedBy: "usr_steward", StartedAt: at(5), FinishedAt: at(5).Add(time.Minute),
		Software: "ethos test", Profile: ethos.ProcessingProfile{Standard: "DICOM PS3.15 Annex E", Options: []string{"retain-patient-characteristics"}, Hash: "ph1"},
		KeyFingerprint: "kf1", Inputs: 2, Written: 2, Actions: map[string]int{"remove": 10},
		Bias:  &ethos.ProcessingBias{Threshold: 0.1, Confidence: 0.95, Groups: []ethos.ProcessingGroupRate{{Attribute: "sex", Value: "F", Before: 1, After: 1}}},
		Items: []ethos.ProcessingItem{item("ins_1", subjectA), item("ins_2", subjectB)}}}
	w.versions = []*ethos.DatasetVersion{{ID: "dsv_" + hex64[:20], ProjectID: prj, RunID: "prc_1"}}

	w.trainRuns = []*ethos.TrainingRun{{ID: "trn_1", ProjectID: prj, DatasetVersion: w.versions[0].ID, Split: "train", CodeVersion: "9fceb02",
		ModelSHA256: hex64, ModelName: "nodule", ModelVersion: "mdl_1", Status: ethos.RunSignedOff, RegisteredBy: "usr_ml", RegisteredAt: at(10),
		Coverage: &ethos.ConsentCoverage{Purpose: ethos.PurposeAITraining, CheckedAt: at(10), Instances: 2, Subjects: 2, Covered: 2},
		Sources:  []ethos.DataSource{{Source: "file:canary", Instances: 2}},
		SignOff:  &ethos.TrainingSignOff{Reviewer: "usr_ethics", Decision: ethos.SignOffApproved, At: at(11)}}}

	w.plans = []*ethos.EvaluationPlan{{ID: "evp_1", ProjectID: prj, ModelVersionID: "mdl_1", DatasetVersionID: "dsv_test", Title: "Held-out test",
		Attributes: []string{"sex"}, Threshold: 0.5, Digest: hex64b, RegisteredBy: "usr_ml", RegisteredAt: at(12), AuditIndex: 50}}
	w.events = map[int64]*ethos.AuditEvent{50: {Action: "evaluation.plan.register", Resource: "evaluation-plan/evp_1", Reason: "pre-registered plan " + hex64b + " for model version mdl_1"}}
	w.attempts = []*ethos.EvaluationRun{{ID: "evr_1", PlanID: "evp_1", ProjectID: prj, ModelVersionID: "mdl_1", Attempt: 1, InputDigest: hex64, UploadedAt: at(13), AuditIndex: 60}}
	w.statuses = map[string]*ethos.EvaluationStatus{"evr_1": {RunID: "evr_1", PlanID: "evp_1", Acknowledged: true, Passed: true,
		Signoffs: []*ethos.EvaluationSignoff{{ID: "eso_1", RunID: "evr_1", Kind: ethos.SignoffAcknowledgement, Decision: ethos.DecisionAcknowledged, By: "usr_adv", Role: ethos.RolePatientAdvocate, At: at(14), AuditIndex: 70}}}}

	w.deployments = []*ethos.Deployment{{ID: "dep_1", ProjectID: prj, ModelVersionID: "mdl_1", Status: ethos.DeploymentLive}}
	w.changes = map[string][]*ethos.DeploymentChange{"dep_1": {
		{DeploymentID: "dep_1", Seq: 1, Kind: ethos.ChangeRegistered, At: at(15)},
		{DeploymentID: "dep_1", Seq: 2, Kind: ethos.ChangeGoLive, At: at(17), By: "usr_ethics", Reason: "risk file complete"}}}
	w.registers = map[string]*ethos.RiskRegister{"dep_1": {ProjectID: prj, DeploymentID: "dep_1", Revision: 1, RevisedAt: at(16),
		Acknowledgements: []ethos.RiskAcknowledgement{{UserID: "usr_clin", Role: ethos.RoleClinician, Revision: 1, At: at(16)}}}}
	w.compliance = map[string][]ethos.ComplianceResult{"dep_1": {
		{Item: ethos.ComplianceItem{ID: "EUAIA-9", Regime: "EU AI Act", Citation: "art. 9", Evidence: ethos.EvidenceRiskRegisterComplete}, Outcome: ethos.CompliancePass,
			Observation: &ethos.Observation{OK: true, Detail: "complete"}},
		{Item: ethos.ComplianceItem{ID: "GDPR-35", Regime: "GDPR", Citation: "art. 35", AttestRoles: []ethos.Role{ethos.RoleEthicsReviewer}}, Outcome: ethos.ComplianceWaived,
			Attestation: &ethos.Attestation{ItemID: "GDPR-35", Waiver: true, Signature: ethos.Signature{UserID: "usr_ethics", Role: ethos.RoleEthicsReviewer, At: at(16), Reason: "covered by the site DPIA"}}},
	}}
	w.monitor = map[string]*ethos.MonitorStatus{"dep_1": {Check: "QC-DEP-1", DeploymentID: "dep_1", Pass: true, Rules: 1, Owners: 1, RecentEvents: true,
		LastRun: &ethos.MonitorRun{ID: "mrn_1", FinishedAt: at(39)}}}
	return w
}

// service returns a checks.Service reading w.
func (w *world) service() *checks.Service {
	return &checks.Service{
		Projects: w, Records: w, Instances: w, Consents: w, Keys: w, Audit: w, Events: w,
		Processing: w, Datasets: w, Training: w, Obligations: w, Evaluations: w,
		CheckPlan:   func(*ethos.EvaluationPlan) error { return w.planErr },
		Deployments: w, Monitor: (*monitorFake)(w),
		Now: func() time.Time { return w.now },
	}
}

func page[T any](all []T, off, lim int) ([]T, int, error) {
	n := len(all)
	if off > n {
		off = n
	}
	end := n
	if lim > 0 && off+lim < n {
		end = off + lim
	}
	return slices.Clone(all[off:end]), n, nil
}

func notFound(what string) error { return ethos.Errorf(ethos.ENOTFOUND, "%s not found", what) }

func (w *world) FindProjectByID(_ context.Context, id string) (*ethos.Project, error) {
	if id != w.project.ID {
		return nil, notFound("project " + id)
	}
	return w.project, nil
}

func (w *world) FindRecords(_ context.Context, f ethos.RecordFilter) ([]*ethos.StageRecord, int, error) {
	var out []*ethos.StageRecord
	for _, r := range w.records {
		if r.ProjectID == f.ProjectID && (f.Stage == "" || r.Stage == f.Stage) {
			out = append(out, r)
		}
	}
	return page(out, f.Offset, f.Limit)
}

func (w *world) FindInstances(_ context.Context, f ethos.InstanceFilter) ([]*ethos.Instance, int, error) {
	var out []*ethos.Instance
	for _, in := range w.instances {
		if f.ProjectID != nil && in.ProjectID != *f.ProjectID || f.Status != nil && in.Status != *f.Status ||
			f.ReceivedBefore != nil && !in.ReceivedAt.Before(*f.ReceivedBefore) {
			continue
		}
		out = append(out, in)
	}
	return page(out, f.Offset, f.Limit)
}

func (w *world) FindConsentByID(_ context.Context, id string) (*ethos.Consent, error) {
	if c, ok := w.consents[id]; ok {
		return c, nil
	}
	return nil, notFound("consent")
}

func (w *world) ConsentsByID(_ context.Context, ids []string) (map[string]*ethos.Consent, error) {
	out := map[string]*ethos.Consent{}
	for _, id := range ids {
		if c, ok := w.consents[id]; ok {
			out[id] = c
		}
	}
	return out, nil
}

func (w *world) DataKey(_ context.Context, s ethos.SubjectKey) (*ethos.DataKey, error) {
	if k, ok := w.keys[s]; ok {
		return k, nil
	}
	return nil, notFound("data key")
}

func (w *world) VerifyAuditLog(context.Context) (*checks.AuditVerification, error) {
	return w.audit, nil
}

func (w *world) AuditEvent(_ context.Context, i int64) (*ethos.AuditEvent, error) {
	if e, ok := w.events[i]; ok {
		return e, nil
	}
	return nil, notFound("event")
}

// listed counts a call of a listing method.
func (w *world) listed(method string) {
	if w.listings == nil {
		w.listings = map[string]int{}
	}
	w.listings[method]++
}

func (w *world) FindProcessingRuns(_ context.Context, f ethos.ProcessingRunFilter) ([]*ethos.ProcessingRun, int, error) {
	w.listed("FindProcessingRuns")
	var out []*ethos.ProcessingRun
	for _, r := range w.procRuns {
		c := *r
		c.Items = nil
		out = append(out, &c)
	}
	return page(out, f.Offset, f.Limit)
}

func (w *world) ProcessingRun(_ context.Context, id string) (*ethos.ProcessingRun, error) {
	w.runReads++
	for _, r := range w.procRuns {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, notFound("run")
}

func (w *world) FindDatasetVersions(_ context.Context, f ethos.DatasetVersionFilter) ([]*ethos.DatasetVersion, int, error) {
	w.listed("FindDatasetVersions")
	var out []*ethos.DatasetVersion
	for _, v := range w.versions {
		if f.ID == nil || v.ID == *f.ID {
			out = append(out, v)
		}
	}
	return page(out, f.Offset, f.Limit)
}

func (w *world) FindTrainingRuns(_ context.Context, f ethos.TrainingRunFilter) ([]*ethos.TrainingRun, int, error) {
	w.listed("FindTrainingRuns")
	return page(w.trainRuns, f.Offset, f.Limit)
}

func (w *world) FindObligations(_ context.Context, f ethos.ObligationFilter) ([]*ethos.Obligation, int, error) {
	var out []*ethos.Obligation
	for _, o := range w.obligations {
		if f.Status == nil || o.Status == *f.Status {
			out = append(out, o)
		}
	}
	return page(out, f.Offset, f.Limit)
}

func (w *world) FindEvaluationPlans(_ context.Context, f ethos.EvaluationPlanFilter) ([]*ethos.EvaluationPlan, int, error) {
	w.listed("FindEvaluationPlans")
	return page(w.plans, f.Offset, f.Limit)
}

// FindEvaluationRuns lists a plan's attempts newest first.
func (w *world) FindEvaluationRuns(_ context.Context, f ethos.EvaluationRunFilter) ([]*ethos.EvaluationRun, int, error) {
	var out []*ethos.EvaluationRun
	for _, a := range w.attempts {
		if f.PlanID == nil || a.PlanID == *f.PlanID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *ethos.EvaluationRun) int { return b.Attempt - a.Attempt })
	return page(out, f.Offset, f.Limit)
}

func (w *world) Status(_ context.Context, runID string) (*ethos.EvaluationStatus, error) {
	if s, ok := w.statuses[runID]; ok {
		return s, nil
	}
	return &ethos.EvaluationStatus{RunID: runID}, nil
}

func (w *world) FindDeployments(_ context.Context, f ethos.DeploymentFilter) ([]*ethos.Deployment, int, error) {
	w.listed("FindDeployments")
	return page(w.deployments, f.Offset, f.Limit)
}

func (w *world) FindChanges(_ context.Context, id string) ([]*ethos.DeploymentChange, error) {
	return w.changes[id], nil
}

func (w *world) RiskRegister(_ context.Context, id string) (*ethos.RiskRegister, error) {
	if r, ok := w.registers[id]; ok {
		return r, nil
	}
	return nil, notFound("risk register")
}

func (w *world) Compliance(_ context.Context, id string, _ time.Time) ([]ethos.ComplianceResult, error) {
	return w.compliance[id], nil
}

// monitorFake is the world seen as the monitor (its Status method would
// clash with the evaluation reader's).
type monitorFake world

func (m *monitorFake) Status(_ context.Context, dep string) (*ethos.MonitorStatus, error) {
	if s, ok := m.monitor[dep]; ok {
		return s, nil
	}
	return nil, notFound("monitoring plan")
}

// find returns the check id (with scope) from pc.
func find(pc *ethos.ProjectChecks, id, scope string) *ethos.QualityCheck {
	for _, q := range pc.Checks {
		if q.ID == id && q.Scope == scope {
			return q
		}
	}
	return nil
}

func problems(q *ethos.QualityCheck) string { return strings.Join(q.Problems, " | ") }
