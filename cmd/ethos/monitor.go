package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// "ethos monitor" is the client of a server's deployment monitoring
// (QC-DEP-1): plans, on-demand runs, QC status, alerts and their triage,
// stop-rule cases and their decisions, and the HTML report. "simulate"
// writes synthetic inference events for trying a plan out.

func runMonitor(ctx context.Context, env *Env, args []string) error {
	verbs := []string{"plan", "run", "runs", "status", "alerts", "ack", "triage", "cases", "decide", "report", "simulate"}
	return subcommand(ctx, env, "monitor", args, map[string]func(context.Context, *Env, []string) error{
		"plan": monitorPlan, "run": monitorRun, "runs": monitorRuns, "status": monitorStatus, "alerts": monitorAlerts, "ack": monitorAck,
		"triage": monitorTriage, "cases": monitorCases, "decide": monitorDecide, "report": monitorReport, "simulate": monitorSimulate,
	}, verbs)
}

func monitorBase(dep string) string {
	return "/api/v1/deployments/" + url.PathEscape(dep) + "/monitoring"
}

func needDeployment(dep string) error {
	if !ethos.ValidID(dep) {
		return usagef("--deployment: a deployment id is required")
	}
	return nil
}

func monitorPlan(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor plan", "monitor plan --deployment ID [--set FILE.json] [--check] [--json]")
	dep := fs.String("deployment", "", "deployment id")
	set := fs.String("set", "", "store this plan (JSON file) for the deployment")
	check := fs.Bool("check", false, "with --set: only validate the file, offline")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *check {
		if *set == "" {
			return usagef("--check needs --set FILE")
		}
		b, err := os.ReadFile(*set)
		if err != nil {
			return err
		}
		if err := monitor.ValidatePlan(b); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: valid monitoring plan\n", *set)
		return nil
	}
	if err := needDeployment(*dep); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	if *set != "" {
		b, err := os.ReadFile(*set)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			return ethos.Errorf(ethos.EINVALID, "%s is not JSON", *set)
		}
		var p ethos.MonitoringPlan
		if err := c.do(ctx, "PUT", monitorBase(*dep)+"/plan", json.RawMessage(b), &p); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env, p)
		}
		fmt.Fprintf(env.Stdout, "Monitoring plan of %s stored: %d rules, %d stop-rules, %s windows, owners %s\n",
			p.DeploymentID, len(p.Rules), len(p.StopRules), p.Window.Every, strings.Join(p.Owners, ", "))
		return nil
	}
	var out struct {
		Plan      *ethos.MonitoringPlan `json:"plan"`
		UpdatedAt time.Time             `json:"updated_at"`
		UpdatedBy string                `json:"updated_by"`
		CheckedTo *time.Time            `json:"checked_to"`
	}
	if err := c.do(ctx, "GET", monitorBase(*dep)+"/plan", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	p := out.Plan
	fmt.Fprintf(env.Stdout, "Deployment %s (project %s): %s windows, checked to %s; set by %s at %s\nOwners: %s\n",
		p.DeploymentID, p.ProjectID, p.Window.Every, fmtTime(out.CheckedTo), out.UpdatedBy, fmtTime(&out.UpdatedAt), strings.Join(p.Owners, ", "))
	var rows [][]string
	for _, r := range p.Rules {
		side := ">"
		if !r.AlertsAbove() {
			side = "<"
		}
		rows = append(rows, []string{r.ID, r.Metric, r.Field + r.Scope, side + " " + strconv.FormatFloat(r.Threshold, 'g', -1, 64),
			strconv.Itoa(r.MinN), fmt.Sprintf("%d/%d", r.RaiseAfter, r.ClearAfter), r.Severity})
	}
	return table(env, "RULE\tMETRIC\tFIELD/SCOPE\tALERT WHEN\tMIN N\tRAISE/CLEAR\tSEVERITY", rows)
}

func monitorRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor run", "monitor run --deployment ID [--json]")
	dep := fs.String("deployment", "", "deployment id")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectDeployment(fs, args, connect, dep)
	if err != nil {
		return err
	}
	var run ethos.MonitorRun
	if err := c.do(ctx, "POST", monitorBase(*dep)+"/runs", nil, &run); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, run)
	}
	fmt.Fprintf(env.Stdout, "Run %s: %d windows, %d events, %d alerts raised, %d cleared\n", run.ID, run.Windows, run.Events, run.Raised, run.Cleared)
	if run.Rejudged > 0 {
		fmt.Fprintf(env.Stdout, "  %d earlier windows judged again: ground truth for their events arrived after they were judged\n", run.Rejudged)
	}
	if run.Error != "" {
		fmt.Fprintf(env.Stdout, "Error: %s\n", run.Error)
	}
	return nil
}

