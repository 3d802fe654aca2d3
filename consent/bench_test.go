package consent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

// benchConsents builds n consents for one subject, given a month apart,
// each an opt-in with three permit branches and a nested deny, like the
// research-optin fixture.
func benchConsents(n int) []*ethos.Consent {
	cs := make([]*ethos.Consent, n)
	for i := range cs {
		cs[i] = mk(fmt.Sprintf("c%d", i), "2020-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
			{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch, ethos.PurposeAITraining},
				Modalities: []string{"CT", "MR"}, BodyParts: []string{"CHEST"},
				Provisions: []ethos.Provision{{Type: ethos.ProvisionDeny, Actors: []ethos.Actor{{Party: "vendor-x"}}}}},
			{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeClinicalCare}},
			{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeAIEvaluation}, Modalities: []string{"MG"}},
		}})
		cs[i].DateTime = cs[i].DateTime.AddDate(0, i, 0)
	}
	return cs
}

func BenchmarkDecide(b *testing.B) {
	q := consent.Query{Subject: subjA, Purpose: ethos.PurposeAITraining, Party: "site-a", Modality: "CT", BodyPart: "CHEST",
		Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	for _, n := range []int{1, 10, 100} {
		cs := benchConsents(n)
		b.Run(fmt.Sprintf("consents=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := consent.Decide(cs, q)
				if err != nil || !d.Permitted() {
					b.Fatalf("%v %v", d, err)
				}
			}
		})
	}
	// The out-of-scope path evaluates every consent and explains.
	cs := benchConsents(10)
	q.Purpose = ethos.PurposeCommercialUse
	b.Run("consents=10/out-of-scope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, _ := consent.Decide(cs, q); d.Reason != ethos.ReasonOutOfScope {
				b.Fatal(d)
			}
		}
	})
}

func BenchmarkParseFHIR(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "research-optin.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := consent.ParseFHIR(data); err != nil {
			b.Fatal(err)
		}
	}
}
