package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// Evaluations is a fake evaluation gate: model version → approved
// evaluation id; a missing version is refused with a reason.
type Evaluations map[string]string

// ApprovedEvaluation implements ethos.ApprovedEvaluations.
func (e Evaluations) ApprovedEvaluation(_ context.Context, mv string) (string, error) {
	if id, ok := e[mv]; ok {
		return id, nil
	}
	return "", ethos.Errorf(ethos.ENOTFOUND, "no passed, signed-off evaluation of %s", mv)
}

// DeploymentFixture is a registry over a fresh store with a project, and
// users in every stakeholder role.
type DeploymentFixture struct {
	DB       *sqlstore.DB
	Store    *sqlstore.DeploymentStore
	Registry *deployment.Registry
	Project  *ethos.Project
	Engineer ethos.Changer // ml-engineer
	Ethics   ethos.Changer // ethics-reviewer
	Clin     ethos.Changer // clinician
	Clock    *time.Time
}

// NewDeploymentFixture builds the fixture over db. The clock starts at
// 2026-03-01 12:00 UTC and moves only when the test moves it.
func NewDeploymentFixture(t testing.TB, db *sqlstore.DB) *DeploymentFixture {
	t.Helper()
	ctx := context.Background()
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &DeploymentFixture{DB: db, Store: sqlstore.NewDeploymentStore(db), Clock: &clock}
	t.Cleanup(func() { f.Store.Close() })
	db.Now = func() time.Time { return *f.Clock }
	party := &ethos.Party{Name: "Hospital", Type: ethos.PartyPublic}
	if err := sqlstore.NewPartyService(db).CreateParty(ctx, party); err != nil {
		t.Fatal(err)
	}
	users := sqlstore.NewUserService(db)
	mk := func(name string, roles ...ethos.Role) ethos.Changer {
		u := &ethos.User{PartyID: party.ID, Name: name, Roles: roles}
		if err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return ethos.Changer{UserID: u.ID, Roles: roles}
	}
	f.Engineer = mk("Engineer", ethos.RoleMLEngineer)
	f.Ethics = mk("Reviewer", ethos.RoleEthicsReviewer)
	f.Clin = mk("Radiologist", ethos.RoleClinician)
	f.Project = &ethos.Project{Name: "Chest triage", IntendedUse: "triage of chest radiographs", Modality: "DX", ClinicalSetting: "emergency department", PartyID: party.ID}
	if err := sqlstore.NewProjectService(db).CreateProject(ctx, f.Project, f.Engineer.UserID); err != nil {
		t.Fatal(err)
	}
	f.Registry = &deployment.Registry{Store: f.Store, Users: users, Evaluations: Evaluations{"mv-1": "eval-1", "mv-2": "eval-2"},
		Now: func() time.Time { return *f.Clock }}
	return f
}

// Register registers model version mv with a plan naming clinician and
// ethics reviewer as stakeholders.
func (f *DeploymentFixture) Register(t testing.TB, mv string) (*ethos.Deployment, error) {
	t.Helper()
	d := &ethos.Deployment{ProjectID: f.Project.ID, ModelVersionID: mv, Site: "Main campus ED", IntendedUse: "flag suspected pneumothorax",
		Threshold: 0.5, ResponsibleUserID: f.Clin.UserID,
		Plan: json.RawMessage(`{"stakeholder_roles":["clinician","ethics-reviewer"],"windows":["weekly"]}`)}
	err := f.Registry.RegisterDeployment(context.Background(), d, f.Engineer)
	return d, err
}

// CompleteRegister returns a register that covers the whole catalogue.
func CompleteRegister() *ethos.RiskRegister {
	reg := &ethos.RiskRegister{NotApplicable: map[string]string{}}
	for i, h := range deployment.Catalogue() {
		if i == 0 {
			reg.Risks = append(reg.Risks, ethos.Risk{ID: "R1", Hazard: h, Initial: ethos.RiskScore{Severity: 3, Probability: 3},
				Controls: []ethos.RiskControl{{Description: "weekly drift check with alert", Kind: ethos.ControlProtective, Verification: "alert fired in a drill"}},
				Residual: &ethos.RiskScore{Severity: 3, Probability: 1}})
			continue
		}
		reg.NotApplicable[h.ID] = "covered by the site's general IT risk file"
	}
	return reg
}

// Event returns a valid event record.
func Event(id, caseID string, at time.Time, score float64) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"event_id": id, "time": at.Format(time.RFC3339Nano), "case_id": caseID, "score": score,
		"sex": "F", "age_band": "65-74", "reader_action": "accepted", "latency_ms": 120.5,
		"acquisition": map[string]any{"manufacturer": "ACME", "model_name": "Rad 9", "software_version": "VE11C", "body_part": "CHEST",
			"protocol": "PA chest", "kvp": 120.0, "pixel_spacing": 0.143, "modality": "DX"}})
	return b
}

