package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
)

// The evaluation stage's endpoints (docs/evaluation.md). Every request is
// decided by the access policy on the evaluation row of the matrix, for
// the purpose ai-evaluation, on the project that owns the plan: reads use
// the aggregate view (an evaluation holds no patient-level data), uploads
// are writes, and ethics reviews and waivers are approvals. The stage
// service audits each state change itself (plans, attempts, sign-offs),
// keeping the audit index as evidence; the policy decision is audited
// here, as everywhere.

// MaxPredictionsBytes bounds a predictions upload (CSV or gzip) unless
// Server.MaxPredictionsBytes says otherwise.
const MaxPredictionsBytes = 1 << 30

// UploadTimeout is how long a predictions upload may take to arrive and be
// evaluated.
const UploadTimeout = 30 * time.Minute

// extendForUpload gives the request of w UploadTimeout to arrive and be
// answered: a large file takes longer to send and to evaluate (with its
// bootstrap) than the server's default timeouts allow other requests. A
// failure is logged and the request goes on under the old deadlines.
func (s *Server) extendForUpload(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	at := time.Now().Add(UploadTimeout)
	if err := errors.Join(rc.SetReadDeadline(at), rc.SetWriteDeadline(at)); err != nil {
		s.Logger.Warn("cannot extend the deadlines of an upload", "route", r.Pattern, "err", err.Error(), "request_id", requestID(r.Context()))
	}
}

func (s *Server) maxPredictions() int64 {
	if s.MaxPredictionsBytes > 0 {
		return s.MaxPredictionsBytes
	}
	return MaxPredictionsBytes
}

// Unwrap lets http.ResponseController reach the connection under the
// status recorder (to extend an upload's deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// overLimit remembers that the body went over http.MaxBytesReader's limit,
// whatever the reader above it made of the error.
type overLimit struct {
	r   io.Reader
	hit bool
}

func (o *overLimit) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		o.hit = true
	}
	return n, err
}

// RecordIndexed appends e and returns its index in the log: the
// evaluation stage keeps it as the evidence of pre-registration.
func (a LogAuditor) RecordIndexed(ctx context.Context, e ethos.AuditEvent) (int64, error) {
	return a.Log.Append(ctx, audit.Event{Time: e.Time, Actor: e.Actor, Party: e.Party, Action: e.Action, Resource: e.Resource,
		Stage: string(e.Stage), Purpose: string(e.Purpose), Decision: e.Decision, Reason: e.Reason, RequestID: e.RequestID})
}

var _ ethos.IndexedAuditor = LogAuditor{}

type (
	evaluationPlanIn struct {
		ProjectID        string            `json:"project_id"`
		ModelVersionID   string            `json:"model_version_id"`
		DatasetVersionID string            `json:"dataset_version_id"`
		Title            string            `json:"title"`
		IntendedUse      string            `json:"intended_use"`
		LabelColumn      string            `json:"label_column"`
		ScoreColumn      string            `json:"score_column"`
		PatientColumn    string            `json:"patient_column"`
		Attributes       []string          `json:"attributes"`
		Intersect        bool              `json:"intersect"`
		GroupLabels      map[string]string `json:"group_labels"`
		Threshold        float64           `json:"threshold"`
		Prevalence       float64           `json:"prevalence"`
		MinGroupSize     int               `json:"min_group_size"`
		MinClassCount    int               `json:"min_class_count"`
		Bootstrap        int               `json:"bootstrap"`
		Seed             uint64            `json:"seed"`
		Criteria         jsonValue         `json:"criteria"`
	}
	signoffIn struct {
		Kind      ethos.SignoffKind `json:"kind"`
		Decision  string            `json:"decision"`
		Reason    string            `json:"reason"`
		Waives    []string          `json:"waives"`
		Reference string            `json:"reference"`
	}
	approvedOut struct {
		ModelVersionID string `json:"model_version_id"`
		EvaluationID   string `json:"evaluation_id"`
	}
)

func evaluationActor(ctx context.Context, p *principal) ethos.EvaluationActor {
	return ethos.EvaluationActor{UserID: p.User.ID, PartyID: p.Party.ID, Roles: p.User.Roles, RequestID: requestID(ctx)}
}

