package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestEventColumns checks the PostgreSQL batch insert (one array a
// column): absent numbers stay NULL, present ones keep their value, a
// repeated id in the same batch is stored once, and a replay reports the
// stored digests.
func TestEventColumns(t *testing.T) {
	ctx := context.Background()
	s := sqlstore.NewDeploymentStore(MustOpenDB(t).Store())
	defer s.Close()
	at := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	lat, kvp := 12.5, 120.0
	withNumbers := &ethos.InferenceEvent{DeploymentID: "dep-cols", EventID: "e1", Time: at, CaseID: "c1", Score: 0.7, Decision: true,
		LatencyMS: &lat, Reader: ethos.ReaderAction("agreed"), ReceivedAt: at}
	withNumbers.Acquisition.KVP = &kvp
	bare := &ethos.InferenceEvent{DeploymentID: "dep-cols", EventID: "e2", Time: at.Add(time.Second), CaseID: "c2", Score: 0.2, ReceivedAt: at}
	again := *withNumbers
	dup, err := s.InsertEvents(ctx, []*ethos.InferenceEvent{withNumbers, bare, &again}, []string{"d1", "d2", "d1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if dup[0] != "" || dup[1] != "" || dup[2] != "d1" {
		t.Fatalf("first batch: stored digests %q, want only the repeated id's", dup)
	}
	var got []*ethos.InferenceEvent
	if err := s.ScanEvents(ctx, ethos.EventFilter{DeploymentID: "dep-cols"}, func(e *ethos.InferenceEvent) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stored %d events, want 2", len(got))
	}
	if got[0].LatencyMS == nil || *got[0].LatencyMS != lat || got[0].Acquisition.KVP == nil || *got[0].Acquisition.KVP != kvp || !got[0].Decision {
		t.Errorf("event with numbers came back as %+v", got[0])
	}
	if got[1].LatencyMS != nil || got[1].Acquisition.KVP != nil || got[1].Acquisition.SliceThickness != nil || got[1].Decision {
		t.Errorf("event without numbers came back as %+v", got[1])
	}
	dup, err = s.InsertEvents(ctx, []*ethos.InferenceEvent{bare, withNumbers}, []string{"d2", "d1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if dup[0] != "d2" || dup[1] != "d1" {
		t.Errorf("replay: stored digests %q, want [d2 d1]", dup)
	}
}
