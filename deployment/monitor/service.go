package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Monitor runs the monitoring of deployments over a store and an event
// reader. Set the fields, then use it; it is safe for concurrent use
// (runs of one deployment are serialised).
type Monitor struct {
	Store  ethos.MonitorStore
	Events ethos.InferenceEventReader
	// Suspender is asked to suspend a deployment when a stop-rule with
	// action "suspend" opens a case; nil: the case records that no
	// registry was there to ask.
	Suspender ethos.DeploymentSuspender
	// Obligations lists the open withdrawal obligations on a deployment's
	// model version, shown as notices in its status; nil: none shown.
	Obligations ethos.DeploymentObligations
	// Auditor records runs, raised alerts and opened cases; nil: none.
	Auditor ethos.Auditor
	// Notifier posts alerts and cases to the plan's webhook; nil: none.
	Notifier *Notifier
	Now      func() time.Time
	Logger   *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

var _ ethos.MonitorService = (*Monitor)(nil)

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Monitor) lock(dep string) func() {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*sync.Mutex{}
	}
	l := m.locks[dep]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[dep] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (m *Monitor) audit(ctx context.Context, actor, action, resource, reason string) error {
	if m.Auditor == nil {
		return nil
	}
	if actor == "" {
		actor = "system:monitor"
	}
	return m.Auditor.Record(ctx, ethos.AuditEvent{Actor: actor, Action: action, Resource: resource, Stage: ethos.StageDeployment,
		Purpose: ethos.PurposeAIDeploymentMonitoring, Reason: reason})
}

// SetPlan validates and stores a plan for a deployment. The plan's
// deployment_id may be left out; if given it must match.
func (m *Monitor) SetPlan(ctx context.Context, deploymentID string, body []byte, by string) (*ethos.MonitoringPlan, error) {
	p, err := ethos.ParseMonitoringPlan(body)
	if err != nil {
		return nil, err
	}
	switch {
	case p.DeploymentID == "":
		p.DeploymentID = deploymentID
	case p.DeploymentID != deploymentID:
		return nil, ethos.Errorf(ethos.EINVALID, "monitoring plan: deployment_id %q does not match deployment %s", p.DeploymentID, deploymentID)
	}
	if !ethos.ValidID(p.DeploymentID) {
		return nil, ethos.Errorf(ethos.EINVALID, "monitoring plan: a valid deployment id is required")
	}
	if err := m.Store.PutPlan(ctx, p, by); err != nil {
		return nil, err
	}
	// The caller audits the change (the HTTP layer records who, from
	// which party, in which request).
	return p, nil
}

// Eligible returns the windows of a stored plan that closed, plus the
// plan's grace, before now and are not checked yet.
func Eligible(rec *ethos.MonitorPlanRecord, now time.Time) []Window {
	p := rec.Plan
	from := p.Start
	if !rec.CheckedTo.IsZero() && rec.CheckedTo.After(from) {
		from = rec.CheckedTo
	}
	return Windows(p, from, now.Add(-p.GraceSpan()))
}

// EligiblePerformance returns, for a plan with a label delay, the windows
// whose performance part is due: closed more than the label delay plus
// the grace before now, and not judged yet (st.PerfCheckedTo).
func EligiblePerformance(p *ethos.MonitoringPlan, st *State, now time.Time) []Window {
	delay := p.LabelDelay.D()
	if delay == 0 {
		return nil
	}
	from := p.Start
	if st.PerfCheckedTo.After(from) {
		from = st.PerfCheckedTo
	}
	return Windows(p, from, now.Add(-p.GraceSpan()-delay))
}

// DueAt is when the check of window w is due: its end plus twice the
// grace (it may start once the grace has passed).
func DueAt(p *ethos.MonitoringPlan, w Window) time.Time { return w.End.Add(2 * p.GraceSpan()) }

// DuePerformanceAt is when the performance part of window w is due.
func DuePerformanceAt(p *ethos.MonitoringPlan, w Window) time.Time {
	return DueAt(p, w).Add(p.LabelDelay.D())
}

