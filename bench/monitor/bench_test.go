package main

import (
	"context"
	"testing"

	"github.com/ethos-imaging/ethos/deployment/monitor"
)

// BenchmarkCheck1M is one pass of every rule of the workload's plan over
// 30 daily windows holding 1,000,000 events (the reference is prepared
// outside the timed loop).
func BenchmarkCheck1M(b *testing.B) {
	for _, perSite := range []bool{false, true} {
		name := "plan=base"
		if perSite {
			name = "plan=per-site"
		}
		b.Run(name, func(b *testing.B) { benchCheck(b, perSite) })
	}
}

func benchCheck(b *testing.B, perSite bool) {
	r, p, ws, err := workload(1_000_000, 30, perSite)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e, err := monitor.NewEngine(ctx, p, r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var st monitor.State
		res, err := e.Check(ctx, r, ws, &st)
		if err != nil {
			b.Fatal(err)
		}
		if res.Events < 990_000 {
			b.Fatalf("%d events checked", res.Events)
		}
	}
	b.ReportMetric(float64(1_000_000*b.N)/b.Elapsed().Seconds(), "events/s")
}