// RunDeployment runs the deployment store and workflow conformance suite.
func RunDeployment(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	ctx := context.Background()
	t.Run("RegisterNeedsApprovedEvaluation", func(t *testing.T) {
		f := NewDeploymentFixture(t, open(t))
		_, err := f.Register(t, "mv-unknown")
		code(t, err, ethos.ECONFLICT)
		if err == nil || !strings.Contains(ethos.ErrorMessage(err), "no passed, signed-off evaluation") {
			t.Errorf("refusal does not give the gate's reason: %v", err)
		}
		f.Registry.Evaluations = nil
		_, err = f.Register(t, "mv-1")
		code(t, err, ethos.ECONFLICT)
		if n, _, _ := f.Store.FindDeployments(ctx, ethos.DeploymentFilter{}); len(n) != 0 {
			t.Errorf("refused registrations stored %d deployments", len(n))
		}
	})
	t.Run("RegisterValidates", func(t *testing.T) {
		f := NewDeploymentFixture(t, open(t))
		for name, mut := range map[string]func(d *ethos.Deployment){
			"plan_not_object":  func(d *ethos.Deployment) { d.Plan = json.RawMessage(`[1]`) },
			"plan_bad_role":    func(d *ethos.Deployment) { d.Plan = json.RawMessage(`{"stakeholder_roles":["boss"]}`) },
			"threshold":        func(d *ethos.Deployment) { d.Threshold = 1.5 },
			"no_site":          func(d *ethos.Deployment) { d.Site = " " },
			"responsible_gone": func(d *ethos.Deployment) { d.ResponsibleUserID = "usr_nobody" },
		} {
			t.Run(name, func(t *testing.T) {
				d := &ethos.Deployment{ProjectID: f.Project.ID, ModelVersionID: "mv-1", Site: "ED", IntendedUse: "triage", Threshold: 0.5,
					ResponsibleUserID: f.Clin.UserID, Plan: json.RawMessage(`{}`)}
				mut(d)
				code(t, f.Registry.RegisterDeployment(ctx, d, f.Engineer), ethos.EINVALID)
			})
		}
		f.Registry.ValidatePlan = func(b []byte) error { return ethos.Errorf(ethos.EINVALID, "plan: windows: unknown window") }
		_, err := f.Register(t, "mv-1")
		code(t, err, ethos.EINVALID)
	})
	t.Run("LifecycleAndChangeLog", func(t *testing.T) {
		f := NewDeploymentFixture(t, open(t))
		d, err := f.Register(t, "mv-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.EvaluationID != "eval-1" || d.Status != ethos.DeploymentRegistered || !slices.Equal(d.StakeholderRoles, []ethos.Role{ethos.RoleClinician, ethos.RoleEthicsReviewer}) {
			t.Fatalf("registered %+v", d)
		}
		got, err := f.Registry.FindDeploymentByID(ctx, d.ID)
		if err != nil || string(got.Plan) != string(d.Plan) || got.Threshold != 0.5 {
			t.Fatalf("read back %+v, %v", got, err)
		}
		req := func(kind ethos.ChangeKind) ethos.ChangeRequest {
			return ethos.ChangeRequest{Kind: kind, Reason: "r", ExpectedEffect: "e", Notified: []ethos.Role{ethos.RoleClinician}}
		}
		goLive := req(ethos.ChangeGoLive)
		_, _, err = f.Registry.ChangeDeployment(ctx, d.ID, goLive, f.Ethics)
		code(t, err, ethos.ECONFLICT)
		if err == nil || !strings.Contains(ethos.ErrorMessage(err), "no risk register") {
			t.Errorf("go-live without register: %v", err)
		}
		reg, err := f.Registry.PutRiskRegister(ctx, d.ID, CompleteRegister(), f.Engineer)
		if err != nil {
			t.Fatal(err)
		}
		if reg.Revision != 1 {
			t.Fatalf("revision %d", reg.Revision)
		}
		_, err = f.Registry.PutRiskRegister(ctx, d.ID, CompleteRegister(), f.Engineer) // based on revision 0 again
		code(t, err, ethos.ECONFLICT)
		blockers, err := f.Registry.GoLiveBlockers(ctx, d.ID)
		if err != nil || len(blockers) != 2 {
			t.Fatalf("blockers %q, %v; want the two missing acknowledgements", blockers, err)
		}
		if _, err := f.Registry.AcknowledgeRisk(ctx, d.ID, 1, f.Clin, ethos.RoleEthicsReviewer); ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Errorf("ack in a role not held: %v", err)
		}
		if _, err := f.Registry.AcknowledgeRisk(ctx, d.ID, 1, f.Engineer, ethos.RoleMLEngineer); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("ack by a non-stakeholder role: %v", err)
		}
		for _, who := range []struct {
			c ethos.Changer
			r ethos.Role
		}{{f.Clin, ethos.RoleClinician}, {f.Ethics, ethos.RoleEthicsReviewer}} {
			if _, err := f.Registry.AcknowledgeRisk(ctx, d.ID, 1, who.c, who.r); err != nil {
				t.Fatal(err)
			}
		}
		live, c, err := f.Registry.ChangeDeployment(ctx, d.ID, goLive, f.Ethics)
		if err != nil {
			t.Fatalf("go-live with a complete, acknowledged register: %v", err)
		}
		if live.Status != ethos.DeploymentLive || live.LiveAt == nil || c.Seq != 2 || !slices.Equal(c.Pending, []ethos.Role{ethos.RoleClinician}) {
			t.Fatalf("after go-live: %+v, change %+v", live, c)
		}
		*f.Clock = f.Clock.Add(time.Hour)
		th := 0.6
		tr := req(ethos.ChangeThreshold)
		tr.Threshold = &th
		if _, c, err = f.Registry.ChangeDeployment(ctx, d.ID, tr, f.Engineer); err != nil || c.From != "0.5" || c.To != "0.6" {
			t.Fatalf("threshold change %+v, %v", c, err)
		}
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, tr, f.Engineer); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("unchanged threshold: %v", err)
		}
		noReason := tr
		noReason.Reason = ""
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, noReason, f.Engineer); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("change without reason: %v", err)
		}
		if _, err := f.Registry.AcknowledgeChange(ctx, d.ID, 3, f.Clin, ethos.RoleClinician); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Registry.AcknowledgeChange(ctx, d.ID, 3, f.Ethics, ethos.RoleEthicsReviewer); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("ack by a role not notified: %v", err)
		}
		mv := req(ethos.ChangeModelVersion)
		mv.ModelVersionID = "mv-9"
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, mv, f.Engineer); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("model version without evaluation: %v", err)
		}
		mv.ModelVersionID = "mv-2"
		back, _, err := f.Registry.ChangeDeployment(ctx, d.ID, mv, f.Engineer)
		if err != nil || back.Status != ethos.DeploymentRegistered || back.EvaluationID != "eval-2" {
			t.Fatalf("model version change on a live deployment: %+v, %v", back, err)
		}
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, req(ethos.ChangeSuspend), f.Engineer); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, req(ethos.ChangeRetire), f.Engineer); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, goLive, f.Ethics); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("change of a retired deployment: %v", err)
		}
		log, err := f.Registry.FindChanges(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []ethos.ChangeKind
		for _, c := range log {
			kinds = append(kinds, c.Kind)
		}
		want := []ethos.ChangeKind{ethos.ChangeRegistered, ethos.ChangeGoLive, ethos.ChangeThreshold, ethos.ChangeModelVersion, ethos.ChangeSuspend, ethos.ChangeRetire}
		if !slices.Equal(kinds, want) {
			t.Errorf("change log %v, want %v", kinds, want)
		}
		if len(log[2].Acks) != 1 || log[2].Acks[0].UserID != f.Clin.UserID || len(log[2].Pending) != 0 {
			t.Errorf("threshold change acks %+v pending %v", log[2].Acks, log[2].Pending)
		}
	})
	t.Run("ConcurrentChangeConflicts", func(t *testing.T) {
		f := NewDeploymentFixture(t, open(t))
		d, err := f.Register(t, "mv-1")
		if err != nil {
			t.Fatal(err)
		}
		stale := *d
		stale.Revision = 2
		stale.Site = "elsewhere"
		c := &ethos.DeploymentChange{DeploymentID: d.ID, Seq: 2, Kind: ethos.ChangeSite, Reason: "r", ExpectedEffect: "e", By: f.Engineer.UserID, At: *f.Clock}
		if err := f.Store.UpdateDeployment(ctx, &stale, c); err != nil {
			t.Fatal(err)
		}
		if err := f.Store.UpdateDeployment(ctx, &stale, c); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("second update from the same revision: %v", err)
		}
	})
	t.Run("Events", func(t *testing.T) { testEvents(t, NewDeploymentFixture(t, open(t))) })
	t.Run("ConcurrentBatchesGroupCommitted", func(t *testing.T) { testConcurrentEvents(t, NewDeploymentFixture(t, open(t))) })
	t.Run("IncidentsAndCompliance", func(t *testing.T) { testIncidents(t, NewDeploymentFixture(t, open(t))) })
	t.Run("WithdrawalReachesDeployments", func(t *testing.T) { testWithdrawalReachesDeployments(t, NewDeploymentFixture(t, open(t))) })
	t.Run("ComplianceEvidencePerDeployment", func(t *testing.T) { testComplianceEvidence(t, NewDeploymentFixture(t, open(t))) })
	t.Run("LabelArrivals", func(t *testing.T) { testLabelArrivals(t, NewDeploymentFixture(t, open(t))) })
}