func (s *Server) evaluationEnabled() error {
	if s.Evaluations == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "the evaluation stage is not configured on this server")
	}
	return nil
}

// decideEvaluation asks the policy about an action on the evaluation stage
// of project, and audits the decision.
func (s *Server) decideEvaluation(r *http.Request, p *principal, projectID string, action ethos.Action, resource string) error {
	return s.decideOnProject(r.Context(), p, projectID, ethos.AccessRequest{Stage: ethos.StageEvaluation, Action: action,
		Purpose: ethos.PurposeAIEvaluation, View: aggregateRead(action)}, resource)
}

func (s *Server) handleRegisterEvaluationPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.evaluationEnabled(); err != nil {
		return err
	}
	var in evaluationPlanIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	plan := &ethos.EvaluationPlan{ProjectID: in.ProjectID, ModelVersionID: in.ModelVersionID, DatasetVersionID: in.DatasetVersionID,
		Title: in.Title, IntendedUse: in.IntendedUse, LabelColumn: in.LabelColumn, ScoreColumn: in.ScoreColumn, PatientColumn: in.PatientColumn,
		Attributes: in.Attributes, Intersect: in.Intersect, GroupLabels: in.GroupLabels, Threshold: in.Threshold, Prevalence: in.Prevalence,
		MinGroupSize: in.MinGroupSize, MinClassCount: in.MinClassCount, Bootstrap: in.Bootstrap, Seed: in.Seed, Criteria: in.Criteria}
	if !ethos.ValidID(plan.ProjectID) {
		return &fieldError{code: ethos.EINVALID, field: "project_id", msg: "project_id: required"}
	}
	if err := s.decideEvaluation(r, p, plan.ProjectID, ethos.ActionWrite, "project/"+plan.ProjectID+"/evaluation/plans"); err != nil {
		return err
	}
	if err := s.Evaluations.RegisterPlan(r.Context(), evaluationActor(r.Context(), p), plan); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, plan)
	return nil
}

func (s *Server) handleListEvaluationPlans(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.evaluationEnabled(); err != nil {
		return err
	}
	q := r.URL.Query()
	projectID := q.Get("project_id")
	if !ethos.ValidID(projectID) {
		return &fieldError{code: ethos.EINVALID, field: "project_id", msg: "query parameter project_id: required"}
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.decideEvaluation(r, p, projectID, ethos.ActionRead, "project/"+projectID+"/evaluation/plans"); err != nil {
		return err
	}
	f := ethos.EvaluationPlanFilter{ProjectID: &projectID, Offset: off, Limit: lim}
	if mv := q.Get("model_version_id"); mv != "" {
		f.ModelVersionID = &mv
	}
	return replyList[*ethos.EvaluationPlan](w)(s.Evaluations.FindEvaluationPlans(r.Context(), f))
}

// plan loads the plan of the path and decides action on its project.
func (s *Server) evaluationPlanOf(r *http.Request, p *principal, action ethos.Action) (*ethos.EvaluationPlan, error) {
	if err := s.evaluationEnabled(); err != nil {
		return nil, err
	}
	plan, err := s.Evaluations.FindEvaluationPlanByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return plan, s.decideEvaluation(r, p, plan.ProjectID, action, "evaluation-plan/"+plan.ID)
}

// run loads the attempt of the path and decides action on its project.
func (s *Server) evaluationRunOf(r *http.Request, p *principal, action ethos.Action) (*ethos.EvaluationRun, error) {
	if err := s.evaluationEnabled(); err != nil {
		return nil, err
	}
	run, err := s.Evaluations.FindEvaluationRunByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return run, s.decideEvaluation(r, p, run.ProjectID, action, "evaluation-run/"+run.ID)
}

func (s *Server) handleGetEvaluationPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	return replyOK(w)(s.evaluationPlanOf(r, p, ethos.ActionRead))
}

