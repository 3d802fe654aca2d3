package evalstat_test

import (
	"os"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// benchTable reads the table named by ETHOS_EVAL_BENCH (written by
// bench/eval/gen) grouped by groups; the benchmarks skip without it.
func benchTable(b *testing.B, groups ...string) *evalstat.Table {
	path := os.Getenv("ETHOS_EVAL_BENCH")
	if path == "" {
		b.Skip("set ETHOS_EVAL_BENCH to a table from bench/eval/gen")
	}
	if len(groups) == 0 {
		groups = []string{"sex", "age_band", "race"}
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	t, err := evalstat.ReadCSV(f, evalstat.CSVSpec{Label: "label", Score: "score", Groups: groups})
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

// BenchmarkBootstrapAUROC runs 100 resamples of AUROC alone, over the 50
// intersectional groups as one attribute and over the full 63 groups.
func BenchmarkBootstrapAUROC(b *testing.B) {
	for _, tc := range []struct {
		name   string
		groups []string
	}{{"Groups50", []string{"group"}}, {"Groups63", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			t := benchTable(b, tc.groups...)
			cfg := evalstat.DefaultConfig()
			cfg.Intersect = true
			cfg.Bootstrap = 100
			cfg.Workers = 1
			cfg.BootstrapMetrics = []string{"auroc"}
			for b.Loop() {
				if _, err := evalstat.Evaluate(t, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSortCodes sorts copies of the table's columns by the radix sort
// of decimal score codes (the table is read in input order).
func BenchmarkSortCodes(b *testing.B) {
	t := benchTable(b)
	score, pay := t.Columns()
	s, p := make([]float64, len(score)), make([]uint32, len(pay))
	for b.Loop() {
		copy(s, score)
		copy(p, pay)
		if !evalstat.SortCodes(s, p, t.Digits(), len(t.Cells)) {
			b.Fatal("not sorted by codes")
		}
	}
}
