package http_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
	"github.com/ethos-imaging/ethos/training"
)

// datasetMap is a fake dataset service.
type datasetMap map[string]map[string]ethos.SubjectKey

func (d datasetMap) DatasetSubjects(ctx context.Context, id string) (map[string]ethos.SubjectKey, error) {
	m, ok := d[id]
	if !ok {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %s not found", id)
	}
	return m, nil
}

// newTrainingFixture is newFixture with the training stage wired in.
func newTrainingFixture(t *testing.T, data datasetMap) (*fixture, *training.Service) {
	t.Helper()
	var svc *training.Service
	f := newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		store := f.db.Store()
		svc = &training.Service{Runs: sqlstore.NewTrainingStore(store), Obligations: sqlstore.NewObligationService(store), Lineage: sqlstore.NewLineageService(store),
			Members: data, Instances: sqlite.NewInstanceService(f.db), Consents: sqlite.NewConsentService(f.db), Auditor: f.auditor, Now: f.clock.Now}
		s.Training, s.TrainingRuns, s.Lineage, s.Obligations = svc, svc.Runs, svc.Lineage, svc.Obligations
		s.ProcessingRuns, s.Datasets = sqlstore.NewProcessingService(store), sqlstore.NewDatasetService(store)
	})
	return f, svc
}

