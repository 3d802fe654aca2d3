package training_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/training"
)

// BenchmarkCoverage measures the consent re-check of a registration over a
// dataset version of 500 subjects with 10 instances each, on SQLite: per
// subject one instance query and one consent query, then the consent
// engine on the acquisition date and now for each instance.
func BenchmarkCoverage(b *testing.B) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "data"))
	if err := db.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	consents, instances := sqlite.NewConsentService(db), sqlite.NewInstanceService(db)
	members := map[string]ethos.SubjectKey{}
	const subjects, per = 500, 10
	for s := range subjects {
		k := ethos.SubjectKey(fmt.Sprintf("%064x", s+1))
		if err := consents.CreateConsent(ctx, &ethos.Consent{ID: fmt.Sprintf("cns-%d", s), Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: k,
			DateTime:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
			Provision:  ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeAITraining}, Modalities: []string{"CT"}}}); err != nil {
			b.Fatal(err)
		}
		for i := range per {
			in := &ethos.Instance{ProjectID: "prj_b", SOPInstanceUID: fmt.Sprintf("1.2.%d.%d", s, i), Subject: k, Modality: "CT", BodyPart: "CHEST",
				Acquired: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Status: ethos.InstanceStored,
				Blob: &ethos.BlobRef{Subject: k, Digest: strings.Repeat("2", 64), Size: 1}, Source: "file:site/" + fmt.Sprint(s%7) + "/x.dcm", ReceivedBy: "usr_x"}
			if _, err := instances.CreateInstance(ctx, in); err != nil {
				b.Fatal(err)
			}
			members[in.ID] = k
		}
	}
	svc := &training.Service{Runs: sqlstore.NewTrainingStore(db.Store()), Instances: instances, Consents: consents}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		cov, _, err := svc.Coverage(ctx, "pty_x", "prj_b", members, now)
		if err != nil {
			b.Fatal(err)
		}
		if !cov.Complete() {
			b.Fatalf("coverage %+v", cov)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(members)), "µs/instance")
}
