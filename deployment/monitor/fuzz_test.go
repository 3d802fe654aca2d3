package monitor_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor"
)

// FuzzValidatePlan feeds arbitrary documents to the plan parser: it must
// never panic, and a plan it accepts must survive encode → parse with
// the same meaning.
func FuzzValidatePlan(f *testing.F) {
	b, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"window":{"every":"custom","length":"6h","anchor":"2026-01-01T00:00:00Z"},"reference":{"sample":{"scores":[0.1,0.9],"positive_rate":0.2}},"start":"2026-01-02T00:00:00Z","rules":[{"id":"r","metric":"positive_rate_change","threshold":5}],"owners":["x"]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if monitor.ValidatePlan(doc) != nil {
			return
		}
		p, err := ethos.ParseMonitoringPlan(doc)
		if err != nil {
			t.Fatalf("ValidatePlan accepted what ParseMonitoringPlan refuses: %v", err)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ethos.ParseMonitoringPlan(again)
		if err != nil {
			t.Fatalf("re-encoded plan refused: %v\n%s", err, again)
		}
		b1, _ := json.Marshal(q)
		if string(b1) != string(again) {
			t.Fatalf("plan changed on the second round:\n%s\n%s", again, b1)
		}
		// The windows of an accepted plan are computable.
		monitor.Windows(q, q.Start, q.Start.AddDate(0, 0, 3))
	})
}