func monitorRuns(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor runs", "monitor runs --deployment ID [--limit N] [--json]")
	dep := fs.String("deployment", "", "deployment id")
	limit := fs.Int("limit", 20, "runs to show, newest first")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectDeployment(fs, args, connect, dep)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	return printList(ctx, env, c, monitorBase(*dep)+"/runs", q, *asJSON, "ID\tKIND\tSTARTED\tDUE\tLATE\tWINDOWS\tREJUDGED\tEVENTS\tRAISED\tCLEARED\tERROR", func(r *ethos.MonitorRun) []string {
		late := ""
		if r.Late {
			late = "LATE"
		}
		return []string{r.ID, r.Kind, fmtTime(&r.StartedAt), fmtTime(r.DueAt), late, strconv.Itoa(r.Windows), strconv.Itoa(r.Rejudged), strconv.Itoa(r.Events),
			strconv.Itoa(r.Raised), strconv.Itoa(r.Cleared), r.Error}
	})
}

func monitorStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor status", "monitor status --deployment ID [--json]")
	dep := fs.String("deployment", "", "deployment id")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectDeployment(fs, args, connect, dep)
	if err != nil {
		return err
	}
	var st ethos.MonitorStatus
	if err := c.do(ctx, "GET", monitorBase(*dep)+"/status", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, st)
	}
	verdict := "PASS"
	if !st.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(env.Stdout, "%s %s for %s: %d rules, %d owners, recent events %v, checked to %s, next due %s\n",
		st.Check, verdict, st.DeploymentID, st.Rules, st.Owners, st.RecentEvents, fmtTime(st.CheckedTo), fmtTime(&st.NextDue))
	fmt.Fprintf(env.Stdout, "Alerts: %d active, %d untriaged; cases: %d open, %d overdue\n", st.ActiveAlerts, st.UntriagedAlerts, st.OpenCases, st.OverdueCases)
	for _, f := range st.Failures {
		fmt.Fprintf(env.Stdout, "  fails: %s\n", f)
	}
	for _, n := range st.Notes {
		fmt.Fprintf(env.Stdout, "  note: %s\n", n)
	}
	for _, n := range st.Notices {
		fmt.Fprintf(env.Stdout, "  NOTICE %s %s since %s: %s\n", n.Kind, n.ID, fmtTime(&n.Since), n.Detail)
	}
	return nil
}

func monitorAlerts(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor alerts", "monitor alerts --deployment ID [--state active|cleared] [--site S] [--untriaged] [--json]")
	dep := fs.String("deployment", "", "deployment id")
	state := fs.String("state", "", "active or cleared")
	site := fs.String("site", "", "only this site")
	untriaged := fs.Bool("untriaged", false, "only alerts waiting for triage")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectDeployment(fs, args, connect, dep)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1000"}}
	if *state != "" {
		q.Set("state", *state)
	}
	if *site != "" {
		q.Set("site", *site)
	}
	if *untriaged {
		q.Set("untriaged", "true")
	}
	return printList(ctx, env, c, monitorBase(*dep)+"/alerts", q, *asJSON, "ID\tRAISED\tRULE\tKEY\tSITE\tSEVERITY\tSTATE\tTRIAGE\tCASE", func(a *ethos.Alert) []string {
		triage := a.Triage
		if triage == "" && a.AckBy != "" {
			triage = "acknowledged"
		}
		if triage == "" {
			triage = "waiting"
		}
		return []string{a.ID, fmtTime(&a.RaisedAt), a.RuleID, a.Key, a.Site, a.Severity, a.State, triage, a.CaseID}
	})
}

func monitorAck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor ack", "monitor ack ALERT_ID [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "monitor ack needs one alert id")
	if err != nil {
		return err
	}
	var a ethos.Alert
	if err := c.do(ctx, "POST", "/api/v1/monitoring/alerts/"+url.PathEscape(id)+"/ack", nil, &a); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, a)
	}
	fmt.Fprintf(env.Stdout, "Alert %s acknowledged by %s\n", a.ID, a.AckBy)
	return nil
}

