package http

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/svgchart"
)

// Deployment monitoring (QC-DEP-1): plans, on-demand runs, results over
// time as JSON and as an HTML page of SVG timelines with the thresholds,
// alerts with acknowledgement and triage, and stop-rule cases with their
// decisions. Every endpoint is decided by the access policy at the
// deployment stage for the purpose ai-deployment-monitoring, against the
// project the plan names: reading is a read (aggregate view: results hold
// no record-level data), running checks, setting plans and triaging alerts
// are writes, and deciding a "suspension recommended" case is an
// approval. Changes are audited with the person and their reason.

type (
	triageIn struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	decisionIn struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	monitorPlanOut struct {
		Plan      *ethos.MonitoringPlan `json:"plan"`
		UpdatedAt time.Time             `json:"updated_at"`
		UpdatedBy string                `json:"updated_by"`
		CheckedTo *time.Time            `json:"checked_to,omitempty"`
	}
	caseOut struct {
		*ethos.StopCase
		Overdue bool `json:"overdue"`
	}
)

func (s *Server) monitorRoutes(auth authFunc) []route {
	dep := "/api/v1/deployments/{id}/monitoring"
	q := func(ps ...param) []param { return append(ps, pageQuery...) }
	return []route{
		{Method: "PUT", Path: dep + "/plan", Summary: "Set the deployment's monitoring plan (validated; write at deployment for the plan's project).", Body: ethos.MonitoringPlan{}, Reply: ethos.MonitoringPlan{}, Status: 200, handle: auth(s.handlePutMonitorPlan)},
		{Method: "GET", Path: dep + "/plan", Summary: "The deployment's monitoring plan.", Reply: monitorPlanOut{}, Status: 200, handle: auth(s.handleGetMonitorPlan)},
		{Method: "POST", Path: dep + "/runs", Summary: "Run the checks of every window closed since the last check, now.", Reply: ethos.MonitorRun{}, Status: 200, handle: auth(s.handleMonitorRun)},
		{Method: "GET", Path: dep + "/runs", Summary: "Recent runs, newest first (scheduled and on demand; late runs flagged).", Query: []param{{"limit", "integer", "runs to return (default 100)", false}}, Reply: list[*ethos.MonitorRun]{}, Status: 200, handle: auth(s.handleMonitorRuns)},
		{Method: "GET", Path: dep + "/status", Summary: "Quality check QC-DEP-1 now: events arriving, checks on time, rules and owners.", Reply: ethos.MonitorStatus{}, Status: 200, handle: auth(s.handleMonitorStatus)},
		{Method: "GET", Path: dep + "/windows", Summary: "Window results over time.", Query: []param{{"from", "string", "RFC 3339; default 90 days ago", false}, {"to", "string", "RFC 3339; default now", false}}, Reply: list[*ethos.WindowResult]{}, Status: 200, handle: auth(s.handleMonitorWindows)},
		{Method: "GET", Path: dep + "/report", Summary: "Results over time as an HTML page of SVG timelines with thresholds and alerts.", Query: []param{{"from", "string", "RFC 3339; default 90 days ago", false}, {"to", "string", "RFC 3339; default now", false}}, Status: 200, Raw: "text/html", handle: auth(s.handleMonitorReport)},
		{Method: "GET", Path: dep + "/alerts", Summary: "Alerts of the deployment.", Query: q(param{"state", "string", "active or cleared", false}, param{"site", "string", "only this site", false}, param{"untriaged", "boolean", "only alerts without triage", false}), Reply: list[*ethos.Alert]{}, Status: 200, handle: auth(s.handleMonitorAlerts)},
		{Method: "GET", Path: dep + "/cases", Summary: "Stop-rule cases of the deployment (overdue flagged).", Query: q(param{"state", "string", "open or decided", false}), Reply: list[caseOut]{}, Status: 200, handle: auth(s.handleMonitorCases)},
		{Method: "POST", Path: "/api/v1/monitoring/alerts/{alert}/ack", Summary: "Acknowledge an alert.", Reply: ethos.Alert{}, Status: 200, handle: auth(s.handleAckAlert)},
		{Method: "POST", Path: "/api/v1/monitoring/alerts/{alert}/triage", Summary: "Triage an alert: expected-change, false-alarm, investigating or action-required, with a reason.", Body: triageIn{}, Reply: ethos.Alert{}, Status: 200, handle: auth(s.handleTriageAlert)},
		{Method: "POST", Path: "/api/v1/monitoring/cases/{case}/decision", Summary: "Decide a suspension case: suspend, continue or continue-with-conditions, with a reason (approval at deployment).", Body: decisionIn{}, Reply: caseOut{}, Status: 200, handle: auth(s.handleDecideCase)},
	}
}