func TestTrainingAPI(t *testing.T) {
	ctx := context.Background()
	data := datasetMap{}
	f, svc := newTrainingFixture(t, data)
	engineer, reviewer, auditorTok := f.user(f.owner, ethos.RoleMLEngineer), f.user(f.owner, ethos.RoleEthicsReviewer), f.user(f.owner, ethos.RoleAuditor)
	outsider := f.user(f.party("Vendor Inc", ethos.PartyPrivate), ethos.RoleMLEngineer)
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "CXR", "intended_use": "triage", "modality": "DX", "clinical_setting": "ED"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	// Subjects a and b consent to ai-training, c only to research.
	consents, instances := sqlite.NewConsentService(f.db), sqlite.NewInstanceService(f.db)
	keys := map[string]ethos.SubjectKey{}
	members := map[string]map[string]ethos.SubjectKey{}
	for _, c := range []string{"a", "b", "c"} {
		k := ethos.SubjectKey(strings.Repeat(c, 64))
		keys[c] = k
		purpose := ethos.PurposeAITraining
		if c == "c" {
			purpose = ethos.PurposeResearch
		}
		if err := consents.CreateConsent(ctx, &ethos.Consent{ID: "cns-" + c, Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: k,
			DateTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"}, Provision: ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{purpose}}}); err != nil {
			t.Fatal(err)
		}
		members[c] = map[string]ethos.SubjectKey{}
		for i := range 3 {
			in := &ethos.Instance{ProjectID: prj.ID, SOPInstanceUID: fmt.Sprintf("1.2.%d.%d", c[0], i), Subject: k, Modality: "DX", BodyPart: "CHEST",
				Status: ethos.InstanceStored, Blob: &ethos.BlobRef{Subject: k, Digest: strings.Repeat("1", 64), Size: 1}, Source: "stow-rs", ReceivedBy: "usr_x"}
			if _, err := instances.CreateInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
			members[c][in.ID] = k
		}
	}
	join := func(cs ...string) map[string]ethos.SubjectKey {
		m := map[string]ethos.SubjectKey{}
		for _, c := range cs {
			for id, k := range members[c] {
				m[id] = k
			}
		}
		return m
	}
	data["dsv_ab"], data["dsv_b"], data["dsv_bc"] = join("a", "b"), join("b"), join("b", "c")
	runIn := func(ds string) map[string]any {
		return map[string]any{"dataset_version": ds, "split": "train", "code_version": "1a2b3c4d5e6f", "model_sha256": strings.Repeat("d", 64),
			"model_name": "cxr-triage", "parameters": map[string]string{"lr": "0.01"}, "environment": map[string]string{"torch": "2.4.1"}, "metrics": map[string]float64{"auroc": 0.9}}
	}
	base := "/api/v1/projects/" + prj.ID + "/training/runs"

	var run ethos.TrainingRun
	t.Run("RegisterCreated", func(t *testing.T) {
		if code, m := f.do("POST", base, engineer, runIn("dsv_ab"), &run); code != 201 {
			t.Fatalf("%d %v", code, m)
		}
		if run.Coverage == nil || run.Coverage.Covered != 6 || len(run.Sources) != 1 || run.Sources[0].Instances != 6 || run.RegisteredBy == "" {
			t.Errorf("run %+v", run)
		}
	})
	t.Run("RegisterRefusedWithCounts", func(t *testing.T) {
		code, m := f.do("POST", base, engineer, runIn("dsv_bc"), nil)
		if code != 400 || m["error"] != ethos.ECONSENT || !strings.Contains(fmt.Sprint(m["message"]), "3 of 6 instances") || !strings.Contains(fmt.Sprint(m["message"]), "1 subjects out of scope") {
			t.Errorf("%d %v", code, m)
		}
	})
	t.Run("RegisterForbidden", func(t *testing.T) {
		for name, tok := range map[string]string{"auditor": auditorTok, "reviewer": reviewer, "outsider": outsider} {
			if code, m := f.do("POST", base, tok, runIn("dsv_ab"), nil); code != 403 {
				t.Errorf("%s: %d %v", name, code, m)
			}
		}
	})
	t.Run("RegisterInvalid", func(t *testing.T) {
		in := runIn("dsv_ab")
		in["code_version"] = "main"
		if code, m := f.do("POST", base, engineer, in, nil); code != 400 || m["error"] != ethos.EINVALID {
			t.Errorf("%d %v", code, m)
		}
	})
	t.Run("ListAndShow", func(t *testing.T) {
		var l struct {
			Items []ethos.TrainingRun `json:"items"`
			Total int                 `json:"total"`
		}
		if code, m := f.do("GET", base, auditorTok, nil, &l); code != 200 || l.Total != 1 || l.Items[0].ID != run.ID {
			t.Errorf("list: %d %v %+v", code, m, l)
		}
		var got ethos.TrainingRun
		if code, m := f.do("GET", base+"/"+run.ID, engineer, nil, &got); code != 200 || got.ModelVersion != run.ModelVersion {
			t.Errorf("show: %d %v", code, m)
		}
		if code, _ := f.do("GET", base+"/trn_none", engineer, nil, nil); code != 404 {
			t.Errorf("unknown run: %d", code)
		}
	})
	t.Run("SignOff", func(t *testing.T) {
		if code, m := f.do("POST", base+"/"+run.ID+"/signoff", engineer, map[string]string{"decision": "approved"}, nil); code != 403 {
			t.Errorf("engineer sign-off: %d %v", code, m)
		}
		var got ethos.TrainingRun
		note := withFakePatient("reviewed")
		if code, m := f.do("POST", base+"/"+run.ID+"/signoff", reviewer, map[string]string{"decision": "approved", "note": note}, &got); code != 200 || got.Status != ethos.RunSignedOff {
			t.Errorf("reviewer sign-off: %d %v", code, m)
		}
		// The note is on the run's sign-off, not in the audit log.
		if got.SignOff == nil || got.SignOff.Note != note {
			t.Errorf("the sign-off note is not kept on the run: %+v", got.SignOff)
		}
		f.auditClean()
		if code, m := f.do("POST", base+"/"+run.ID+"/signoff", reviewer, map[string]string{"decision": "rejected"}, nil); code != 409 {
			t.Errorf("second sign-off: %d %v", code, m)
		}
	})
	t.Run("LineageQueries", func(t *testing.T) {
		var subs struct {
			Subjects []string `json:"subjects"`
			Count    int      `json:"count"`
		}
		if code, m := f.do("GET", "/api/v1/lineage/subjects?model="+run.ModelVersion, auditorTok, nil, &subs); code != 200 || subs.Count != 2 {
			t.Errorf("subjects: %d %v %+v", code, m, subs)
		}
		var uses struct {
			DatasetVersions []string `json:"dataset_versions"`
			ModelVersions   []string `json:"model_versions"`
			TrainingRuns    []string `json:"training_runs"`
		}
		if code, m := f.do("GET", "/api/v1/lineage/uses?subject="+string(keys["a"]), auditorTok, nil, &uses); code != 200 ||
			fmt.Sprint(uses.DatasetVersions) != "[dsv_ab]" || fmt.Sprint(uses.ModelVersions) != "["+run.ModelVersion+"]" || fmt.Sprint(uses.TrainingRuns) != "["+run.ID+"]" {
			t.Errorf("uses: %d %v %+v", code, m, uses)
		}
		if code, _ := f.do("GET", "/api/v1/lineage/uses?subject="+string(keys["a"]), engineer, nil, nil); code != 403 {
			t.Errorf("uses by an engineer: %d, want 403", code)
		}
		var down struct {
			Nodes []ethos.LineageNode `json:"nodes"`
		}
		if code, m := f.do("GET", "/api/v1/lineage/downstream?node=dataset-version:dsv_ab&walk=all", auditorTok, nil, &down); code != 200 || len(down.Nodes) != 2 {
			t.Errorf("downstream: %d %v %+v", code, m, down)
		}
		if code, _ := f.do("GET", "/api/v1/lineage/downstream?node=bogus", auditorTok, nil, nil); code != 400 {
			t.Errorf("bad node: %d", code)
		}
		var doc map[string]map[string]any
		if code, m := f.do("GET", "/api/v1/lineage/prov?project="+prj.ID, auditorTok, nil, &doc); code != 200 || len(doc["entity"]) != 10 || len(doc["activity"]) != 1 || len(doc["used"]) != 1 {
			// entities: model, dataset, 6 instances, 2 subjects
			t.Errorf("prov: %d %v entities %d", code, m, len(doc["entity"]))
		}
	})
	t.Run("Obligations", func(t *testing.T) {
		obs, err := svc.OnWithdrawal(ctx, keys["a"], ethos.AccessRequest{UserID: "usr_steward"}, "req")
		if err != nil || len(obs) != 2 {
			t.Fatalf("%d obligations (%v)", len(obs), err)
		}
		var l struct {
			Items []ethos.Obligation `json:"items"`
			Total int                `json:"total"`
		}
		if code, m := f.do("GET", "/api/v1/obligations?status=open&project="+prj.ID, engineer, nil, &l); code != 200 || l.Total != 2 {
			t.Errorf("list: %d %v %+v", code, m, l)
		}
		if code, _ := f.do("GET", "/api/v1/obligations", engineer, nil, nil); code != 403 {
			t.Errorf("cross-project list by an engineer: %d, want 403", code)
		}
		if code, m := f.do("POST", base, engineer, runIn("dsv_ab"), nil); code != 409 {
			t.Errorf("registration while open: %d %v", code, m)
		}
		res := map[string]string{"action": "retire", "note": "model withdrawn from use"}
		if code, m := f.do("POST", "/api/v1/obligations/"+obs[0].ID+"/resolve", engineer, res, nil); code != 403 {
			t.Errorf("resolve by engineer: %d %v", code, m)
		}
		var got ethos.Obligation
		if code, m := f.do("POST", "/api/v1/obligations/"+obs[0].ID+"/resolve", reviewer, res, &got); code != 200 || got.Status != ethos.ObligationResolved {
			t.Errorf("resolve: %d %v", code, m)
		}
		if code, m := f.do("GET", "/api/v1/obligations/"+obs[0].ID, auditorTok, nil, &got); code != 200 || got.Resolution == nil {
			t.Errorf("get: %d %v", code, m)
		}
	})
	t.Run("ObligationWithoutProject", func(t *testing.T) {
		// A subject the collection does not hold, known to lineage only,
		// behind a dataset version no run used: no project is known.
		e := ethos.SubjectKey(strings.Repeat("e", 64))
		in, ds := ethos.LineageNode{Kind: ethos.LineageInstance, ID: "ins_elsewhere"}, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_elsewhere"}
		if err := svc.Lineage.RecordLineage(ctx, ethos.LineageEdge{From: in, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageSubject, ID: string(e)}},
			ethos.LineageEdge{From: ds, Relation: ethos.RelWasDerivedFrom, To: in}); err != nil {
			t.Fatal(err)
		}
		obs, err := svc.OnWithdrawal(ctx, e, ethos.AccessRequest{UserID: "usr_steward"}, "req")
		if err != nil || len(obs) != 1 || obs[0].ProjectID != "" || obs[0].Target != ds {
			t.Fatalf("obligations %+v (%v)", obs, err)
		}
		if code, _ := f.do("GET", "/api/v1/obligations/"+obs[0].ID, auditorTok, nil, nil); code != 200 {
			t.Errorf("read by auditor: %d", code)
		}
		if code, _ := f.do("GET", "/api/v1/obligations/"+obs[0].ID, engineer, nil, nil); code != 403 {
			t.Errorf("read by engineer: %d, want 403", code)
		}
		// The reference and the note are typed: they stay on the
		// obligation, and the audit entry carries only AuditText of them.
		res := map[string]string{"action": "exemption", "reference": withFakePatient("DPO note 41"), "note": withFakePatient("dataset held under another legal basis")}
		if code, _ := f.do("POST", "/api/v1/obligations/"+obs[0].ID+"/resolve", engineer, res, nil); code != 403 {
			t.Errorf("resolve by engineer: %d, want 403", code)
		}
		if code, m := f.do("POST", "/api/v1/obligations/"+obs[0].ID+"/resolve", reviewer, res, nil); code != 200 {
			t.Errorf("resolve by ethics reviewer: %d %v", code, m)
		}
		var got ethos.Obligation
		if code, m := f.do("GET", "/api/v1/obligations/"+obs[0].ID, auditorTok, nil, &got); code != 200 || got.Resolution == nil ||
			got.Resolution.Reference != res["reference"] || got.Resolution.Note != res["note"] {
			t.Fatalf("the resolution's text is not kept on the obligation: %d %v", code, m)
		}
		ev := lastOf(t, f.lastEvents(2), "obligation.resolve")
		if !strings.HasSuffix(ev.Reason, "; note on the obligation: "+ethos.AuditText(res["note"])+"; reference on the obligation: "+ethos.AuditText(res["reference"])) {
			t.Errorf("resolution audited as %q", ev.Reason)
		}
		f.auditClean()
	})
	t.Run("DecisionsAudited", func(t *testing.T) {
		var register, signoff, resolve int
		for _, e := range f.lastEvents(200) {
			switch e.Action {
			case "training.register":
				register++
			case "training.signoff":
				signoff++
			case "obligation.resolve":
				resolve++
			}
			for _, k := range keys {
				if strings.Contains(e.Reason, string(k)) {
					t.Errorf("audit event %s names a subject", e.Action)
				}
			}
		}
		if register != 3 || signoff != 1 || resolve != 2 { // 1 allowed, 2 refused registrations
			t.Errorf("audited: %d registrations, %d sign-offs, %d resolutions", register, signoff, resolve)
		}
		f.verify()
	})
}

