package ethos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the vocabulary of deployment monitoring (quality check
// QC-DEP-1: the system is monitored continuously once it runs in a clinic):
// the monitoring plan a deployment declares, the results of its window
// checks, the alerts they raise with hysteresis, the "suspension
// recommended" cases that stop-rules open, and the store behind them. The
// engine that computes the checks lives in deployment/monitor.

// ---------------------------------------------------------------------------
// Spans

// Span is a length of time written in a plan as a Go duration ("36h",
// "90m") or a whole number of days ("7d"). Validate checks every span of
// a plan; D reads one ("" is zero).
type Span string

// ParseSpan reads "7d" or a Go duration.
func ParseSpan(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 3660 {
			return 0, fmt.Errorf("%q is not a whole number of days (0 to 3660)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 36h or 7d", s)
	}
	return d, nil
}

// SpanOf writes d as a span: whole days as "7d", anything else as a Go
// duration.
func SpanOf(d time.Duration) Span {
	if d > 0 && d%(24*time.Hour) == 0 {
		return Span(strconv.Itoa(int(d/(24*time.Hour))) + "d")
	}
	return Span(d.String())
}

// D returns the span as a duration; an invalid span (which Validate
// refuses) is zero.
func (s Span) D() time.Duration {
	d, err := ParseSpan(string(s))
	if err != nil {
		return 0
	}
	return d
}

func checkSpan(path string, s Span, lo, hi time.Duration) error {
	d, err := ParseSpan(string(s))
	if err != nil {
		return planErr(path, "%v", err)
	}
	if d < lo || d > hi {
		return planErr(path, "must be between %s and %s", SpanOf(lo), SpanOf(hi))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Plan

// WindowEvery names how a plan cuts time into monitoring windows.
const (
	WindowDaily  = "daily"  // calendar days in the plan's time zone
	WindowWeekly = "weekly" // calendar weeks starting on Monday
	WindowCustom = "custom" // fixed spans of Window.Length from Window.Anchor
)

// WindowSpec says how events are grouped into windows.
type WindowSpec struct {
	Every    string    `json:"every"`              // daily, weekly or custom
	Length   Span      `json:"length,omitzero"`    // custom only
	Anchor   time.Time `json:"anchor,omitzero"`    // custom only: a window starts here
	TimeZone string    `json:"time_zone,omitzero"` // IANA name for daily/weekly; default UTC
	// Grace is how long after a window closes its check is due (late
	// events still arrive); default 1h. A scheduled check later than this
	// is late for QC-DEP-1.
	Grace Span `json:"grace,omitzero"`
}

// ReferenceSpec is what the windows are compared with: either a declared
// window of the deployment's own events (a silent-mode period, the first
// weeks after go-live) or a sample given in the plan (from the approved
// evaluation).
type ReferenceSpec struct {
	From   time.Time        `json:"from,omitzero"`
	To     time.Time        `json:"to,omitzero"`
	Sample *ReferenceSample `json:"sample,omitempty"`
	// EvaluationID names the approved evaluation a sample came from.
	EvaluationID string `json:"evaluation_id,omitempty"`
}

// ReferenceSample is a reference given as summaries: counts of each
// categorical field's values, numeric field values, model scores, and
// optional rates and subgroup gaps. Numeric fields and scores may be a
// sample of the reference (a few thousand values are plenty).
type ReferenceSample struct {
	Categorical  map[string]map[string]int `json:"categorical,omitempty"`
	Numeric      map[string][]float64      `json:"numeric,omitempty"`
	Scores       []float64                 `json:"scores,omitempty"`
	PositiveRate *float64                  `json:"positive_rate,omitempty"`
	OverrideRate *float64                  `json:"override_rate,omitempty"`
	// Gaps holds the reference subgroup gap of a performance metric per
	// grouping attribute: Gaps["sensitivity"]["age_band"] = 0.04.
	Gaps map[string]map[string]float64 `json:"gaps,omitempty"`
}

// Monitored fields of an inference event.
var (
	// CategoricalFields are compared with PSI, chi-square and
	// Jensen–Shannon, and watched for new values.
	CategoricalFields = []string{"manufacturer", "model_name", "software_version", "body_part", "protocol", "modality", "institution", "site", "sex", "age_band"}
	// NumericFields are compared with KS, Wasserstein and PSI.
	NumericFields = []string{"kvp", "slice_thickness", "pixel_spacing", "latency_ms"}
	// GroupFields are the attributes performance is broken down by.
	GroupFields = []string{"sex", "age_band", "site"}
)

// Metrics an alert rule can watch, by family.
const (
	// Input drift of Rule.Field (categorical or numeric).
	MetricPSI         = "psi"
	MetricChi2P       = "chi2_p"      // categorical: chi-square test p-value
	MetricJS          = "js_distance" // categorical: Jensen–Shannon distance, base 2
	MetricKSP         = "ks_p"        // numeric: two-sample KS p-value
	MetricKS          = "ks"          // numeric: KS statistic D
	MetricWasserstein = "wasserstein" // numeric: Wasserstein-1 distance
	MetricNewCategory = "new_category"
	// Output drift.
	MetricScorePSI         = "score_psi"
	MetricScoreKSP         = "score_ks_p"
	MetricScoreWasserstein = "score_wasserstein"
	MetricPositiveRate     = "positive_rate"
	MetricPositiveShift    = "positive_rate_shift" // window rate minus reference rate
	MetricOverrideRate     = "override_rate"
	// Realised performance (needs labels), per Rule.Scope.
	MetricSensitivity = "sensitivity"
	MetricSpecificity = "specificity"
	MetricPPV         = "ppv"
	MetricAUROC       = "auroc"
	// Subgroup gap of Rule.Of over the groups of Rule.Field: the largest
	// minus the smallest group value, and its change from the reference.
	MetricGap      = "gap"
	MetricGapDrift = "gap_drift"
	// Sequential change detection (CUSUM or Page–Hinkley) on the stream
	// of decisions and of reader overrides; the value is the detector's
	// statistic, compared with Rule.Threshold as its decision interval.
	MetricPositiveRateChange = "positive_rate_change"
	MetricOverrideRateChange = "override_rate_change"
)

// metricInfo describes each metric: its family and what Field must be.
var metricFamily = map[string]string{
	MetricPSI: "input", MetricChi2P: "input-cat", MetricJS: "input-cat", MetricKSP: "input-num", MetricKS: "input-num",
	MetricWasserstein: "input-num", MetricNewCategory: "input-cat",
	MetricScorePSI: "output", MetricScoreKSP: "output", MetricScoreWasserstein: "output", MetricPositiveRate: "output",
	MetricPositiveShift: "output", MetricOverrideRate: "output",
	MetricSensitivity: "performance", MetricSpecificity: "performance", MetricPPV: "performance", MetricAUROC: "performance",
	MetricGap: "gap", MetricGapDrift: "gap",
	MetricPositiveRateChange: "sequential", MetricOverrideRateChange: "sequential",
}

// MetricFamily returns the family of a metric ("input", "input-cat",
// "input-num", "output", "performance", "gap", "sequential") or "".
func MetricFamily(m string) string { return metricFamily[m] }

// Performance scopes.
const (
	ScopeOverall  = "overall"
	ScopeSubgroup = "subgroup" // each value of Rule.Field, or of sex and age_band when Field is empty
	ScopeSite     = "site"
)

// Severities.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// AlertRule raises an alert when a metric crosses a threshold in enough
// consecutive windows, and clears it after enough windows back on the
// right side.
type AlertRule struct {
	ID     string `json:"id"`
	Metric string `json:"metric"`
	// Field is the event field of an input-drift rule, or the grouping
	// attribute of a subgroup or gap rule.
	Field string `json:"field,omitempty"`
	// Scope of a performance rule: overall (default), subgroup or site.
	// Drift rules on a field or on the scores (not new values, which are
	// per site already) may also say "site": each site's window is then
	// compared with that site's reference (or the whole reference when
	// the reference is a sample).
	Scope string `json:"scope,omitempty"`
	// Of is the performance metric a gap rule compares across groups
	// (default sensitivity).
	Of string `json:"of,omitempty"`
	// Above true alerts when the value is above Threshold, false when
	// below. Defaults follow the metric: p-values and performance alert
	// below, everything else above.
	Above     *bool   `json:"above,omitempty"`
	Threshold float64 `json:"threshold"`
	// UseCI compares the confidence bound nearest the threshold's safe
	// side instead of the estimate (for "below": the upper bound must be
	// below), so that a small window alerts only when it is sure.
	UseCI bool `json:"use_ci,omitempty"`
	// MinN is the smallest window (events, or labelled events for
	// performance, or events of the smallest compared group for a gap)
	// that is judged; smaller windows count as "insufficient data" and
	// neither raise nor clear.
	MinN int `json:"min_n,omitempty"`
	// RaiseAfter and ClearAfter are the hysteresis: consecutive judged
	// windows past the threshold to raise, and within it to clear
	// (default 1 each).
	RaiseAfter int    `json:"raise_after,omitempty"`
	ClearAfter int    `json:"clear_after,omitempty"`
	Severity   string `json:"severity,omitempty"`
	// Sequential detector settings (MetricPositiveRateChange,
	// MetricOverrideRateChange): "cusum" (default) or "page-hinkley",
	// and the slack (CUSUM k, Page–Hinkley delta) in rate units, default
	// 0.05. Threshold is the decision interval h (or lambda).
	Detector string  `json:"detector,omitempty"`
	Slack    float64 `json:"slack,omitempty"`
}

// AlertsAbove reports whether the rule alerts above its threshold.
func (r *AlertRule) AlertsAbove() bool {
	if r.Above != nil {
		return *r.Above
	}
	switch r.Metric {
	case MetricChi2P, MetricKSP, MetricScoreKSP, MetricSensitivity, MetricSpecificity, MetricPPV, MetricAUROC:
		return false
	}
	return true
}

// Stop-rule actions.
const (
	// StopRecommend opens a "suspension recommended" case for a person to
	// decide; nothing is switched off.
	StopRecommend = "recommend"
	// StopSuspend also asks the deployment registry to suspend the
	// deployment at once, pending the decision; only when the plan says so.
	StopSuspend = "suspend"
)

// StopRule opens a case when one of its alert rules raises an alert.
type StopRule struct {
	ID string `json:"id"`
	// Rules names the alert rules whose alerts open the case.
	Rules []string `json:"rules"`
	// DecideWithin is the time a person has to decide the case.
	DecideWithin Span   `json:"decide_within"`
	Action       string `json:"action,omitempty"` // recommend (default) or suspend
	Note         string `json:"note,omitempty"`
}

// MonitoringPlan is a deployment's monitoring plan (QC-DEP-1).
type MonitoringPlan struct {
	DeploymentID string        `json:"deployment_id"`
	ProjectID    string        `json:"project_id,omitempty"`
	Window       WindowSpec    `json:"window"`
	Reference    ReferenceSpec `json:"reference"`
	// Start is when monitoring starts (the first window begins at or
	// after it); default: the end of the reference window.
	Start time.Time `json:"start,omitzero"`
	// Fields are the event fields watched for input drift (default: all
	// categorical and numeric fields named in rules).
	Fields    []string    `json:"fields,omitempty"`
	Rules     []AlertRule `json:"rules"`
	StopRules []StopRule  `json:"stop_rules,omitempty"`
	// Owners are the people responsible for the alerts (user ids or
	// e-mail addresses); at least one is required.
	Owners  []string `json:"owners"`
	Webhook string   `json:"webhook,omitempty"`
	// MaxSilence is how long without events before QC-DEP-1 fails
	// (default: two windows).
	MaxSilence Span `json:"max_silence,omitzero"`
	// LabelDelay is how long ground truth takes to arrive (report
	// concordance, pathology, follow-up). When set, performance and gap
	// rules judge a window only once this long has passed after it
	// closed (its "performance" part); everything else is judged when the
	// window closes.
	LabelDelay Span `json:"label_delay,omitzero"`

	loc *time.Location // the window time zone, loaded by Validate
}

// PlanError is a fault in a monitoring plan, with the JSON path of the
// faulty value.
type PlanError struct {
	Path string
	Msg  string
}

func (e *PlanError) Error() string { return "monitoring plan: " + e.Path + ": " + e.Msg }

func planErr(path, format string, args ...any) error {
	return Errorf(EINVALID, "%s", (&PlanError{Path: path, Msg: fmt.Sprintf(format, args...)}).Error())
}

// Location returns the plan's time zone.
func (p *MonitoringPlan) Location() *time.Location {
	if p.loc != nil {
		return p.loc
	}
	if p.Window.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(p.Window.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// GraceSpan returns the window grace with its default.
func (p *MonitoringPlan) GraceSpan() time.Duration {
	if d := p.Window.Grace.D(); d > 0 {
		return d
	}
	return time.Hour
}

// Rule returns the rule with id, or nil.
func (p *MonitoringPlan) Rule(id string) *AlertRule {
	for i := range p.Rules {
		if p.Rules[i].ID == id {
			return &p.Rules[i]
		}
	}
	return nil
}

func isCategorical(f string) bool { return slices.Contains(CategoricalFields, f) }
func isNumeric(f string) bool     { return slices.Contains(NumericFields, f) }

// Validate checks a plan and fills its defaults. Errors are EINVALID and
// name the JSON path of the faulty value.
func (p *MonitoringPlan) Validate() error {
	// The deployment id may be left out of a plan stored with its
	// deployment; the monitor fills it in.
	if p.DeploymentID != "" && !ValidID(p.DeploymentID) {
		return planErr("deployment_id", "not a valid deployment id (letters, digits, _ - .)")
	}
	if p.ProjectID != "" && !ValidID(p.ProjectID) {
		return planErr("project_id", "not a valid id")
	}
	w := &p.Window
	switch w.Every {
	case WindowDaily, WindowWeekly:
		if w.Length != "" || !w.Anchor.IsZero() {
			return planErr("window", "length and anchor are for custom windows only")
		}
	case WindowCustom:
		if w.Length == "" {
			return planErr("window.length", "a custom window needs a length between 1m and 366d")
		}
		if err := checkSpan("window.length", w.Length, time.Minute, 366*24*time.Hour); err != nil {
			return err
		}
		if w.Anchor.IsZero() {
			return planErr("window.anchor", "a custom window needs an anchor time")
		}
	default:
		return planErr("window.every", "want daily, weekly or custom, not %q", w.Every)
	}
	p.loc = time.UTC
	if w.TimeZone != "" {
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			return planErr("window.time_zone", "unknown time zone %q", w.TimeZone)
		}
		p.loc = loc
	}
	if err := checkSpan("window.grace", w.Grace, 0, 7*24*time.Hour); err != nil {
		return err
	}
	ref := &p.Reference
	switch {
	case ref.Sample != nil && (!ref.From.IsZero() || !ref.To.IsZero()):
		return planErr("reference", "give either a window (from, to) or a sample, not both")
	case ref.Sample != nil:
		if err := ref.Sample.validate(); err != nil {
			return err
		}
		if p.Start.IsZero() {
			return planErr("start", "a plan with a reference sample needs a start time")
		}
	case ref.From.IsZero() || ref.To.IsZero():
		return planErr("reference", "a reference window (from, to) or a reference sample is required")
	case !ref.From.Before(ref.To):
		return planErr("reference.to", "must be after reference.from")
	}
	if p.Start.IsZero() {
		p.Start = ref.To
	}
	if ref.Sample == nil && p.Start.Before(ref.To) {
		return planErr("start", "monitoring must start at or after the end of the reference window")
	}
	for i, f := range p.Fields {
		if !isCategorical(f) && !isNumeric(f) {
			return planErr(fmt.Sprintf("fields[%d]", i), "unknown field %q (known: %s, %s)", f, strings.Join(CategoricalFields, ", "), strings.Join(NumericFields, ", "))
		}
	}
	if len(p.Rules) == 0 {
		return planErr("rules", "at least one alert rule is required")
	}
	ids := map[string]bool{}
	for i := range p.Rules {
		if err := p.Rules[i].validate(fmt.Sprintf("rules[%d]", i)); err != nil {
			return err
		}
		if ids[p.Rules[i].ID] {
			return planErr(fmt.Sprintf("rules[%d].id", i), "duplicate rule id %q", p.Rules[i].ID)
		}
		ids[p.Rules[i].ID] = true
	}
	stopIDs := map[string]bool{}
	for i := range p.StopRules {
		s := &p.StopRules[i]
		path := fmt.Sprintf("stop_rules[%d]", i)
		if !ValidID(s.ID) || stopIDs[s.ID] {
			return planErr(path+".id", "a unique stop-rule id is required")
		}
		stopIDs[s.ID] = true
		if len(s.Rules) == 0 {
			return planErr(path+".rules", "name at least one alert rule")
		}
		for j, r := range s.Rules {
			if !ids[r] {
				return planErr(fmt.Sprintf("%s.rules[%d]", path, j), "no alert rule %q", r)
			}
		}
		if err := checkSpan(path+".decide_within", s.DecideWithin, time.Minute, 366*24*time.Hour); err != nil {
			return err
		}
		switch s.Action {
		case "":
			s.Action = StopRecommend
		case StopRecommend, StopSuspend:
		default:
			return planErr(path+".action", "want recommend or suspend, not %q", s.Action)
		}
	}
	if len(p.Owners) == 0 {
		return planErr("owners", "at least one owner is required")
	}
	for i, o := range p.Owners {
		if strings.TrimSpace(o) == "" || len(o) > 200 {
			return planErr(fmt.Sprintf("owners[%d]", i), "empty or too long")
		}
	}
	if p.Webhook != "" {
		u, err := url.Parse(p.Webhook)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return planErr("webhook", "want an http or https URL")
		}
	}
	if err := checkSpan("max_silence", p.MaxSilence, 0, 366*24*time.Hour); err != nil {
		return err
	}
	if err := checkSpan("label_delay", p.LabelDelay, 0, 366*24*time.Hour); err != nil {
		return err
	}
	return nil
}

func (s *ReferenceSample) validate() error {
	n := 0
	for f, counts := range s.Categorical {
		if !isCategorical(f) {
			return planErr("reference.sample.categorical", "unknown field %q", f)
		}
		for v, c := range counts {
			if c < 0 {
				return planErr("reference.sample.categorical."+f, "negative count for %q", v)
			}
			n += c
		}
	}
	for f, xs := range s.Numeric {
		if !isNumeric(f) {
			return planErr("reference.sample.numeric", "unknown field %q", f)
		}
		if err := finiteAll(xs); err != nil {
			return planErr("reference.sample.numeric."+f, "%v", err)
		}
		n += len(xs)
	}
	if err := finiteAll(s.Scores); err != nil {
		return planErr("reference.sample.scores", "%v", err)
	}
	for _, r := range []*float64{s.PositiveRate, s.OverrideRate} {
		if r != nil && !(*r >= 0 && *r <= 1) {
			return planErr("reference.sample", "rates must be in [0, 1]")
		}
	}
	for of, byAttr := range s.Gaps {
		switch of {
		case MetricSensitivity, MetricSpecificity, MetricPPV, MetricAUROC:
		default:
			return planErr("reference.sample.gaps", "unknown metric %q", of)
		}
		for attr, g := range byAttr {
			if !slices.Contains(GroupFields, attr) || !(g >= 0 && g <= 1) {
				return planErr("reference.sample.gaps."+of, "want a gap in [0, 1] per attribute (%s)", strings.Join(GroupFields, ", "))
			}
		}
	}
	if n+len(s.Scores) == 0 && s.PositiveRate == nil {
		return planErr("reference.sample", "the sample is empty")
	}
	return nil
}

func finiteAll(xs []float64) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value %d is not finite", i)
		}
	}
	return nil
}

