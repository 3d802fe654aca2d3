package evaluation_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
)

// BenchmarkUploadFLChain is one upload of the real flchain predictions
// (7,874 rows, sex × age band with intersections, 200 bootstrap resamples
// of people): reading, evaluation, judging, the audit append and the
// stored attempt.
func BenchmarkUploadFLChain(b *testing.B) {
	f := newFixture(b)
	p := f.plan(b)
	data := evaltest.FLChainCSV(b)
	f.svc.Workers = 1
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.UploadPredictions(context.Background(), f.owner, p.ID, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportHTML renders the full HTML report of the flchain
// evaluation (33 charts).
func BenchmarkReportHTML(b *testing.B) {
	d := flchainData(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := evaluation.WriteHTML(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}