func (s *Server) handleUploadEvaluationPredictions(w http.ResponseWriter, r *http.Request, p *principal) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "text/csv" && mt != "application/gzip" && mt != "application/octet-stream") {
			return &fieldError{code: ethos.EINVALID, msg: "Content-Type must be text/csv or application/gzip"}
		}
	}
	plan, err := s.evaluationPlanOf(r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	s.extendForUpload(w, r)
	body := &overLimit{r: http.MaxBytesReader(w, r.Body, s.maxPredictions())}
	run, err := s.Evaluations.UploadPredictions(r.Context(), evaluationActor(r.Context(), p), plan.ID, body)
	if err != nil {
		if body.hit {
			return &fieldError{code: codeTooLarge, msg: fmt.Sprintf("predictions larger than %d bytes", s.maxPredictions())}
		}
		return err
	}
	run.Result = nil // GET /api/v1/evaluation/runs/{id} has it
	writeJSON(w, http.StatusCreated, run)
	return nil
}

func (s *Server) handleListEvaluationRuns(w http.ResponseWriter, r *http.Request, p *principal) error {
	plan, err := s.evaluationPlanOf(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	return replyList[*ethos.EvaluationRun](w)(s.Evaluations.FindEvaluationRuns(r.Context(), ethos.EvaluationRunFilter{PlanID: &plan.ID, Offset: off, Limit: lim}))
}

func (s *Server) handleGetEvaluationRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	return replyOK(w)(s.evaluationRunOf(r, p, ethos.ActionRead))
}

func (s *Server) handleEvaluationStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	run, err := s.evaluationRunOf(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Evaluations.Status(r.Context(), run.ID))
}

func writeEvaluationRaw(w http.ResponseWriter, b []byte, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(contentType, "text/html") {
		// The pages are self-contained: inline styles and SVG, no script,
		// nothing from the network.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) handleEvaluationReport(w http.ResponseWriter, r *http.Request, p *principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		// Without ?format, the Accept header chooses: JSON for API
		// clients that ask for it, the HTML report otherwise.
		format = ethos.EvaluationReportHTML
		if a := r.Header.Get("Accept"); strings.Contains(a, "application/json") && !strings.Contains(a, "text/html") {
			format = ethos.EvaluationReportJSON
		}
	}
	run, err := s.evaluationRunOf(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	b, ct, err := s.Evaluations.Report(r.Context(), run.ID, format)
	if err != nil {
		return err
	}
	writeEvaluationRaw(w, b, ct)
	return nil
}

func (s *Server) handleEvaluationModelCard(w http.ResponseWriter, r *http.Request, p *principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = ethos.ModelCardJSON
	}
	run, err := s.evaluationRunOf(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	b, ct, err := s.Evaluations.ModelCard(r.Context(), run.ID, format)
	if err != nil {
		return err
	}
	writeEvaluationRaw(w, b, ct)
	return nil
}

func (s *Server) handleEvaluationSignoff(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in signoffIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	// An acknowledgement is a reader's statement about the plain-language
	// report; an ethics review or a waiver is an approval.
	action := ethos.ActionApprove
	if in.Kind == ethos.SignoffAcknowledgement {
		action = ethos.ActionRead
	}
	run, err := s.evaluationRunOf(r, p, action)
	if err != nil {
		return err
	}
	st, err := s.Evaluations.SignOff(r.Context(), evaluationActor(r.Context(), p), run.ID, &ethos.EvaluationSignoff{
		Kind: in.Kind, Decision: in.Decision, Reason: in.Reason, Waives: in.Waives, Reference: in.Reference})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, st)
	return nil
}

func (s *Server) handleApprovedEvaluation(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.evaluationEnabled(); err != nil {
		return err
	}
	mv := r.URL.Query().Get("model_version_id")
	if !ethos.ValidID(mv) {
		return &fieldError{code: ethos.EINVALID, field: "model_version_id", msg: "query parameter model_version_id: required"}
	}
	plans, _, err := s.Evaluations.FindEvaluationPlans(r.Context(), ethos.EvaluationPlanFilter{ModelVersionID: &mv, Limit: 1000})
	if err != nil {
		return err
	}
	// Reading the answer is reading every project that evaluated the
	// model version.
	seen := map[string]bool{}
	for _, pl := range plans {
		if !seen[pl.ProjectID] {
			seen[pl.ProjectID] = true
			if err := s.decideEvaluation(r, p, pl.ProjectID, ethos.ActionRead, "model-version/"+mv+"/evaluation"); err != nil {
				return err
			}
		}
	}
	id, err := s.Evaluations.ApprovedEvaluation(r.Context(), mv)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvedOut{ModelVersionID: mv, EvaluationID: id})
	return nil
}

