package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/evalstat"
)

// interner gives each distinct label string (a field value, a site, a sex,
// an age band) a small integer, so that the per-event work is slice
// indexing and the kept rows hold no pointers for the collector to scan.
type interner struct {
	ids   map[string]int32
	names []string
}

func (in *interner) id(s string) int32 {
	if v, ok := in.ids[s]; ok {
		return v
	}
	if in.ids == nil {
		in.ids = map[string]int32{}
	}
	v := int32(len(in.names))
	in.ids[s] = v
	in.names = append(in.names, s)
	return v
}

// labelled is one event with ground truth, kept for performance; sex, age
// band and site are interned.
type labelled struct {
	score           float64
	label, decision bool
	sex, age, site  int32
}

// Grouping attributes of labelled rows.
const (
	attrSex = iota
	attrAge
	attrSite
)

var attrNames = [...]string{attrSex: "sex", attrAge: "age_band", attrSite: "site"}

func attrIndex(name string) int {
	for i, n := range attrNames {
		if n == name {
			return i
		}
	}
	return -1
}

func (r *labelled) attr(i int) int32 {
	switch i {
	case attrSex:
		return r.sex
	case attrAge:
		return r.age
	}
	return r.site
}

// acc accumulates one window (or the reference) in the single pass.
type acc struct {
	n int
	// cat[f][site][value] counts the interned values of categorical
	// field f at each interned site.
	cat                     [][][]int
	num                     [][]float64 // per watched numeric field
	numSite                 [][]int32   // the interned site of each num value
	scores                  []float64
	scoreSite               []int32
	pos, readers, overrides int
	lab                     []labelled
	seq                     []seqStat // per sequential rule

	// Results computed once per window and shared by the rules.
	numRes   []*numericOutcome
	scoreRes *numericOutcome
	catRes   []*categoricalOutcome
	sorted   []labelled // lab by score, for AUROC
	sortedOK bool
	groups   [3][]int32 // distinct codes per attribute, by name
	// conf[0] is the overall confusion table (index 0), conf[1+attr][code]
	// the table of each group; filled on first use.
	conf   [4][]evalstat.Confusion
	confOK bool
}

type numericOutcome struct {
	res drift.NumericResult
	err error
}

type categoricalOutcome struct {
	res drift.CategoricalResult
	err error
}

type seqStat struct {
	n       int
	max     float64
	signals int
	last    drift.Signal
}

func (e *Engine) newAcc() *acc {
	return &acc{cat: make([][][]int, len(e.catFields)), num: make([][]float64, len(e.numFields)), numSite: make([][]int32, len(e.numFields)), seq: make([]seqStat, len(e.seqRules)),
		numRes: make([]*numericOutcome, len(e.numFields)), catRes: make([]*categoricalOutcome, len(e.catFields))}
}

func bump(rows [][]int, site, v int32) [][]int {
	if int(site) >= len(rows) {
		rows = append(rows, make([][]int, int(site)+1-len(rows))...)
	}
	row := rows[site]
	if int(v) >= len(row) {
		row = append(row, make([]int, int(v)+1-len(row))...)
		rows[site] = row
	}
	row[v]++
	return rows
}

// recent remembers the last few values of one field and their ids, so
// that most events are interned by a string comparison or two instead of
// a map look-up.
type recent struct {
	s  [4]string
	id [4]int32
	n  int
}

func (e *Engine) intern(c *recent, s string) int32 {
	for i := range c.n {
		if c.s[i] == s {
			return c.id[i]
		}
	}
	id := e.in.id(s)
	k := c.n
	if k == len(c.s) {
		k = int(id) % len(c.s) // overwrite a slot, spread by id
	} else {
		c.n++
	}
	c.s[k], c.id[k] = s, id
	return id
}

