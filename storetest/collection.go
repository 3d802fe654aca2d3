package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunCollection is the conformance suite of the collection services
// (consents, sealed subject links, instance records, collection rules):
// every SQL dialect runs it against a real database. open returns a fresh,
// empty, migrated store for each subtest.
func RunCollection(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("Consents", func(t *testing.T) { testConsents(t, open(t)) })
	t.Run("SubjectLinks", func(t *testing.T) { testSubjectLinks(t, open(t)) })
	t.Run("Instances", func(t *testing.T) { testInstances(t, open(t)) })
	t.Run("InstancesConcurrentDuplicates", func(t *testing.T) { testInstanceRace(t, open(t)) })
	t.Run("InstanceBatch", func(t *testing.T) { testInstanceBatch(t, open(t)) })
	t.Run("CollectionRules", func(t *testing.T) { testCollectionRules(t, open(t)) })
}

// TestConsent returns an active opt-in consent permitting purposes.
func TestConsent(id string, subject ethos.SubjectKey, purposes ...ethos.Purpose) *ethos.Consent {
	return &ethos.Consent{ID: id, Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: subject,
		DateTime:   time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
		Provision:  ethos.Provision{Type: ethos.ProvisionPermit, Purposes: purposes}}
}

func ids(cs []*ethos.Consent) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	return strings.Join(s, ",")
}

func testConsents(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewConsentService(db)
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	if err := s.ImportConsents(ctx, []*ethos.Consent{TestConsent("c1", a, ethos.PurposeResearch), TestConsent("c2", a, ethos.PurposeAITraining), TestConsent("c3", b, ethos.PurposeResearch)},
		[]*ethos.SubjectLink{{Subject: a, Sealed: []byte{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrInvalid_import_with_a_bad_consent_stores_nothing", func(t *testing.T) {
		bad := TestConsent("c5", b)
		bad.Status = "bogus"
		err := s.ImportConsents(ctx, []*ethos.Consent{TestConsent("c4", b, ethos.PurposeResearch), bad}, []*ethos.SubjectLink{{Subject: b, Sealed: []byte{7}}})
		code(t, err, ethos.EINVALID)
		if _, err := s.FindConsentByID(ctx, "c4"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("c4 stored by a failed import (%v)", err)
		}
		if _, err := s.SubjectLink(ctx, b); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("link of b stored by a failed import (%v)", err)
		}
	})
	t.Run("ErrConflict_duplicate_id_stores_nothing", func(t *testing.T) {
		err := s.ImportConsents(ctx, []*ethos.Consent{TestConsent("c6", b, ethos.PurposeResearch), TestConsent("c1", b, ethos.PurposeResearch)}, nil)
		code(t, err, ethos.ECONFLICT)
		if _, err := s.FindConsentByID(ctx, "c6"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Fatalf("c6 stored by a failed import (%v)", err)
		}
	})
	research, training := ethos.PurposeResearch, ethos.PurposeAITraining
	active := ethos.ConsentActive
	tests := []struct {
		name   string
		filter ethos.ConsentFilter
		want   string
	}{
		{"by_subject", ethos.ConsentFilter{SubjectID: &a}, "c1,c2"},
		{"by_purpose", ethos.ConsentFilter{Purpose: &research}, "c1,c3"},
		{"by_subject_and_purpose", ethos.ConsentFilter{SubjectID: &a, Purpose: &training}, "c2"},
		{"by_status", ethos.ConsentFilter{Status: &active}, "c1,c2,c3"},
		{"paged", ethos.ConsentFilter{Offset: 1, Limit: 1}, "c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, n, err := s.FindConsents(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			wantN := len(strings.Split(tt.want, ","))
			if tt.name == "paged" {
				wantN = 3
			}
			if got := ids(cs); got != tt.want || n != wantN {
				t.Fatalf("got %s (total %d), want %s (total %d)", got, n, tt.want, wantN)
			}
		})
	}
	t.Run("body_round_trips", func(t *testing.T) {
		c, err := s.FindConsentByID(ctx, "c2")
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != a || c.Status != ethos.ConsentActive || len(c.Provision.Purposes) != 1 || c.Provision.Purposes[0] != ethos.PurposeAITraining || c.CreatedAt.IsZero() {
			t.Fatalf("read back %+v", c)
		}
	})
	t.Run("update_changes_status_and_filter_columns", func(t *testing.T) {
		st := ethos.ConsentEnteredInError
		if _, err := s.UpdateConsent(ctx, "c3", ethos.ConsentUpdate{Status: &st}); err != nil {
			t.Fatal(err)
		}
		_, n, err := s.FindConsents(ctx, ethos.ConsentFilter{Status: &st})
		if err != nil || n != 1 {
			t.Fatalf("entered-in-error consents: %d (%v), want 1", n, err)
		}
		_, err = s.UpdateConsent(ctx, "nope", ethos.ConsentUpdate{Status: &st})
		code(t, err, ethos.ENOTFOUND)
	})
	t.Run("withdrawal_makes_only_that_subject_inactive", func(t *testing.T) {
		changed, err := s.WithdrawConsents(ctx, a, ethos.ConsentWithdrawal{At: time.Now(), RecordedBy: "usr_x", RequestedBy: ethos.GrantorPatient})
		if err != nil || len(changed) != 2 {
			t.Fatalf("changed %d (%v), want 2", len(changed), err)
		}
		_, n, _ := s.FindConsents(ctx, ethos.ConsentFilter{Status: &active})
		if n != 0 {
			t.Fatalf("%d active consents left, want 0 (c3 was entered in error)", n)
		}
		c, err := s.FindConsentByID(ctx, "c1")
		if err != nil || c.Status != ethos.ConsentInactive || c.Withdrawal == nil || c.Withdrawal.RecordedBy != "usr_x" {
			t.Fatalf("c1 after withdrawal: %+v %v", c, err)
		}
		again, err := s.WithdrawConsents(ctx, a, ethos.ConsentWithdrawal{At: time.Now(), RecordedBy: "usr_x", RequestedBy: ethos.GrantorPatient})
		if err != nil || len(again) != 0 {
			t.Fatalf("second withdrawal changed %d (%v), want 0", len(again), err)
		}
	})
	t.Run("ErrInvalid_withdraw_without_subject_key", func(t *testing.T) {
		_, err := s.WithdrawConsents(ctx, "patient-123", ethos.ConsentWithdrawal{})
		code(t, err, ethos.EINVALID)
	})
}