func (s *Server) monitorReady() error {
	if s.Monitor == nil || s.MonitorStore == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "deployment monitoring is not configured on this server")
	}
	return nil
}

// decideMonitor decides an action on a deployment's monitoring through
// the project its plan names.
func (s *Server) decideMonitor(r *http.Request, p *principal, projectID string, action ethos.Action, resource string) error {
	return s.decideOnProject(r.Context(), p, projectID, ethos.AccessRequest{Stage: ethos.StageDeployment, Action: action,
		Purpose: ethos.PurposeAIDeploymentMonitoring, View: aggregateRead(action)}, resource)
}

// monitorDeployment is the deployment id of the path, once action on its
// monitoring plan is decided (monitorPlanFor).
func (s *Server) monitorDeployment(r *http.Request, p *principal, action ethos.Action) (string, error) {
	dep := r.PathValue("id")
	_, err := s.monitorPlanFor(r, p, dep, action)
	return dep, err
}

// monitorPlanFor loads the plan of deployment dep and decides action.
func (s *Server) monitorPlanFor(r *http.Request, p *principal, dep string, action ethos.Action) (*ethos.MonitorPlanRecord, error) {
	if err := s.monitorReady(); err != nil {
		return nil, err
	}
	if !ethos.ValidID(dep) {
		return nil, &fieldError{code: ethos.EINVALID, field: "id", msg: "not a valid deployment id"}
	}
	rec, err := s.MonitorStore.FindPlan(r.Context(), dep)
	if err != nil {
		return nil, err
	}
	if rec.Plan.ProjectID == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "the monitoring plan of deployment %s names no project; set project_id", dep)
	}
	return rec, s.decideMonitor(r, p, rec.Plan.ProjectID, action, "deployment/"+dep+"/monitoring")
}

func (s *Server) handlePutMonitorPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.monitorReady(); err != nil {
		return err
	}
	dep := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &fieldError{code: codeTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", s.MaxBodyBytes)}
		}
		return &fieldError{code: ethos.EINVALID, msg: "cannot read request body"}
	}
	plan, err := ethos.ParseMonitoringPlan(body)
	if err != nil {
		return err
	}
	if plan.ProjectID == "" {
		return &fieldError{code: ethos.EINVALID, field: "project_id", msg: "monitoring plan: project_id is required (access is decided through the project)"}
	}
	if err := s.decideMonitor(r, p, plan.ProjectID, ethos.ActionWrite, "deployment/"+dep+"/monitoring"); err != nil {
		return err
	}
	if old, err := s.MonitorStore.FindPlan(r.Context(), dep); err == nil && old.Plan.ProjectID != plan.ProjectID && old.Plan.ProjectID != "" {
		// Moving a plan to another project needs the right on both.
		if err := s.decideMonitor(r, p, old.Plan.ProjectID, ethos.ActionWrite, "deployment/"+dep+"/monitoring"); err != nil {
			return err
		}
	}
	stored, err := s.Monitor.SetPlan(r.Context(), dep, body, p.User.ID)
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, stored, "monitor.plan.set", "deployment/"+dep, fmt.Sprintf("%d rules, %d stop-rules, owners %d", len(stored.Rules), len(stored.StopRules), len(stored.Owners)), ethos.StageDeployment)
}

func (s *Server) handleGetMonitorPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	rec, err := s.monitorPlanFor(r, p, r.PathValue("id"), ethos.ActionRead)
	if err != nil {
		return err
	}
	out := monitorPlanOut{Plan: rec.Plan, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy}
	if !rec.CheckedTo.IsZero() {
		out.CheckedTo = &rec.CheckedTo
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleMonitorRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Monitor.RunChecks(r.Context(), dep, ethos.RunOnDemand, p.User.ID))
}