// add counts one event.
func (e *Engine) add(a *acc, ev *ethos.InferenceEvent) {
	a.n++
	site := e.intern(&e.recent[0], orNone(ev.Site))
	for i, f := range e.catFields {
		a.cat[i] = bump(a.cat[i], site, e.intern(&e.recent[3+i], catValue(ev, f)))
	}
	for i, f := range e.numFields {
		if v, ok := numValue(ev, f); ok {
			a.num[i] = append(a.num[i], v)
			a.numSite[i] = append(a.numSite[i], site)
		}
	}
	a.scores = append(a.scores, ev.Score)
	a.scoreSite = append(a.scoreSite, site)
	if ev.Decision {
		a.pos++
	}
	if ev.Reader != "" {
		a.readers++
		if ev.Reader == ethos.ReaderOverridden {
			a.overrides++
		}
	}
	if ev.Label != nil {
		a.lab = append(a.lab, labelled{score: ev.Score, label: ev.Label.Positive, decision: ev.Decision,
			sex: e.intern(&e.recent[1], orNone(ev.Sex)), age: e.intern(&e.recent[2], orNone(ev.AgeBand)), site: site})
	}
}

func orNone(s string) string {
	if s == "" {
		return noValue
	}
	return s
}

// valueCounts sums field i's counts over sites, by value name.
func (e *Engine) valueCounts(a *acc, i int) map[string]int {
	out := map[string]int{}
	for _, row := range a.cat[i] {
		for v, c := range row {
			if c > 0 {
				out[e.in.names[v]] += c
			}
		}
	}
	return out
}

// catValue returns a categorical field of an event; a missing value is
// "(none)".
func catValue(ev *ethos.InferenceEvent, f string) string {
	var v string
	switch f {
	case "manufacturer":
		v = ev.Acquisition.Manufacturer
	case "model_name":
		v = ev.Acquisition.ModelName
	case "software_version":
		v = ev.Acquisition.SoftwareVersion
	case "body_part":
		v = ev.Acquisition.BodyPart
	case "protocol":
		v = ev.Acquisition.Protocol
	case "modality":
		v = ev.Acquisition.Modality
	case "institution":
		v = ev.Acquisition.InstitutionPseudo
	case "site":
		v = ev.Site
	case "sex":
		v = ev.Sex
	case "age_band":
		v = ev.AgeBand
	}
	if v == "" {
		return noValue
	}
	return v
}

const noValue = "(none)"

func numValue(ev *ethos.InferenceEvent, f string) (float64, bool) {
	var p *float64
	switch f {
	case "kvp":
		p = ev.Acquisition.KVP
	case "slice_thickness":
		p = ev.Acquisition.SliceThickness
	case "pixel_spacing":
		p = ev.Acquisition.PixelSpacing
	case "latency_ms":
		p = ev.LatencyMS
	}
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return 0, false
	}
	return *p, true
}

// reference is the prepared reference.
type reference struct {
	n        int
	cat      []map[string]int // per watched categorical field: value → count
	num      []*drift.Reference
	scores   *drift.Reference
	posRate  float64
	hasPos   bool
	ovrRate  float64
	hasOvr   bool
	gaps     map[string]map[string]float64 // of → attribute → gap
	hasGaps  bool
	labelled int
}

// Engine judges a plan's rules over windows of events. Build it with
// NewEngine; it is not safe for concurrent use.
type Engine struct {
	Plan *ethos.MonitoringPlan
	// Now stamps raised and cleared alerts (time.Now when nil).
	Now func() time.Time

	catFields, numFields []string
	catIndex, numIndex   map[string]int
	seqRules             []*ethos.AlertRule
	ref                  *reference
	refAcc               *acc // the reference window's events, for per-site references
	siteRefs             map[[2]int32]*drift.Reference
	in                   interner
	recent               []recent // site, sex, age band, then each categorical field
}