func testEvents(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	d, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	t0 := f.Clock.Add(-2 * time.Hour)
	batch := []json.RawMessage{
		Event("e1", "case-a", t0.Add(time.Minute), 0.9),
		Event("e2", "case-b", t0, 0.1), // out of order: fine
		json.RawMessage(`{"event_id":"e3","time":"2026-03-01T10:00:00Z","case_id":"case-c","score":0.2,"patient_name":"DOE^JANE"}`),
		Event("e1", "case-a", t0.Add(time.Minute), 0.9), // same event twice in one batch
		Event("e4", "1234567", t0, 0.3),                 // MRN-like case id
	}
	res, err := f.Registry.IngestEvents(ctx, d.ID, batch, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Duplicates != 1 || len(res.Rejected) != 2 || res.Rejected[0].Index != 2 || res.Rejected[1].Index != 4 {
		t.Fatalf("result %+v", res)
	}
	if strings.Contains(res.Rejected[0].Reason, "DOE") || !strings.Contains(res.Rejected[0].Reason, "patient_name") {
		t.Errorf("rejection reason %q: must name the field, never the value", res.Rejected[0].Reason)
	}
	// Replaying the batch stores nothing new; e1 changed is a clash.
	res, err = f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("e1", "case-a", t0.Add(time.Minute), 0.9), Event("e2", "case-b", t0, 0.7)}, false)
	if err != nil || res.Stored != 0 || res.Duplicates != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	// Atomic: one bad record, nothing stored; a stored-id clash, nothing stored.
	res, err = f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("e5", "case-e", t0, 0.4), json.RawMessage(`{"event_id":"e6"}`)}, true)
	if err != nil || res.Stored != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("atomic with a bad record: %+v, %v", res, err)
	}
	res, err = f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("e5", "case-e", t0, 0.4), Event("e2", "case-b", t0, 0.7)}, true)
	if err != nil || res.Stored != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("atomic with a clash: %+v, %v", res, err)
	}
	st, err := f.Store.EventStats(ctx, d.ID)
	if err != nil || st.Count != 2 {
		t.Fatalf("stats %+v, %v: want only e1 and e2", st, err)
	}
	// Labels by case id; unknown case rejected.
	lres, err := f.Registry.AttachLabels(ctx, d.ID, []json.RawMessage{
		json.RawMessage(`{"case_id":"case-a","positive":true,"source":"pathology"}`),
		json.RawMessage(`{"case_id":"case-zzz","positive":false,"source":"follow-up"}`),
	}, false, f.Clin.UserID)
	if err != nil || lres.Stored != 1 || len(lres.Rejected) != 1 || lres.Rejected[0].Index != 1 {
		t.Fatalf("labels %+v, %v", lres, err)
	}
	// The reader: time order, label attached, filters.
	var got []string
	err = f.Store.ScanEvents(ctx, ethos.EventFilter{DeploymentID: d.ID}, func(e *ethos.InferenceEvent) error {
		lbl := "-"
		if e.Label != nil {
			lbl = fmt.Sprintf("%v %s", e.Label.Positive, e.Label.Source)
		}
		got = append(got, fmt.Sprintf("%s %s %v %s %s", e.EventID, e.Time.Format(time.TimeOnly), e.Decision, e.Site, lbl))
		if e.Acquisition.KVP == nil || *e.Acquisition.KVP != 120 || e.LatencyMS == nil || e.AgeBand != "65-74" {
			t.Errorf("event %s read back without its fields: %+v", e.EventID, e)
		}
		return nil
	})
	want := []string{"e2 10:00:00 false Main campus ED -", "e1 10:01:00 true Main campus ED true pathology"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("scan %q, %v; want %q", got, err, want)
	}
	n := 0
	if err := f.Store.ScanEvents(ctx, ethos.EventFilter{DeploymentID: d.ID, From: t0.Add(30 * time.Second)}, func(*ethos.InferenceEvent) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("scan from t0+30s: %d events, %v", n, err)
	}
	// Unknown, suspended deployments refuse events.
	_, err = f.Registry.IngestEvents(ctx, "dep_nope", batch[:1], false)
	code(t, err, ethos.ENOTFOUND)
	if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, ethos.ChangeRequest{Kind: ethos.ChangeSuspend, Reason: "drift", ExpectedEffect: "no AI triage", Notified: []ethos.Role{ethos.RoleClinician}}, f.Engineer); err != nil {
		t.Fatal(err)
	}
	_, err = f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("e9", "case-x", t0, 0.5)}, false)
	code(t, err, ethos.ECONFLICT)
}

