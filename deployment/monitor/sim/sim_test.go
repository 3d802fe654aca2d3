package sim_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
)

func TestGenerate(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := sim.Default(t0, 4)
	c.Upgrades = []sim.Upgrade{{At: t0.AddDate(0, 0, 2), Site: "site-a", Version: "VA60"}}
	a, err := sim.Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sim.Generate(c)
	t.Run("SameSeedSameEvents", func(t *testing.T) {
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two runs with one seed differ")
		}
	})
	t.Run("UpgradeOnlyAtItsSiteAfterItsTime", func(t *testing.T) {
		for _, e := range a {
			newer := e.Acquisition.SoftwareVersion == "VA60"
			if newer != (e.Site == "site-a" && !e.Time.Before(c.Upgrades[0].At)) {
				t.Fatalf("event %s at %s, site %s: version %s", e.EventID, e.Time, e.Site, e.Acquisition.SoftwareVersion)
			}
		}
	})
	t.Run("SensitivityNearTheDesign", func(t *testing.T) {
		var tp, pos int
		for _, e := range a {
			if e.Label.Positive {
				pos++
				if e.Decision {
					tp++
				}
			}
		}
		// P(N(0.7, 0.15) ≥ 0.5) ≈ 0.909.
		if s := float64(tp) / float64(pos); s < 0.87 || s > 0.95 {
			t.Fatalf("sensitivity %.3f over %d positives", s, pos)
		}
	})
	t.Run("ReaderFiltersByTimeAndSite", func(t *testing.T) {
		r := sim.NewReader(a)
		var n int
		var last time.Time
		err := r.ScanEvents(context.Background(), ethos.EventFilter{DeploymentID: "dep-sim", From: t0.AddDate(0, 0, 1), To: t0.AddDate(0, 0, 2), Site: "site-b"}, func(e *ethos.InferenceEvent) error {
			if e.Site != "site-b" || e.Time.Before(t0.AddDate(0, 0, 1)) || !e.Time.Before(t0.AddDate(0, 0, 2)) || e.Time.Before(last) {
				t.Fatalf("event %s out of the filter or order", e.EventID)
			}
			last = e.Time
			n++
			return nil
		})
		if err != nil || n < 150 || n > 250 {
			t.Fatalf("%d events of site-b in a day (%v), want about 200", n, err)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		c := sim.Default(t0, 1000)
		c.PerDay = 100_000
		if _, err := sim.Generate(c); err == nil {
			t.Fatal("100 million events accepted")
		}
	})
}