// evaluationRoutes are the evaluation stage's endpoints.
func (s *Server) evaluationRoutes(auth authFunc) []route {
	return []route{
		{Method: "POST", Path: "/api/v1/evaluation/plans", Summary: "Pre-register an evaluation plan (QC-EVA-2): audited, then immutable.", Body: evaluationPlanIn{}, Reply: ethos.EvaluationPlan{}, Status: 201, handle: auth(s.handleRegisterEvaluationPlan)},
		{Method: "GET", Path: "/api/v1/evaluation/plans", Summary: "List a project's evaluation plans.",
			Query: append([]param{{"project_id", "string", "the project", true}, {"model_version_id", "string", "only plans for this model version", false}}, pageQuery...),
			Reply: list[*ethos.EvaluationPlan]{}, Status: 200, handle: auth(s.handleListEvaluationPlans)},
		{Method: "GET", Path: "/api/v1/evaluation/plans/{id}", Summary: "Get an evaluation plan.", Reply: ethos.EvaluationPlan{}, Status: 200, handle: auth(s.handleGetEvaluationPlan)},
		{Method: "POST", Path: "/api/v1/evaluation/plans/{id}/predictions", Summary: "Upload predictions (text/csv or application/gzip body, the plan's columns): evaluated, judged and stored as a new attempt.",
			Reply: ethos.EvaluationRun{}, Status: 201, handle: auth(s.handleUploadEvaluationPredictions)},
		{Method: "GET", Path: "/api/v1/evaluation/plans/{id}/runs", Summary: "List a plan's attempts, newest first.", Query: pageQuery, Reply: list[*ethos.EvaluationRun]{}, Status: 200, handle: auth(s.handleListEvaluationRuns)},
		{Method: "GET", Path: "/api/v1/evaluation/runs/{id}", Summary: "Get an attempt with its full result.", Reply: ethos.EvaluationRun{}, Status: 200, handle: auth(s.handleGetEvaluationRun)},
		{Method: "GET", Path: "/api/v1/evaluation/runs/{id}/status", Summary: "Whether the attempt passes the stage, and what blocks it.", Reply: ethos.EvaluationStatus{}, Status: 200, handle: auth(s.handleEvaluationStatus)},
		{Method: "GET", Path: "/api/v1/evaluation/runs/{id}/report", Summary: "The attempt's report: html (full, printable), plain (plain-language page, QC-EVA-1) or json.",
			Query: []param{{"format", "string", "html, plain or json (default: json when Accept asks for application/json only, else html)", false}}, Status: 200, Raw: "text/html", handle: auth(s.handleEvaluationReport)},
		{Method: "GET", Path: "/api/v1/evaluation/runs/{id}/model-card", Summary: "The model card (Model Card Toolkit fields): json, md or html.",
			Query: []param{{"format", "string", "json (default), md or html", false}}, Status: 200, Raw: "application/json", handle: auth(s.handleEvaluationModelCard)},
		{Method: "POST", Path: "/api/v1/evaluation/runs/{id}/signoffs", Summary: "Record an ethics review, a non-technical acknowledgement or a waiver of the latest attempt.", Body: signoffIn{}, Reply: ethos.EvaluationStatus{}, Status: 201, handle: auth(s.handleEvaluationSignoff)},
		{Method: "GET", Path: "/api/v1/evaluation/approved", Summary: "The attempt that passed the evaluation stage for a model version (404 with the reason when none).",
			Query: []param{{"model_version_id", "string", "the model version", true}}, Reply: approvedOut{}, Status: 200, handle: auth(s.handleApprovedEvaluation)},
	}
}
