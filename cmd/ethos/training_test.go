package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// projectDatasets stands in for the processing stage's dataset service:
// each named version holds the given collection instances, whose subjects
// it reads from the instance store.
type projectDatasets struct {
	instances *sqlstore.InstanceService
	versions  map[string][]string
}

func (d projectDatasets) DatasetSubjects(ctx context.Context, id string) (map[string]ethos.SubjectKey, error) {
	ids, ok := d.versions[id]
	if !ok {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %s not found", id)
	}
	out := map[string]ethos.SubjectKey{}
	for _, iid := range ids {
		ins, _, err := d.instances.FindInstances(ctx, ethos.InstanceFilter{ID: &iid, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(ins) != 1 {
			return nil, ethos.Errorf(ethos.ENOTFOUND, "instance %s not found", iid)
		}
		out[iid] = ins[0].Subject
	}
	return out, nil
}

// startTrainingServer serves dir in process, as "ethos serve" does, with
// the given dataset versions; stop closes it.
func startTrainingServer(t *testing.T, dir string, versions map[string][]string) (url string, stop func()) {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s := ehttp.NewServer()
	s.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = policy.Default(), a.auditor, a.log, a.auditDB, a.verifierKey
	s.Parties, s.Users, s.Tokens, s.Projects, s.DUAs, s.Records = a.parties, a.users, a.tokens, a.projects, a.duas, a.records
	ts := trainingService(a, projectDatasets{instances: sqlstore.NewInstanceService(a.store), versions: versions})
	s.Training, s.TrainingRuns, s.Lineage, s.Obligations = ts, ts.Runs, ts.Lineage, ts.Obligations
	hs := httptest.NewServer(s.Handler())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			hs.Close()
			a.Close()
		}
	}
	t.Cleanup(stop)
	return hs.URL, stop
}