func testIncidents(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	d, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	aware := time.Date(2026, 2, 26, 9, 0, 0, 0, time.UTC)
	inc := &ethos.Incident{Title: "reports sent to the wrong ward", AwareAt: aware, Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU},
		Classes: []ethos.IncidentClass{ethos.IncidentPersonalDataBreach}, AffectedSubjects: 12}
	if err := f.Registry.CreateIncident(ctx, d.ID, inc, f.Engineer); err != nil {
		t.Fatal(err)
	}
	st, err := f.Registry.IncidentDeadlines(ctx, inc, *f.Clock)
	if err != nil {
		t.Fatal(err)
	}
	overdue := 0
	for _, s := range st {
		if s.State == ethos.DeadlineOverdue {
			overdue++
		}
	}
	if overdue == 0 {
		t.Errorf("GDPR 72 h deadline from %s not overdue at %s: %+v", aware, *f.Clock, st)
	}
	res, err := f.Registry.Compliance(ctx, d.ID, *f.Clock)
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(id string) ethos.ComplianceOutcome {
		for _, r := range res {
			if r.Item.ID == id {
				return r.Outcome
			}
		}
		return ""
	}
	for id, want := range map[string]ethos.ComplianceOutcome{
		"GDPR-33": ethos.ComplianceFail, "AIA-12": ethos.ComplianceFail, "AIA-9": ethos.ComplianceFail,
		"AIA-15": ethos.CompliancePass, "AIA-26-2": ethos.CompliancePass, "GDPR-30": ethos.ComplianceAttestationNeeded,
	} {
		if got := outcome(id); got != want {
			t.Errorf("before: %s = %s, want %s", id, got, want)
		}
	}
	sent := ethos.Notification{Recipient: ethos.RecipientSupervisoryAuthority, SentAt: f.Clock.Add(-time.Hour), Reference: "DPA-1"}
	if _, err := f.Registry.UpdateIncident(ctx, inc.ID, ethos.IncidentUpdate{Notification: &sent}, f.Engineer); err != nil {
		t.Fatal(err)
	}
	closed := ethos.IncidentClosed
	if _, err := f.Registry.UpdateIncident(ctx, inc.ID, ethos.IncidentUpdate{Status: &closed}, f.Engineer); err != nil {
		t.Logf("closing after notification: %v", err)
	}
	if _, err := f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("e1", "case-a", f.Clock.Add(-time.Minute), 0.9)}, false); err != nil {
		t.Fatal(err)
	}
	steward := ethos.Changer{UserID: f.Engineer.UserID, Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := f.Registry.Attest(ctx, d.ID, &ethos.Attestation{ItemID: "GDPR-30", Signature: ethos.Signature{Role: ethos.RoleDataSteward, Reason: "entered as RPA-17"}}, steward); err != nil {
		t.Fatal(err)
	}
	if err := f.Registry.Attest(ctx, d.ID, &ethos.Attestation{ItemID: "GDPR-30", Signature: ethos.Signature{Role: ethos.RoleClinician, Reason: "x"}}, f.Clin); ethos.ErrorCode(err) != ethos.EFORBIDDEN {
		t.Errorf("attestation in a role the item does not name: %v", err)
	}
	if err := f.Registry.Attest(ctx, d.ID, &ethos.Attestation{ItemID: "AIA-12", Signature: ethos.Signature{Role: ethos.RoleClinician, Reason: "x"}}, f.Clin); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("attestation of an evidence-only item: %v", err)
	}
	res, err = f.Registry.Compliance(ctx, d.ID, *f.Clock)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]ethos.ComplianceOutcome{
		"GDPR-33": ethos.ComplianceFail, // sent, but late: stays failed
		"AIA-12":  ethos.CompliancePass, "GDPR-30": ethos.CompliancePass,
	} {
		if got := outcome(id); got != want {
			t.Errorf("after: %s = %s, want %s", id, got, want)
		}
	}
	incs, n, err := f.Registry.FindIncidents(ctx, ethos.IncidentFilter{DeploymentID: &d.ID})
	if err != nil || n != 1 || len(incs[0].Notifications) != 1 || incs[0].Notifications[0].SentBy != f.Engineer.UserID {
		t.Errorf("incidents %+v, %d, %v", incs, n, err)
	}
}

