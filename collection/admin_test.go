package collection_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
)

func (f *fixture) registry() *collection.Registry {
	return &collection.Registry{Consents: f.consents, Instances: f.instances, Blobs: f.blobs, Auditor: f.audit, Secret: secret, LinkKey: f.linkKey}
}

func TestResolveSubject(t *testing.T) {
	f := setup(t)
	reg := f.registry()
	known := subjectOf(t, "CANARYID000001")
	tests := []struct {
		name     string
		ref      ethos.SubjectRef
		want     ethos.SubjectKey
		wantCode string
	}{
		{"by_identifier", ethos.SubjectRef{Identifier: &ethos.PatientIdentifier{Issuer: testIssuer, Value: "CANARYID000001"}}, known, ""},
		{"by_key", ethos.SubjectRef{Subject: known}, known, ""},
		{"ErrNotFound_unknown_identifier", ethos.SubjectRef{Identifier: &ethos.PatientIdentifier{Issuer: testIssuer, Value: "NOSUCHPATIENT42"}}, "", ethos.ENOTFOUND},
		{"ErrNotFound_identifier_of_other_issuer", ethos.SubjectRef{Identifier: &ethos.PatientIdentifier{Issuer: "urn:oid:1.2.3", Value: "CANARYID000001"}}, "", ethos.ENOTFOUND},
		{"ErrNotFound_unknown_key", ethos.SubjectRef{Subject: ethos.SubjectKey(strings.Repeat("0", 64))}, "", ethos.ENOTFOUND},
		{"ErrInvalid_malformed_key", ethos.SubjectRef{Subject: "CANARYID000001"}, "", ethos.EINVALID},
		{"ErrInvalid_both", ethos.SubjectRef{Subject: known, Identifier: &ethos.PatientIdentifier{Issuer: testIssuer, Value: "CANARYID000001"}}, "", ethos.EINVALID},
		{"ErrInvalid_identifier_without_issuer", ethos.SubjectRef{Identifier: &ethos.PatientIdentifier{Value: "CANARYID000001"}}, "", ethos.EINVALID},
		{"ErrInvalid_nothing", ethos.SubjectRef{}, "", ethos.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reg.ResolveSubject(context.Background(), tt.ref)
			if ethos.ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), "NOSUCHPATIENT")) {
				t.Fatalf("error names the identifier: %v", err)
			}
		})
	}
}

func TestRegistryImport(t *testing.T) {
	f := setup(t)
	reg := f.registry()
	b, err := os.ReadFile("testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrConflict_same_ids_again_nothing_stored", func(t *testing.T) {
		_, err := reg.ImportConsents(context.Background(), f.batch.Access, b, "t")
		if ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Fatalf("err %v, want conflict", err)
		}
		if _, n, _ := f.consents.FindConsents(context.Background(), ethos.ConsentFilter{}); n != 3 {
			t.Fatalf("%d consents, want the 3 of the first import", n)
		}
	})
	t.Run("ErrInvalid_malformed_names_the_field", func(t *testing.T) {
		bad := strings.Replace(string(b), `"status": "active"`, `"status": "sort-of"`, 1)
		if bad == string(b) {
			t.Fatal("fixture has no \"status\": \"active\" to corrupt; the test would check nothing")
		}
		_, err := reg.ImportConsents(context.Background(), f.batch.Access, []byte(bad), "t")
		if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), "status") {
			t.Fatalf("err %v, want invalid naming status", err)
		}
	})
	t.Run("audited_without_identifiers", func(t *testing.T) {
		if strings.Contains(f.audit.dump(t), "CANARY") {
			t.Fatal("audit names a patient identifier")
		}
	})
}

func TestDisposeSubject(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	a := f.ingest(t, "shard0/ct_00000.dcm").Instance
	b := f.ingest(t, "shard1/ct_00001.dcm").Instance
	k := a.Subject
	d, err := f.registry().DisposeSubject(ctx, f.batch.Access, k, "data steward request", "t")
	if err != nil {
		t.Fatal(err)
	}
	if d.Instances != 2 || len(d.Shredded) != 1 || d.Shredded[0].KeyID == "" || d.Shredded[0].BlobsDeleted != 2 {
		t.Fatalf("disposal %+v", d)
	}
	for _, in := range []*ethos.Instance{a, b} {
		if _, err := f.blobs.Open(ctx, *in.Blob); err == nil {
			t.Errorf("blob of %s still opens after disposal", in.ID)
		}
	}
	erased := ethos.InstanceErased
	if _, n, _ := f.instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &k, Status: &erased}); n != 2 {
		t.Errorf("%d erased records, want 2", n)
	}
	active := ethos.ConsentActive
	if _, n, _ := f.consents.FindConsents(ctx, ethos.ConsentFilter{SubjectID: &k, Status: &active}); n != 1 {
		t.Errorf("disposal changed the consents: %d active, want 1", n)
	}
	if !strings.Contains(f.audit.dump(t), "subject.dispose") {
		t.Error("no disposal record in the audit log")
	}
}

