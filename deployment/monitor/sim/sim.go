// Package sim generates synthetic inference events of a deployment at
// several sites, with changes injected at known times (a scanner software
// upgrade at one site, a drop in sensitivity for one age band, a shift in
// the positive rate), and serves them through an in-memory
// ethos.InferenceEventReader. It drives the monitor's tests, its
// benchmark and "ethos monitor simulate"; it is not a model of any real
// population.
package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Scanner is the acquisition equipment of a site.
type Scanner struct {
	Manufacturer, Model, Version string
}

// Site is one site of the deployment.
type Site struct {
	Name    string
	Scanner Scanner
	Share   float64 // share of the events (relative weights)
}

// Upgrade changes a site's scanner software version from At.
type Upgrade struct {
	At      time.Time
	Site    string
	Version string
}

// Degradation lowers the scores of the true positives of one age band
// from At: their mean score becomes PositiveMean (the model misses more
// of them).
type Degradation struct {
	At           time.Time
	AgeBand      string // "" for every band
	Site         string // "" for every site
	PositiveMean float64
}

// Config describes a simulation.
type Config struct {
	DeploymentID string
	Start        time.Time
	Days         int
	PerDay       int // events per day over all sites
	Seed         uint64
	Sites        []Site
	// Prevalence of positive cases; Threshold the operating threshold.
	Prevalence, Threshold float64
	// Score means of positives and negatives (standard deviation 0.15,
	// clipped to [0, 1]).
	PositiveMean, NegativeMean float64
	// LabelShare is the share of events given a ground-truth label;
	// OverrideRate the share of reader actions that override.
	LabelShare, OverrideRate float64
	Upgrades                 []Upgrade
	Degradations             []Degradation
}

// AgeBands are the simulated age bands, with their shares.
var AgeBands = []struct {
	Band  string
	Share float64
}{{"18-44", 0.25}, {"45-64", 0.35}, {"65-74", 0.2}, {"75+", 0.2}}

// Default returns a three-site configuration: 600 events a day, 20 %
// prevalence, sensitivity and specificity near 0.91, every event
// labelled.
func Default(start time.Time, days int) Config {
	return Config{
		DeploymentID: "dep-sim", Start: start, Days: days, PerDay: 600, Seed: 1,
		Sites: []Site{
			{Name: "site-a", Scanner: Scanner{"SIEMENS", "SOMATOM Force", "VA50"}, Share: 1},
			{Name: "site-b", Scanner: Scanner{"GE MEDICAL SYSTEMS", "Revolution CT", "29.1"}, Share: 1},
			{Name: "site-c", Scanner: Scanner{"Philips", "IQon", "4.7.5"}, Share: 1},
		},
		Prevalence: 0.2, Threshold: 0.5, PositiveMean: 0.7, NegativeMean: 0.3,
		LabelShare: 1, OverrideRate: 0.05,
	}
}