func loadState(rec *ethos.MonitorPlanRecord) (*State, error) {
	var st State
	if len(rec.State) > 0 {
		if err := json.Unmarshal(rec.State, &st); err != nil {
			return nil, fmt.Errorf("monitor state of %s: %w", rec.Plan.DeploymentID, err)
		}
	}
	return &st, nil
}

// Pending reports whether a stored plan has windows (or performance parts)
// due for checking at now.
func Pending(rec *ethos.MonitorPlanRecord, now time.Time) (bool, error) {
	if len(Eligible(rec, now)) > 0 {
		return true, nil
	}
	st, err := loadState(rec)
	if err != nil {
		return false, err
	}
	return len(EligiblePerformance(rec.Plan, st, now)) > 0, nil
}

// RunChecks checks the eligible windows of a deployment and stores the
// outcome: window results, raised and cleared alerts, cases opened by
// stop-rules, the engine state. A run that fails is recorded with its
// error and changes nothing else.
func (m *Monitor) RunChecks(ctx context.Context, dep, kind, by string) (*ethos.MonitorRun, error) {
	if kind != ethos.RunScheduled && kind != ethos.RunOnDemand {
		return nil, ethos.Errorf(ethos.EINVALID, "run kind %q: want scheduled or on-demand", kind)
	}
	unlock := m.lock(dep)
	defer unlock()
	rec, err := m.Store.FindPlan(ctx, dep)
	if err != nil {
		return nil, err
	}
	p := rec.Plan
	now := m.now()
	run := &ethos.MonitorRun{ID: newID("run-"), DeploymentID: dep, Kind: kind, By: by, StartedAt: now}
	ws := Eligible(rec, now)
	var perf []Window
	st, err := loadState(rec)
	if err == nil {
		perf = EligiblePerformance(p, st, now)
	}
	if len(ws) > 0 {
		due := DueAt(p, ws[0])
		run.DueAt = &due
	}
	if len(perf) > 0 {
		if due := DuePerformanceAt(p, perf[0]); run.DueAt == nil || due.Before(*run.DueAt) {
			run.DueAt = &due
		}
	}
	var out *ethos.RunOutcome
	if err == nil {
		out, err = m.check(ctx, rec, st, ws, perf, run)
	}
	if err != nil {
		run.Error = ethos.ErrorMessage(err)
		if ethos.ErrorCode(err) == ethos.EINTERNAL && m.Logger != nil {
			m.Logger.Error("monitor run", "deployment", dep, "err", err)
		}
		run.FinishedAt = m.now()
		run.Late = kind == ethos.RunScheduled && run.DueAt != nil && run.FinishedAt.After(*run.DueAt)
		if serr := m.Store.SaveRun(ctx, &ethos.RunOutcome{Run: run}); serr != nil {
			return nil, errors.Join(err, serr)
		}
		// The message stays on the run: it may quote a value from the
		// clinic's events. The audit entry names the error's code only.
		if aerr := m.audit(ctx, by, "monitor.run", "deployment/"+dep, kind+" run failed ("+ethos.ErrorCode(err)+"; the message is on the run)"); aerr != nil {
			return run, errors.Join(err, aerr)
		}
		return run, err
	}
	opened := map[*ethos.StopCase]string{} // the id each case had before the store joined it
	for _, c := range out.Cases {
		opened[c] = c.ID
	}
	if err := m.Store.SaveRun(ctx, out); err != nil {
		return nil, err
	}
	if err := m.audit(ctx, by, "monitor.run", "deployment/"+dep, fmt.Sprintf("%s run: %d windows, %d events, %d raised, %d cleared", kind, run.Windows, run.Events, run.Raised, run.Cleared)); err != nil {
		return run, err
	}
	for _, ch := range out.Changes {
		if a := ch.Raise; a != nil {
			if err := m.audit(ctx, "", "monitor.alert.raise", "alert/"+a.ID, "rule "+a.RuleID+" on "+alertScope(a)+" ("+a.Severity+")"); err != nil {
				return run, err
			}
		}
	}
	for _, c := range out.Cases {
		if err := m.afterCase(ctx, p, c, c.ID == opened[c]); err != nil {
			return run, err
		}
	}
	if m.Notifier != nil && p.Webhook != "" {
		for _, ch := range out.Changes {
			if ch.Raise != nil {
				m.Notifier.Send(p, ch.Raise, nil)
			}
		}
		for _, c := range out.Cases {
			if c.ID == opened[c] {
				m.Notifier.Send(p, nil, c)
			}
		}
	}
	return run, nil
}

