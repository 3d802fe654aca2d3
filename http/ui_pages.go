package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// The UI's pages and forms. Each reads and writes through uiCall, i.e.
// through the API handler it mirrors: the same access decision, the same
// audit entry, the same stage rules. A section the user may not see, or
// the server does not offer, says so in place of its content.

// uiList is one section of a page: the items the API returned, or why
// there are none to show.
type uiList[T any] struct {
	Items []T
	Total int
	Err   string // "" when the API answered
}

// uiSection calls a list endpoint for a page section.
func uiSection[T any](s *Server, ctx context.Context, u *uiRequest, target string) uiList[T] {
	var out list[T]
	if err := s.uiGet(ctx, u, target, &out); err != nil {
		return uiList[T]{Err: s.uiSectionErr(ctx, err)}
	}
	return uiList[T]{Items: out.Items, Total: out.Total}
}

// uiOne reads one resource for a page section: the value, or what the
// section shows instead.
func uiOne[T any](s *Server, ctx context.Context, u *uiRequest, target string) (*T, string) {
	var v T
	if err := s.uiGet(ctx, u, target, &v); err != nil {
		return nil, s.uiSectionErr(ctx, err)
	}
	return &v, ""
}

// uiSectionErr is what a section shows instead of its content; an
// internal error is logged and shown by request id only.
func (s *Server) uiSectionErr(ctx context.Context, err error) string {
	if uiErrorCode(err) == ethos.EINTERNAL {
		s.Logger.Error("ui section failed", "err", err.Error(), "request_id", requestID(ctx))
		return "internal error (request " + requestID(ctx) + ")"
	}
	return uiErrorText(err)
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}

func pe(s string) string { return url.PathEscape(s) }

// Home

type uiProjectRow struct {
	Project         *ethos.Project
	OpenObligations string // a count, or why it is not known
	ActiveAlerts    string
}

func (s *Server) uiHome(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	prjs := uiSection[*ethos.Project](s, ctx, u, "/api/v1/projects?"+q("limit", "1000"))
	rows := make([]uiProjectRow, 0, len(prjs.Items))
	for _, p := range prjs.Items {
		row := uiProjectRow{Project: p}
		obs := uiSection[*ethos.Obligation](s, ctx, u, "/api/v1/obligations?"+q("project", p.ID, "status", "open", "limit", "1"))
		row.OpenObligations = countOrWhy(obs.Total, obs.Err)
		row.ActiveAlerts = s.uiAlertCount(ctx, u, p.ID)
		rows = append(rows, row)
	}
	return s.uiRender(w, r, u, http.StatusOK, "home", "Projects", map[string]any{"Rows": rows, "Err": prjs.Err, "Total": prjs.Total})
}

func countOrWhy(n int, why string) string {
	if why != "" {
		return "not shown: " + why
	}
	return itoa(n)
}

// uiAlertCount sums the active alerts of a project's deployments.
func (s *Server) uiAlertCount(ctx context.Context, u *uiRequest, project string) string {
	deps := uiSection[*ethos.Deployment](s, ctx, u, "/api/v1/deployments?"+q("project_id", project, "limit", "1000"))
	if deps.Err != "" {
		return "not shown: " + deps.Err
	}
	n := 0
	for _, d := range deps.Items {
		al := uiSection[*ethos.Alert](s, ctx, u, "/api/v1/deployments/"+pe(d.ID)+"/monitoring/alerts?"+q("state", "active", "limit", "1"))
		if al.Err != "" {
			return "not shown: " + al.Err
		}
		n += al.Total
	}
	return itoa(n)
}

// Project

type uiChecks struct {
	Checks *ethos.ProjectChecks
	Err    string
}

