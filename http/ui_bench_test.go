package http_test

import (
	"testing"
)

// BenchmarkUIPages measures a page view end to end (session check, the
// in-process API calls, rendering) and how many audit events it writes:
// every API call behind a page is decided and audited as it would be if
// made directly.
func BenchmarkUIPages(b *testing.B) {
	f := newUIFixture(b, nil)
	br := f.browser()
	br.signIn(f.reviewer)
	for _, pg := range []struct{ name, path string }{
		{"Home", "/ui/"},
		{"Project", "/ui/projects/" + f.project.ID},
		{"Obligations", "/ui/projects/" + f.project.ID + "/obligations"},
		{"Deployment", "/ui/deployments/dep-sim?alerts=all"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			before := f.log.Size()
			n := 0
			for b.Loop() {
				if p := br.get(pg.path); p.status != 200 {
					b.Fatalf("%s: %d", pg.path, p.status)
				}
				n++
			}
			b.ReportMetric(float64(f.log.Size()-before)/float64(n), "audit-events/op")
		})
	}
}