// TestDisposeSubjectRefusesIdentifierReason: the reason is kept in the
// audit entry, so one shaped like an identifier is refused before
// anything is destroyed, and the log stays free of it.
func TestDisposeSubjectRefusesIdentifierReason(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	a := f.ingest(t, "shard0/ct_00000.dcm").Instance
	_, err := f.registry().DisposeSubject(ctx, f.batch.Access, a.Subject, "patient MRN 004417731 asked", "t")
	if ethos.ErrorCode(err) != ethos.EINVALID {
		t.Fatalf("dispose with an identifier in the reason: %v, want %s", err, ethos.EINVALID)
	}
	if strings.Contains(err.Error(), "004417731") {
		t.Errorf("the refusal quotes the reason: %v", err)
	}
	if _, err := f.blobs.Open(ctx, *a.Blob); err != nil {
		t.Errorf("a refused disposal destroyed data: %v", err)
	}
	if dump := f.audit.dump(t); strings.Contains(dump, "004417731") || strings.Contains(dump, "subject.dispose") {
		t.Error("a refused disposal reached the audit log")
	}
}

// TestRetention disposes of instances past their project's retention
// period: a blob shared with another project stays, and the subject's data
// key is destroyed only when nothing of the subject is kept anywhere.
func TestRetention(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	reg := f.registry()
	a := f.ingest(t, "shard0/ct_00000.dcm").Instance
	b := f.ingest(t, "shard1/ct_00001.dcm").Instance
	// The same file in a second project of the same party: same subject,
	// same bytes, same blob.
	p2 := *f.batch.Project
	p2.ID = ethos.NewID("prj")
	rules2 := *f.batch.Rules
	rules2.ProjectID = p2.ID
	if err := f.instances.SetCollectionRules(ctx, &rules2); err != nil {
		t.Fatal(err)
	}
	f.batch = &collection.Batch{Project: &p2, Rules: &rules2, Access: f.batch.Access, RequestID: "t2"}
	c := f.ingest(t, "shard0/ct_00000.dcm").Instance
	if c.Status != ethos.InstanceStored || c.Blob.Digest != a.Blob.Digest {
		t.Fatalf("second project: %s, digest shared %t", c.Status, c.Blob != nil && c.Blob.Digest == a.Blob.Digest)
	}
	r1, err := f.instances.CollectionRules(ctx, a.ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	r1.RetentionDays = 30
	if err := f.instances.SetCollectionRules(ctx, r1); err != nil {
		t.Fatal(err)
	}
	received := a.ReceivedAt
	opens := func(in *ethos.Instance) bool {
		rc, err := f.blobs.Open(ctx, *in.Blob)
		if err == nil {
			rc.Close()
		}
		return err == nil
	}
	t.Run("nothing_before_the_period_ends", func(t *testing.T) {
		d, err := reg.DisposeExpired(ctx, ethos.AccessRequest{UserID: "system"}, "", received.Add(29*24*time.Hour), "t")
		if err != nil || d.Instances != 0 {
			t.Fatalf("disposal %+v %v, want none", d, err)
		}
	})
	t.Run("expired_project_instances_go_shared_blob_stays", func(t *testing.T) {
		d, err := reg.DisposeExpired(ctx, ethos.AccessRequest{UserID: "system"}, "", received.Add(31*24*time.Hour), "t")
		if err != nil {
			t.Fatal(err)
		}
		if d.Instances != 2 || d.BlobsDeleted != 1 || len(d.Shredded) != 0 || len(d.Projects) != 1 || d.Projects[0] != a.ProjectID {
			t.Fatalf("disposal %+v", d)
		}
		if opens(b) {
			t.Error("the expired, unshared blob still opens")
		}
		if !opens(c) {
			t.Error("the blob the second project still keeps was deleted")
		}
		erased := ethos.InstanceErased
		if _, n, _ := f.instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &a.ProjectID, Status: &erased}); n != 2 {
			t.Errorf("%d erased records in the first project, want 2", n)
		}
	})
	t.Run("last_instance_gone_key_destroyed", func(t *testing.T) {
		rules2.RetentionDays = 1
		if err := f.instances.SetCollectionRules(ctx, &rules2); err != nil {
			t.Fatal(err)
		}
		d, err := reg.DisposeExpired(ctx, ethos.AccessRequest{UserID: "system"}, p2.ID, received.Add(2*24*time.Hour), "t")
		if err != nil {
			t.Fatal(err)
		}
		if d.Instances != 1 || len(d.Shredded) != 1 || d.Shredded[0].Subject != a.Subject || d.Shredded[0].KeyID == "" {
			t.Fatalf("disposal %+v", d)
		}
		if opens(c) {
			t.Error("blob opens after the subject's key was destroyed")
		}
	})
	t.Run("second_sweep_does_nothing", func(t *testing.T) {
		d, err := reg.DisposeExpired(ctx, ethos.AccessRequest{UserID: "system"}, "", received.Add(400*24*time.Hour), "t")
		if err != nil || d.Instances != 0 || len(d.Shredded) != 0 {
			t.Fatalf("disposal %+v %v, want none", d, err)
		}
	})
	t.Run("audited_without_identifiers", func(t *testing.T) {
		dump := f.audit.dump(t)
		if strings.Count(dump, "instance.dispose") != 3 || !strings.Contains(dump, "subject.dispose") {
			t.Errorf("audit lacks the disposal records")
		}
		if strings.Contains(dump, "CANARY") {
			t.Error("audit names a patient identifier")
		}
	})
}