func (s *Server) uiProject(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	id := r.PathValue("id")
	var prj ethos.Project
	if err := s.uiGet(ctx, u, "/api/v1/projects/"+pe(id), &prj); err != nil {
		return err
	}
	// The API says whether this server answers the checks.
	checks := uiChecks{}
	var pc ethos.ProjectChecks
	switch err := s.uiGet(ctx, u, "/api/v1/projects/"+pe(id)+"/checks", &pc); {
	case err == nil:
		checks.Checks = &pc
	case ethos.ErrorCode(err) == ethos.ENOTIMPLEMENTED:
		checks.Err = "not available on this server"
	default:
		checks.Err = s.uiSectionErr(ctx, err)
	}
	base := "/api/v1/projects/" + pe(id)
	data := map[string]any{
		"Project":    &prj,
		"Checks":     checks,
		"Processing": uiSection[*ethos.ProcessingRun](s, ctx, u, base+"/processing-runs?limit=100"),
		"Datasets":   uiSection[*ethos.DatasetVersion](s, ctx, u, base+"/dataset-versions?limit=100"),
		"Training":   uiSection[*ethos.TrainingRun](s, ctx, u, base+"/training/runs?limit=100"),
	}
	return s.uiRender(w, r, u, http.StatusOK, "project", prj.Name, data)
}

// uiSignOffRun signs off a training run as the signed-in reviewer.
func (s *Server) uiSignOffRun(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	project, run := r.PathValue("id"), r.PathValue("run")
	in := signOffIn{Decision: ethos.SignOffDecision(r.PostForm.Get("decision")), Note: r.PostForm.Get("note")}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/projects/"+pe(project)+"/training/runs/"+pe(run)+"/signoff", in)
	return s.uiDone(w, r, "/ui/projects/"+pe(project)+"#training", err, "Training run "+run+": "+string(in.Decision)+".")
}

// Obligations

func (s *Server) uiObligations(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	// Without a project: every project's obligations and those lineage
	// ties to none, which the API shows to the audit roles only.
	id := r.PathValue("id")
	var prj *ethos.Project
	title := "Obligations — all projects"
	if id != "" {
		prj = new(ethos.Project)
		if err := s.uiGet(ctx, u, "/api/v1/projects/"+pe(id), prj); err != nil {
			return err
		}
		title = "Obligations — " + prj.Name
	}
	status := r.URL.Query().Get("status")
	if status != "resolved" && status != "all" {
		status = "open"
	}
	st := status
	if st == "all" {
		st = ""
	}
	obs := uiSection[*ethos.Obligation](s, ctx, u, "/api/v1/obligations?"+q("project", id, "status", st, "limit", "1000"))
	return s.uiRender(w, r, u, http.StatusOK, "obligations", title, map[string]any{"Project": prj, "Obligations": obs, "Status": status})
}

func (s *Server) uiResolveObligation(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("id")
	back := "/ui/obligations"
	if p := r.PostForm.Get("project"); ethos.ValidID(p) {
		back = "/ui/projects/" + pe(p) + "/obligations"
	}
	in := resolveIn{Action: ethos.ObligationAction(r.PostForm.Get("action")), Reference: strings.TrimSpace(r.PostForm.Get("reference")), Note: strings.TrimSpace(r.PostForm.Get("note"))}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/obligations/"+pe(id)+"/resolve", in)
	return s.uiDone(w, r, back, err, "Obligation "+id+" resolved ("+string(in.Action)+").")
}

// Evaluation

type uiEvalRun struct {
	Run    *ethos.EvaluationRun
	Status *ethos.EvaluationStatus
	Err    string
}

type uiEvalPlan struct {
	Plan *ethos.EvaluationPlan
	Runs []uiEvalRun
	Err  string
}

func (s *Server) uiEvaluations(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	id := r.PathValue("id")
	var prj ethos.Project
	if err := s.uiGet(ctx, u, "/api/v1/projects/"+pe(id), &prj); err != nil {
		return err
	}
	plans := uiSection[*ethos.EvaluationPlan](s, ctx, u, "/api/v1/evaluation/plans?"+q("project_id", id, "limit", "1000"))
	var out []uiEvalPlan
	for _, pl := range plans.Items {
		ep := uiEvalPlan{Plan: pl}
		runs := uiSection[*ethos.EvaluationRun](s, ctx, u, "/api/v1/evaluation/plans/"+pe(pl.ID)+"/runs?limit=20")
		ep.Err = runs.Err
		for _, run := range runs.Items {
			er := uiEvalRun{Run: run}
			er.Status, er.Err = uiOne[ethos.EvaluationStatus](s, ctx, u, "/api/v1/evaluation/runs/"+pe(run.ID)+"/status")
			ep.Runs = append(ep.Runs, er)
		}
		out = append(out, ep)
	}
	return s.uiRender(w, r, u, http.StatusOK, "evaluations", "Evaluation — "+prj.Name, map[string]any{"Project": &prj, "Plans": out, "Err": plans.Err})
}