func (r *AlertRule) validate(path string) error {
	if !ValidID(r.ID) {
		return planErr(path+".id", "a rule id is required (letters, digits, _ - .)")
	}
	fam := MetricFamily(r.Metric)
	if fam == "" {
		known := make([]string, 0, len(metricFamily))
		for m := range metricFamily {
			known = append(known, m)
		}
		slices.Sort(known)
		return planErr(path+".metric", "unknown metric %q (known: %s)", r.Metric, strings.Join(known, ", "))
	}
	switch fam {
	case "input":
		if !isCategorical(r.Field) && !isNumeric(r.Field) {
			return planErr(path+".field", "metric %s needs an event field", r.Metric)
		}
	case "input-cat":
		if !isCategorical(r.Field) {
			return planErr(path+".field", "metric %s needs a categorical field (%s)", r.Metric, strings.Join(CategoricalFields, ", "))
		}
	case "input-num":
		if !isNumeric(r.Field) {
			return planErr(path+".field", "metric %s needs a numeric field (%s)", r.Metric, strings.Join(NumericFields, ", "))
		}
	case "performance":
		switch r.Scope {
		case "":
			r.Scope = ScopeOverall
		case ScopeOverall, ScopeSite:
		case ScopeSubgroup:
			if r.Field != "" && !slices.Contains(GroupFields, r.Field) {
				return planErr(path+".field", "subgroups are by %s", strings.Join(GroupFields, ", "))
			}
		default:
			return planErr(path+".scope", "want overall, subgroup or site, not %q", r.Scope)
		}
	case "gap":
		if !slices.Contains(GroupFields, r.Field) {
			return planErr(path+".field", "a gap rule needs a grouping attribute (%s)", strings.Join(GroupFields, ", "))
		}
		switch r.Of {
		case "":
			r.Of = MetricSensitivity
		case MetricSensitivity, MetricSpecificity, MetricPPV, MetricAUROC:
		default:
			return planErr(path+".of", "want sensitivity, specificity, ppv or auroc")
		}
	case "sequential":
		switch r.Detector {
		case "":
			r.Detector = "cusum"
		case "cusum", "page-hinkley":
		default:
			return planErr(path+".detector", "want cusum or page-hinkley")
		}
		if r.Slack == 0 {
			r.Slack = 0.05
		}
		if !(r.Slack > 0 && r.Slack < 1) {
			return planErr(path+".slack", "must be in (0, 1)")
		}
		if !(r.Threshold > 0) {
			return planErr(path+".threshold", "the decision interval must be > 0")
		}
	}
	if fam != "performance" {
		siteable := (fam == "input" || fam == "input-num" || (fam == "input-cat" && r.Metric != MetricNewCategory)) ||
			r.Metric == MetricScorePSI || r.Metric == MetricScoreKSP || r.Metric == MetricScoreWasserstein
		switch {
		case r.Scope == "" || r.Scope == ScopeOverall && siteable:
		case r.Scope == ScopeSite && siteable:
		default:
			return planErr(path+".scope", "metric %s takes no scope%s", r.Metric, map[bool]string{true: " but overall or site", false: ""}[siteable])
		}
	}
	if fam != "input" && fam != "input-cat" && fam != "input-num" && fam != "gap" && r.Field != "" && !(fam == "performance" && r.Scope == ScopeSubgroup) {
		return planErr(path+".field", "metric %s takes no field", r.Metric)
	}
	if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
		return planErr(path+".threshold", "must be a finite number")
	}
	if r.MinN < 0 || r.RaiseAfter < 0 || r.ClearAfter < 0 {
		return planErr(path, "min_n, raise_after and clear_after must not be negative")
	}
	if r.RaiseAfter == 0 {
		r.RaiseAfter = 1
	}
	if r.ClearAfter == 0 {
		r.ClearAfter = 1
	}
	switch r.Severity {
	case "":
		r.Severity = SeverityWarning
	case SeverityWarning, SeverityCritical:
	default:
		return planErr(path+".severity", "want warning or critical")
	}
	return nil
}

