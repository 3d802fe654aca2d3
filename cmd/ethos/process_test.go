package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestProcessToExport walks real DICOM files from consent-gated ingest to
// an exported, labelled, split dataset version through the commands.
func TestProcessToExport(t *testing.T) {
	dir, steward, project := ingestSetup(t)
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "project.key")
	if err := os.WriteFile(keyFile, []byte("a project secret of enough length\n"), 0o600); err != nil {
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
	as := []string{"--data", dir, "--user", steward, "--project", project}
	must(append([]string{"ingest", "rules", "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1"}, as...)...)
	must(append([]string{"consent", "import"}, append(as, consents)...)...)
	must(append([]string{"ingest"}, append(as, canary)...)...)

	var run ethos.ProcessingRun
	out := must(append([]string{"process", "run", "--key-file", keyFile, "--option", "retain-patient-characteristics", "--json"}, as...)...)
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatal(err)
	}
	if run.Inputs == 0 || run.Written == 0 || run.Written+run.Quarantined != run.Inputs || len(run.Items) != run.Inputs {
		t.Fatalf("run %d inputs, %d written, %d quarantined", run.Inputs, run.Written, run.Quarantined)
	}
	if !strings.Contains(must(append([]string{"process", "list"}, as...)...), run.ID) {
		t.Error("process list does not show the run")
	}
	if show := must(append([]string{"process", "show", run.ID}, as...)...); !strings.Contains(show, "QC-PRO-2") || !strings.Contains(show, run.KeyFingerprint) {
		t.Errorf("process show:\n%s", show)
	}

	var v ethos.DatasetVersion
	if err := json.Unmarshal([]byte(must(append([]string{"dataset", "create", "--run", run.ID, "--json"}, as...)...)), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != run.Written || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.ID) {
		t.Fatalf("version %s with %d entries", v.ID, len(v.Entries))
	}
	labels := filepath.Join(t.TempDir(), "labels.csv")
	var b strings.Builder
	b.WriteString("id,label\n")
	for i, e := range v.Entries {
		b.WriteString(e.ID + "," + []string{"nodule", "clear"}[i%2] + "\n")
	}
	os.WriteFile(labels, []byte(b.String()), 0o600)
	t.Run("BadLabelsRowErrors", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("id,label\n"+v.Entries[0].ID+",nodule\nunknown,clear\n"+v.Entries[0].ID+",clear\n"), 0o600)
		_, stderr, code := runCLI(t, append([]string{"dataset", "labels", "--version", v.ID, "--file", bad}, as...)...)
		if code == 0 || !strings.Contains(stderr, "row 3, column 1: unknown instance") || !strings.Contains(stderr, "row 4, column 1: duplicate") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	var lab struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(must(append([]string{"dataset", "labels", "--version", v.ID, "--file", labels, "--allowed", "nodule,clear", "--json"}, as...)...)), &lab); err != nil {
		t.Fatal(err)
	}
	if diff := must(append([]string{"dataset", "diff", v.ID, lab.Version}, as...)...); !strings.Contains(diff, "0 added, 0 removed, "+itoa(len(v.Entries))+" relabelled") {
		t.Errorf("diff: %s", diff)
	}
	var sp ethos.DatasetSplit
	if err := json.Unmarshal([]byte(must(append([]string{"dataset", "split", "--version", lab.Version, "--parts", "train=0.5,test=0.5", "--stratify", "label", "--seed", "3", "--json"}, as...)...)), &sp); err != nil {
		t.Fatal(err)
	}
	if !sp.Leakage.Verified {
		t.Errorf("leakage %+v", sp.Leakage)
	}
	md := must(append([]string{"dataset", "datasheet", "--version", lab.Version}, as...)...)
	for _, s := range []string{"## Motivation", "## Composition", "## Collection process", "## Preprocessing, cleaning, labelling", "## Uses", "## Distribution", "## Maintenance", "nodule detection research"} {
		if !strings.Contains(md, s) {
			t.Errorf("datasheet lacks %q", s)
		}
	}
	exp := filepath.Join(t.TempDir(), "export")
	must(append([]string{"dataset", "export", "--version", lab.Version, "--out", exp, "--split", sp.ID, "--reweigh", "modality"}, as...)...)
	csvb, err := os.ReadFile(filepath.Join(exp, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(csvb), "\n"); n != len(v.Entries)+1 {
		t.Errorf("manifest.csv has %d lines", n)
	}
	t.Run("Lineage", func(t *testing.T) {
		db := sqlite.NewDB(dir)
		if err := db.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ls := sqlstore.NewLineageService(db.Store())
		down, err := ls.Downstream(context.Background(), ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: run.ID}, ethos.WalkAll)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[ethos.LineageKind]int{}
		for _, n := range down {
			kinds[n.Kind]++
		}
		if kinds[ethos.LineageDeidInstance] != run.Written || kinds[ethos.LineageDatasetVersion] != 2 {
			t.Errorf("downstream of the run: %v", kinds)
		}
	})
	audit := must("audit", "export", "--data", dir)
	for _, a := range []string{"processing.run", "dataset.create", "dataset.labels", "dataset.split", "dataset.datasheet", "dataset.export"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
}

func TestProcessCommandsUsage(t *testing.T) {
	for _, args := range [][]string{{"process"}, {"dataset", "frob"}, {"process", "run", "--project", "p"}, {"dataset", "split", "--bogus"}, {"dataset", "diff", "a"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if _, stderr, code := runCLI(t, args...); code != 2 {
				t.Errorf("code %d (stderr %q), want 2", code, stderr)
			}
		})
	}
	for _, args := range [][]string{{"process", "run", "--help"}, {"dataset", "export", "--help"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if _, stderr, code := runCLI(t, args...); code != 0 {
				t.Errorf("code %d (stderr %q), want 0", code, stderr)
			}
		})
	}
}