// testConcurrentEvents sends batches from many goroutines at once, so the
// store's writer commits several in one transaction; an atomic batch that
// clashes with a stored id must roll back alone. Half of the workers
// promise a durable commit afterwards (sqlstore.DeferSync), so groups mix
// batches that may skip the flush with batches that may not.
func testConcurrentEvents(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	d, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	t0 := f.Clock.Add(-time.Hour)
	if res, err := f.Registry.IngestEvents(ctx, d.ID, []json.RawMessage{Event("seed", "case-s", t0, 0.5)}, false); err != nil || res.Stored != 1 {
		t.Fatalf("seed: %+v %v", res, err)
	}
	const workers, batches, size = 8, 5, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches+1)
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				var recs []json.RawMessage
				for i := range size {
					recs = append(recs, Event(fmt.Sprintf("w%d-b%d-%d", w, b, i), fmt.Sprintf("case-%d", w), t0.Add(time.Duration(i)*time.Second), 0.3))
				}
				wctx := ctx
				if w%4 < 2 {
					wctx = sqlstore.DeferSync(ctx)
				}
				res, err := f.Registry.IngestEvents(wctx, d.ID, recs, w%2 == 0)
				if err != nil || res.Stored != size {
					errs <- fmt.Errorf("worker %d batch %d: %+v %v", w, b, res, err)
				}
			}
		})
	}
	wg.Go(func() {
		// Clashes with the seed: nothing of this atomic batch may land.
		res, err := f.Registry.IngestEvents(sqlstore.DeferSync(ctx), d.ID, []json.RawMessage{Event("lone", "case-l", t0, 0.5), Event("seed", "case-s", t0, 0.9)}, true)
		if err != nil || res.Stored != 0 || len(res.Rejected) != 1 {
			errs <- fmt.Errorf("clashing atomic batch: %+v %v", res, err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := f.Store.EventStats(ctx, d.ID)
	if err != nil || st.Count != workers*batches*size+1 {
		t.Errorf("stored %+v, %v; want %d events", st, err, workers*batches*size+1)
	}
}

// GoLive takes a registered deployment live: a complete register,
// acknowledged by both stakeholder roles of the fixture's plan.
func (f *DeploymentFixture) GoLive(t testing.TB, id string) *ethos.Deployment {
	t.Helper()
	ctx := context.Background()
	reg, err := f.Registry.PutRiskRegister(ctx, id, CompleteRegister(), f.Engineer)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		c ethos.Changer
		r ethos.Role
	}{{f.Clin, ethos.RoleClinician}, {f.Ethics, ethos.RoleEthicsReviewer}} {
		if _, err := f.Registry.AcknowledgeRisk(ctx, id, reg.Revision, who.c, who.r); err != nil {
			t.Fatal(err)
		}
	}
	d, _, err := f.Registry.ChangeDeployment(ctx, id, ethos.ChangeRequest{Kind: ethos.ChangeGoLive, Reason: "go-live", ExpectedEffect: "in clinical use",
		Notified: []ethos.Role{ethos.RoleClinician}}, f.Ethics)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// monitorStatus is a fixed QC-DEP-1 status, or an error.
type monitorStatus struct {
	st  *ethos.MonitorStatus
	err error
}

func (m *monitorStatus) Status(context.Context, string) (*ethos.MonitorStatus, error) {
	return m.st, m.err
}

// complianceOf returns the result of one checklist item.
func complianceOf(t *testing.T, f *DeploymentFixture, id, item string) ethos.ComplianceResult {
	t.Helper()
	rs, err := f.Registry.Compliance(context.Background(), id, *f.Clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Item.ID == item {
			return r
		}
	}
	t.Fatalf("no checklist item %s", item)
	return ethos.ComplianceResult{}
}

// testWithdrawalReachesDeployments: an obligation opened on a deployed
// model version shows as a change-log notice on its live and suspended
// deployments (once, to the plan's roles, switching nothing off), fails
// compliance item GDPR-7-17 until resolved, and is listed by
// OpenObligations for the monitor.
func testWithdrawalReachesDeployments(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	obligations := sqlstore.NewObligationService(f.DB)
	f.Registry.Obligations = obligations
	live, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	f.GoLive(t, live.ID)
	suspended, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	f.GoLive(t, suspended.ID)
	if _, _, err := f.Registry.ChangeDeployment(ctx, suspended.ID, ethos.ChangeRequest{Kind: ethos.ChangeSuspend, Reason: "drill", ExpectedEffect: "paused",
		Notified: []ethos.Role{ethos.RoleClinician}}, f.Engineer); err != nil {
		t.Fatal(err)
	}
	registered, err := f.Register(t, "mv-1") // never live: gets no notice (the gate keeps it from going live)
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.Register(t, "mv-2")
	if err != nil {
		t.Fatal(err)
	}
	f.GoLive(t, other.ID)

	if r := complianceOf(t, f, live.ID, "GDPR-7-17"); r.Outcome != ethos.CompliancePass {
		t.Fatalf("GDPR-7-17 before any withdrawal: %s %s", r.Outcome, r.Reason)
	}
	if n, err := f.Registry.SweepObligationNotices(ctx); err != nil || n != 0 {
		t.Fatalf("sweep without obligations: %d, %v", n, err)
	}
	*f.Clock = f.Clock.Add(time.Hour)
	opened, err := obligations.OpenObligations(ctx, []*ethos.Obligation{{ProjectID: f.Project.ID, Target: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: "mv-1"},
		Subject: ethos.SubjectKey(strings.Repeat("ab", 32)), Cause: ethos.CauseWithdrawal, OpenedBy: f.Engineer.UserID}})
	if err != nil || len(opened) != 1 {
		t.Fatalf("open obligation: %v, %v", opened, err)
	}
	obl := opened[0]

	r := complianceOf(t, f, live.ID, "GDPR-7-17")
	if r.Outcome != ethos.ComplianceFail || !strings.Contains(r.Reason, obl.ID) {
		t.Errorf("GDPR-7-17 with an open obligation: %s %q, want fail naming %s", r.Outcome, r.Reason, obl.ID)
	}
	if r := complianceOf(t, f, other.ID, "GDPR-7-17"); r.Outcome != ethos.CompliancePass {
		t.Errorf("GDPR-7-17 of another model version: %s %s", r.Outcome, r.Reason)
	}
	obs, err := f.Registry.OpenObligations(ctx, live.ID)
	if err != nil || len(obs) != 1 || obs[0].ID != obl.ID {
		t.Errorf("OpenObligations: %v, %v", obs, err)
	}

	n, err := f.Registry.SweepObligationNotices(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d entries, %v; want one on the live and one on the suspended deployment", n, err)
	}
	if n, err := f.Registry.SweepObligationNotices(ctx); err != nil || n != 0 {
		t.Errorf("second sweep: %d entries, %v; want none (one notice per obligation)", n, err)
	}
	for _, d := range []*ethos.Deployment{live, suspended, registered, other} {
		log, err := f.Registry.FindChanges(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var notices []*ethos.DeploymentChange
		for _, c := range log {
			if c.Kind == ethos.ChangeObligationNotice {
				notices = append(notices, c)
			}
		}
		want := 0
		if d.ID == live.ID || d.ID == suspended.ID {
			want = 1
		}
		if len(notices) != want {
			t.Errorf("deployment %s (%s): %d notices, want %d", d.ID, d.ModelVersionID, len(notices), want)
			continue
		}
		if want == 0 {
			continue
		}
		c := notices[0]
		if c.To != obl.ID || c.By != deployment.SystemActor || !slices.Equal(c.Notified, []ethos.Role{ethos.RoleClinician, ethos.RoleEthicsReviewer}) ||
			!strings.Contains(c.Reason, obl.ID) || strings.Contains(c.Reason, string(obl.Subject)) {
			t.Errorf("notice %+v", c)
		}
	}
	after, err := f.Registry.FindDeploymentByID(ctx, live.ID)
	if err != nil || after.Status != ethos.DeploymentLive {
		t.Errorf("the live deployment after the notice: %v, %v; nothing is switched off silently", after.Status, err)
	}
	log, _ := f.Registry.FindChanges(ctx, live.ID)
	last := log[len(log)-1]
	if _, err := f.Registry.AcknowledgeChange(ctx, live.ID, last.Seq, f.Clin, ethos.RoleClinician); err != nil {
		t.Errorf("acknowledge the notice: %v", err)
	}
	if _, _, err := f.Registry.ChangeDeployment(ctx, live.ID, ethos.ChangeRequest{Kind: ethos.ChangeObligationNotice, Reason: "r", ExpectedEffect: "e",
		Notified: []ethos.Role{ethos.RoleClinician}}, f.Engineer); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("a notice requested by a user: %v, want invalid", err)
	}

	if _, err := obligations.ResolveObligation(ctx, obl.ID, ethos.ObligationResolution{Action: ethos.ResolveExemption, Reference: "DPO memo 2026-14",
		Note: "legal basis is public interest in health, not consent", By: f.Ethics.UserID, At: *f.Clock}); err != nil {
		t.Fatal(err)
	}
	if r := complianceOf(t, f, live.ID, "GDPR-7-17"); r.Outcome != ethos.CompliancePass {
		t.Errorf("GDPR-7-17 after resolution: %s %s", r.Outcome, r.Reason)
	}
	if n, err := f.Registry.SweepObligationNotices(ctx); err != nil || n != 0 {
		t.Errorf("sweep after resolution: %d, %v", n, err)
	}
}

// testComplianceEvidence: monitoring on time from the monitor's status,
// log retention from the plan.
func testComplianceEvidence(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	d, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	if r := complianceOf(t, f, d.ID, "AIA-26-5"); r.Outcome != ethos.ComplianceAttestationNeeded {
		t.Errorf("AIA-26-5 without a monitor: %s %s", r.Outcome, r.Reason)
	}
	mon := &monitorStatus{err: ethos.Errorf(ethos.ENOTFOUND, "no plan")}
	f.Registry.Monitoring = mon
	for _, tt := range []struct {
		name   string
		st     *ethos.MonitorStatus
		err    error
		want   ethos.ComplianceOutcome
		reason string
	}{
		{"FailNoPlan", nil, ethos.Errorf(ethos.ENOTFOUND, "no plan"), ethos.ComplianceFail, "no monitoring plan"},
		{"FailLate", &ethos.MonitorStatus{Failures: []string{"2 window(s) not checked on time"}}, nil, ethos.ComplianceFail, "not checked on time"},
		{"Pass", &ethos.MonitorStatus{Pass: true, Rules: 3, Owners: 1, NextDue: *f.Clock}, nil, ethos.CompliancePass, "3 rules, 1 owners"},
	} {
		t.Run("Monitoring"+tt.name, func(t *testing.T) {
			mon.st, mon.err = tt.st, tt.err
			if r := complianceOf(t, f, d.ID, "AIA-26-5"); r.Outcome != tt.want || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("AIA-26-5: %s %q, want %s with %q", r.Outcome, r.Reason, tt.want, tt.reason)
			}
		})
	}
	mon.err = errors.New("database down")
	if _, err := f.Registry.Compliance(ctx, d.ID, *f.Clock); err == nil {
		t.Error("a monitor that fails: compliance evaluated anyway")
	}
	mon.err = nil
	for _, tt := range []struct {
		name, retention string
		want            ethos.ComplianceOutcome
		reason          string
	}{
		{"FailUndeclared", "", ethos.ComplianceFail, "declares no log_retention"},
		{"FailShort", `"30d"`, ethos.ComplianceFail, "less than six months"},
		{"Pass", `"365d"`, ethos.CompliancePass, "keeps logs 365d"},
	} {
		t.Run("Retention"+tt.name, func(t *testing.T) {
			plan := `{"stakeholder_roles":["clinician","ethics-reviewer"],"windows":["weekly"]}`
			if tt.retention != "" {
				plan = `{"stakeholder_roles":["clinician","ethics-reviewer"],"windows":["weekly"],"log_retention":` + tt.retention + `}`
			}
			cur, err := f.Registry.FindDeploymentByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if string(cur.Plan) != plan {
				if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, ethos.ChangeRequest{Kind: ethos.ChangePlan, Plan: json.RawMessage(plan), Reason: "retention",
					ExpectedEffect: "logs kept", Notified: []ethos.Role{ethos.RoleClinician}}, f.Engineer); err != nil {
					t.Fatal(err)
				}
			}
			if r := complianceOf(t, f, d.ID, "AIA-26-6"); r.Outcome != tt.want || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("AIA-26-6: %s %q, want %s with %q", r.Outcome, r.Reason, tt.want, tt.reason)
			}
		})
	}
	bad := ethos.ChangeRequest{Kind: ethos.ChangePlan, Plan: json.RawMessage(`{"stakeholder_roles":["clinician"],"log_retention":"soon"}`), Reason: "r",
		ExpectedEffect: "e", Notified: []ethos.Role{ethos.RoleClinician}}
	if _, _, err := f.Registry.ChangeDeployment(ctx, d.ID, bad, f.Engineer); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("plan with a bad log_retention: %v", err)
	}
}