// check runs the engine over the windows ws and the performance parts
// perf, and builds the outcome.
func (m *Monitor) check(ctx context.Context, rec *ethos.MonitorPlanRecord, st *State, ws, perf []Window, run *ethos.MonitorRun) (*ethos.RunOutcome, error) {
	p := rec.Plan
	out := &ethos.RunOutcome{Run: run, CheckedTo: rec.CheckedTo}
	late, seen, err := m.lateWindows(ctx, rec, st)
	if err != nil {
		return nil, err
	}
	judge := len(ws)+len(perf)+len(late) > 0
	if judge {
		// The engine reads the reference (its events, without a
		// sample): only when there is something to judge.
		e, err := NewEngine(ctx, p, m.Events)
		if err != nil {
			return nil, err
		}
		e.Now = m.now
		for _, part := range []struct {
			ws    []Window
			check func(context.Context, ethos.InferenceEventReader, []Window, *State) (*Result, error)
			again bool
		}{{late, e.Rejudge, true}, {ws, e.Check, false}, {perf, e.CheckPerformance, false}} {
			if len(part.ws) == 0 {
				continue
			}
			res, err := part.check(ctx, m.Events, part.ws, st)
			if err != nil {
				return nil, err
			}
			out.Windows, out.Changes = append(out.Windows, res.Windows...), append(out.Changes, res.Changes...)
			if part.again {
				run.Rejudged += len(part.ws)
				continue
			}
			run.Windows, run.Events = run.Windows+len(part.ws), run.Events+res.Events
		}
		if len(ws) > 0 {
			out.CheckedTo = ws[len(ws)-1].End
		}
	}
	if judge || seen { // seen: LabelsSeenTo moved, kept with the state
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		out.State = b
	}
	now := m.now()
	cases := map[string]*ethos.StopCase{}
	var order []string
	for _, ch := range out.Changes {
		a := ch.Raise
		if a == nil {
			run.Cleared++
			continue
		}
		run.Raised++
		a.ID = newID("alr-")
		for _, sr := range p.StopRules {
			if !slices.Contains(sr.Rules, a.RuleID) {
				continue
			}
			k := sr.ID + "\x1f" + a.Site
			c := cases[k]
			if c == nil {
				c = &ethos.StopCase{ID: newID("case-"), DeploymentID: p.DeploymentID, Site: a.Site, StopRuleID: sr.ID, Action: sr.Action,
					State: ethos.CaseOpen, OpenedAt: now, DueAt: now.Add(sr.DecideWithin.D())}
				cases[k] = c
				order = append(order, k)
			}
			c.AlertIDs = append(c.AlertIDs, a.ID)
		}
	}
	for _, k := range order {
		out.Cases = append(out.Cases, cases[k])
	}
	run.FinishedAt = m.now()
	run.Late = run.Kind == ethos.RunScheduled && run.DueAt != nil && run.FinishedAt.After(*run.DueAt)
	return out, nil
}