func testSubjectLinks(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewConsentService(db)
	a := ethos.SubjectKey(strings.Repeat("a", 64))
	sealed := []byte{0, 1, 2, 0xff, 0xfe}
	if err := s.PutSubjectLink(ctx, &ethos.SubjectLink{Subject: a, Sealed: sealed}); err != nil {
		t.Fatal(err)
	}
	t.Run("first_link_kept_bytes_exact", func(t *testing.T) {
		if err := s.PutSubjectLink(ctx, &ethos.SubjectLink{Subject: a, Sealed: []byte{9}}); err != nil {
			t.Fatal(err)
		}
		l, err := s.SubjectLink(ctx, a)
		if err != nil || string(l.Sealed) != string(sealed) || l.CreatedAt.IsZero() {
			t.Fatalf("link %+v %v: the first link must stay, byte for byte", l, err)
		}
	})
	t.Run("ErrInvalid_empty_link", func(t *testing.T) {
		code(t, s.PutSubjectLink(ctx, &ethos.SubjectLink{Subject: a}), ethos.EINVALID)
	})
	t.Run("ErrNotFound_after_delete", func(t *testing.T) {
		if err := s.DeleteSubjectLink(ctx, a); err != nil {
			t.Fatal(err)
		}
		_, err := s.SubjectLink(ctx, a)
		code(t, err, ethos.ENOTFOUND)
	})
}

