package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/google/go-cmp/cmp"
)

// RunChecks is the conformance suite of the quality checks' aggregate
// queries (sqlstore.CheckEvidence): every SQL dialect runs it against a
// real database. open returns a fresh, empty, migrated store.
func RunChecks(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("SummarizeInstances", func(t *testing.T) { testSummarizeInstances(t, open(t)) })
	t.Run("ConsentsByID", func(t *testing.T) { testConsentsByID(t, open(t)) })
}

func testSummarizeInstances(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	ins, ev := sqlstore.NewInstanceService(db), sqlstore.NewCheckEvidence(db)
	t.Run("EmptyProject", func(t *testing.T) {
		got, err := ev.SummarizeInstances(ctx, "prj_none")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ByStatus) != 0 || len(got.StoredByConsent) != 0 || len(got.Subjects) != 0 {
			t.Fatalf("empty project summarised as %+v", got)
		}
	})
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	stored := func(project, uid string, s ethos.SubjectKey, consent string) *ethos.Instance {
		return &ethos.Instance{ProjectID: project, SOPInstanceUID: uid, Subject: s, Modality: "CT", Status: ethos.InstanceStored, ConsentID: consent,
			Blob: &ethos.BlobRef{Subject: s, Digest: fmt.Sprintf("%064x", len(uid)+int(uid[0])), Size: 10}, Source: "file:x", ReceivedBy: "usr_1"}
	}
	quarantined := func(reason ethos.QuarantineReason) *ethos.Instance {
		return &ethos.Instance{ProjectID: "prj_1", Status: ethos.InstanceQuarantined, Reason: reason, Source: "file:y", ReceivedBy: "usr_1"}
	}
	all := []*ethos.Instance{
		stored("prj_1", "1.1", a, "cns-a"), stored("prj_1", "1.2", a, "cns-a"), stored("prj_1", "1.3", b, "cns-b"),
		stored("prj_1", "1.4", b, ""), stored("prj_1", "1.5", b, "cns-b"), stored("prj_1", "1.6", a, "cns-a"),
		quarantined(ethos.QuarantineNoConsent), quarantined(ethos.QuarantineNoConsent), quarantined(ethos.QuarantineUnparsable),
		stored("prj_2", "1.1", a, "cns-a"), // another project: not counted
	}
	for _, in := range all {
		if _, err := ins.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := ins.SetInstanceStatus(ctx, all[5].ID, ethos.InstanceWithdrawn); err != nil {
		t.Fatal(err)
	}
	// Break two records behind the store's back, as a damaged or
	// tampered database would: a stored instance that lost its blob and a
	// quarantine record that names one.
	for _, q := range []struct{ sql, id string }{
		{"UPDATE instances SET blob_digest = '' WHERE id = ?", all[4].ID},
		{"UPDATE instances SET blob_digest = 'ffff' WHERE id = ?", all[7].ID},
	} {
		if _, err := db.SQL().ExecContext(ctx, q.sql, q.id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ev.SummarizeInstances(ctx, "prj_1")
	if err != nil {
		t.Fatal(err)
	}
	want := &ethos.InstanceSummary{ProjectID: "prj_1",
		ByStatus:            map[ethos.InstanceStatus]int{ethos.InstanceStored: 5, ethos.InstanceWithdrawn: 1, ethos.InstanceQuarantined: 3},
		Quarantine:          map[ethos.QuarantineReason]int{ethos.QuarantineNoConsent: 2, ethos.QuarantineUnparsable: 1},
		StoredByConsent:     map[string]int{"cns-a": 2, "cns-b": 2, "": 1},
		StoredWithoutBlob:   1,
		QuarantinedWithBlob: 1,
		Examples:            map[string][]string{"no-consent": {all[3].ID}, "no-blob": {all[4].ID}, "quarantined-blob": {all[7].ID}},
		Subjects:            []ethos.SubjectKey{a, b},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	t.Run("ExamplesBounded", func(t *testing.T) {
		var ids []string
		for i := range ethos.MaxSummaryExamples + 5 {
			in := stored("prj_3", fmt.Sprintf("2.%d", i), a, "")
			if _, err := ins.CreateInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
		}
		got, err := ev.SummarizeInstances(ctx, "prj_3")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if got.StoredByConsent[""] != len(ids) || !slices.Equal(got.Examples["no-consent"], ids[:ethos.MaxSummaryExamples]) {
			t.Errorf("%d without consent, examples %v; want %d and the %d smallest ids", got.StoredByConsent[""], got.Examples["no-consent"], len(ids), ethos.MaxSummaryExamples)
		}
	})
}

func testConsentsByID(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	cs, ev := sqlstore.NewConsentService(db), sqlstore.NewCheckEvidence(db)
	// More consents than one batch asks for, so that batches join up.
	var all []*ethos.Consent
	var links []*ethos.SubjectLink
	var ids []string
	for i := range 1203 {
		s := ethos.SubjectKey(fmt.Sprintf("%064x", i+1))
		c := TestConsent(fmt.Sprintf("cns-%d", i), s, ethos.PurposeResearch)
		if i%2 == 1 {
			c.Status = ethos.ConsentInactive
		}
		all, links = append(all, c), append(links, &ethos.SubjectLink{Subject: s, Sealed: []byte{1}})
		ids = append(ids, c.ID)
	}
	if err := cs.ImportConsents(ctx, all, links); err != nil {
		t.Fatal(err)
	}
	got, err := ev.ConsentsByID(ctx, append(ids, "cns-none"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) || got["cns-none"] != nil {
		t.Fatalf("%d consents found, want %d (and none for an unknown id)", len(got), len(all))
	}
	for _, c := range all {
		g := got[c.ID]
		if g == nil || g.Status != c.Status || g.Subject != c.Subject || !g.DateTime.Equal(c.DateTime) {
			t.Fatalf("consent %s read back as %+v", c.ID, g)
		}
	}
	if got, err := ev.ConsentsByID(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v, %v", got, err)
	}
}