// TestTrainingPath: real DICOM files ingested under consent, a dataset
// version of the stored instances, a training run registered and signed
// off through the CLI, lineage answered, a withdrawal opening obligations
// on exactly that dataset and model, registration refused until resolved.
func TestTrainingPath(t *testing.T) {
	dir, steward, project := ingestSetup(t)
	ctx := context.Background()
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(out+stderr, "CANARY") {
			t.Fatalf("%v printed a patient identifier", args)
		}
		return out
	}
	must("ingest", "rules", "--data", dir, "--user", steward, "--project", project, "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1")
	must("consent", "import", "--data", dir, "--user", steward, "--project", project, consents)
	must("ingest", "--data", dir, "--user", steward, "--project", project, canary)

	// The stored instances make dataset version dsv_canary; dsv_mixed adds
	// a quarantined record, which no dataset may hold.
	db := sqlite.NewDB(dir)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	ins := sqlite.NewInstanceService(db)
	var stored, quarantined []string
	var subject ethos.SubjectKey
	all, _, err := ins.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &project, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		switch in.Status {
		case ethos.InstanceStored:
			stored, subject = append(stored, in.ID), in.Subject
		case ethos.InstanceQuarantined:
			if in.Subject != "" {
				quarantined = append(quarantined, in.ID)
			}
		}
	}
	if len(stored) != 2 || len(quarantined) == 0 {
		t.Fatalf("%d stored, %d quarantined with a subject", len(stored), len(quarantined))
	}
	tokens := map[ethos.Role]string{}
	ps, _, err := sqlite.NewPartyService(db).FindParties(ctx, ethos.PartyFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []ethos.Role{ethos.RoleMLEngineer, ethos.RoleEthicsReviewer} {
		u := &ethos.User{PartyID: ps[0].ID, Name: string(role), Roles: []ethos.Role{role}}
		if err := sqlite.NewUserService(db).CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		secret, hash := ethos.NewTokenSecret()
		if err := sqlite.NewTokenService(db).CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "t", Hash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tokens[role] = secret
	}
	db.Close()
	versions := map[string][]string{"dsv_canary": stored, "dsv_mixed": append(append([]string{}, stored...), quarantined[0])}
	url, stop := startTrainingServer(t, dir, versions)
	as := func(role ethos.Role, args ...string) []string {
		return append(args, "--server", url, "--token", tokens[role])
	}
	model := filepath.Join(t.TempDir(), "model.pt")
	if err := os.WriteFile(model, []byte("weights of a small network"), 0o600); err != nil {
		t.Fatal(err)
	}
	register := func(ds string) []string {
		return as(ethos.RoleMLEngineer, "training", "register", "--project", project, "--dataset", ds, "--commit", "9fceb02d0ae598e95dc970b74767f19372d61af8",
			"--model-name", "ct-nodule", "--model-file", model, "--param", "lr=0.001", "--param", "epochs=40", "--env", "torch=2.4.1", "--metric", "val_auroc=0.87", "--json")
	}

	var run ethos.TrainingRun
	if err := json.Unmarshal([]byte(must(register("dsv_canary")...)), &run); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte("weights of a small network")); run.ModelSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("model sha256 %s, want the file's", run.ModelSHA256)
	}
	if run.Coverage.Covered != 2 || run.Coverage.Subjects != 1 || len(run.Sources) != 2 || run.Sources[0].Source != "file:shard0/" || run.Sources[1].Source != "file:shard1/" {
		t.Errorf("coverage %+v sources %+v", run.Coverage, run.Sources)
	}
	t.Run("RefusedWithCounts", func(t *testing.T) {
		_, stderr, code := runCLI(t, register("dsv_mixed")...)
		if code != 1 || !strings.Contains(stderr, "1 of 3 instances not covered") || !strings.Contains(stderr, "NOT_STORED 1") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("ListShowSignOff", func(t *testing.T) {
		out := must(as(ethos.RoleMLEngineer, "training", "list", "--project", project)...)
		if !strings.Contains(out, run.ID) || !strings.Contains(out, "registered") {
			t.Errorf("list:\n%s", out)
		}
		out = must(as(ethos.RoleEthicsReviewer, "training", "signoff", "--project", project, run.ID, "--decision", "approved", "--note", "data and code reviewed")...)
		if !strings.Contains(out, "signed-off") || !strings.Contains(out, "sign-off         approved") {
			t.Errorf("signoff:\n%s", out)
		}
		out = must(as(ethos.RoleMLEngineer, "training", "show", "--project", project, run.ID)...)
		for _, want := range []string{"val_auroc = 0.87", "torch = 2.4.1", "2/2 instances of 1 subjects covered for ai-training", run.ModelSHA256} {
			if !strings.Contains(out, want) {
				t.Errorf("show lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Lineage", func(t *testing.T) {
		out := must(as(ethos.RoleEthicsReviewer, "lineage", "subjects", "--model", run.ModelVersion)...)
		if !strings.Contains(out, "1 subjects") || !strings.Contains(out, string(subject)) {
			t.Errorf("subjects:\n%s", out)
		}
		out = must(as(ethos.RoleEthicsReviewer, "lineage", "uses", "--subject", string(subject))...)
		for _, want := range []string{"dataset-version  dsv_canary", "training-run     " + run.ID, "model-version    " + run.ModelVersion} {
			if !strings.Contains(out, want) {
				t.Errorf("uses lacks %q:\n%s", want, out)
			}
		}
		out = must(as(ethos.RoleEthicsReviewer, "lineage", "downstream", "--node", "instance:"+stored[0], "--walk", "derivations")...)
		if !strings.Contains(out, "dsv_canary") || !strings.Contains(out, run.ModelVersion) {
			t.Errorf("downstream:\n%s", out)
		}
		whole := must(as(ethos.RoleEthicsReviewer, "lineage", "upstream", "--node", "dataset-version:dsv_canary", "--walk", "derivations")...)
		paged := must(as(ethos.RoleEthicsReviewer, "lineage", "upstream", "--node", "dataset-version:dsv_canary", "--walk", "derivations", "--all", "--limit", "1")...)
		wl, pl := strings.Split(strings.TrimSpace(whole), "\n"), strings.Split(strings.TrimSpace(paged), "\n")
		slices.Sort(wl)
		slices.Sort(pl)
		if len(wl) < 3 || !slices.Equal(wl, pl) {
			t.Errorf("upstream whole:\n%s\npage by page:\n%s", whole, paged)
		}
		var page struct {
			Nodes []ethos.LineageNode `json:"nodes"`
			Next  string              `json:"next"`
		}
		if err := json.Unmarshal([]byte(must(as(ethos.RoleEthicsReviewer, "lineage", "upstream", "--node", "dataset-version:dsv_canary", "--walk", "derivations", "--limit", "1", "--json")...)), &page); err != nil ||
			len(page.Nodes) != 1 || page.Next == "" {
			t.Errorf("first page %+v %v", page, err)
		}
		provFile := filepath.Join(t.TempDir(), "prov.json")
		must(as(ethos.RoleEthicsReviewer, "lineage", "prov", "--project", project, "--out", provFile)...)
		b, err := os.ReadFile(provFile)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		// model, dataset, 2 instances, 1 subject; the run; registrant and reviewer.
		if len(doc["entity"]) != 5 || len(doc["activity"]) != 1 || len(doc["agent"]) != 2 || len(doc["wasAssociatedWith"]) != 2 {
			t.Errorf("prov: %d entities, %d activities, %d agents:\n%s", len(doc["entity"]), len(doc["activity"]), len(doc["agent"]), b)
		}
	})
	stop() // the withdrawal is an offline command on the data directory
	out := must("consent", "withdraw", "--data", dir, "--user", steward, "--project", project, "--subject", string(subject))
	if !strings.Contains(out, "2 obligations opened") || !strings.Contains(out, "on dataset-version:dsv_canary") || !strings.Contains(out, "on model-version:"+run.ModelVersion) {
		t.Fatalf("withdraw:\n%s", out)
	}
	url, stop = startTrainingServer(t, dir, versions)
	t.Run("ObligationsBlockUntilResolved", func(t *testing.T) {
		var l struct {
			Items []ethos.Obligation `json:"items"`
		}
		if err := json.Unmarshal([]byte(must(as(ethos.RoleMLEngineer, "obligation", "list", "--project", project, "--status", "open", "--json")...)), &l); err != nil || len(l.Items) != 2 {
			t.Fatalf("list: %v %+v", err, l)
		}
		_, stderr, code := runCLI(t, register("dsv_canary")...)
		if code != 1 || !strings.Contains(stderr, "open withdrawal obligations") {
			t.Errorf("registration while open: exit %d: %s", code, stderr)
		}
		for _, o := range l.Items {
			action := []string{"--action", "retire"}
			if o.Target.Kind == ethos.LineageDatasetVersion {
				action = []string{"--action", "exemption", "--reference", "IRB-2026-7 amendment 2"}
			}
			out := must(as(ethos.RoleEthicsReviewer, append([]string{"obligation", "resolve", o.ID, "--note", "subject withdrew; decided by the governance board"}, action...)...)...)
			if !strings.Contains(out, "resolved") {
				t.Errorf("resolve:\n%s", out)
			}
		}
		// Open again: the dataset may be used. The consent re-check now
		// refuses it, with the withdrawn subject counted.
		_, stderr, code = runCLI(t, register("dsv_canary")...)
		if code != 1 || !strings.Contains(stderr, "1 subjects withdrew") {
			t.Errorf("registration after resolution: exit %d: %s", code, stderr)
		}
	})
	stop()
	export := must("audit", "export", "--data", dir)
	for _, want := range []string{"training.register", "training.signoff", "obligation.open", "obligation.resolve"} {
		if !strings.Contains(export, want) {
			t.Errorf("audit export lacks %s", want)
		}
	}
	if strings.Contains(export, "CANARY") {
		t.Error("audit export holds a patient identifier")
	}
}