func testInstances(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewInstanceService(db)
	k := ethos.SubjectKey(strings.Repeat("c", 64))
	other := ethos.SubjectKey(strings.Repeat("e", 64))
	ref := &ethos.BlobRef{Subject: k, Digest: strings.Repeat("d", 64), Size: 10}
	acq := time.Date(2023, 5, 6, 0, 0, 0, 0, time.UTC)
	px := &ethos.PixelValue{Tag: 0x7FE00010, Offset: 1<<32 + 1234, Length: 524288, Encapsulated: true, Syntax: "1.2.840.10008.1.2.5"}
	first, err := s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Modality: "CT", BodyPart: "CHEST", Acquired: acq,
		Status: ethos.InstanceStored, Blob: ref, Pixels: px, Source: "file:a", ReceivedBy: "usr_1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       ethos.Instance
		wantCode string
	}{
		{"ErrConflict_same_uid_same_project", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref}, ethos.ECONFLICT},
		{"same_uid_other_project_stored", ethos.Instance{ProjectID: "prj_2", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref}, ""},
		{"quarantine_records_repeat", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineNoConsent}, ""},
		{"quarantine_without_subject", ethos.Instance{ProjectID: "prj_1", Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineUnparsable}, ""},
		{"ErrInvalid_stored_without_blob", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "9.9", Subject: k, Status: ethos.InstanceStored}, ethos.EINVALID},
		{"other_subject_stored", ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "4.5.6", Subject: other, Status: ethos.InstanceStored, Blob: &ethos.BlobRef{Subject: other, Digest: strings.Repeat("f", 64), Size: 3}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CreateInstance(ctx, &tt.in)
			code(t, err, tt.wantCode)
			if tt.wantCode == ethos.ECONFLICT && (got == nil || got.ID != first.ID) {
				t.Fatalf("conflict returned %v, want the kept record %s", got, first.ID)
			}
		})
	}
	t.Run("record_round_trips", func(t *testing.T) {
		got, n, err := s.FindInstances(ctx, ethos.InstanceFilter{ID: &first.ID})
		if err != nil || n != 1 {
			t.Fatalf("find by id: %d %v", n, err)
		}
		g := got[0]
		if g.SOPInstanceUID != "1.2.3" || g.Subject != k || g.Modality != "CT" || g.BodyPart != "CHEST" || !g.Acquired.Equal(acq) ||
			g.Blob == nil || g.Blob.Digest != ref.Digest || g.Blob.Size != 10 || g.Blob.Subject != k || g.Source != "file:a" || g.ReceivedBy != "usr_1" || g.ReceivedAt.IsZero() {
			t.Fatalf("read back %+v", g)
		}
		if g.Pixels == nil || *g.Pixels != *px {
			t.Fatalf("pixel value read back as %+v, want %+v", g.Pixels, px)
		}
	})
	t.Run("no_pixel_value_reads_back_nil", func(t *testing.T) {
		p2 := "prj_2"
		got, _, err := s.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &p2})
		if err != nil || len(got) != 1 {
			t.Fatalf("prj_2: %d rows (%v), want 1", len(got), err)
		}
		if got[0].Pixels != nil {
			t.Fatalf("pixel value %+v for an instance stored without one", got[0].Pixels)
		}
	})
	p1, quarantined, stored := "prj_1", ethos.InstanceQuarantined, ethos.InstanceStored
	filters := []struct {
		name string
		f    ethos.InstanceFilter
		want int
	}{
		{"by_project", ethos.InstanceFilter{ProjectID: &p1}, 4},
		{"by_project_and_status", ethos.InstanceFilter{ProjectID: &p1, Status: &quarantined}, 2},
		{"by_subject", ethos.InstanceFilter{Subject: &k}, 3},
		{"by_status", ethos.InstanceFilter{Status: &stored}, 3},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := s.FindInstances(ctx, tt.f)
			if err != nil || n != tt.want || len(got) != tt.want {
				t.Fatalf("got %d rows, total %d (%v), want %d", len(got), n, err, tt.want)
			}
		})
	}
	t.Run("kept_digest_and_received_before_filters", func(t *testing.T) {
		d := ref.Digest
		got, n, err := s.FindInstances(ctx, ethos.InstanceFilter{Subject: &k, BlobDigest: &d, Kept: true})
		if err != nil || n != 2 || len(got) != 2 {
			t.Fatalf("kept with digest: %d (%v), want 2 (both projects)", n, err)
		}
		past := first.ReceivedAt
		if _, n, _ := s.FindInstances(ctx, ethos.InstanceFilter{ReceivedBefore: &past}); n != 0 {
			t.Fatalf("received strictly before the first record: %d, want 0", n)
		}
		future := time.Now().Add(time.Hour)
		if _, n, _ := s.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &p1, Kept: true, ReceivedBefore: &future}); n != 2 {
			t.Fatalf("kept in prj_1 received before now+1h: %d, want 2", n)
		}
	})
	t.Run("one_instance_status", func(t *testing.T) {
		o, _, err := s.FindInstances(ctx, ethos.InstanceFilter{Subject: &other})
		if err != nil || len(o) != 1 {
			t.Fatalf("other subject: %v %v", o, err)
		}
		code(t, s.SetInstanceStatus(ctx, o[0].ID, ethos.InstanceStored), ethos.EINVALID)
		if err := s.SetInstanceStatus(ctx, o[0].ID, ethos.InstanceErased); err != nil {
			t.Fatal(err)
		}
		code(t, s.SetInstanceStatus(ctx, o[0].ID, ethos.InstanceErased), ethos.ENOTFOUND)
		code(t, s.SetInstanceStatus(ctx, "ins_nope", ethos.InstanceWithdrawn), ethos.ENOTFOUND)
		// Put it back for the checks below: store a fresh copy.
		if _, err := s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_3", SOPInstanceUID: "4.5.6", Subject: other, Status: ethos.InstanceStored, Blob: &ethos.BlobRef{Subject: other, Digest: strings.Repeat("f", 64), Size: 3}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("withdrawal_moves_kept_instances_of_the_subject_only", func(t *testing.T) {
		n, err := s.SetSubjectStatus(ctx, k, ethos.InstanceWithdrawn)
		if err != nil || n != 2 {
			t.Fatalf("changed %d (%v), want 2 (the quarantine record and the other subject stay)", n, err)
		}
		_, err = s.SetSubjectStatus(ctx, k, ethos.InstanceStored)
		code(t, err, ethos.EINVALID)
		if n, err := s.SetSubjectStatus(ctx, k, ethos.InstanceErased); err != nil || n != 2 {
			t.Fatalf("erase after withdrawal changed %d (%v), want 2", n, err)
		}
		_, n2, _ := s.FindInstances(ctx, ethos.InstanceFilter{Subject: &other, Status: &stored})
		if n2 != 1 {
			t.Fatalf("other subject has %d stored instances, want 1", n2)
		}
	})
	t.Run("ErrConflict_erased_uid_still_held", func(t *testing.T) {
		// An erased instance keeps its record: the same UID is not stored
		// again behind the subject's back.
		_, err := s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.2.3", Subject: k, Status: ethos.InstanceStored, Blob: ref})
		code(t, err, ethos.ECONFLICT)
	})
}