// planDecodeProblem says what is wrong with a plan that does not decode,
// by position or field, never quoting a value of the plan (a time or a
// name typed where it does not belong would otherwise be echoed).
func planDecodeProblem(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("malformed JSON at byte offset %d", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("%s: got JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	switch _, isTime := errors.AsType[*time.ParseError](err); {
	case isTime:
		return "a time must be RFC 3339, such as 2027-01-31T00:00:00Z"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return "unknown field (name not shown)"
			}
		}
		return "unknown field " + name
	}
	return "not a monitoring plan"
}

// ParseMonitoringPlan decodes a plan strictly (unknown fields are errors)
// and validates it.
func ParseMonitoringPlan(b []byte) (*MonitoringPlan, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p MonitoringPlan
	if err := dec.Decode(&p); err != nil {
		return nil, Errorf(EINVALID, "monitoring plan: %s", planDecodeProblem(err))
	}
	if dec.More() {
		return nil, Errorf(EINVALID, "monitoring plan: trailing data after the JSON object")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// ---------------------------------------------------------------------------
// Results

// CheckResult is one metric judged in one window for one scope.
type CheckResult struct {
	RuleID string `json:"rule_id"`
	Metric string `json:"metric"`
	// Key identifies what was judged within the rule: a field, a field
	// value, a subgroup ("age_band=75+") or a site ("site=A"); "" for the
	// whole deployment.
	Key   string   `json:"key,omitempty"`
	Site  string   `json:"site,omitempty"`
	Value *float64 `json:"value"` // nil: undefined
	Lower *float64 `json:"ci_lower,omitempty"`
	Upper *float64 `json:"ci_upper,omitempty"`
	N     int      `json:"n"`
	// Judged is the value compared with the threshold (the estimate or
	// a confidence bound).
	Threshold float64 `json:"threshold"`
	Breach    bool    `json:"breach"`
	// Insufficient says why the window was not judged (too few events,
	// undefined value); empty when judged.
	Insufficient string `json:"insufficient,omitempty"`
	Detail       string `json:"detail,omitempty"`
}

// Window result parts.
const (
	// PartAll holds the checks judged when the window closed: all of
	// them, or all but performance and gaps when the plan has a label
	// delay.
	PartAll = ""
	// PartPerformance holds the performance and gap checks judged once
	// the plan's label delay has passed.
	PartPerformance = "performance"
	// PartRelabelled holds the performance and gap checks of a window
	// judged again because ground truth for its events arrived after it
	// was judged; the earlier result is kept beside it (the latest
	// re-judgement replaces an earlier one).
	PartRelabelled = "relabelled"
)

// LabelArrivals reports when ground truth reached the store, so that the
// monitor can judge again the windows it judged before their labels came.
// The deployment store implements it.
type LabelArrivals interface {
	// LabelledEventTimes returns the times of the deployment's events
	// whose label was recorded in (after, upTo], in any order.
	LabelledEventTimes(ctx context.Context, deploymentID string, after, upTo time.Time) ([]time.Time, error)
}

// Delayed reports whether rule r waits for the plan's label delay.
func (p *MonitoringPlan) Delayed(r *AlertRule) bool {
	f := MetricFamily(r.Metric)
	return p.LabelDelay.D() > 0 && (f == "performance" || f == "gap")
}

// WindowResult is every check of one window (or of one part of it).
type WindowResult struct {
	DeploymentID string        `json:"deployment_id"`
	Start        time.Time     `json:"start"`
	End          time.Time     `json:"end"`
	Part         string        `json:"part,omitempty"`
	Events       int           `json:"events"`
	Labelled     int           `json:"labelled"`
	Checks       []CheckResult `json:"checks"`
	RunID        string        `json:"run_id,omitempty"`
}

// ---------------------------------------------------------------------------
// Alerts and cases

// Alert states, set by the monitor.
const (
	AlertActive  = "active"  // the condition holds
	AlertCleared = "cleared" // the condition ended (hysteresis)
)

// Triage decisions a person records on an alert.
const (
	TriageExpected    = "expected-change" // a known, accepted change (e.g. planned upgrade)
	TriageFalseAlarm  = "false-alarm"
	TriageInvestigate = "investigating"
	TriageAction      = "action-required"
)

// TriageDecisions lists the triage decisions.
var TriageDecisions = []string{TriageExpected, TriageFalseAlarm, TriageInvestigate, TriageAction}

// Alert is a rule's condition raised for one key of one deployment and
// site. It stays until a person has acknowledged and triaged it, even
// after it cleared.
type Alert struct {
	ID           string     `json:"id"`
	DeploymentID string     `json:"deployment_id"`
	Site         string     `json:"site,omitempty"` // "" when the alert is about all sites
	RuleID       string     `json:"rule_id"`
	Metric       string     `json:"metric"`
	Key          string     `json:"key,omitempty"`
	Severity     string     `json:"severity"`
	State        string     `json:"state"`
	Message      string     `json:"message"`
	Value        *float64   `json:"value"`
	Threshold    float64    `json:"threshold"`
	WindowStart  time.Time  `json:"window_start"` // the window that raised it
	WindowEnd    time.Time  `json:"window_end"`
	RaisedAt     time.Time  `json:"raised_at"`
	ClearedAt    *time.Time `json:"cleared_at,omitempty"`
	AckBy        string     `json:"acknowledged_by,omitempty"`
	AckAt        *time.Time `json:"acknowledged_at,omitempty"`
	Triage       string     `json:"triage,omitempty"`
	TriageReason string     `json:"triage_reason,omitempty"`
	TriagedBy    string     `json:"triaged_by,omitempty"`
	TriagedAt    *time.Time `json:"triaged_at,omitempty"`
	CaseID       string     `json:"case_id,omitempty"`
}

// Case states and decisions.
const (
	CaseOpen    = "open"
	CaseDecided = "decided"

	DecisionSuspend  = "suspend"
	DecisionContinue = "continue"
	// DecisionConditions continues under stated conditions (extra
	// review, restricted use), written in the reason.
	DecisionConditions = "continue-with-conditions"
)

// CaseDecisions lists the decisions a case can take.
var CaseDecisions = []string{DecisionSuspend, DecisionContinue, DecisionConditions}

// StopCase is a "suspension recommended" case opened by a stop-rule.
type StopCase struct {
	ID           string     `json:"id"`
	DeploymentID string     `json:"deployment_id"`
	Site         string     `json:"site,omitempty"`
	StopRuleID   string     `json:"stop_rule_id"`
	Action       string     `json:"action"` // recommend or suspend (what the plan asked for)
	AlertIDs     []string   `json:"alert_ids"`
	State        string     `json:"state"`
	OpenedAt     time.Time  `json:"opened_at"`
	DueAt        time.Time  `json:"due_at"`
	Decision     string     `json:"decision,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	DecidedBy    string     `json:"decided_by,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	// SuspendRequested records that the plan's action was "suspend" and
	// the registry was asked to suspend the deployment; SuspendError says
	// why that failed, if it did.
	SuspendRequested bool   `json:"suspend_requested,omitempty"`
	SuspendError     string `json:"suspend_error,omitempty"`
}

// Overdue reports whether the case is open past its deadline at now.
func (c *StopCase) Overdue(now time.Time) bool { return c.State == CaseOpen && now.After(c.DueAt) }

// ---------------------------------------------------------------------------
// Runs and deliveries

// Run kinds.
const (
	RunScheduled = "scheduled"
	RunOnDemand  = "on-demand"
)

// MonitorRun is one execution of a plan's checks.
type MonitorRun struct {
	ID           string    `json:"id"`
	DeploymentID string    `json:"deployment_id"`
	Kind         string    `json:"kind"`
	By           string    `json:"by,omitempty"` // user id for on-demand runs
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at"`
	// DueAt is when the earliest window this run checked was due (its
	// end plus grace); a scheduled run finishing after it was late.
	DueAt   *time.Time `json:"due_at,omitempty"`
	Late    bool       `json:"late"`
	Windows int        `json:"windows"`
	// Rejudged counts the windows judged again because ground truth for
	// their events arrived after they were judged (part "relabelled").
	Rejudged int    `json:"rejudged,omitempty"`
	Events   int    `json:"events"`
	Raised   int    `json:"raised"`
	Cleared  int    `json:"cleared"`
	Error    string `json:"error,omitempty"`
}

// Delivery is one attempt to post an alert to the plan's webhook.
type Delivery struct {
	AlertID string    `json:"alert_id"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Status  int       `json:"status"` // HTTP status, 0 when no answer
	Error   string    `json:"error,omitempty"`
	OK      bool      `json:"ok"`
}

// ---------------------------------------------------------------------------
// Store

// MonitorPlanRecord is a stored plan with its engine state.
type MonitorPlanRecord struct {
	Plan      *MonitoringPlan `json:"plan"`
	UpdatedAt time.Time       `json:"updated_at"`
	UpdatedBy string          `json:"updated_by"`
	// CheckedTo is the end of the last window checked (zero: none).
	CheckedTo time.Time `json:"checked_to,omitzero"`
	// State is the engine's opaque state (hysteresis counters, detector
	// sums) carried from one run to the next.
	State json.RawMessage `json:"-"`
}

// AlertFilter selects alerts.
type AlertFilter struct {
	DeploymentID string
	Site         *string
	State        string // "", active or cleared
	Untriaged    bool   // only alerts without a triage decision
	Offset       int
	Limit        int
}

// CaseFilter selects cases.
type CaseFilter struct {
	DeploymentID string
	State        string // "", open or decided
	Offset       int
	Limit        int
}

// AlertChange is one transition of an alert in a run, applied in order:
// either a new alert is raised, or the active alert with identity Clear
// (see AlertIdentity) is cleared at At.
type AlertChange struct {
	Raise *Alert    `json:"raise,omitempty"`
	Clear string    `json:"clear,omitempty"`
	At    time.Time `json:"at"`
	// WindowStart is the start of the window whose check made the change.
	WindowStart time.Time `json:"window_start"`
}

// RunOutcome is everything one run changes, stored in one transaction.
type RunOutcome struct {
	Run     *MonitorRun
	Windows []*WindowResult
	Changes []AlertChange
	// Cases are the cases the raised alerts open; the store joins a case
	// to an open case of the same deployment, stop-rule and site instead
	// of opening a second one.
	Cases     []*StopCase
	CheckedTo time.Time
	State     json.RawMessage
}

// AlertIdentity is what makes an alert the same alert across windows.
func AlertIdentity(ruleID, key, site string) string { return ruleID + "\x1f" + key + "\x1f" + site }

// MonitorStore keeps monitoring plans, results, alerts, cases, runs and
// webhook deliveries.
type MonitorStore interface {
	PutPlan(ctx context.Context, p *MonitoringPlan, by string) error
	FindPlan(ctx context.Context, deploymentID string) (*MonitorPlanRecord, error)
	ListPlans(ctx context.Context) ([]*MonitorPlanRecord, error)
	// SaveRun stores a run's outcome atomically; alerts that joined an
	// open case are linked to it.
	SaveRun(ctx context.Context, o *RunOutcome) error
	FindWindows(ctx context.Context, deploymentID string, from, to time.Time) ([]*WindowResult, error)
	FindRuns(ctx context.Context, deploymentID string, limit int) ([]*MonitorRun, error)
	FindAlerts(ctx context.Context, f AlertFilter) ([]*Alert, int, error)
	FindAlertByID(ctx context.Context, id string) (*Alert, error)
	AcknowledgeAlert(ctx context.Context, id, by string) (*Alert, error)
	TriageAlert(ctx context.Context, id, decision, reason, by string) (*Alert, error)
	FindCases(ctx context.Context, f CaseFilter) ([]*StopCase, int, error)
	FindCaseByID(ctx context.Context, id string) (*StopCase, error)
	DecideCase(ctx context.Context, id, decision, reason, by string) (*StopCase, error)
	// SetCaseSuspension records whether the registry was asked to
	// suspend the deployment of a case, and the error if that failed.
	SetCaseSuspension(ctx context.Context, id string, requested bool, errText string) error
	RecordDelivery(ctx context.Context, d *Delivery) error
	FindDeliveries(ctx context.Context, alertID string) ([]*Delivery, error)
}

// DeploymentSuspender suspends a deployment; the deployment registry
// implements it. The monitor calls it only for a stop-rule whose action
// is "suspend".
type DeploymentSuspender interface {
	SuspendDeployment(ctx context.Context, deploymentID, reason, by string) error
}

// ---------------------------------------------------------------------------
// Service

// MonitorStatus is the state of quality check QC-DEP-1 for one
// deployment: it passes only while events arrive, the scheduled checks run
// on time, and alert rules and owners exist.
type MonitorStatus struct {
	Check        string    `json:"check"` // "QC-DEP-1"
	DeploymentID string    `json:"deployment_id"`
	At           time.Time `json:"at"`
	Pass         bool      `json:"pass"`
	// Failures say why the check fails; Notes are things a person should
	// look at that do not fail it (untriaged alerts, overdue cases).
	Failures []string `json:"failures,omitempty"`
	Notes    []string `json:"notes,omitempty"`

	Rules           int         `json:"rules"`
	Owners          int         `json:"owners"`
	RecentEvents    bool        `json:"recent_events"` // events within max_silence
	CheckedTo       *time.Time  `json:"checked_to,omitempty"`
	NextDue         time.Time   `json:"next_due"` // when the next window's check is due
	LastRun         *MonitorRun `json:"last_run,omitempty"`
	ActiveAlerts    int         `json:"active_alerts"`
	UntriagedAlerts int         `json:"untriaged_alerts"`
	OpenCases       int         `json:"open_cases"`
	OverdueCases    int         `json:"overdue_cases"`
	// Notices are things outside the monitoring plan that a person must
	// act on, shown like alerts: an open withdrawal obligation on the
	// deployed model version. They do not fail QC-DEP-1 (compliance item
	// GDPR-7-17 of QC-DEP-2 fails instead).
	Notices []MonitorNotice `json:"notices,omitempty"`
}

// MonitorNotice is one alert-like item of a monitoring status.
type MonitorNotice struct {
	Kind   string    `json:"kind"` // "withdrawal-obligation"
	ID     string    `json:"id"`   // the obligation id
	Since  time.Time `json:"since"`
	Detail string    `json:"detail"`
}

// NoticeWithdrawalObligation is the kind of a notice for an open
// withdrawal obligation.
const NoticeWithdrawalObligation = "withdrawal-obligation"

// MonitorService runs the monitoring of deployments: it stores plans,
// runs checks on demand (the scheduler runs them on time) and reports
// QC-DEP-1.
type MonitorService interface {
	// SetPlan validates and stores a plan document for a deployment.
	SetPlan(ctx context.Context, deploymentID string, plan []byte, by string) (*MonitoringPlan, error)
	// RunChecks checks every window that closed (plus grace) since the
	// last check.
	RunChecks(ctx context.Context, deploymentID, kind, by string) (*MonitorRun, error)
	// Status evaluates QC-DEP-1 now.
	Status(ctx context.Context, deploymentID string) (*MonitorStatus, error)
}