func monitorTriage(ctx context.Context, env *Env, args []string) error {
	return postDecision(ctx, env, args, "monitor triage", "alert", ethos.TriageDecisions, func(id string) string {
		return "/api/v1/monitoring/alerts/" + url.PathEscape(id) + "/triage"
	}, func(a *ethos.Alert) {
		fmt.Fprintf(env.Stdout, "Alert %s triaged %s by %s\n", a.ID, a.Triage, a.TriagedBy)
	})
}

// postDecision runs a command that posts a decision on one object (an
// alert or a case, what): one id, a --decision from decisions and a
// non-blank --reason, sent to path(id); the reply is printed as JSON or by
// show.
func postDecision[T any](ctx context.Context, env *Env, args []string, name, what string, decisions []string, path func(id string) string, show func(*T)) error {
	fs := newFlagSet(env, name, name+" "+strings.ToUpper(what)+"_ID --decision "+strings.Join(decisions, "|")+" --reason TEXT [--json]")
	decision := fs.String("decision", "", strings.Join(decisions, ", "))
	reason := fs.String("reason", "", "why (recorded in the audit log)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *decision == "" || strings.TrimSpace(*reason) == "" {
		return usagef("%s needs one %s id, --decision and --reason", name, what)
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out T
	if err := c.do(ctx, "POST", path(pos[0]), map[string]string{"decision": *decision, "reason": *reason}, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	show(&out)
	return nil
}

type caseJSON struct {
	ethos.StopCase
	Overdue bool `json:"overdue"`
}

func monitorCases(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor cases", "monitor cases --deployment ID [--state open|decided] [--json]")
	dep := fs.String("deployment", "", "deployment id")
	state := fs.String("state", "", "open or decided")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectDeployment(fs, args, connect, dep)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1000"}}
	if *state != "" {
		q.Set("state", *state)
	}
	return printList(ctx, env, c, monitorBase(*dep)+"/cases", q, *asJSON, "ID\tSTOP-RULE\tACTION\tSITE\tOPENED\tDECIDE BY\tSTATE\tDECISION\tALERTS", func(sc caseJSON) []string {
		state := sc.State
		if sc.Overdue {
			state = "OVERDUE"
		}
		return []string{sc.ID, sc.StopRuleID, sc.Action, sc.Site, fmtTime(&sc.OpenedAt), fmtTime(&sc.DueAt), state, sc.Decision, strconv.Itoa(len(sc.AlertIDs))}
	})
}

func monitorDecide(ctx context.Context, env *Env, args []string) error {
	return postDecision(ctx, env, args, "monitor decide", "case", ethos.CaseDecisions, func(id string) string {
		return "/api/v1/monitoring/cases/" + url.PathEscape(id) + "/decision"
	}, func(out *caseJSON) {
		fmt.Fprintf(env.Stdout, "Case %s decided: %s by %s\n", out.ID, out.Decision, out.DecidedBy)
	})
}

func monitorReport(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor report", "monitor report --deployment ID --out FILE.html [--from RFC3339] [--to RFC3339] | --format json")
	dep := fs.String("deployment", "", "deployment id")
	out := fs.String("out", "", "write the page to this file ('-': standard output)")
	from := fs.String("from", "", "first window (RFC 3339; default 90 days ago)")
	to := fs.String("to", "", "end (RFC 3339; default now)")
	format := fs.String("format", "html", "html (the page with timelines) or json (window results)")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := needDeployment(*dep); err != nil {
		return err
	}
	if *out == "" {
		return usagef("monitor report needs --out FILE (or - for standard output)")
	}
	path := "/report"
	switch *format {
	case "html":
	case "json":
		path = "/windows"
	default:
		return usagef("--format: want html or json")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := url.Values{}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	var buf bytes.Buffer
	if err := c.do(ctx, "GET", monitorBase(*dep)+path+"?"+q.Encode(), nil, &buf); err != nil {
		return err
	}
	if *out == "-" {
		_, err := env.Stdout.Write(buf.Bytes())
		return err
	}
	if err := writeAtomic(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Wrote %s (%d bytes)\n", *out, buf.Len())
	return nil
}

// monitorSimulate writes synthetic events as JSON lines, the format of the
// events API, for trying a plan out.
func monitorSimulate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "monitor simulate", "monitor simulate --deployment ID --start RFC3339 --days N [--per-day N] [--seed N] [--upgrade SITE@RFC3339=VERSION] [--degrade AGEBAND@RFC3339=MEAN] [--out FILE.jsonl]")
	dep := fs.String("deployment", "dep-sim", "deployment id of the events")
	start := fs.String("start", "", "time of the first event (RFC 3339)")
	days := fs.Int("days", 28, "days of events")
	perDay := fs.Int("per-day", 600, "events per day over the three sites")
	seed := fs.Uint64("seed", 1, "random seed")
	upgrade := fs.String("upgrade", "", "software upgrade at a site: site-a@2026-03-22T00:00:00Z=VA60")
	degrade := fs.String("degrade", "", "sensitivity drop in an age band: 75+@2026-03-22T00:00:00Z=0.45 (new mean score of positives)")
	out := fs.String("out", "-", "output file ('-': standard output)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return usagef("--start: want an RFC 3339 time")
	}
	c := sim.Default(t0, *days)
	c.DeploymentID, c.PerDay, c.Seed = *dep, *perDay, *seed
	if *upgrade != "" {
		who, at, val, err := splitChange(*upgrade)
		if err != nil {
			return usagef("--upgrade: %v", err)
		}
		c.Upgrades = append(c.Upgrades, sim.Upgrade{Site: who, At: at, Version: val})
	}
	if *degrade != "" {
		who, at, val, err := splitChange(*degrade)
		if err != nil {
			return usagef("--degrade: %v", err)
		}
		mean, err := strconv.ParseFloat(val, 64)
		if err != nil || mean < 0 || mean > 1 {
			return usagef("--degrade: the mean score must be in [0, 1]")
		}
		c.Degradations = append(c.Degradations, sim.Degradation{AgeBand: who, At: at, PositiveMean: mean})
	}
	evs, err := sim.Generate(c)
	if err != nil {
		return usagef("%v", err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return err
		}
	}
	w.Flush()
	if *out == "-" {
		_, err := env.Stdout.Write(buf.Bytes())
		return err
	}
	if err := writeAtomic(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Wrote %d events to %s\n", len(evs), *out)
	return nil
}

// splitChange reads WHO@TIME=VALUE.
func splitChange(s string) (who string, at time.Time, val string, err error) {
	who, rest, ok := strings.Cut(s, "@")
	ts, val, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || who == "" || val == "" {
		return "", time.Time{}, "", fmt.Errorf("want WHO@RFC3339=VALUE, not %q", s)
	}
	at, err = time.Parse(time.RFC3339, ts)
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("%q is not an RFC 3339 time", ts)
	}
	return who, at, val, nil
}

// Serving.

// monitorEventReader is the store of inference events the monitor reads:
// the deployment stage's event store (tests replace it with simulated
// events).
var monitorEventReader = func(a *app) ethos.InferenceEventReader { return sqlstore.NewDeploymentStore(a.store) }

// monitorSuspender is the deployment registry that suspends a deployment
// when a stop-rule's action is "suspend". It never registers or takes a
// deployment live, so it needs no evaluation gate.
func monitorSuspender(a *app) ethos.DeploymentSuspender {
	return &deployment.Registry{Store: sqlstore.NewDeploymentStore(a.store), Users: a.users}
}

// serveMonitor builds the monitor over the app's store and starts its
// scheduler; stop waits for the scheduler and webhook deliveries. The
// status of a deployment lists the open withdrawal obligations on its
// model version that obligations reports.
func serveMonitor(ctx context.Context, a *app, every time.Duration, obligations ethos.DeploymentObligations, logger *slog.Logger) (ethos.MonitorService, ethos.MonitorStore, func()) {
	store := sqlstore.NewMonitorService(a.store)
	m := &monitor.Monitor{Store: store, Events: monitorEventReader(a), Auditor: a.auditor, Suspender: monitorSuspender(a), Logger: logger,
		Notifier: &monitor.Notifier{Store: store, Logger: logger}, Obligations: obligations}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&monitor.Scheduler{Monitor: m, Interval: every, Logger: logger}).Run(ctx)
	}()
	return m, store, func() {
		cancel()
		<-done
		m.Notifier.Wait()
	}
}