// testInstanceRace stores the same SOP Instance UID from many goroutines
// at once: exactly one is kept, the others get ECONFLICT with that record.
func testInstanceRace(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewInstanceService(db)
	k := ethos.SubjectKey(strings.Repeat("c", 64))
	const n = 8
	var wg sync.WaitGroup
	results := make([]*ethos.Instance, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "7.7.7", Subject: k, Status: ethos.InstanceStored,
				Blob: &ethos.BlobRef{Subject: k, Digest: strings.Repeat("a", 64), Size: 1}})
		})
	}
	wg.Wait()
	kept := ""
	for i := range n {
		if errs[i] == nil {
			if kept != "" {
				t.Fatalf("two records kept: %s and %s", kept, results[i].ID)
			}
			kept = results[i].ID
		}
	}
	if kept == "" {
		t.Fatalf("no record kept: %v", errs)
	}
	for i := range n {
		if errs[i] != nil {
			code(t, errs[i], ethos.ECONFLICT)
			if results[i] == nil || results[i].ID != kept {
				t.Errorf("conflict %d returned %v, want %s", i, results[i], kept)
			}
		}
	}
	p := "prj_1"
	if _, total, err := s.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &p}); err != nil || total != 1 {
		t.Fatalf("%d records (%v), want 1", total, err)
	}
}