func (s *Server) handleMonitorRuns(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	lim, err := queryInt(r, "limit", false, 100)
	if err != nil {
		return err
	}
	return replyAll[*ethos.MonitorRun](w)(s.MonitorStore.FindRuns(r.Context(), dep, int(lim)))
}

func (s *Server) handleMonitorStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Monitor.Status(r.Context(), dep))
}

// timeRange reads from and to (RFC 3339); default: the last 90 days.
func (s *Server) timeRange(r *http.Request) (time.Time, time.Time, error) {
	to := s.Now()
	from := to.AddDate(0, 0, -90)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return from, to, &fieldError{code: ethos.EINVALID, field: name, msg: fmt.Sprintf("query parameter %s: want an RFC 3339 time", name)}
			}
			*dst = t
		}
	}
	if !from.Before(to) {
		return from, to, &fieldError{code: ethos.EINVALID, field: "from", msg: "from must be before to"}
	}
	return from, to, nil
}

func (s *Server) handleMonitorWindows(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	from, to, err := s.timeRange(r)
	if err != nil {
		return err
	}
	return replyAll[*ethos.WindowResult](w)(s.MonitorStore.FindWindows(r.Context(), dep, from, to))
}

func (s *Server) handleMonitorAlerts(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := ethos.AlertFilter{DeploymentID: dep, State: q.Get("state"), Offset: off, Limit: lim}
	if f.State != "" && f.State != ethos.AlertActive && f.State != ethos.AlertCleared {
		return &fieldError{code: ethos.EINVALID, field: "state", msg: "state: want active or cleared"}
	}
	if q.Has("site") {
		site := q.Get("site")
		f.Site = &site
	}
	if f.Untriaged, err = boolQuery(r, "untriaged"); err != nil {
		return err
	}
	return replyList[*ethos.Alert](w)(s.MonitorStore.FindAlerts(r.Context(), f))
}

func (s *Server) caseOut(c *ethos.StopCase) caseOut {
	return caseOut{StopCase: c, Overdue: c.Overdue(s.Now())}
}

func (s *Server) handleMonitorCases(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep, err := s.monitorDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	if state != "" && state != ethos.CaseOpen && state != ethos.CaseDecided {
		return &fieldError{code: ethos.EINVALID, field: "state", msg: "state: want open or decided"}
	}
	cs, n, err := s.MonitorStore.FindCases(r.Context(), ethos.CaseFilter{DeploymentID: dep, State: state, Offset: off, Limit: lim})
	if err != nil {
		return err
	}
	out := make([]caseOut, len(cs))
	for i, c := range cs {
		out[i] = s.caseOut(c)
	}
	writeJSON(w, http.StatusOK, list[caseOut]{Items: out, Total: n})
	return nil
}

// alertFor loads an alert and decides action on its deployment.
func (s *Server) alertFor(r *http.Request, p *principal, action ethos.Action) (*ethos.Alert, error) {
	if err := s.monitorReady(); err != nil {
		return nil, err
	}
	a, err := s.MonitorStore.FindAlertByID(r.Context(), r.PathValue("alert"))
	if err != nil {
		return nil, err
	}
	_, err = s.monitorPlanFor(r, p, a.DeploymentID, action)
	return a, err
}

func (s *Server) handleAckAlert(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.alertFor(r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	a, err = s.MonitorStore.AcknowledgeAlert(r.Context(), a.ID, p.User.ID)
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, a, "monitor.alert.ack", "alert/"+a.ID, "acknowledged "+a.RuleID+" of deployment/"+a.DeploymentID, ethos.StageDeployment)
}

func (s *Server) handleTriageAlert(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in triageIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	a, err := s.alertFor(r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	a, err = s.MonitorStore.TriageAlert(r.Context(), a.ID, in.Decision, in.Reason, p.User.ID)
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, a, "monitor.alert.triage", "alert/"+a.ID, in.Decision+"; reason on the alert: "+ethos.AuditText(in.Reason), ethos.StageDeployment)
}