// uiPassThrough serves an HTML document an API endpoint renders (a
// report, a model card) as it is; the page carries no script, and the
// policy here forbids any.
func (s *Server) uiPassThrough(w http.ResponseWriter, r *http.Request, u *uiRequest, target string, allowed ...string) error {
	rec, err := s.uiCall(r.Context(), u, "GET", target, nil)
	if err != nil {
		return err
	}
	ct := rec.header.Get("Content-Type")
	if !slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(ct, p) }) {
		return ethos.Errorf(ethos.EINTERNAL, "%s answered %q", target, ct)
	}
	uiHeaders(w, "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(rec.body.Bytes())
	return nil
}

func (s *Server) uiEvaluationReport(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	format := ethos.EvaluationReportHTML
	if r.URL.Query().Get("format") == "plain" {
		format = "plain"
	}
	return s.uiPassThrough(w, r, u, "/api/v1/evaluation/runs/"+pe(r.PathValue("id"))+"/report?"+q("format", format), "text/html")
}

func (s *Server) uiModelCard(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	return s.uiPassThrough(w, r, u, "/api/v1/evaluation/runs/"+pe(r.PathValue("id"))+"/model-card?format=html", "text/html")
}

func (s *Server) uiEvaluationSignoff(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("id")
	back := uiBackToEvaluations(r)
	in := signoffIn{Kind: ethos.SignoffKind(r.PostForm.Get("kind")), Decision: r.PostForm.Get("decision"),
		Reason: strings.TrimSpace(r.PostForm.Get("reason")), Reference: strings.TrimSpace(r.PostForm.Get("reference"))}
	if ws := strings.FieldsFunc(r.PostForm.Get("waives"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' }); len(ws) > 0 {
		in.Waives = ws
	}
	if in.Kind == ethos.SignoffAcknowledgement && in.Decision == "" {
		in.Decision = ethos.DecisionAcknowledged
	}
	if in.Kind == ethos.SignoffWaiver && in.Decision == "" {
		in.Decision = ethos.DecisionWaived
	}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/evaluation/runs/"+pe(id)+"/signoffs", in)
	return s.uiDone(w, r, back, err, "Attempt "+id+": "+string(in.Kind)+" recorded ("+in.Decision+").")
}

// uiBackToEvaluations is where an evaluation form returns: the
// evaluation page of the project the form names (checked), else the home
// page.
func uiBackToEvaluations(r *http.Request) string {
	if p := r.PostForm.Get("project"); ethos.ValidID(p) {
		return "/ui/projects/" + pe(p) + "/evaluations"
	}
	return "/ui/"
}

// uiRegisterPlan pre-registers an evaluation plan (QC-EVA-2) from the
// form through the API's registration endpoint; the form's text fields
// are parsed here only as far as their types go, every rule is the API's.
func (s *Server) uiRegisterPlan(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("id")
	back := "/ui/projects/" + pe(id) + "/evaluations"
	f := r.PostForm
	in := evaluationPlanIn{ProjectID: id, ModelVersionID: strings.TrimSpace(f.Get("model_version_id")),
		DatasetVersionID: strings.TrimSpace(f.Get("dataset_version_id")), Title: strings.TrimSpace(f.Get("title")),
		IntendedUse: strings.TrimSpace(f.Get("intended_use")), LabelColumn: strings.TrimSpace(f.Get("label_column")),
		ScoreColumn: strings.TrimSpace(f.Get("score_column")), PatientColumn: strings.TrimSpace(f.Get("patient_column")),
		Intersect: f.Get("intersect") != ""}
	in.Attributes = commaList(f.Get("attributes"))
	var bad []string
	num := func(field string, parse func(string) error) {
		if v := strings.TrimSpace(f.Get(field)); v != "" {
			if err := parse(v); err != nil {
				bad = append(bad, field)
			}
		}
	}
	num("threshold", func(v string) (err error) { in.Threshold, err = strconv.ParseFloat(v, 64); return })
	num("prevalence", func(v string) (err error) { in.Prevalence, err = strconv.ParseFloat(v, 64); return })
	num("min_group_size", func(v string) (err error) { in.MinGroupSize, err = strconv.Atoi(v); return })
	num("min_class_count", func(v string) (err error) { in.MinClassCount, err = strconv.Atoi(v); return })
	num("bootstrap", func(v string) (err error) { in.Bootstrap, err = strconv.Atoi(v); return })
	num("seed", func(v string) (err error) { in.Seed, err = strconv.ParseUint(v, 10, 64); return })
	if len(bad) > 0 {
		return s.uiDone(w, r, back, ethos.Errorf(ethos.EINVALID, "not a number: %s", strings.Join(bad, ", ")), "")
	}
	criteria := strings.TrimSpace(f.Get("criteria"))
	if !json.Valid([]byte(criteria)) {
		return s.uiDone(w, r, back, ethos.Errorf(ethos.EINVALID, "criteria: not valid JSON (a JSON array of criteria as for 'ethos eval --criteria')"), "")
	}
	in.Criteria = jsonValue(criteria)
	if gl := strings.TrimSpace(f.Get("group_labels")); gl != "" {
		if err := json.Unmarshal([]byte(gl), &in.GroupLabels); err != nil {
			return s.uiDone(w, r, back, ethos.Errorf(ethos.EINVALID, `group labels: not a JSON object of group to words (e.g. {"sex=F": "women"})`), "")
		}
	}
	rec, err := s.uiCall(r.Context(), u, "POST", "/api/v1/evaluation/plans", in)
	if err != nil {
		return s.uiDone(w, r, back, err, "")
	}
	var plan ethos.EvaluationPlan
	if err := json.Unmarshal(rec.body.Bytes(), &plan); err != nil {
		return fmt.Errorf("decode registration reply: %w", err)
	}
	return s.uiDone(w, r, back, nil, fmt.Sprintf("Plan %s pre-registered (audit event %d, digest %s).", plan.ID, plan.AuditIndex, plan.Digest))
}

// uiUploadPredictions sends the uploaded predictions file (CSV, or gzip
// by its magic bytes) to the plan's upload endpoint, which evaluates,
// judges and stores it as a new attempt.
func (s *Server) uiUploadPredictions(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("id")
	back := uiBackToEvaluations(r)
	if r.MultipartForm == nil || len(r.MultipartForm.File["predictions"]) != 1 {
		return s.uiDone(w, r, back, ethos.Errorf(ethos.EINVALID, "choose one predictions file (CSV or gzip) to upload"), "")
	}
	f, err := r.MultipartForm.File["predictions"][0].Open()
	if err != nil {
		return err
	}
	defer f.Close()
	// The file is sent as the form holds it (no second copy of up to
	// MaxPredictionsBytes); the evaluation service tells gzip from CSV by
	// its first bytes.
	rec, err := s.uiCallRaw(r.Context(), u, "POST", "/api/v1/evaluation/plans/"+pe(id)+"/predictions", "application/octet-stream", f)
	if err != nil {
		return s.uiDone(w, r, back, err, "")
	}
	var run ethos.EvaluationRun
	if err := json.Unmarshal(rec.body.Bytes(), &run); err != nil {
		return fmt.Errorf("decode upload reply: %w", err)
	}
	return s.uiDone(w, r, back, nil, fmt.Sprintf("Plan %s: attempt #%d (%s) evaluated on %d rows: %s.", id, run.Attempt, run.ID, run.Rows, run.Outcome))
}

// Deployment

type uiDeploymentRow struct {
	Deployment *ethos.Deployment
	Status     *ethos.MonitorStatus
	Err        string
}

func (s *Server) uiDeployments(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	id := r.PathValue("id")
	var prj ethos.Project
	if err := s.uiGet(ctx, u, "/api/v1/projects/"+pe(id), &prj); err != nil {
		return err
	}
	deps := uiSection[*ethos.Deployment](s, ctx, u, "/api/v1/deployments?"+q("project_id", id, "limit", "1000"))
	rows := make([]uiDeploymentRow, 0, len(deps.Items))
	for _, d := range deps.Items {
		row := uiDeploymentRow{Deployment: d}
		row.Status, row.Err = uiOne[ethos.MonitorStatus](s, ctx, u, "/api/v1/deployments/"+pe(d.ID)+"/monitoring/status")
		rows = append(rows, row)
	}
	return s.uiRender(w, r, u, http.StatusOK, "deployments", "Deployments — "+prj.Name, map[string]any{"Project": &prj, "Rows": rows, "Err": deps.Err})
}

// uiDeployment is one deployment: what the registry knows (when it has
// it), monitoring status, alerts with their forms, stop-rule cases with
// theirs, and the monitoring report.
func (s *Server) uiDeployment(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	ctx := r.Context()
	id := r.PathValue("id")
	data := map[string]any{"ID": id}
	var dep deploymentOut
	if err := s.uiGet(ctx, u, "/api/v1/deployments/"+pe(id), &dep); err != nil {
		data["DeploymentErr"] = s.uiSectionErr(ctx, err)
	} else {
		data["Deployment"] = &dep
	}
	var st ethos.MonitorStatus
	if err := s.uiGet(ctx, u, "/api/v1/deployments/"+pe(id)+"/monitoring/status", &st); err != nil {
		data["StatusErr"] = s.uiSectionErr(ctx, err)
	} else {
		data["Status"] = &st
	}
	if dep.Deployment != nil {
		data["Changes"] = uiSection[*ethos.DeploymentChange](s, ctx, u, "/api/v1/deployments/"+pe(id)+"/changes")
		var co complianceOut
		if err := s.uiGet(ctx, u, "/api/v1/deployments/"+pe(id)+"/compliance", &co); err != nil {
			data["ComplianceErr"] = s.uiSectionErr(ctx, err)
		} else {
			data["Compliance"] = &co
		}
	}
	data["Roles"] = u.p.User.Roles
	alertState := r.URL.Query().Get("alerts")
	if alertState != "cleared" && alertState != "all" {
		alertState = "active"
	}
	as := alertState
	if as == "all" {
		as = ""
	}
	data["AlertState"] = alertState
	data["Alerts"] = uiSection[*ethos.Alert](s, ctx, u, "/api/v1/deployments/"+pe(id)+"/monitoring/alerts?"+q("state", as, "limit", "200"))
	data["Cases"] = uiSection[caseOut](s, ctx, u, "/api/v1/deployments/"+pe(id)+"/monitoring/cases?limit=200")
	return s.uiRender(w, r, u, http.StatusOK, "deployment", "Deployment "+id, data)
}

func (s *Server) uiMonitoringReport(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	qs := r.URL.Query()
	return s.uiPassThrough(w, r, u, "/api/v1/deployments/"+pe(r.PathValue("id"))+"/monitoring/report?"+q("from", qs.Get("from"), "to", qs.Get("to")), "text/html")
}

// uiBackToDeployment is where a monitoring form returns: the deployment
// page named by the form (checked), else the home page.
func uiBackToDeployment(r *http.Request) string {
	if d := r.PostForm.Get("deployment"); ethos.ValidID(d) {
		return "/ui/deployments/" + pe(d)
	}
	return "/ui/"
}

func (s *Server) uiAckAlert(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("alert")
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/monitoring/alerts/"+pe(id)+"/ack", nil)
	return s.uiDone(w, r, uiBackToDeployment(r), err, "Alert "+id+" acknowledged.")
}

func (s *Server) uiTriageAlert(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("alert")
	in := triageIn{Decision: r.PostForm.Get("decision"), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/monitoring/alerts/"+pe(id)+"/triage", in)
	return s.uiDone(w, r, uiBackToDeployment(r), err, "Alert "+id+" triaged: "+in.Decision+".")
}

func (s *Server) uiDecideCase(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id := r.PathValue("case")
	in := decisionIn{Decision: r.PostForm.Get("decision"), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/monitoring/cases/"+pe(id)+"/decision", in)
	return s.uiDone(w, r, uiBackToDeployment(r), err, "Case "+id+" decided: "+in.Decision+".")
}

// uiAckChange acknowledges a deployment change in one of the user's roles.
func (s *Server) uiAckChange(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	id, seq := r.PathValue("id"), r.PathValue("seq")
	in := ackIn{Role: ethos.Role(r.PostForm.Get("role"))}
	_, err := s.uiCall(r.Context(), u, "POST", "/api/v1/deployments/"+pe(id)+"/changes/"+pe(seq)+"/ack", in)
	return s.uiDone(w, r, "/ui/deployments/"+pe(id)+"#changes", err, "Change "+seq+" acknowledged as "+string(in.Role)+".")
}
