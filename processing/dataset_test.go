package processing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// writtenFiles are the corpus files the basic profile writes (no
// burned-in text risk): six patients, eight instances.
var writtenFiles = []string{
	"canary/shard1/ct_00001.dcm", "canary/shard0/mr_00002.dcm", "canary/shard1/mr_00003.dcm",
	"canary/shard0/mrbig_00004.dcm", "canary/shard1/mrbig_00005.dcm", "canary/shard1/ctsmall_00011.dcm",
	"pydicom/CT_small.dcm", "pydicom/MR_small_RLE.dcm",
}

func (f *fixture) datasets() *processing.Datasets {
	return &processing.Datasets{Runs: f.runs, Instances: f.instances, Versions: sqlstore.NewDatasetService(f.store), Blobs: f.blobs,
		Lineage: f.lineage, Auditor: f.audit, Decider: f.proc.Decider, Now: f.proc.Now}
}

func (f *fixture) caller() *processing.Caller {
	return &processing.Caller{Project: f.project, Purpose: ethos.PurposeResearch, Access: f.access, RequestID: "test"}
}

// buildVersion processes the fixture's instances and builds a version.
func buildVersion(t *testing.T, f *fixture, options string) (*ethos.ProcessingRun, *ethos.DatasetVersion) {
	t.Helper()
	ctx := context.Background()
	run, err := f.proc.Run(ctx, f.request(t, options))
	if err != nil {
		t.Fatal(err)
	}
	v, skipped, err := f.datasets().Create(ctx, f.caller(), run.ID, "test dataset")
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 0 {
		t.Fatalf("%d outputs left out", skipped)
	}
	return run, v
}

func TestCreateVersion(t *testing.T) {
	ctx := context.Background()
	f := setup(t, writtenFiles...)
	run, v := buildVersion(t, f, "retain-patient-characteristics")
	t.Run("EntriesFromRun", func(t *testing.T) {
		if len(v.Entries) != run.Written || len(v.Members) != run.Written {
			t.Fatalf("%d entries, %d members, run wrote %d", len(v.Entries), len(v.Members), run.Written)
		}
		patients := map[string]bool{}
		for i, e := range v.Entries {
			if i > 0 && v.Entries[i-1].ID >= e.ID {
				t.Errorf("entries not sorted at %d", i)
			}
			if !strings.HasPrefix(e.ID, "2.25.") || e.Patient == "" || len(e.SHA256) != 64 || e.Path == "" {
				t.Errorf("entry %+v", e)
			}
			if e.Attributes["sex"] == "" {
				t.Errorf("entry %s: sex not kept: %v", e.ID, e.Attributes)
			}
			patients[e.Patient] = true
		}
		if len(patients) < 4 {
			t.Errorf("%d pseudonymous patients, want at least 4", len(patients))
		}
	})
	t.Run("IDIsManifestHash", func(t *testing.T) {
		id, err := processing.ManifestID(v.Entries)
		if err != nil || id != v.ID {
			t.Errorf("id %s, manifest hash %s (%v)", v.ID, id, err)
		}
		b, _ := processing.CanonicalManifest(v.Entries)
		if !strings.HasPrefix(string(b), `{"format":"ethos-dataset-manifest/1","entries":[{"id":"2.25.`) {
			t.Errorf("canonical manifest starts %.80s", b)
		}
	})
	t.Run("SameContentSameVersion", func(t *testing.T) {
		again, _, err := f.datasets().Create(ctx, f.caller(), run.ID, "another description")
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != v.ID || again.Description != v.Description {
			t.Errorf("second build: %s %q, want the existing %s", again.ID, again.Description, v.ID)
		}
	})
	t.Run("DatasetSubjects", func(t *testing.T) {
		m, err := sqlstore.NewDatasetService(f.store).DatasetSubjects(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, rel := range writtenFiles {
			in := f.byFile[rel]
			if m[in.ID] != in.Subject {
				t.Errorf("%s: subject %s, want %s", rel, m[in.ID].Short(), in.Subject.Short())
			}
		}
		if len(m) != len(writtenFiles) {
			t.Errorf("%d members, want %d", len(m), len(writtenFiles))
		}
	})
	t.Run("Lineage", func(t *testing.T) {
		vn := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: v.ID}
		for _, m := range v.Members {
			if !f.lineage.has(vn, ethos.RelWasDerivedFrom, ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: processing.DeidNodeID(run.ID, m.InstanceID)}) {
				t.Errorf("version not derived from %s", m.InstanceID)
			}
		}
	})
	t.Run("WithdrawnLeftOut", func(t *testing.T) {
		in := f.byFile["pydicom/CT_small.dcm"]
		if _, err := f.instances.SetSubjectStatus(ctx, in.Subject, ethos.InstanceWithdrawn); err != nil {
			t.Fatal(err)
		}
		w, skipped, err := f.datasets().Create(ctx, f.caller(), run.ID, "after withdrawal")
		if err != nil {
			t.Fatal(err)
		}
		if skipped == 0 || w.ID == v.ID || len(w.Entries) != len(v.Entries)-skipped {
			t.Errorf("skipped %d, %d entries (was %d)", skipped, len(w.Entries), len(v.Entries))
		}
		for _, m := range w.Members {
			if m.Subject == in.Subject {
				t.Errorf("withdrawn subject's instance %s in the new version", m.InstanceID)
			}
		}
		d := processing.DiffVersions(v, w)
		if len(d.Removed) != skipped || len(d.Added) != 0 || d.Unchanged != len(w.Entries) {
			t.Errorf("diff %+v", d)
		}
	})
}

