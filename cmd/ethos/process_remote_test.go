package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestProcessToExportRemote runs the processing and dataset commands
// against a running server (the real binary holding the data directory):
// a server-side processing run polled to its record, a version, labels,
// a split and a streamed export unpacked and checked file by file; and a
// party without an agreement refused the export with nothing left behind.
func TestProcessToExportRemote(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testProcessToExportRemote(t, "") })
	t.Run("PostgreSQL", func(t *testing.T) { testProcessToExportRemote(t, pgSchema(t)) })
}

func testProcessToExportRemote(t *testing.T, pg string) {
	f := newCollectionFixture(t, pg)
	offline := map[string]string{"ETHOS_POSTGRES": pg}
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "project.key")
	if err := os.WriteFile(keyFile, []byte("a project secret of enough length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := []string{"--data", f.dir, "--user", f.steward, "--project", f.project}
	for _, args := range [][]string{
		append([]string{"ingest", "rules", "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1"}, as...),
		append([]string{"consent", "import"}, append(as, consents)...),
		append([]string{"ingest"}, append(as, canary)...),
	} {
		if _, stderr, code := runCLIEnv(t, offline, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
	srv, base := f.serve(t)
	env := map[string]string{"ETHOS_TOKEN": f.token, "ETHOS_SERVER": base}
	remote := []string{"--project", f.project}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCLIEnv(t, env, append(args, remote...)...)
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

	var run ethos.ProcessingRun
	if err := json.Unmarshal([]byte(must("process", "run", "--key-file", keyFile, "--option", "retain-patient-characteristics", "--json")), &run); err != nil {
		t.Fatal(err)
	}
	if run.Inputs == 0 || run.Written == 0 || run.Written+run.Quarantined != run.Inputs || len(run.Items) != run.Inputs || run.StartedBy != f.steward {
		t.Fatalf("run %s: %d inputs, %d written, %d quarantined, by %s", run.ID, run.Inputs, run.Written, run.Quarantined, run.StartedBy)
	}
	t.Run("SameKeyFingerprintAsOffline", func(t *testing.T) {
		k, err := deid.ReadKeyFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if run.KeyFingerprint != k.Fingerprint() {
			t.Errorf("fingerprint %s, the key file's is %s", run.KeyFingerprint, k.Fingerprint())
		}
	})
	t.Run("BadSecretRefused", func(t *testing.T) {
		short := filepath.Join(t.TempDir(), "short.key")
		os.WriteFile(short, []byte("short"), 0o600)
		_, stderr, code := runCLIEnv(t, env, append([]string{"process", "run", "--key-file", short}, remote...)...)
		if code == 0 || !strings.Contains(stderr, "secret") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})

	var v ethos.DatasetVersion
	if err := json.Unmarshal([]byte(must("dataset", "create", "--run", run.ID, "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != run.Written || v.Members != nil {
		t.Fatalf("version %s: %d entries, members %v", v.ID, len(v.Entries), v.Members)
	}
	t.Run("BadLabelsNothingApplied", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("id,label\n"+v.Entries[0].ID+",nodule\nunknown,clear\n"), 0o600)
		_, stderr, code := runCLIEnv(t, env, append([]string{"dataset", "labels", "--version", v.ID, "--file", bad}, remote...)...)
		if code == 0 || !strings.Contains(stderr, "row 3, column 1: unknown instance") || !strings.Contains(stderr, "nothing applied") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	labels := filepath.Join(t.TempDir(), "labels.csv")
	var b strings.Builder
	b.WriteString("id,label\n")
	for i, e := range v.Entries {
		b.WriteString(e.ID + "," + []string{"nodule", "clear"}[i%2] + "\n")
	}
	os.WriteFile(labels, []byte(b.String()), 0o600)
	var lab struct {
		Version string `json:"version"`
		Diff    struct {
			Relabelled []json.RawMessage `json:"relabelled"`
		} `json:"diff"`
	}
	if err := json.Unmarshal([]byte(must("dataset", "labels", "--version", v.ID, "--file", labels, "--allowed", "nodule,clear", "--json")), &lab); err != nil {
		t.Fatal(err)
	}
	if len(lab.Diff.Relabelled) != len(v.Entries) {
		t.Errorf("labels: %d relabelled, want %d", len(lab.Diff.Relabelled), len(v.Entries))
	}
	var sp ethos.DatasetSplit
	if err := json.Unmarshal([]byte(must("dataset", "split", "--version", lab.Version, "--parts", "train=0.5,test=0.5", "--seed", "3", "--json")), &sp); err != nil {
		t.Fatal(err)
	}
	if !sp.Leakage.Verified || sp.VersionID != lab.Version {
		t.Errorf("split %+v", sp)
	}

	t.Run("ReadsThroughTheServer", func(t *testing.T) {
		if out := must("process", "list"); !strings.Contains(out, run.ID) {
			t.Errorf("process list:\n%s", out)
		}
		if out := must("process", "show", run.ID); !strings.Contains(out, "QC-PRO-2") || !strings.Contains(out, run.KeyFingerprint) {
			t.Errorf("process show:\n%s", out)
		}
		if out := must("dataset", "list"); !strings.Contains(out, v.ID) || !strings.Contains(out, lab.Version) {
			t.Errorf("dataset list:\n%s", out)
		}
		if out := must("dataset", "show", lab.Version); !strings.Contains(out, v.Entries[0].ID) || strings.Contains(out, "members") {
			t.Errorf("dataset show:\n%s", out)
		}
		if out := must("dataset", "diff", v.ID, lab.Version); !strings.Contains(out, "0 added, 0 removed, "+itoa(len(v.Entries))+" relabelled") {
			t.Errorf("dataset diff:\n%s", out)
		}
		if out := must("dataset", "datasheet", "--version", lab.Version); !strings.Contains(out, "## Motivation") || !strings.Contains(out, "## Maintenance") {
			t.Errorf("datasheet:\n%s", out)
		}
	})
	exp := filepath.Join(t.TempDir(), "export")
	must("dataset", "export", "--version", lab.Version, "--out", exp, "--split", sp.ID, "--reweigh", "modality")
	var m struct {
		Version string `json:"version"`
		Entries []struct {
			Path, SHA256, Split string
			Weight              *float64
		} `json:"entries"`
	}
	mb, err := os.ReadFile(filepath.Join(exp, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != lab.Version || len(m.Entries) != len(v.Entries) {
		t.Fatalf("manifest of %s with %d entries", m.Version, len(m.Entries))
	}
	for _, e := range m.Entries {
		b, err := os.ReadFile(filepath.Join(exp, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != e.SHA256 || e.Split == "" || e.Weight == nil {
			t.Errorf("%s: hash, split %q or weight wrong", e.Path, e.Split)
		}
	}
	if csvb, err := os.ReadFile(filepath.Join(exp, "manifest.csv")); err != nil || strings.Count(string(csvb), "\n") != len(v.Entries)+1 {
		t.Errorf("manifest.csv: %v", err)
	}
	t.Run("ExistingOutRefused", func(t *testing.T) {
		_, stderr, code := runCLIEnv(t, env, append([]string{"dataset", "export", "--version", lab.Version, "--out", exp}, remote...)...)
		if code == 0 || !strings.Contains(stderr, "already exists") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	var duaID string
	t.Run("NoAgreementRefusedNothingLeft", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x")
		outsider := map[string]string{"ETHOS_TOKEN": f.outsiderToken, "ETHOS_SERVER": base}
		_, stderr, code := runCLIEnv(t, outsider, append([]string{"dataset", "export", "--version", lab.Version, "--out", out}, remote...)...)
		if code == 0 || !strings.Contains(stderr, "forbidden") && !strings.Contains(stderr, "agreement") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
			t.Errorf("left behind: %v", ents)
		}
	})
	t.Run("WithAgreementAllowed", func(t *testing.T) {
		// The hospital's steward registers an agreement for the vendor:
		// the limited party may now export for training.
		cl := &client{base: base, token: f.token, hc: http.DefaultClient}
		var outsider struct {
			Party struct {
				ID string `json:"id"`
			} `json:"party"`
		}
		if err := (&client{base: base, token: f.outsiderToken, hc: http.DefaultClient}).do(context.Background(), "GET", "/api/v1/whoami", nil, &outsider); err != nil {
			t.Fatal(err)
		}
		var dua ethos.DUA
		if err := cl.do(context.Background(), "POST", "/api/v1/duas", map[string]any{"party_id": outsider.Party.ID, "project_id": f.project,
			"stages": []string{"training"}, "purposes": []string{"ai-training"}, "views": []string{"deidentified"},
			"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "reference": "DUA-2026-7"}, &dua); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "vendor")
		vendor := map[string]string{"ETHOS_TOKEN": f.outsiderToken, "ETHOS_SERVER": base}
		if _, stderr, code := runCLIEnv(t, vendor, append([]string{"dataset", "export", "--version", lab.Version, "--out", out}, remote...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "manifest.csv")); err != nil {
			t.Error(err)
		}
		duaID = dua.ID
	})
	// Stopped gracefully, the server signs a checkpoint over every event.
	if err := srv.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	audit, stderr, code := runCLIEnv(t, offline, "audit", "export", "--data", f.dir)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, stderr)
	}
	for _, a := range []string{`"processing.run"`, `"dataset.create"`, `"dataset.labels"`, `"dataset.split"`, `"dataset.export"`} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
	if duaID != "" && !strings.Contains(audit, "under DUA "+duaID) {
		t.Errorf("the export under %s is not in the audit log", duaID)
	}
	if !strings.Contains(audit, "streamed as tar") {
		t.Error("the streamed export is not in the audit log")
	}
}