func testCollectionRules(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewInstanceService(db)
	_, err := s.CollectionRules(ctx, "prj_1")
	code(t, err, ethos.ENOTFOUND)
	r := &ethos.CollectionRules{ProjectID: "prj_1", Purpose: ethos.PurposeAITraining, Modalities: []string{"CT"}, BodyParts: []string{" chest "},
		Acquired: ethos.Period{Start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, Issuer: "HOSP", UpdatedBy: "usr_1"}
	if err := s.SetCollectionRules(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Run("round_trips_normalised", func(t *testing.T) {
		got, err := s.CollectionRules(ctx, "prj_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Purpose != ethos.PurposeAITraining || len(got.BodyParts) != 1 || got.BodyParts[0] != "CHEST" || got.Issuer != "HOSP" || !got.Acquired.Start.Equal(r.Acquired.Start) || got.UpdatedAt.IsZero() {
			t.Fatalf("read back %+v", got)
		}
	})
	t.Run("replaced_by_a_second_set", func(t *testing.T) {
		if err := s.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: "prj_1", Purpose: ethos.PurposeResearch}); err != nil {
			t.Fatal(err)
		}
		got, err := s.CollectionRules(ctx, "prj_1")
		if err != nil || got.Purpose != ethos.PurposeResearch || len(got.Modalities) != 0 {
			t.Fatalf("read back %+v %v", got, err)
		}
	})
	t.Run("all_rules_listed", func(t *testing.T) {
		if err := s.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: "prj_0", Purpose: ethos.PurposeResearch, RetentionDays: 365}); err != nil {
			t.Fatal(err)
		}
		all, err := s.FindCollectionRules(ctx)
		if err != nil || len(all) != 2 || all[0].ProjectID != "prj_0" || all[0].RetentionDays != 365 || all[1].ProjectID != "prj_1" {
			t.Fatalf("all rules: %+v %v", all, err)
		}
	})
	t.Run("ErrInvalid_negative_retention", func(t *testing.T) {
		code(t, s.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: "prj_1", Purpose: ethos.PurposeResearch, RetentionDays: -1}), ethos.EINVALID)
	})
	t.Run("ErrInvalid_bad_purpose", func(t *testing.T) {
		code(t, s.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: "prj_1", Purpose: "commercial-use"}), ethos.EINVALID)
	})
}

// testInstanceBatch checks CreateInstances (ingest's group commit) against
// what the same records would get one call at a time: a UID already stored
// keeps its record, a UID twice in the batch keeps the first, quarantine
// records all stay, and everything else is recorded in one go.
func testInstanceBatch(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	s := sqlstore.NewInstanceService(db)
	k := ethos.SubjectKey(strings.Repeat("c", 64))
	blob := func(c string) *ethos.BlobRef {
		return &ethos.BlobRef{Subject: k, Digest: strings.Repeat(c, 64), Size: 1}
	}
	old, err := s.CreateInstance(ctx, &ethos.Instance{ProjectID: "prj_1", SOPInstanceUID: "1.1", Subject: k, Status: ethos.InstanceStored, Blob: blob("a")})
	if err != nil {
		t.Fatal(err)
	}
	batch := []*ethos.Instance{
		{ProjectID: "prj_1", SOPInstanceUID: "1.1", Subject: k, Status: ethos.InstanceStored, Blob: blob("a")},                        // already stored
		{ProjectID: "prj_1", SOPInstanceUID: "2.2", Subject: k, Status: ethos.InstanceStored, Blob: blob("b")},                        // new
		{ProjectID: "prj_1", SOPInstanceUID: "2.2", Subject: k, Status: ethos.InstanceStored, Blob: blob("b")},                        // twice in the batch
		{ProjectID: "prj_1", SOPInstanceUID: "3.3", Subject: k, Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineNoConsent}, // quarantined
		{ProjectID: "prj_1", SOPInstanceUID: "3.3", Subject: k, Status: ethos.InstanceQuarantined, Reason: ethos.QuarantineNoConsent}, // quarantine repeats are records too
		{ProjectID: "prj_2", SOPInstanceUID: "1.1", Subject: k, Status: ethos.InstanceStored, Blob: blob("a")},                        // same UID, other project
	}
	kept, err := s.CreateInstances(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != len(batch) {
		t.Fatalf("%d results for %d instances", len(kept), len(batch))
	}
	if kept[0].ID != old.ID {
		t.Errorf("already stored UID: kept %s, want the earlier record %s", kept[0].ID, old.ID)
	}
	if kept[1] != batch[1] || kept[1].ID == "" {
		t.Errorf("new instance: not recorded as itself")
	}
	if kept[2].ID != kept[1].ID {
		t.Errorf("UID twice in the batch: kept %s, want the first %s", kept[2].ID, kept[1].ID)
	}
	for _, i := range []int{3, 4, 5} {
		if kept[i] != batch[i] || kept[i].ID == "" {
			t.Errorf("instance %d: not recorded as itself", i)
		}
	}
	for _, c := range []struct {
		project string
		want    int
	}{{"prj_1", 4}, {"prj_2", 1}} {
		if _, total, err := s.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &c.project}); err != nil || total != c.want {
			t.Errorf("%s: %d records (%v), want %d", c.project, total, err, c.want)
		}
	}
	if got, err := s.CreateInstances(ctx, nil); err != nil || got != nil {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}