// testLabelArrivals: the store tells which events got a label in a span of
// recording time (the monitor judges their windows again).
func testLabelArrivals(t *testing.T, f *DeploymentFixture) {
	ctx := context.Background()
	d, err := f.Register(t, "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	f.GoLive(t, d.ID)
	t0 := f.Clock.Add(-48 * time.Hour)
	recs := []json.RawMessage{Event("a", "ca", t0, 0.9), Event("b", "cb", t0.Add(time.Hour), 0.2), Event("c", "cc", t0.Add(2*time.Hour), 0.7)}
	if res, err := f.Registry.IngestEvents(ctx, d.ID, recs, false); err != nil || res.Stored != 3 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	first := *f.Clock
	if res, err := f.Registry.AttachLabels(ctx, d.ID, []json.RawMessage{json.RawMessage(`{"case_id":"ca","positive":true,"source":"pathology"}`)}, false, f.Clin.UserID); err != nil || res.Stored != 1 {
		t.Fatalf("labels: %+v, %v", res, err)
	}
	*f.Clock = f.Clock.Add(time.Hour)
	second := *f.Clock
	// cb is new; ca is corrected (recorded again).
	if res, err := f.Registry.AttachLabels(ctx, d.ID, []json.RawMessage{json.RawMessage(`{"case_id":"cb","positive":false,"source":"follow-up","at":"2026-02-27T10:00:00Z"}`),
		json.RawMessage(`{"case_id":"ca","positive":false,"source":"pathology"}`)}, false, f.Clin.UserID); err != nil || res.Stored != 2 {
		t.Fatalf("labels: %+v, %v", res, err)
	}
	times := func(after, upTo time.Time) []time.Time {
		t.Helper()
		ts, err := f.Store.LabelledEventTimes(ctx, d.ID, after, upTo)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ts, time.Time.Compare)
		return ts
	}
	if got := times(first.Add(-time.Second), first); len(got) != 0 {
		t.Errorf("labels recorded up to the first batch, after re-recording: %v, want none (ca was recorded again later)", got)
	}
	if got := times(first, second); len(got) != 2 || !got[0].Equal(t0) || !got[1].Equal(t0.Add(time.Hour)) {
		t.Errorf("labels recorded in (first, second]: %v, want the times of a and b", got)
	}
	if got := times(second, second.Add(time.Hour)); len(got) != 0 {
		t.Errorf("labels recorded after the second batch: %v", got)
	}
}