// lateWindows returns the windows already judged whose events got ground
// truth since the last run (to be judged again), and moves the state's
// LabelsSeenTo to now; seen reports that it moved. Without a store that
// tells when labels arrived there are none. On the first run that can
// tell, the labels stored so far count as seen.
func (m *Monitor) lateWindows(ctx context.Context, rec *ethos.MonitorPlanRecord, st *State) ([]Window, bool, error) {
	arr, ok := m.Events.(ethos.LabelArrivals)
	if !ok {
		return nil, false, nil
	}
	p, now := rec.Plan, m.now()
	judgedTo := rec.CheckedTo
	if p.LabelDelay.D() > 0 {
		judgedTo = st.PerfCheckedTo
	}
	from := st.LabelsSeenTo
	st.LabelsSeenTo = now
	if from.IsZero() || judgedTo.IsZero() || !now.After(from) {
		return nil, true, nil
	}
	ts, err := arr.LabelledEventTimes(ctx, p.DeploymentID, from, now)
	if err != nil {
		return nil, false, fmt.Errorf("labels that arrived since %s: %w", from.Format(time.RFC3339), err)
	}
	byStart := map[time.Time]Window{}
	for _, t := range ts {
		if t.Before(p.Start) || !t.Before(judgedTo) {
			continue
		}
		w := WindowAt(p, t)
		if !w.End.After(judgedTo) {
			byStart[w.Start] = w
		}
	}
	out := make([]Window, 0, len(byStart))
	for _, w := range byStart {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Window) int { return a.Start.Compare(b.Start) })
	return out, true, nil
}

// afterCase audits a case and, when the stop-rule says so, asks the
// registry to suspend the deployment (once per newly opened case).
func (m *Monitor) afterCase(ctx context.Context, p *ethos.MonitoringPlan, c *ethos.StopCase, fresh bool) error {
	action := "monitor.case.join"
	if fresh {
		action = "monitor.case.open"
	}
	if err := m.audit(ctx, "", action, "case/"+c.ID, fmt.Sprintf("stop-rule %s (%s), %d alerts, decide by %s", c.StopRuleID, c.Action, len(c.AlertIDs), c.DueAt.Format(time.RFC3339))); err != nil {
		return err
	}
	if c.Action != ethos.StopSuspend || !fresh {
		return nil
	}
	msg := ""
	if m.Suspender == nil {
		msg = "no deployment registry is configured to suspend the deployment"
	} else if err := m.Suspender.SuspendDeployment(ctx, p.DeploymentID, "stop-rule "+c.StopRuleID+" (case "+c.ID+")", "system:monitor"); err != nil {
		msg = ethos.ErrorMessage(err)
	}
	if err := m.Store.SetCaseSuspension(ctx, c.ID, true, msg); err != nil {
		return err
	}
	c.SuspendRequested, c.SuspendError = true, msg
	return m.audit(ctx, "", "monitor.case.suspend", "deployment/"+p.DeploymentID, "stop-rule "+c.StopRuleID+" asked to suspend: "+orOK(msg))
}

// alertScope is what the audit entry of a raised alert says of the group
// it is about: the attribute judged (age_band, site, protocol…), not its
// value. Values come from the clinic's events, where the identifier
// screen catches shapes but not names; they stay on the alert.
func alertScope(a *ethos.Alert) string {
	if a.Key == "" {
		return "the whole deployment"
	}
	attr, _, _ := strings.Cut(a.Key, "=")
	for _, c := range []byte(attr) {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return "a group (on the alert)"
		}
	}
	return "a " + attr + " group (on the alert)"
}

func orOK(s string) string {
	if s == "" {
		return "done"
	}
	return s
}