func (s *Server) handleDecideCase(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in decisionIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.monitorReady(); err != nil {
		return err
	}
	c, err := s.MonitorStore.FindCaseByID(r.Context(), r.PathValue("case"))
	if err != nil {
		return err
	}
	if _, err := s.monitorPlanFor(r, p, c.DeploymentID, ethos.ActionApprove); err != nil {
		return err
	}
	c, err = s.MonitorStore.DecideCase(r.Context(), c.ID, in.Decision, in.Reason, p.User.ID)
	if err != nil {
		return err
	}
	if err := s.recordChange(r.Context(), p, "monitor.case.decide", "case/"+c.ID, in.Decision+"; reason on the case: "+ethos.AuditText(in.Reason), ethos.StageDeployment); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.caseOut(c))
	return nil
}

// The HTML report.

func (s *Server) handleMonitorReport(w http.ResponseWriter, r *http.Request, p *principal) error {
	dep := r.PathValue("id")
	rec, err := s.monitorPlanFor(r, p, dep, ethos.ActionRead)
	if err != nil {
		return err
	}
	from, to, err := s.timeRange(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := s.MonitorStore.FindWindows(ctx, dep, from, to)
	if err != nil {
		return err
	}
	alerts, _, err := s.MonitorStore.FindAlerts(ctx, ethos.AlertFilter{DeploymentID: dep, Limit: 1000})
	if err != nil {
		return err
	}
	cases, _, err := s.MonitorStore.FindCases(ctx, ethos.CaseFilter{DeploymentID: dep, Limit: 1000})
	if err != nil {
		return err
	}
	st, err := s.Monitor.Status(ctx, dep)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteMonitorReport(&buf, MonitorReport{Plan: rec.Plan, Status: st, Windows: ws, Alerts: alerts, Cases: cases, Now: s.Now()}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

// MonitorReport is what the monitoring page shows.
type MonitorReport struct {
	Plan    *ethos.MonitoringPlan
	Status  *ethos.MonitorStatus
	Windows []*ethos.WindowResult
	Alerts  []*ethos.Alert
	Cases   []*ethos.StopCase
	Now     time.Time
}

type reportChart struct {
	Rule    ethos.AlertRule
	Delayed bool
	SVG     template.HTML
	Table   [][]string // last windows: key, value, n, state
}

type reportCase struct {
	*ethos.StopCase
	Overdue bool
}

// maxSeries bounds the lines of one timeline (subgroups, sites, values).
const maxSeries = 8

// WriteMonitorReport renders the monitoring page: the QC-DEP-1 status,
// open cases and alerts, and one timeline per rule with its threshold and
// the windows where alerts were raised. Everything is inline (no script,
// no external resource), so it works offline and under a strict CSP.
func WriteMonitorReport(w io.Writer, rep MonitorReport) error {
	loc := rep.Plan.Location()
	var charts []reportChart
	for _, rule := range rep.Plan.Rules {
		series := map[string]*svgchart.TimeSeries{}
		var order []string
		for _, wr := range rep.Windows {
			for _, c := range wr.Checks {
				if c.RuleID != rule.ID || c.Value == nil || math.IsNaN(*c.Value) {
					continue
				}
				name := c.Key
				if c.Site != "" && !strings.Contains(name, c.Site) {
					name += " @" + c.Site
				}
				if name == "" {
					name = rule.Metric
				}
				ts := series[name]
				if ts == nil {
					if len(order) == maxSeries {
						continue
					}
					ts = &svgchart.TimeSeries{Name: name}
					series[name] = ts
					order = append(order, name)
				}
				ts.Points = append(ts.Points, svgchart.TimePoint{T: wr.Start, V: *c.Value})
			}
		}
		tl := &svgchart.Timeline{Options: svgchart.Options{Title: rule.ID + ": " + rule.Metric, YLabel: rule.Metric, Width: 760, Height: 260, ID: "rule-" + rule.ID},
			Thresholds: []svgchart.RefLine{{Value: rule.Threshold, Label: "threshold " + fmt.Sprint(rule.Threshold)}}, Location: loc}
		if len(rep.Windows) > 0 {
			tl.From, tl.To = rep.Windows[0].Start, rep.Windows[len(rep.Windows)-1].End
		}
		for _, name := range order {
			tl.Series = append(tl.Series, *series[name])
		}
		for _, a := range rep.Alerts {
			if a.RuleID == rule.ID {
				v := math.NaN()
				if a.Value != nil {
					v = *a.Value
				}
				tl.Alerts = append(tl.Alerts, svgchart.Alert{T: a.WindowStart, V: v, Label: strings.TrimSpace(a.Key + " " + a.Site)})
			}
		}
		if rule.Metric == ethos.MetricPositiveRateChange || rule.Metric == ethos.MetricOverrideRateChange {
			tl.Thresholds[0].Label = "decision interval " + fmt.Sprint(rule.Threshold)
		}
		svg, err := tl.SVG()
		if err != nil {
			return fmt.Errorf("timeline of rule %s: %w", rule.ID, err)
		}
		ch := reportChart{Rule: rule, SVG: template.HTML(svg), Delayed: rep.Plan.Delayed(&rule)}
		// The latest window part that judged this rule.
		var latest *ethos.WindowResult
		for _, wr := range slices.Backward(rep.Windows) {
			if slices.ContainsFunc(wr.Checks, func(c ethos.CheckResult) bool { return c.RuleID == rule.ID }) {
				latest = wr
				break
			}
		}
		if latest != nil {
			for _, c := range latest.Checks {
				if c.RuleID != rule.ID {
					continue
				}
				val := "–"
				if c.Value != nil {
					val = fmt.Sprintf("%.4g", *c.Value)
					if c.Lower != nil && c.Upper != nil {
						val += fmt.Sprintf(" (%.3g–%.3g)", *c.Lower, *c.Upper)
					}
				}
				state := "ok"
				switch {
				case c.Insufficient != "":
					state = "not judged: " + c.Insufficient
				case c.Breach:
					state = "past threshold"
				}
				ch.Table = append(ch.Table, []string{latest.Start.In(loc).Format("2006-01-02 15:04"), strings.TrimSpace(c.Key + " " + c.Site), val, fmt.Sprint(c.N), state})
				if len(ch.Table) == 20 {
					break
				}
			}
		}
		charts = append(charts, ch)
	}
	var cases []reportCase
	for _, c := range rep.Cases {
		cases = append(cases, reportCase{StopCase: c, Overdue: c.Overdue(rep.Now)})
	}
	// Alerts are grouped by site (all sites first), newest first.
	alerts := slices.Clone(rep.Alerts)
	slices.SortStableFunc(alerts, func(a, b *ethos.Alert) int {
		if c := strings.Compare(a.Site, b.Site); c != 0 {
			return c
		}
		return b.RaisedAt.Compare(a.RaisedAt)
	})
	type siteRow struct {
		Site                       string
		Active, Untriaged, Overall int
	}
	var sites []*siteRow
	for _, a := range alerts {
		if len(sites) == 0 || sites[len(sites)-1].Site != a.Site {
			sites = append(sites, &siteRow{Site: a.Site})
		}
		r := sites[len(sites)-1]
		r.Overall++
		if a.State == ethos.AlertActive {
			r.Active++
		}
		if a.Triage == "" {
			r.Untriaged++
		}
	}
	var buf bytes.Buffer
	err := reportTmpl.Execute(&buf, map[string]any{"Plan": rep.Plan, "Status": rep.Status, "Charts": charts, "Alerts": alerts, "Cases": cases, "Sites": sites,
		"Windows": len(rep.Windows), "Now": rep.Now, "Loc": loc})
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

var reportTmpl = template.Must(template.New("monitor").Funcs(template.FuncMap{
	"when": func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04 MST") },
	"whenp": func(t *time.Time, loc *time.Location) string {
		if t == nil {
			return "–"
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	},
	"val": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.4g", *v)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Monitoring of {{.Plan.DeploymentID}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}
.pass{color:#05603a;font-weight:bold}.fail{color:#b42318;font-weight:bold}.overdue{color:#b42318;font-weight:bold}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#444}
</style></head><body>
<h1>Deployment monitoring: {{.Plan.DeploymentID}}</h1>
<p>Project {{.Plan.ProjectID}} · {{.Plan.Window.Every}} windows ({{.Loc}}) · {{.Windows}} windows shown · owners: {{range $i, $o := .Plan.Owners}}{{if $i}}, {{end}}{{$o}}{{end}} · page made {{when .Now .Loc}}</p>
<h2>QC-DEP-1</h2>
{{with .Status}}<p>{{if .Pass}}<span class="pass">Passes</span>{{else}}<span class="fail">Fails</span>{{end}}:
{{.Rules}} alert rules, {{.Owners}} owners, recent events: {{if .RecentEvents}}yes{{else}}no{{end}}, checked to {{whenp .CheckedTo $.Loc}}, next check due {{when .NextDue $.Loc}}.</p>
{{if .Failures}}<ul>{{range .Failures}}<li class="fail">{{.}}</li>{{end}}</ul>{{end}}
{{if .Notes}}<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Notices}}<h2>Notices</h2><table><tr><th>since</th><th>kind</th><th>id</th><th>what to do</th></tr>
{{range .Notices}}<tr><td>{{when .Since $.Loc}}</td><td class="overdue">{{.Kind}}</td><td>{{.ID}}</td><td>{{.Detail}}</td></tr>{{end}}</table>{{end}}{{end}}
<h2>Suspension cases</h2>
{{if .Cases}}<table><tr><th>case</th><th>stop-rule</th><th>site</th><th>opened</th><th>decide by</th><th>state</th><th>decision</th></tr>
{{range .Cases}}<tr><td>{{.ID}}</td><td>{{.StopRuleID}} ({{.Action}})</td><td>{{.Site}}</td><td>{{when .OpenedAt $.Loc}}</td><td>{{when .DueAt $.Loc}}</td>
<td>{{if .Overdue}}<span class="overdue">overdue</span>{{else}}{{.State}}{{end}}</td><td>{{if .Decision}}{{.Decision}} by {{.DecidedBy}}: {{.Reason}}{{end}}</td></tr>{{end}}</table>
{{else}}<p>No case.</p>{{end}}
<h2>Alerts</h2>
{{if .Sites}}<table><tr><th>site</th><th>alerts</th><th>active</th><th>waiting for triage</th></tr>
{{range .Sites}}<tr><td>{{if .Site}}{{.Site}}{{else}}all sites{{end}}</td><td>{{.Overall}}</td><td>{{.Active}}</td><td>{{.Untriaged}}</td></tr>{{end}}</table>{{end}}
{{if .Alerts}}<table><tr><th>raised</th><th>rule</th><th>site</th><th>severity</th><th>state</th><th>triage</th><th>message</th></tr>
{{range .Alerts}}<tr><td>{{when .RaisedAt $.Loc}}</td><td>{{.RuleID}}</td><td>{{.Site}}</td><td>{{.Severity}}</td><td>{{.State}}</td>
<td>{{if .Triage}}{{.Triage}} ({{.TriagedBy}}): {{.TriageReason}}{{else if .AckBy}}acknowledged by {{.AckBy}}{{else}}waiting{{end}}</td><td>{{.Message}}</td></tr>{{end}}</table>
{{else}}<p>No alert.</p>{{end}}
<h2>Checks over time</h2>
{{range .Charts}}<figure>{{.SVG}}
<figcaption>Rule {{.Rule.ID}}: {{.Rule.Metric}}{{if .Rule.Field}} of {{.Rule.Field}}{{end}}{{if .Rule.Scope}} ({{.Rule.Scope}}){{end}}, threshold {{.Rule.Threshold}}{{if .Rule.UseCI}} on the confidence bound{{end}}, minimum n {{.Rule.MinN}}, raise after {{.Rule.RaiseAfter}} / clear after {{.Rule.ClearAfter}} windows{{if .Delayed}}, judged {{$.Plan.LabelDelay}} after the window closes (label delay){{end}}.</figcaption>
{{if .Table}}<table><tr><th>latest window</th><th>key</th><th>value</th><th>n</th><th>judgement</th></tr>{{range .Table}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>{{end}}
</figure>{{end}}
</body></html>
`))
