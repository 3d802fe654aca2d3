package deployment_test

import (
	"context"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

func BenchmarkComplete(b *testing.B) {
	reg, cat := completeRegister(), deployment.Catalogue()
	for b.Loop() {
		if gaps := deployment.Complete(reg, cat); len(gaps) != 0 {
			b.Fatal(gaps)
		}
	}
}

// BenchmarkStatus computes the deadlines and states of an EU and US breach
// that is also a serious incident (six duties), zone lookup included.
func BenchmarkStatus(b *testing.B) {
	inc := &ethos.Incident{ID: "inc_b", AwareAt: time.Date(2026, 10, 23, 8, 0, 0, 0, time.UTC), Zone: "Europe/Berlin",
		ReportingZones: map[ethos.Jurisdiction]string{ethos.JurisdictionUS: "America/New_York"},
		Jurisdictions:  []ethos.Jurisdiction{ethos.JurisdictionEU, ethos.JurisdictionUS},
		Classes:        []ethos.IncidentClass{ethos.IncidentPersonalDataBreach, ethos.IncidentSerious},
		Outcomes:       []ethos.SeriousOutcome{ethos.OutcomeSeriousHarmHealth}, GDPRHighRisk: true,
		AffectedSubjects: 900, AffectedByState: map[string]int{"NY": 600, "NJ": 300}}
	now := inc.AwareAt.Add(100 * time.Hour)
	for b.Loop() {
		if _, err := deployment.Status(inc, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ev := deployment.EvidenceMap{ethos.EvidenceRiskRegisterComplete: deployment.RegisterObservation(completeRegister(), deployment.Catalogue(), now)}
	items := deployment.Checklist()
	ctx := context.Background()
	for b.Loop() {
		if _, err := deployment.Evaluate(ctx, items, ev, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEvent parses and screens one full event (every text field
// goes through the identifier screen).
func BenchmarkParseEvent(b *testing.B) {
	raw := []byte(good)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := deployment.ParseEvent(raw, now, 0.5); err != nil {
			b.Fatal(err)
		}
	}
}