// TestProvProjectIncludesUntrainedVersions checks that a project's
// PROV-JSON holds every processing run and dataset version of the
// project, not only what a training run reached.
func TestProvProjectIncludesUntrainedVersions(t *testing.T) {
	ctx := context.Background()
	f, svc := newTrainingFixture(t, datasetMap{})
	auditorTok := f.user(f.owner, ethos.RoleAuditor)
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "CT", "intended_use": "triage", "modality": "CT", "clinical_setting": "ED"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	store := f.db.Store()
	run := storetest.ProcessingRunFixture(prj.ID, time.Now().UTC())
	if err := sqlstore.NewProcessingService(store).CreateProcessingRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	it := run.Items[0]
	v := &ethos.DatasetVersion{ID: strings.Repeat("e", 64), ProjectID: prj.ID, RunID: run.ID, CreatedAt: time.Now().UTC(), CreatedBy: "usr-1",
		Entries: []ethos.ManifestEntry{{ID: it.OutputUID, Patient: it.PseudoID, SHA256: it.OutputSHA256, Path: "a/b/c.dcm"}},
		Members: []ethos.DatasetMember{{EntryID: it.OutputUID, InstanceID: it.InstanceID, Subject: it.Subject, Blob: *it.Output}}}
	if err := sqlstore.NewDatasetService(store).CreateDatasetVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	// A version stored without lineage (before lineage was kept) is left
	// out, not an error.
	bare := *v
	bare.ID = strings.Repeat("f", 64)
	if err := sqlstore.NewDatasetService(store).CreateDatasetVersion(ctx, &bare); err != nil {
		t.Fatal(err)
	}
	if err := svc.Lineage.RecordLineage(ctx, append(processing.Edges(run), processing.VersionEdges(v)...)...); err != nil {
		t.Fatal(err)
	}
	var doc ethos.ProvDocument
	if code, m := f.do("GET", "/api/v1/lineage/prov?project="+prj.ID, auditorTok, nil, &doc); code != 200 {
		t.Fatalf("prov: %d %v", code, m)
	}
	for _, n := range []ethos.LineageNode{
		{Kind: ethos.LineageDatasetVersion, ID: v.ID},
		{Kind: ethos.LineageDeidInstance, ID: processing.DeidNodeID(run.ID, it.InstanceID)},
		{Kind: ethos.LineageInstance, ID: "ins-2"}, // quarantined: used by the run
	} {
		if doc.Entity[ethos.ProvName(n)] == nil {
			t.Errorf("no entity %s", ethos.ProvName(n))
		}
	}
	if doc.Activity[ethos.ProvName(ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: run.ID})] == nil {
		t.Errorf("no processing run activity: %v", doc.Activity)
	}
	if doc.Entity[ethos.ProvName(ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: bare.ID})] != nil {
		t.Error("a version without lineage appears")
	}
}
