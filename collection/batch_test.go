package collection_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
)

// batchRecorder is a recorder that also takes a batch in one call, as
// collection.BatchAuditor.
type batchRecorder struct {
	*recorder
	batches int
}

func (r *batchRecorder) RecordBatch(ctx context.Context, events []ethos.AuditEvent) error {
	r.batches++
	for _, e := range events {
		if err := r.Record(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func TestIngestBatch(t *testing.T) {
	type want struct {
		file   string
		status ethos.InstanceStatus
		reason ethos.QuarantineReason
		dup    bool
		action string
	}
	items := []want{
		{"shard0/ct_00000.dcm", ethos.InstanceStored, "", false, "instance.store"},
		{"shard1/ct_00001.dcm", ethos.InstanceStored, "", false, "instance.store"},
		{"shard0/mr_00002.dcm", ethos.InstanceQuarantined, ethos.QuarantineOutOfScope, false, "instance.quarantine"},
		{"shard0/mrbig_00004.dcm", ethos.InstanceQuarantined, ethos.QuarantineExpired, false, "instance.quarantine"},
		{"shard0/ctsmall_00010.dcm", ethos.InstanceQuarantined, ethos.QuarantineNoConsent, false, "instance.quarantine"},
		{"shard0/xa_00006.dcm", ethos.InstanceQuarantined, ethos.QuarantineMinimisation, false, "instance.quarantine"},
		// The same instance twice in one batch: kept once.
		{"shard0/ct_00000.dcm", ethos.InstanceStored, "", true, "instance.duplicate"},
	}
	tests := []struct {
		name         string
		batchAuditor bool
	}{
		{"one_audit_append_for_the_batch", true},
		{"one_audit_record_per_instance_without_batch_auditor", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			br := &batchRecorder{recorder: f.audit}
			if tt.batchAuditor {
				f.ing.Auditor = br
			}
			var batch []collection.Item
			for _, w := range items {
				data, err := os.ReadFile(filepath.Join(f.canary, w.file))
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, collection.Item{Source: "file:" + w.file, Data: data})
			}
			res, err := f.ing.IngestBatch(context.Background(), f.batch, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(items) {
				t.Fatalf("%d results for %d items", len(res), len(items))
			}
			for i, w := range items {
				in := res[i].Instance
				if in.Status != w.status || in.Reason != w.reason || res[i].Duplicate != w.dup {
					t.Errorf("item %d %s: got %s %s dup %t (%s), want %s %s dup %t", i, w.file, in.Status, in.Reason, res[i].Duplicate, in.Detail, w.status, w.reason, w.dup)
				}
				if w.status == ethos.InstanceStored {
					rc, err := f.blobs.Open(context.Background(), *in.Blob)
					if err != nil {
						t.Fatalf("item %d: %v", i, err)
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil || !bytes.Equal(got, batch[i].Data) {
						t.Errorf("item %d: blob reads back %d bytes (%v), want the file's %d", i, len(got), err, len(batch[i].Data))
					}
				}
			}
			if res[6].Instance.ID != res[0].Instance.ID {
				t.Errorf("duplicate names %s, want the kept %s", res[6].Instance.ID, res[0].Instance.ID)
			}
			st := ethos.InstanceStored
			_, n, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.batch.Project.ID, Status: &st})
			if err != nil || n != 2 {
				t.Fatalf("%d stored records (%v), want 2", n, err)
			}
			_, n, err = f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.batch.Project.ID})
			if err != nil || n != 6 {
				t.Fatalf("%d records (%v), want 6: the in-batch duplicate adds none", n, err)
			}
			if len(f.audit.events) != len(items) {
				t.Fatalf("%d audit events, want %d", len(f.audit.events), len(items))
			}
			for i, w := range items {
				if e := f.audit.events[i]; e.Action != w.action || e.Resource != "project/"+f.batch.Project.ID+"/instance/"+res[i].Instance.ID {
					t.Errorf("audit event %d: %s %s, want %s for %s", i, e.Action, e.Resource, w.action, res[i].Instance.ID)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.batchAuditor]; br.batches != want {
				t.Errorf("%d batch appends, want %d", br.batches, want)
			}
			assertNoCanary(t, f.audit.dump(t))
		})
	}
}

// countingConsents counts the consent look-ups of a batch.
type countingConsents struct {
	ethos.ConsentService
	finds int
}

func (c *countingConsents) FindConsents(ctx context.Context, f ethos.ConsentFilter) ([]*ethos.Consent, int, error) {
	c.finds++
	return c.ConsentService.FindConsents(ctx, f)
}

// Items read by Load into one reused buffer give the decisions and blobs
// of items held whole, and a subject's consents are read once a batch.
func TestIngestBatchLoad(t *testing.T) {
	files := []string{"shard0/ct_00000.dcm", "shard1/ct_00001.dcm", "shard0/mrbig_00004.dcm", "shard0/ctsmall_00010.dcm"}
	run := func(t *testing.T, load bool) ([]*collection.Result, *countingConsents, *fixture) {
		f := setup(t)
		cc := &countingConsents{ConsentService: f.ing.Consents}
		f.ing.Consents = cc
		var buf []byte
		var batch []collection.Item
		for _, name := range files {
			path := filepath.Join(f.canary, name)
			it := collection.Item{Source: "file:" + name}
			if load {
				it.Load = func() ([]byte, error) {
					b, err := os.ReadFile(path)
					buf = append(buf[:0], b...)
					return buf, err
				}
			} else {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				it.Data = data
			}
			batch = append(batch, it)
		}
		res, err := f.ing.IngestBatch(context.Background(), f.batch, batch)
		if err != nil {
			t.Fatal(err)
		}
		return res, cc, f
	}
	whole, _, _ := run(t, false)
	loaded, cc, f := run(t, true)
	t.Run("same_decisions_as_whole_items", func(t *testing.T) {
		for i := range files {
			a, b := whole[i].Instance, loaded[i].Instance
			if a.Status != b.Status || a.Reason != b.Reason || a.SOPInstanceUID != b.SOPInstanceUID {
				t.Errorf("%s: whole %s %s, loaded %s %s", files[i], a.Status, a.Reason, b.Status, b.Reason)
			}
		}
	})
	t.Run("stored_blobs_hold_the_files", func(t *testing.T) {
		for i, r := range loaded {
			if r.Instance.Blob == nil {
				continue
			}
			rc, err := f.ing.Blobs.Open(context.Background(), *r.Instance.Blob)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want, _ := os.ReadFile(filepath.Join(f.canary, files[i]))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: blob holds %d bytes (%v), file %d", files[i], len(got), err, len(want))
			}
		}
	})
	t.Run("consents_read_once_per_subject", func(t *testing.T) {
		subjects := map[ethos.SubjectKey]bool{}
		for _, r := range loaded {
			if r.Instance.Subject != "" && r.Instance.Acquired.Year() > 1 {
				subjects[r.Instance.Subject] = true
			}
		}
		if cc.finds != len(subjects) || len(subjects) >= len(files) {
			t.Errorf("%d consent look-ups for %d subjects of %d files (the fixture needs a subject with two files)", cc.finds, len(subjects), len(files))
		}
	})
}
