package evalstat_test

import (
	"os"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// benchFile is a table written by bench/eval/gen; the benchmarks skip
// without it (ETHOS_EVAL_BENCH=/path/rows.csv, written by bench/eval/gen).
func benchTable(b *testing.B) *evalstat.Table {
	path := os.Getenv("ETHOS_EVAL_BENCH")
	if path == "" {
		b.Skip("set ETHOS_EVAL_BENCH to a table from bench/eval/gen")
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	t, err := evalstat.ReadCSV(f, evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"sex", "age_band", "race"}})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func BenchmarkReadCSV(b *testing.B) {
	for b.Loop() {
		benchTable(b)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	t := benchTable(b)
	cfg := evalstat.DefaultConfig()
	cfg.Intersect = true
	for b.Loop() {
		if _, err := evalstat.Evaluate(t, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBootstrap100(b *testing.B) {
	t := benchTable(b)
	cfg := evalstat.DefaultConfig()
	cfg.Intersect = true
	cfg.Bootstrap = 100
	for b.Loop() {
		if _, err := evalstat.Evaluate(t, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