// NewEngine prepares the reference of a validated plan: it reads the
// reference window's events through r, or takes the plan's sample.
func NewEngine(ctx context.Context, p *ethos.MonitoringPlan, r ethos.InferenceEventReader) (*Engine, error) {
	e := &Engine{Plan: p, catIndex: map[string]int{}, numIndex: map[string]int{}}
	watch := func(f string) {
		if slices.Contains(ethos.CategoricalFields, f) {
			if _, ok := e.catIndex[f]; !ok {
				e.catIndex[f] = len(e.catFields)
				e.catFields = append(e.catFields, f)
			}
		} else if slices.Contains(ethos.NumericFields, f) {
			if _, ok := e.numIndex[f]; !ok {
				e.numIndex[f] = len(e.numFields)
				e.numFields = append(e.numFields, f)
			}
		}
	}
	for _, f := range p.Fields {
		watch(f)
	}

	for i := range p.Rules {
		rule := &p.Rules[i]
		switch ethos.MetricFamily(rule.Metric) {
		case "input", "input-cat", "input-num":
			watch(rule.Field)
		case "sequential":
			e.seqRules = append(e.seqRules, rule)
		}
	}
	e.recent = make([]recent, 3+len(e.catFields))
	if p.Reference.Sample != nil {
		e.ref = e.sampleReference(p.Reference.Sample)
	} else {
		a := e.newAcc()
		err := r.ScanEvents(ctx, ethos.EventFilter{DeploymentID: p.DeploymentID, From: p.Reference.From, To: p.Reference.To}, func(ev *ethos.InferenceEvent) error {
			e.add(a, ev)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read reference events: %w", err)
		}
		if a.n == 0 {
			return nil, ethos.Errorf(ethos.EINVALID, "deployment %s: the reference window %s to %s holds no events",
				p.DeploymentID, p.Reference.From.UTC().Format(time.RFC3339), p.Reference.To.UTC().Format(time.RFC3339))
		}
		e.ref, e.refAcc = e.accReference(a), a
	}
	return e, nil
}

func (e *Engine) accReference(a *acc) *reference {
	ref := &reference{n: a.n, cat: make([]map[string]int, len(e.catFields)), num: make([]*drift.Reference, len(e.numFields))}
	for i := range e.catFields {
		ref.cat[i] = e.valueCounts(a, i)
	}
	for i := range e.numFields {
		if len(a.num[i]) > 0 {
			ref.num[i], _ = drift.NewReference(a.num[i], 0, 0) // values are finite by construction
		}
	}
	if len(a.scores) > 0 {
		ref.scores, _ = drift.NewReference(a.scores, 0, 0)
	}
	if a.n > 0 {
		ref.posRate, ref.hasPos = float64(a.pos)/float64(a.n), true
	}
	if a.readers > 0 {
		ref.ovrRate, ref.hasOvr = float64(a.overrides)/float64(a.readers), true
	}
	ref.labelled = len(a.lab)
	if len(a.lab) > 0 {
		ref.gaps, ref.hasGaps = map[string]map[string]float64{}, true
		for i := range e.Plan.Rules {
			rule := &e.Plan.Rules[i]
			if rule.Metric != ethos.MetricGapDrift {
				continue
			}
			if g, _, ok := e.gapOf(a, rule.Of, rule.Field, rule.MinN); ok {
				if ref.gaps[rule.Of] == nil {
					ref.gaps[rule.Of] = map[string]float64{}
				}
				ref.gaps[rule.Of][rule.Field] = g
			}
		}
	}
	return ref
}

func (e *Engine) sampleReference(s *ethos.ReferenceSample) *reference {
	ref := &reference{cat: make([]map[string]int, len(e.catFields)), num: make([]*drift.Reference, len(e.numFields))}
	for i, f := range e.catFields {
		ref.cat[i] = maps.Clone(s.Categorical[f])
		if ref.cat[i] == nil {
			ref.cat[i] = map[string]int{}
		}
	}
	for i, f := range e.numFields {
		if xs := s.Numeric[f]; len(xs) > 0 {
			ref.num[i], _ = drift.NewReference(xs, 0, 0)
		}
	}
	if len(s.Scores) > 0 {
		ref.scores, _ = drift.NewReference(s.Scores, 0, 0)
		ref.n = len(s.Scores)
	}
	if s.PositiveRate != nil {
		ref.posRate, ref.hasPos = *s.PositiveRate, true
	}
	if s.OverrideRate != nil {
		ref.ovrRate, ref.hasOvr = *s.OverrideRate, true
	}
	if len(s.Gaps) > 0 {
		ref.gaps, ref.hasGaps = s.Gaps, true
	}
	return ref
}

// State is what the engine carries between runs: the hysteresis of every
// alert identity and the sequential detectors of every rule. The zero
// value is the start of monitoring.
type State struct {
	Alerts    map[string]*Hysteresis `json:"alerts,omitempty"`
	Detectors map[string]*Detector   `json:"detectors,omitempty"`
	// PerfCheckedTo is the end of the last window whose performance part
	// was judged (plans with a label delay).
	PerfCheckedTo time.Time `json:"perf_checked_to,omitzero"`
	// LabelsSeenTo is the time up to which stored ground truth has been
	// taken into account: labels recorded later make the monitor judge
	// again the windows of their events that were already judged.
	LabelsSeenTo time.Time `json:"labels_seen_to,omitzero"`
	// Relabelled is the hysteresis of the windows judged again.
	Relabelled map[string]*Hysteresis `json:"relabelled,omitempty"`
}

// Hysteresis counts the consecutive judged windows past and within a
// threshold for one alert identity.
type Hysteresis struct {
	Rule     string `json:"rule"`
	Key      string `json:"key,omitempty"`
	Site     string `json:"site,omitempty"`
	Breaches int    `json:"breaches"`
	Clears   int    `json:"clears"`
	Active   bool   `json:"active"`
}

// Detector is the stored state of a sequential rule.
type Detector struct {
	CUSUM       *drift.CUSUM       `json:"cusum,omitempty"`
	PageHinkley *drift.PageHinkley `json:"page_hinkley,omitempty"`
}

// Result is the outcome of Check.
type Result struct {
	Windows []*ethos.WindowResult
	Changes []ethos.AlertChange
	Events  int
}

// ErrUnordered is returned when the reader yields events out of time
// order.
var ErrUnordered = errors.New("monitor: events are not in time order")

// Check reads the events of the contiguous windows ws in one pass, judges
// every rule in every window, and updates st (hysteresis, detectors).
//
// With a label delay in the plan, Check judges every rule but the
// performance and gap rules, and CheckPerformance judges those on windows
// old enough for their ground truth to have arrived.
func (e *Engine) Check(ctx context.Context, r ethos.InferenceEventReader, ws []Window, st *State) (*Result, error) {
	return e.checkPart(ctx, r, ws, st, ethos.PartAll)
}

// CheckPerformance judges the performance and gap rules of a plan with a
// label delay over ws (the "performance" part of those windows).
func (e *Engine) CheckPerformance(ctx context.Context, r ethos.InferenceEventReader, ws []Window, st *State) (*Result, error) {
	return e.checkPart(ctx, r, ws, st, ethos.PartPerformance)
}

// inPart reports whether rule is judged in part.
func (e *Engine) inPart(rule *ethos.AlertRule, part string) bool {
	if part == ethos.PartRelabelled {
		f := ethos.MetricFamily(rule.Metric)
		return f == "performance" || f == "gap"
	}
	return e.Plan.Delayed(rule) == (part == ethos.PartPerformance)
}

// Rejudge judges the performance and gap rules again over windows ws that
// were judged before ground truth for some of their events arrived (part
// "relabelled"). The windows run through a hysteresis of their own
// (State.Relabelled, kept across runs as labels keep arriving), in time
// order, so raise_after still asks for consecutive bad windows; an
// alert is raised only for an identity not already active in st, and
// marked active there (later windows clear it as usual). A re-judgement
// clears nothing: later windows are the ones that show a recovery.
func (e *Engine) Rejudge(ctx context.Context, r ethos.InferenceEventReader, ws []Window, st *State) (*Result, error) {
	if st.Alerts == nil {
		st.Alerts = map[string]*Hysteresis{}
	}
	scratch := &State{Alerts: st.Relabelled}
	res, err := e.checkPart(ctx, r, ws, scratch, ethos.PartRelabelled)
	if err != nil {
		return nil, err
	}
	st.Relabelled = scratch.Alerts
	var keep []ethos.AlertChange
	for _, ch := range res.Changes {
		a := ch.Raise
		if a == nil {
			continue
		}
		id := ethos.AlertIdentity(a.RuleID, a.Key, a.Site)
		if h := st.Alerts[id]; h != nil && h.Active {
			continue
		}
		st.Alerts[id] = &Hysteresis{Rule: a.RuleID, Key: a.Key, Site: a.Site, Breaches: scratch.Alerts[id].Breaches, Active: true}
		a.Message = "judged again after late ground truth: " + a.Message
		keep = append(keep, ch)
	}
	res.Changes = keep
	return res, nil
}

func (e *Engine) checkPart(ctx context.Context, r ethos.InferenceEventReader, ws []Window, st *State, part string) (*Result, error) {
	if st.Alerts == nil {
		st.Alerts = map[string]*Hysteresis{}
	}
	if st.Detectors == nil {
		st.Detectors = map[string]*Detector{}
	}
	res := &Result{}
	if len(ws) == 0 {
		return res, nil
	}
	var dets []liveDetector
	if part == ethos.PartAll {
		var err error
		if dets, err = e.detectors(st); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	// Events come in time order, so a window is complete as soon as the
	// scan passes its end: it is judged then, and its buffers are reused
	// by the next window.
	cur := 0
	a := e.newAcc()
	finish := func() {
		w := ws[cur]
		res.Events += a.n
		wr := &ethos.WindowResult{DeploymentID: e.Plan.DeploymentID, Start: w.Start, End: w.End, Part: part, Events: a.n, Labelled: len(a.lab)}
		for j := range e.Plan.Rules {
			if e.inPart(&e.Plan.Rules[j], part) {
				wr.Checks = append(wr.Checks, e.judge(&e.Plan.Rules[j], a)...)
			}
		}
		res.Windows = append(res.Windows, wr)
		res.Changes = append(res.Changes, e.hysteresis(wr, st, now())...)
		a = e.recycle(a)
		cur++
	}
	var last time.Time
	err := r.ScanEvents(ctx, ethos.EventFilter{DeploymentID: e.Plan.DeploymentID, From: ws[0].Start, To: ws[len(ws)-1].End}, func(ev *ethos.InferenceEvent) error {
		t := ev.Time
		if t.Before(last) {
			return ErrUnordered
		}
		last = t
		for cur < len(ws) && !t.Before(ws[cur].End) {
			finish()
		}
		if cur == len(ws) || t.Before(ws[cur].Start) {
			return nil
		}
		e.add(a, ev)
		for i, d := range dets {
			if d.Detector == nil {
				continue
			}
			x, ok := seqValue(e.seqRules[i], ev)
			if !ok {
				continue
			}
			s := &a.seq[i]
			sig, stat := d.update(x)
			s.n++
			s.max = math.Max(s.max, stat)
			if sig != drift.NoChange {
				s.signals++
				s.last = sig
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for cur < len(ws) {
		finish()
	}
	for i, d := range dets {
		if d.Detector != nil {
			st.Detectors[e.seqRules[i].ID] = d.Detector
		}
	}
	if part == ethos.PartPerformance {
		st.PerfCheckedTo = ws[len(ws)-1].End
	}
	return res, nil
}

// recycle returns an empty accumulator that reuses a's buffers.
func (e *Engine) recycle(a *acc) *acc {
	b := e.newAcc()
	for i, rows := range a.cat {
		for _, row := range rows {
			clear(row)
		}
		b.cat[i] = rows
	}
	for i := range a.num {
		b.num[i], b.numSite[i] = a.num[i][:0], a.numSite[i][:0]
	}
	b.scores, b.scoreSite, b.lab, b.sorted = a.scores[:0], a.scoreSite[:0], a.lab[:0], a.sorted[:0]
	b.conf = a.conf
	for i := range b.conf {
		clear(b.conf[i])
	}
	return b
}

// seqValue is the 0/1 value a sequential rule sees for an event.
func seqValue(rule *ethos.AlertRule, ev *ethos.InferenceEvent) (float64, bool) {
	if rule.Metric == ethos.MetricPositiveRateChange {
		return b2f(ev.Decision), true
	}
	if ev.Reader == "" {
		return 0, false
	}
	return b2f(ev.Reader == ethos.ReaderOverridden), true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type liveDetector struct {
	*Detector
}

func (d liveDetector) update(x float64) (drift.Signal, float64) {
	if c := d.CUSUM; c != nil {
		sig, _ := c.Update(x) // x is 0 or 1: never an error
		st := math.Max(c.Upper, c.Lower)
		if sig != drift.NoChange {
			st = math.Max(st, c.H) // the sums were reset on the alarm
		}
		return sig, st
	}
	p := d.PageHinkley
	sig, _ := p.Update(x)
	st := math.Max(p.UpSum-p.UpMin, p.DnMax-p.DnSum)
	if sig != drift.NoChange {
		st = math.Max(st, p.Lambda)
	}
	return sig, st
}

// detectors restores (or starts) the detectors of the sequential rules
// with the plan's current settings.
func (e *Engine) detectors(st *State) ([]liveDetector, error) {
	out := make([]liveDetector, len(e.seqRules))
	for i, rule := range e.seqRules {
		target, ok := e.ref.posRate, e.ref.hasPos
		if rule.Metric == ethos.MetricOverrideRateChange {
			target, ok = e.ref.ovrRate, e.ref.hasOvr
		}
		d := st.Detectors[rule.ID]
		if d == nil {
			d = &Detector{}
		}
		switch rule.Detector {
		case "page-hinkley":
			if d.PageHinkley == nil {
				d.PageHinkley = &drift.PageHinkley{}
			}
			d.CUSUM = nil
			ph := d.PageHinkley
			ph.Delta, ph.Lambda, ph.Alpha, ph.MinN, ph.Direction, ph.ResetOnAlarm = rule.Slack, rule.Threshold, 1, 30, drift.Both, true
		default:
			if !ok {
				// Without a reference rate CUSUM has no target: the
				// rule is judged "insufficient" every window.
				continue
			}
			if d.CUSUM == nil {
				d.CUSUM = &drift.CUSUM{}
			}
			d.PageHinkley = nil
			c := d.CUSUM
			c.Target = target
			c.K, c.H, c.Direction, c.ResetOnAlarm = rule.Slack, rule.Threshold, drift.Both, true
		}
		out[i] = liveDetector{d}
	}
	return out, nil
}

// hysteresis applies the judged checks of one window to the alert state
// and returns the alerts raised and cleared.
func (e *Engine) hysteresis(wr *ethos.WindowResult, st *State, now time.Time) []ethos.AlertChange {
	var out []ethos.AlertChange
	seen := map[string]bool{}
	for i := range wr.Checks {
		c := &wr.Checks[i]
		rule := e.Plan.Rule(c.RuleID)
		id := ethos.AlertIdentity(c.RuleID, c.Key, c.Site)
		seen[id] = true
		h := st.Alerts[id]
		if c.Insufficient != "" {
			continue
		}
		if h == nil {
			if !c.Breach {
				continue // nothing to remember
			}
			h = &Hysteresis{Rule: c.RuleID, Key: c.Key, Site: c.Site}
			st.Alerts[id] = h
		}
		if c.Breach {
			h.Breaches++
			h.Clears = 0
			if !h.Active && h.Breaches >= rule.RaiseAfter {
				h.Active = true
				out = append(out, ethos.AlertChange{At: now, WindowStart: wr.Start, Raise: e.newAlert(rule, c, wr, now)})
			}
		} else {
			h.Clears++
			h.Breaches = 0
			if h.Active && h.Clears >= rule.ClearAfter {
				h.Active = false
				out = append(out, ethos.AlertChange{At: now, WindowStart: wr.Start, Clear: id})
			}
		}
	}
	// Identities not judged in this window: a new category that did not
	// appear counts as back to normal; anything else has no data.
	ids := slices.Sorted(maps.Keys(st.Alerts))
	for _, id := range ids {
		h := st.Alerts[id]
		if seen[id] {
			continue
		}
		rule := e.Plan.Rule(h.Rule)
		if rule == nil {
			delete(st.Alerts, id) // the plan dropped the rule
			continue
		}
		if rule.Metric != ethos.MetricNewCategory || !e.inPart(rule, wr.Part) {
			continue
		}
		h.Clears++
		h.Breaches = 0
		if h.Active && h.Clears >= rule.ClearAfter {
			h.Active = false
			out = append(out, ethos.AlertChange{At: now, WindowStart: wr.Start, Clear: id})
		}
	}
	// Forget identities that are inactive with nothing pending.
	for _, id := range ids {
		if h := st.Alerts[id]; h != nil && !h.Active && h.Breaches == 0 {
			delete(st.Alerts, id)
		}
	}
	return out
}

func (e *Engine) newAlert(rule *ethos.AlertRule, c *ethos.CheckResult, wr *ethos.WindowResult, now time.Time) *ethos.Alert {
	return &ethos.Alert{
		DeploymentID: e.Plan.DeploymentID, Site: c.Site, RuleID: rule.ID, Metric: rule.Metric, Key: c.Key,
		Severity: rule.Severity, State: ethos.AlertActive, Message: describe(rule, c, wr), Value: c.Value, Threshold: rule.Threshold,
		WindowStart: wr.Start, WindowEnd: wr.End, RaisedAt: now,
	}
}

// describe writes an alert's message: the metric, its value and interval,
// the threshold and the window. Keys and sites are acquisition metadata
// and pseudonymous site names, never patient identifiers.
func describe(rule *ethos.AlertRule, c *ethos.CheckResult, wr *ethos.WindowResult) string {
	side := "above"
	if !rule.AlertsAbove() {
		side = "below"
	}
	what := rule.Metric
	if c.Key != "" {
		what += " for " + c.Key
	}
	if c.Site != "" && rule.Metric == ethos.MetricNewCategory {
		what += " at site " + c.Site
	}
	val := "undefined"
	if c.Value != nil {
		val = fmt.Sprintf("%.4g", *c.Value)
	}
	if c.Lower != nil && c.Upper != nil {
		val += fmt.Sprintf(" (95%% CI %.4g–%.4g)", *c.Lower, *c.Upper)
	}
	msg := fmt.Sprintf("%s = %s, n = %d, %s threshold %.4g", what, val, c.N, side, rule.Threshold)
	if rule.RaiseAfter > 1 {
		msg += fmt.Sprintf(" for %d consecutive windows", rule.RaiseAfter)
	}
	msg += fmt.Sprintf(" (window %s to %s)", wr.Start.Format(time.RFC3339), wr.End.Format(time.RFC3339))
	if c.Detail != "" {
		msg += "; " + c.Detail
	}
	return msg
}

// ReferenceSize is the number of reference events (or reference scores of
// a sample).
func (e *Engine) ReferenceSize() int { return e.ref.n }