// Generate returns the events in time order. Event and case ids are
// sequence numbers; nothing identifies a person.
func Generate(c Config) ([]ethos.InferenceEvent, error) {
	if c.Days <= 0 || c.PerDay <= 0 || len(c.Sites) == 0 {
		return nil, fmt.Errorf("sim: days, events per day and sites must be positive")
	}
	if c.Days*c.PerDay > 50_000_000 {
		return nil, fmt.Errorf("sim: %d events is too many", c.Days*c.PerDay)
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	var total float64
	for _, s := range c.Sites {
		total += s.Share
	}
	n := c.Days * c.PerDay
	out := make([]ethos.InferenceEvent, n)
	step := 24 * time.Hour / time.Duration(c.PerDay)
	kvps := []float64{100, 110, 120, 120, 120, 140}
	thick := []float64{0.625, 1, 1.25, 2.5}
	for i := range out {
		t := c.Start.Add(time.Duration(i) * step)
		u := r.Float64() * total
		site := c.Sites[len(c.Sites)-1]
		for _, s := range c.Sites {
			if u < s.Share {
				site = s
				break
			}
			u -= s.Share
		}
		sc := site.Scanner
		for _, up := range c.Upgrades {
			if up.Site == site.Name && !t.Before(up.At) {
				sc.Version = up.Version
			}
		}
		age := AgeBands[len(AgeBands)-1].Band
		u = r.Float64()
		for _, a := range AgeBands {
			if u < a.Share {
				age = a.Band
				break
			}
			u -= a.Share
		}
		sex := "F"
		if r.Float64() < 0.5 {
			sex = "M"
		}
		positive := r.Float64() < c.Prevalence
		mean := c.NegativeMean
		if positive {
			mean = c.PositiveMean
			for _, d := range c.Degradations {
				if (d.AgeBand == "" || d.AgeBand == age) && (d.Site == "" || d.Site == site.Name) && !t.Before(d.At) {
					mean = d.PositiveMean
				}
			}
		}
		score := math.Min(1, math.Max(0, mean+0.15*r.NormFloat64()))
		kvp := kvps[r.IntN(len(kvps))]
		st := thick[r.IntN(len(thick))]
		lat := 200 + 50*r.ExpFloat64()
		ev := ethos.InferenceEvent{
			DeploymentID: c.DeploymentID, EventID: fmt.Sprintf("ev-%08d", i), Time: t, CaseID: fmt.Sprintf("case-%08d", i),
			Site: site.Name, Score: score, Decision: score >= c.Threshold, LatencyMS: &lat, Sex: sex, AgeBand: age,
			Acquisition: ethos.Acquisition{Manufacturer: sc.Manufacturer, ModelName: sc.Model, SoftwareVersion: sc.Version,
				BodyPart: "CHEST", Protocol: "CT CHEST", Modality: "CT", KVP: &kvp, SliceThickness: &st},
		}
		if r.Float64() < 0.9 {
			ev.Reader = ethos.ReaderAccepted
			if r.Float64() < c.OverrideRate {
				ev.Reader = ethos.ReaderOverridden
			}
		}
		if r.Float64() < c.LabelShare {
			ev.Label = &ethos.EventLabel{CaseID: ev.CaseID, Positive: positive, Source: ethos.LabelReport, At: t.Add(48 * time.Hour)}
		}
		out[i] = ev
	}
	return out, nil
}

// Reader serves events from memory in time order, as the SQL event store
// does.
type Reader struct {
	events []ethos.InferenceEvent // sorted by time
	// Scans counts ScanEvents calls.
	Scans int
	// Now, when set, hides the labels that have not arrived yet (label
	// time after Now), as a store that receives them later would.
	Now func() time.Time
}

// NewReader sorts a copy of events by time (stable).
func NewReader(events []ethos.InferenceEvent) *Reader {
	r := &Reader{events: slices.Clone(events)}
	sort.SliceStable(r.events, func(i, j int) bool { return r.events[i].Time.Before(r.events[j].Time) })
	return r
}

// Add appends events and keeps the order.
func (r *Reader) Add(events ...ethos.InferenceEvent) {
	r.events = append(r.events, events...)
	sort.SliceStable(r.events, func(i, j int) bool { return r.events[i].Time.Before(r.events[j].Time) })
}

// ScanEvents implements ethos.InferenceEventReader.
func (r *Reader) ScanEvents(ctx context.Context, f ethos.EventFilter, fn func(*ethos.InferenceEvent) error) error {
	r.Scans++
	lo := 0
	if !f.From.IsZero() {
		lo = sort.Search(len(r.events), func(i int) bool { return !r.events[i].Time.Before(f.From) })
	}
	for i := lo; i < len(r.events); i++ {
		e := &r.events[i]
		if !f.To.IsZero() && !e.Time.Before(f.To) {
			break
		}
		if e.DeploymentID != f.DeploymentID || (f.Site != "" && e.Site != f.Site) {
			continue
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if r.Now != nil && e.Label != nil && e.Label.At.After(r.Now()) {
			early := *e
			early.Label = nil
			e = &early
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// LabelledEventTimes implements ethos.LabelArrivals: a simulated label
// arrives at its time (Label.At).
func (r *Reader) LabelledEventTimes(_ context.Context, deploymentID string, after, upTo time.Time) ([]time.Time, error) {
	var out []time.Time
	for i := range r.events {
		e := &r.events[i]
		if e.DeploymentID == deploymentID && e.Label != nil && e.Label.At.After(after) && !e.Label.At.After(upTo) {
			out = append(out, e.Time)
		}
	}
	return out, nil
}

var (
	_ ethos.InferenceEventReader = (*Reader)(nil)
	_ ethos.LabelArrivals        = (*Reader)(nil)
)
