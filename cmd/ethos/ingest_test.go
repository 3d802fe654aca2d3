package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlite"
)

// ingestSetup initialises a data directory and adds, straight in the
// store, a data steward and a project for ingest.
func ingestSetup(t *testing.T) (dir, steward, project string) {
	t.Helper()
	dir, _ = initData(t)
	ctx := context.Background()
	db := sqlite.NewDB(dir)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps, _, err := sqlite.NewPartyService(db).FindParties(ctx, ethos.PartyFilter{Limit: 1})
	if err != nil || len(ps) != 1 {
		t.Fatalf("parties: %v %v", ps, err)
	}
	u := &ethos.User{PartyID: ps[0].ID, Name: "steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := sqlite.NewUserService(db).CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p := &ethos.Project{Name: "Chest CT research", IntendedUse: "nodule detection research", Modality: "CT", ClinicalSetting: "radiology", PartyID: ps[0].ID}
	if err := sqlite.NewProjectService(db).CreateProject(ctx, p, u.ID); err != nil {
		t.Fatal(err)
	}
	return dir, u.ID, p.ID
}

func TestIngestCommand(t *testing.T) {
	dir, steward, project := ingestSetup(t)
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
		for _, s := range []string{out, stderr} {
			if strings.Contains(s, "CANARY") {
				t.Fatalf("%v printed a patient identifier: %s", args, s)
			}
		}
		return out
	}
	t.Run("ingest_without_rules_is_refused", func(t *testing.T) {
		_, stderr, code := runCLI(t, "ingest", "--data", dir, "--user", steward, "--project", project, canary)
		if code != 2 || !strings.Contains(stderr, "ingest rules") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	must("ingest", "rules", "--data", dir, "--user", steward, "--project", project, "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1")
	out := must("consent", "import", "--data", dir, "--user", steward, "--project", project, consents)
	if !strings.Contains(out, "imported 3 consents (3 identifiers sealed") {
		t.Fatalf("import: %s", out)
	}
	t.Run("import_is_all_or_nothing", func(t *testing.T) {
		// The same ids again: the first conflicts, nothing is added.
		_, stderr, code := runCLI(t, "consent", "import", "--data", dir, "--user", steward, "--project", project, consents)
		if code == 0 || !strings.Contains(stderr, "already exists") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	out = must("ingest", "--data", dir, "--user", steward, "--project", project, canary)
	for _, want := range []string{"stored 2", "quarantined NO_CONSENT 2", "quarantined OUT_OF_SCOPE 2", "quarantined EXPIRED 2", "quarantined OUTSIDE_MINIMISATION 4", "quarantined UNPARSABLE 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("ingest summary lacks %q:\n%s", want, out)
		}
	}
	out = must("ingest", "--data", dir, "--user", steward, "--project", project, filepath.Join(canary, "shard0"))
	if !strings.Contains(out, "duplicate 1") {
		t.Errorf("re-ingest: %s", out)
	}
	// 11 from the first run (MANIFEST.tsv is quarantined as unparsable),
	// 5 more from shard0 again (its CT is a duplicate, not a record).
	out = must("ingest", "list", "--data", dir, "--user", steward, "--project", project, "--status", "quarantined")
	if !strings.Contains(out, "16 of 16 records") || !strings.Contains(out, "OUT_OF_SCOPE") || !strings.Contains(out, "UNPARSABLE") {
		t.Errorf("ingest list --status quarantined:\n%s", out)
	}
	secret, err := os.ReadFile(filepath.Join(dir, subjectSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ethos.DeriveSubjectKey([]byte(strings.TrimSpace(string(secret))), ethos.PatientIdentifier{Issuer: "urn:oid:2.999.4711.1", Value: "CANARYID000001"})
	if err != nil {
		t.Fatal(err)
	}
	out = must("consent", "withdraw", "--data", dir, "--user", steward, "--project", project, "--subject", string(k), "--erase", "--json")
	var w struct {
		Consents  []string `json:"consents"`
		Instances int      `json:"instances"`
		Shred     *struct {
			BlobsDeleted int `json:"blobs_deleted"`
		} `json:"shred"`
	}
	if err := json.Unmarshal([]byte(out), &w); err != nil || len(w.Consents) != 1 || w.Instances != 2 || w.Shred == nil || w.Shred.BlobsDeleted != 2 {
		t.Fatalf("withdraw: %v %s", err, out)
	}
	entries, err := os.ReadDir(filepath.Join(dir, blobDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		sub, _ := os.ReadDir(filepath.Join(dir, blobDir, e.Name()))
		if len(sub) > 0 {
			t.Errorf("blob directory %s still holds %d files after erasure", e.Name(), len(sub))
		}
	}
	export := must("audit", "export", "--data", dir)
	for _, want := range []string{"instance.store", "instance.quarantine", "consent.import", "consent.withdraw", "subject.dispose"} {
		if !strings.Contains(export, want) {
			t.Errorf("audit export lacks %s", want)
		}
	}
	db, err := os.ReadFile(filepath.Join(dir, sqlite.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), "CANARY") {
		t.Error("the database holds a patient identifier in clear")
	}
}