// TestManifestStableAcrossRuns processes the same files twice in two
// independent stores (other blob keys, other ids, other times) with the
// same de-identification key: the dataset version id is the same.
func TestManifestStableAcrossRuns(t *testing.T) {
	var ids []string
	for range 2 {
		f := setup(t, writtenFiles...)
		_, v := buildVersion(t, f, "")
		ids = append(ids, v.ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("version ids differ: %s, %s", ids[0], ids[1])
	}
}

func TestImportLabels(t *testing.T) {
	ctx := context.Background()
	f := setup(t, writtenFiles...)
	_, v := buildVersion(t, f, "")
	ds := f.datasets()
	var csv strings.Builder
	csv.WriteString("id,label\n")
	for i, e := range v.Entries {
		fmt.Fprintf(&csv, "%s,%s\n", e.ID, []string{"normal", "abnormal"}[i%2])
	}
	lv, diff, err := ds.ImportLabels(ctx, f.caller(), v.ID, strings.NewReader(csv.String()), []string{"normal", "abnormal"})
	if err != nil {
		t.Fatal(err)
	}
	if lv.Parent != v.ID || lv.ID == v.ID || len(diff.Relabelled) != len(v.Entries) || len(diff.Added)+len(diff.Removed)+len(diff.Changed) != 0 {
		t.Fatalf("labelled version %s parent %s diff %+v", lv.ID, lv.Parent, diff)
	}
	t.Run("RelabelOne", func(t *testing.T) {
		e := lv.Entries[0]
		to := map[string]string{"normal": "abnormal", "abnormal": "normal"}[e.Label]
		nv, diff, err := ds.ImportLabels(ctx, f.caller(), lv.ID, strings.NewReader("label,id\n"+to+","+e.ID+"\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []processing.Relabel{{ID: e.ID, From: e.Label, To: to}}
		if b, w := jsonOf(diff.Relabelled), jsonOf(want); b != w || diff.Unchanged != len(lv.Entries)-1 {
			t.Errorf("relabelled %s, want %s", b, w)
		}
		if nv.Parent != lv.ID {
			t.Errorf("parent %s", nv.Parent)
		}
	})
	t.Run("BadFileChangesNothing", func(t *testing.T) {
		before, _, _ := sqlstore.NewDatasetService(f.store).FindDatasetVersions(ctx, ethos.DatasetVersionFilter{})
		bad := "id,label\n" + v.Entries[0].ID + ",normal\nno-such-id,normal\n"
		_, _, err := ds.ImportLabels(ctx, f.caller(), lv.ID, strings.NewReader(bad), nil)
		le, ok := errorsAs[*processing.LabelErrors](err)
		if !ok || len(le.Errs) != 1 || le.Errs[0].Row != 3 || le.Errs[0].Column != 1 {
			t.Fatalf("err %v", err)
		}
		after, _, _ := sqlstore.NewDatasetService(f.store).FindDatasetVersions(ctx, ethos.DatasetVersionFilter{})
		if len(after) != len(before) {
			t.Errorf("%d versions after a rejected file, %d before", len(after), len(before))
		}
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
