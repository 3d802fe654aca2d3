package drift_test

import (
	"math/rand/v2"
	"testing"

	"github.com/ethos-imaging/ethos/drift"
)

func benchSamples(n int) (a, b []float64) {
	r := rand.New(rand.NewPCG(2026, 11))
	a, b = make([]float64, n), make([]float64, n)
	for i := range a {
		a[i] = r.NormFloat64()
		b[i] = 0.002 + 1.01*r.NormFloat64()
	}
	return a, b
}

func BenchmarkKS1e6(b *testing.B) {
	x, y := benchSamples(1000000)
	for b.Loop() {
		if _, err := drift.KS(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKSExact1e4(b *testing.B) {
	x, y := benchSamples(10000)
	for b.Loop() {
		if _, err := drift.KS(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWasserstein1e6(b *testing.B) {
	x, y := benchSamples(1000000)
	for b.Loop() {
		if _, err := drift.Wasserstein(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPSI1e6(b *testing.B) {
	x, y := benchSamples(1000000)
	for b.Loop() {
		if _, err := drift.PSI(x, y, 10, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPageHinkley1e6(b *testing.B) {
	x, _ := benchSamples(1000000)
	for b.Loop() {
		p, _ := drift.NewPageHinkley(0.01, 50, 1, drift.Both)
		for _, v := range x {
			p.Update(v)
		}
	}
}