// Status evaluates QC-DEP-1 for a deployment now.
func (m *Monitor) Status(ctx context.Context, dep string) (*ethos.MonitorStatus, error) {
	rec, err := m.Store.FindPlan(ctx, dep)
	if err != nil {
		return nil, err
	}
	p := rec.Plan
	now := m.now()
	st := &ethos.MonitorStatus{Check: "QC-DEP-1", DeploymentID: dep, At: now, Rules: len(p.Rules), Owners: len(p.Owners)}
	fail := func(format string, args ...any) { st.Failures = append(st.Failures, fmt.Sprintf(format, args...)) }
	note := func(format string, args ...any) { st.Notes = append(st.Notes, fmt.Sprintf(format, args...)) }
	if st.Rules == 0 {
		fail("the plan has no alert rules")
	}
	if st.Owners == 0 {
		fail("the plan names no owner")
	}
	silence := p.MaxSilence.D()
	if silence == 0 {
		w := WindowAt(p, now)
		silence = 2 * w.End.Sub(w.Start)
	}
	errFound := errors.New("found")
	err = m.Events.ScanEvents(ctx, ethos.EventFilter{DeploymentID: dep, From: now.Add(-silence), To: now.Add(time.Second)}, func(*ethos.InferenceEvent) error { return errFound })
	switch {
	case errors.Is(err, errFound):
		st.RecentEvents = true
	case err != nil:
		return nil, fmt.Errorf("scan recent events of %s: %w", dep, err)
	default:
		fail("no inference events in the last %s", ethos.SpanOf(silence))
	}
	if !rec.CheckedTo.IsZero() {
		t := rec.CheckedTo
		st.CheckedTo = &t
	}
	from := p.Start
	if st.CheckedTo != nil && st.CheckedTo.After(from) {
		from = *st.CheckedTo
	}
	next := firstWindowStart(p, from)
	st.NextDue = DueAt(p, Window{Start: next, End: nextBoundary(p, next)})
	if overdue := Windows(p, from, now.Add(-2*p.GraceSpan())); len(overdue) > 0 {
		fail("%d window(s) not checked on time, the first %s to %s (due %s)", len(overdue), overdue[0].Start.Format(time.RFC3339),
			overdue[0].End.Format(time.RFC3339), DueAt(p, overdue[0]).Format(time.RFC3339))
	}
	if p.LabelDelay.D() > 0 {
		pst, err := loadState(rec)
		if err != nil {
			return nil, err
		}
		if overdue := EligiblePerformance(p, pst, now.Add(-p.GraceSpan())); len(overdue) > 0 {
			fail("the performance checks of %d window(s) are overdue, the first %s to %s (due %s)", len(overdue), overdue[0].Start.Format(time.RFC3339),
				overdue[0].End.Format(time.RFC3339), DuePerformanceAt(p, overdue[0]).Format(time.RFC3339))
		}
	}
	runs, err := m.Store.FindRuns(ctx, dep, 50)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		st.LastRun = runs[0]
		if runs[0].Error != "" {
			fail("the last run failed: %s", runs[0].Error)
		}
	}
	for _, r := range runs {
		if r.Kind == ethos.RunScheduled && r.Windows > 0 {
			if r.Late {
				fail("the last scheduled check (run %s) finished after its due time %s", r.ID, r.DueAt.Format(time.RFC3339))
			}
			break
		}
	}
	_, st.ActiveAlerts, err = m.Store.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: dep, State: ethos.AlertActive, Limit: 1})
	if err != nil {
		return nil, err
	}
	_, st.UntriagedAlerts, err = m.Store.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: dep, Untriaged: true, Limit: 1})
	if err != nil {
		return nil, err
	}
	cases, n, err := m.Store.FindCases(ctx, ethos.CaseFilter{DeploymentID: dep, State: ethos.CaseOpen, Limit: 1000})
	if err != nil {
		return nil, err
	}
	st.OpenCases = n
	for _, c := range cases {
		if c.Overdue(now) {
			st.OverdueCases++
		}
	}
	if m.Obligations != nil {
		obs, err := m.Obligations.OpenObligations(ctx, dep)
		if err != nil && ethos.ErrorCode(err) != ethos.ENOTFOUND { // a plan may precede the registry's record
			return nil, fmt.Errorf("open obligations of %s: %w", dep, err)
		}
		for _, o := range obs {
			st.Notices = append(st.Notices, ethos.MonitorNotice{Kind: ethos.NoticeWithdrawalObligation, ID: o.ID, Since: o.OpenedAt,
				Detail: fmt.Sprintf("a consent withdrawal opened obligation %s on the deployed model version %s: retrain without the subject, document an exemption or retire it", o.ID, o.Target.ID)})
		}
		if len(obs) > 0 {
			note("%d open withdrawal obligation(s) on the deployed model version (compliance item GDPR-7-17 fails until resolved)", len(obs))
		}
	}
	if st.UntriagedAlerts > 0 {
		note("%d alert(s) wait for triage", st.UntriagedAlerts)
	}
	if st.OverdueCases > 0 {
		note("%d suspension case(s) are past their decision deadline", st.OverdueCases)
	}
	st.Pass = len(st.Failures) == 0
	return st, nil
}
