package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/storetest"
)

func records(w int, seq *int, n int, rng *rand.Rand) []json.RawMessage {
	var out []json.RawMessage
	for _, l := range splitLines(batchBody(w, seq, n, rng, time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC))) {
		out = append(out, l)
	}
	return out
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, b[start:i])
			start = i + 1
		}
	}
	return out
}

// BenchmarkParseEvent is the screening of one event.
func BenchmarkParseEvent(b *testing.B) {
	seq := 0
	recs := records(0, &seq, 100, rand.New(rand.NewPCG(1, 2)))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := deployment.ParseEvent(recs[i%len(recs)], now, 0.5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestBatch100 is one batch of 100 events through the
// registry into SQLite (no HTTP, no audit).
func BenchmarkIngestBatch100(b *testing.B) {
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "data"))
	if err := db.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	f := storetest.NewDeploymentFixture(b, db.Store())
	d, err := f.Register(b, "mv-1")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := 0
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.Registry.IngestEvents(context.Background(), d.ID, records(0, &seq, 100, rng), false)
		if err != nil || res.Stored != 100 {
			b.Fatal(fmt.Sprint(res, err))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
