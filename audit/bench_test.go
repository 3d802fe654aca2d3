package audit_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
)

func BenchmarkDecodeEvent(b *testing.B) {
	e := audittest.Event(5)
	leaf, err := e.MarshalCanonical()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := audit.DecodeEvent(leaf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalCanonical(b *testing.B) {
	e := audittest.Event(5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalCanonical(); err != nil {
			b.Fatal(err)
		}
	}
}
