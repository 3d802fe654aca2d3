package sqlite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
)

func testConsent(id string, subject ethos.SubjectKey, purposes ...ethos.Purpose) *ethos.Consent {
	return &ethos.Consent{ID: id, Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: subject,
		DateTime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
		Provision: ethos.Provision{Type: ethos.ProvisionPermit, Purposes: purposes}}
}

func TestConsentStore(t *testing.T) {
	ctx := context.Background()
	s := sqlite.NewConsentService(MustOpenDB(t))
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	if err := s.ImportConsents(ctx, []*ethos.Consent{testConsent("c1", a, ethos.PurposeResearch), testConsent("c2", a, ethos.PurposeAITraining), testConsent("c3", b, ethos.PurposeResearch)},
		[]*ethos.SubjectLink{{Subject: a, Sealed: []byte{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	t.Run("import_with_a_bad_consent_stores_nothing", func(t *testing.T) {
		bad := testConsent("c5", b)
		bad.Status = "bogus"
		err := s.ImportConsents(ctx, []*ethos.Consent{testConsent("c4", b, ethos.PurposeResearch), bad}, nil)
		if ethos.ErrorCode(err) != ethos.EINVALID {
			t.Fatalf("err %v, want invalid", err)
		}
		if _, err := s.FindConsentByID(ctx, "c4"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("c4 stored by a failed import (%v)", err)
		}
	})
	research, training := ethos.PurposeResearch, ethos.PurposeAITraining
	tests := []struct {
		name   string
		filter ethos.ConsentFilter
		want   []string
	}{
		{"by_subject", ethos.ConsentFilter{SubjectID: &a}, []string{"c1", "c2"}},
		{"by_purpose", ethos.ConsentFilter{Purpose: &research}, []string{"c1", "c3"}},
		{"by_subject_and_purpose", ethos.ConsentFilter{SubjectID: &a, Purpose: &training}, []string{"c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, n, err := s.FindConsents(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || n != len(tt.want) {
				t.Fatalf("got %v (%d), want %v", got, n, tt.want)
			}
		})
	}
	t.Run("withdrawal_makes_only_that_subject_inactive", func(t *testing.T) {
		changed, err := s.WithdrawConsents(ctx, a, ethos.ConsentWithdrawal{At: time.Now(), RecordedBy: "usr_x", RequestedBy: ethos.GrantorPatient})
		if err != nil || len(changed) != 2 {
			t.Fatalf("changed %d (%v), want 2", len(changed), err)
		}
		active := ethos.ConsentActive
		_, n, _ := s.FindConsents(ctx, ethos.ConsentFilter{Status: &active})
		if n != 1 {
			t.Fatalf("%d active consents left, want 1 (subject b)", n)
		}
		c, err := s.FindConsentByID(ctx, "c1")
		if err != nil || c.Status != ethos.ConsentInactive || c.Withdrawal == nil || c.Withdrawal.RecordedBy != "usr_x" {
			t.Fatalf("c1 after withdrawal: %+v %v", c, err)
		}
	})
	t.Run("link_kept_once_and_deleted", func(t *testing.T) {
		if err := s.PutSubjectLink(ctx, &ethos.SubjectLink{Subject: a, Sealed: []byte{9}}); err != nil {
			t.Fatal(err)
		}
		l, err := s.SubjectLink(ctx, a)
		if err != nil || len(l.Sealed) != 3 {
			t.Fatalf("link %v %v: the first link must stay", l, err)
		}
		if err := s.DeleteSubjectLink(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SubjectLink(ctx, a); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("after delete: %v", err)
		}
	})
}

func TestInstanceStore(t *testing.T) {
	ctx := context.Background()
	s := sqlite.NewInstanceService(MustOpenDB(t))
	k := ethos.SubjectKey(strings.Repeat("c", 64))
	ref := &ethos.BlobRef{Subject: k, Digest: strings.Repeat("d", 64), Size: 10}
	first, err := s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref, Source: "file:a", ReceivedBy: "usr_1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       ethos.Instance
		wantCode string
	}{
		{"same_uid_same_project_conflicts", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref}, ethos.ECONFLICT},
		{"same_uid_other_project_stored", ethos.Instance{ProjectID: "prj_2", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref}, ""},
		{"quarantine_records_repeat", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineNoConsent}, ""},
		{"stored_without_blob_refused", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "9.9", Subject: k, Status: ethos.InstanceStored}, ethos.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CreateInstance(ctx, &tt.in)
			if ethos.ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
				t.Fatalf("err %v, want %q", err, tt.wantCode)
			}
			if tt.wantCode == ethos.ECONFLICT && (got == nil || got.ID != first.ID) {
				t.Fatalf("conflict returned %v, want the kept record %s", got, first.ID)
			}
		})
	}
	t.Run("withdrawal_moves_kept_instances_only", func(t *testing.T) {
		n, err := s.SetSubjectStatus(ctx, k, ethos.InstanceWithdrawn)
		if err != nil || n != 2 {
			t.Fatalf("changed %d (%v), want 2 (the quarantine record stays)", n, err)
		}
		if _, err := s.SetSubjectStatus(ctx, k, ethos.InstanceStored); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Fatalf("moving back to stored: %v", err)
		}
	})
}
