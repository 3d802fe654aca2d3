package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// The deployment stage's endpoints (issue 7): deployments and their change
// log, the risk register, incidents with deadlines, the compliance
// checklist, and the ingestion of inference events and labels. Every
// endpoint is decided by the access policy on the deployment row of the
// matrix for the deployment's project (purpose ai-deployment-monitoring;
// third parties only under a data-use agreement) and every change is
// audited without patient identifiers (events are counted, never echoed).

// MaxEventBody bounds a batch of events or labels.
const MaxEventBody = 16 << 20

type (
	deploymentIn struct {
		ProjectID         string          `json:"project_id"`
		ModelVersionID    string          `json:"model_version_id"`
		Site              string          `json:"site"`
		IntendedUse       string          `json:"intended_use"`
		Threshold         *float64        `json:"threshold"`
		ResponsibleUserID string          `json:"responsible_user_id"`
		Plan              json.RawMessage `json:"plan"`
	}
	deploymentOut struct {
		*ethos.Deployment
		GoLiveBlockers []string `json:"go_live_blockers"`
	}
	changeOut struct {
		Deployment *ethos.Deployment       `json:"deployment"`
		Change     *ethos.DeploymentChange `json:"change"`
	}
	ackIn struct {
		Role     ethos.Role `json:"role"`
		Revision int        `json:"revision,omitempty"` // risk register acknowledgements
	}
	incidentOut struct {
		*ethos.Incident
		Deadlines []ethos.DeadlineStatus `json:"deadlines"`
		Overdue   int                    `json:"overdue"`
	}
	attestIn struct {
		ItemID string     `json:"item_id"`
		Role   ethos.Role `json:"role"`
		Reason string     `json:"reason"`
		Waiver bool       `json:"waiver"`
	}
	complianceOut struct {
		DeploymentID string                   `json:"deployment_id"`
		At           time.Time                `json:"at"`
		Results      []ethos.ComplianceResult `json:"results"`
		Summary      map[string]int           `json:"summary"`
	}
)

func (s *Server) deploymentsOn() error {
	if s.Deployments == nil || s.Events == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "the deployment stage is not configured on this server")
	}
	return nil
}

func changer(p *principal) ethos.Changer {
	return ethos.Changer{UserID: p.User.ID, Roles: p.User.Roles}
}

// decideProject asks the policy for an action at the deployment stage of
// a project.
func (s *Server) decideProject(r *http.Request, p *principal, projectID string, action ethos.Action, resource string) error {
	return s.decideOnProject(r.Context(), p, projectID, ethos.AccessRequest{Stage: ethos.StageDeployment, Action: action,
		Purpose: ethos.PurposeAIDeploymentMonitoring, View: ethos.ViewFull}, resource)
}

// decideDeployment loads the deployment of the path and asks the policy.
func (s *Server) decideDeployment(r *http.Request, p *principal, action ethos.Action) (*ethos.Deployment, error) {
	if err := s.deploymentsOn(); err != nil {
		return nil, err
	}
	d, err := s.Deployments.FindDeploymentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return d, s.decideProject(r, p, d.ProjectID, action, "deployment/"+d.ID)
}

// decodeForDeployment checks the deployment stage is served, decodes the
// request body as T and decides action on the deployment the path names,
// in that order.
func decodeForDeployment[T any](s *Server, w http.ResponseWriter, r *http.Request, p *principal, action ethos.Action) (*ethos.Deployment, *T, error) {
	if err := s.deploymentsOn(); err != nil {
		return nil, nil, err
	}
	in := new(T)
	if err := s.decodeBody(w, r, in); err != nil {
		return nil, nil, err
	}
	d, err := s.decideDeployment(r, p, action)
	return d, in, err
}

func (s *Server) handleRegisterDeployment(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.deploymentsOn(); err != nil {
		return err
	}
	var in deploymentIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if !ethos.ValidID(in.ProjectID) {
		return &fieldError{code: ethos.EINVALID, field: "project_id", msg: "project_id: required"}
	}
	if in.Threshold == nil {
		return &fieldError{code: ethos.EINVALID, field: "threshold", msg: "threshold: the operating threshold is required"}
	}
	if err := s.decideProject(r, p, in.ProjectID, ethos.ActionWrite, "project/"+in.ProjectID+"/deployment"); err != nil {
		return err
	}
	d := &ethos.Deployment{ProjectID: in.ProjectID, ModelVersionID: in.ModelVersionID, Site: in.Site, IntendedUse: in.IntendedUse,
		Threshold: *in.Threshold, ResponsibleUserID: in.ResponsibleUserID, Plan: in.Plan}
	if err := s.Deployments.RegisterDeployment(r.Context(), d, changer(p)); err != nil {
		if ethos.ErrorCode(err) == ethos.ECONFLICT {
			// A refusal by the evaluation gate is a decision: audit it.
			if aerr := s.Auditor.Record(r.Context(), ethos.AuditEvent{Actor: p.User.ID, Party: p.Party.ID, Action: "deployment.register", Resource: "project/" + in.ProjectID,
				Stage: ethos.StageDeployment, Decision: "deny", Reason: ethos.ErrorMessage(err), RequestID: requestID(r.Context())}); aerr != nil {
				return aerr
			}
		}
		return err
	}
	return s.auditedReply(w, r, p, http.StatusCreated, d, "deployment.register", "deployment/"+d.ID, "model version "+d.ModelVersionID+", evaluation "+d.EvaluationID, ethos.StageDeployment)
}

func (s *Server) handleListDeployments(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.deploymentsOn(); err != nil {
		return err
	}
	project := r.URL.Query().Get("project_id")
	if !ethos.ValidID(project) {
		return &fieldError{code: ethos.EINVALID, field: "project_id", msg: "query parameter project_id is required"}
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.decideProject(r, p, project, ethos.ActionRead, "project/"+project+"/deployment"); err != nil {
		return err
	}
	f := ethos.DeploymentFilter{ProjectID: &project, Offset: off, Limit: lim}
	if st := r.URL.Query().Get("status"); st != "" {
		v := ethos.DeploymentStatus(st)
		f.Status = &v
	}
	return replyList[*ethos.Deployment](w)(s.Deployments.FindDeployments(r.Context(), f))
}

func (s *Server) handleGetDeployment(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.decideDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	out := deploymentOut{Deployment: d, GoLiveBlockers: []string{}}
	if d.Status == ethos.DeploymentRegistered || d.Status == ethos.DeploymentSuspended {
		if out.GoLiveBlockers, err = s.Deployments.GoLiveBlockers(r.Context(), d.ID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleChangeDeployment(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.deploymentsOn(); err != nil {
		return err
	}
	var in ethos.ChangeRequest
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	// Going live is a sign-off; every other change is a write.
	action := ethos.ActionWrite
	if in.Kind == ethos.ChangeGoLive {
		action = ethos.ActionApprove
	}
	d, err := s.decideDeployment(r, p, action)
	if err != nil {
		return err
	}
	nd, c, err := s.Deployments.ChangeDeployment(r.Context(), d.ID, in, changer(p))
	if err != nil {
		return err
	}
	if err := s.recordChange(r.Context(), p, "deployment.change", "deployment/"+d.ID, fmt.Sprintf("change %d %s; reason in the change log: %s", c.Seq, c.Kind, ethos.AuditText(c.Reason)), ethos.StageDeployment); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, changeOut{Deployment: nd, Change: c})
	return nil
}

func (s *Server) handleListChanges(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.decideDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	return replyAll[*ethos.DeploymentChange](w)(s.Deployments.FindChanges(r.Context(), d.ID))
}

func (s *Server) handleAckChange(w http.ResponseWriter, r *http.Request, p *principal) error {
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil || seq < 1 {
		return &fieldError{code: ethos.EINVALID, field: "seq", msg: "seq: want a change number"}
	}
	d, in, err := decodeForDeployment[ackIn](s, w, r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	c, err := s.Deployments.AcknowledgeChange(r.Context(), d.ID, seq, changer(p), in.Role)
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, c, "deployment.ack", fmt.Sprintf("deployment/%s/changes/%d", d.ID, seq), "acknowledged as "+string(in.Role), ethos.StageDeployment)
}

func (s *Server) handleGetRisk(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.decideDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Deployments.RiskRegister(r.Context(), d.ID))
}

func (s *Server) handlePutRisk(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, in, err := decodeForDeployment[ethos.RiskRegister](s, w, r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	reg, err := s.Deployments.PutRiskRegister(r.Context(), d.ID, in, changer(p))
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, reg, "deployment.risk", "deployment/"+d.ID+"/risk-register", fmt.Sprintf("revision %d, %d risks", reg.Revision, len(reg.Risks)), ethos.StageDeployment)
}

func (s *Server) handleAckRisk(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, in, err := decodeForDeployment[ackIn](s, w, r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	reg, err := s.Deployments.AcknowledgeRisk(r.Context(), d.ID, in.Revision, changer(p), in.Role)
	if err != nil {
		return err
	}
	return s.auditedReply(w, r, p, http.StatusOK, reg, "deployment.risk.ack", "deployment/"+d.ID+"/risk-register", fmt.Sprintf("revision %d acknowledged as %s", in.Revision, in.Role), ethos.StageDeployment)
}

func (s *Server) incidentOut(r *http.Request, inc *ethos.Incident) (incidentOut, error) {
	st, err := s.Deployments.IncidentDeadlines(r.Context(), inc, s.Now())
	if err != nil {
		return incidentOut{}, err
	}
	out := incidentOut{Incident: inc, Deadlines: nonNil(st)}
	for _, d := range st {
		if d.State == ethos.DeadlineOverdue {
			out.Overdue++
		}
	}
	return out, nil
}

func (s *Server) handleCreateIncident(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, in, err := decodeForDeployment[ethos.Incident](s, w, r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	if err := s.Deployments.CreateIncident(r.Context(), d.ID, in, changer(p)); err != nil {
		return err
	}
	if err := s.recordChange(r.Context(), p, "deployment.incident", "incident/"+in.ID, fmt.Sprintf("deployment %s, %d affected", d.ID, in.AffectedSubjects), ethos.StageDeployment); err != nil {
		return err
	}
	out, err := s.incidentOut(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.decideDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	incs, n, err := s.Deployments.FindIncidents(r.Context(), ethos.IncidentFilter{DeploymentID: &d.ID, Open: r.URL.Query().Get("open") == "true", Offset: off, Limit: lim})
	if err != nil {
		return err
	}
	out := list[incidentOut]{Items: []incidentOut{}, Total: n}
	for _, inc := range incs {
		o, err := s.incidentOut(r, inc)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, o)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleUpdateIncident(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, in, err := decodeForDeployment[ethos.IncidentUpdate](s, w, r, p, ethos.ActionWrite)
	if err != nil {
		return err
	}
	iid := r.PathValue("incident")
	incs, _, err := s.Deployments.FindIncidents(r.Context(), ethos.IncidentFilter{ID: &iid, DeploymentID: &d.ID, Limit: 1})
	if err != nil {
		return err
	}
	if len(incs) == 0 {
		return ethos.Errorf(ethos.ENOTFOUND, "deployment %s has no incident %s", d.ID, iid)
	}
	inc, err := s.Deployments.UpdateIncident(r.Context(), iid, *in, changer(p))
	if err != nil {
		return err
	}
	what := "updated"
	if in.Notification != nil {
		what = "notification to " + string(in.Notification.Recipient)
	}
	if in.Status != nil {
		what += ", status " + string(*in.Status)
	}
	if err := s.recordChange(r.Context(), p, "deployment.incident", "incident/"+iid, what, ethos.StageDeployment); err != nil {
		return err
	}
	return replyOK(w)(s.incidentOut(r, inc))
}

func (s *Server) handleCompliance(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.decideDeployment(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	now := s.Now().UTC()
	rs, err := s.Deployments.Compliance(r.Context(), d.ID, now)
	if err != nil {
		return err
	}
	out := complianceOut{DeploymentID: d.ID, At: now, Results: rs, Summary: map[string]int{}}
	for _, x := range rs {
		out.Summary[string(x.Outcome)]++
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleAttest(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, in, err := decodeForDeployment[attestIn](s, w, r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	a := &ethos.Attestation{ItemID: in.ItemID, Waiver: in.Waiver, Signature: ethos.Signature{Role: in.Role, Reason: in.Reason}}
	if err := s.Deployments.Attest(r.Context(), d.ID, a, changer(p)); err != nil {
		return err
	}
	kind := "attested"
	if a.Waiver {
		kind = "waived"
	}
	return s.auditedReply(w, r, p, http.StatusCreated, a, "deployment.attest", "deployment/"+d.ID+"/compliance/"+a.ItemID, kind+" as "+string(a.Role), ethos.StageDeployment)
}

// readRecords reads a batch body: a JSON array of objects, or JSON lines
// (one object a line, blank lines skipped). A malformed array is a 400; a
// malformed line is that record's problem, so it is handed on as is.
func readRecords(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/jsonl") {
		return nil, &fieldError{code: ethos.EINVALID, msg: "Content-Type must be application/json (an array) or application/x-ndjson (JSON lines)"}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= MaxEventBody {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // one read, no regrowth
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxEventBody))
	body := buf.Bytes()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &fieldError{code: codeTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", MaxEventBody)}
		}
		return nil, &fieldError{code: ethos.EINVALID, msg: "cannot read request body"}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &fieldError{code: ethos.EINVALID, msg: "request body is empty: send a JSON array or JSON lines of records"}
	}
	if trimmed[0] == '[' {
		var recs []json.RawMessage
		if err := json.Unmarshal(trimmed, &recs); err != nil {
			if se, ok := errors.AsType[*json.SyntaxError](err); ok {
				return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("malformed JSON array at byte offset %d", se.Offset)}
			}
			return nil, &fieldError{code: ethos.EINVALID, msg: "malformed JSON array of records"}
		}
		return recs, nil
	}
	recs := make([]json.RawMessage, 0, bytes.Count(trimmed, []byte("\n"))+1)
	for line := range bytes.SplitSeq(trimmed, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		recs = append(recs, json.RawMessage(line))
	}
	return recs, nil
}

func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &fieldError{code: ethos.EINVALID, field: name, msg: "query parameter " + name + ": want true or false"}
	}
	return b, nil
}

// ingestStatus: 200 when every record was stored or was a duplicate; 207
// when some were rejected and the rest stored; 400 when nothing could be
// stored (atomic batch with a rejection, or every record rejected).
func ingestStatus(res *ethos.IngestResult) int {
	switch {
	case len(res.Rejected) == 0:
		return http.StatusOK
	case res.Atomic || len(res.Rejected) == res.Received:
		return http.StatusBadRequest
	}
	return http.StatusMultiStatus
}

// decideBatch asks the policy whether p may write a batch to deployment
// d. A denial is recorded at once (as decide does); an allow is returned
// for the caller to record together with the batch's outcome, so that a
// batch costs one audit entry, not two.
func (s *Server) decideBatch(r *http.Request, p *principal, d *ethos.Deployment) (ethos.AccessRequest, ethos.AccessDecision, error) {
	ctx := r.Context()
	req, err := s.projectRequest(ctx, p, d.ProjectID, ethos.AccessRequest{Stage: ethos.StageDeployment, Action: ethos.ActionWrite,
		Purpose: ethos.PurposeAIDeploymentMonitoring, View: ethos.ViewFull})
	if err != nil {
		return ethos.AccessRequest{}, ethos.AccessDecision{}, err
	}
	dec, err := s.judge(p, &req)
	if err != nil {
		return req, dec, err
	}
	if !dec.Allow {
		_, err := s.settle(ctx, p, req, dec, "deployment/"+d.ID)
		return req, dec, err
	}
	return req, dec, s.touchDUA(ctx, dec, req.Now)
}

func (s *Server) handleEvents(labels bool) func(w http.ResponseWriter, r *http.Request, p *principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := s.deploymentsOn(); err != nil {
			return err
		}
		atomic, err := boolQuery(r, "atomic")
		if err != nil {
			return err
		}
		recs, err := readRecords(w, r)
		if err != nil {
			return err
		}
		d, err := s.Deployments.FindDeploymentByID(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		req, dec, err := s.decideBatch(r, p, d)
		if err != nil {
			return err
		}
		var res *ethos.IngestResult
		action := "deployment.events"
		if labels {
			action = "deployment.labels"
			res, err = s.Events.AttachLabels(r.Context(), d.ID, recs, atomic, p.User.ID)
		} else {
			ctx := r.Context()
			if s.DeferEventSync != nil {
				// The audit entry below is appended durably, whatever
				// happens to the batch, before the reply.
				ctx = s.DeferEventSync(ctx)
			}
			res, err = s.Events.IngestEvents(ctx, d.ID, recs, atomic)
		}
		// One audit entry per batch: the access decision (rule and
		// reason) and what became of the batch, counts only.
		reason := dec.Rule + ": " + dec.Reason + "; "
		switch {
		case err != nil:
			reason += "not stored: " + ethos.ErrorCode(err)
		default:
			reason += fmt.Sprintf("received %d, stored %d, duplicates %d, rejected %d", res.Received, res.Stored, res.Duplicates, len(res.Rejected))
			if atomic {
				reason += " (atomic)"
			}
		}
		if aerr := s.recordDecision(r.Context(), p, action, "deployment/"+d.ID, req, dec, reason); aerr != nil {
			return aerr
		}
		if err != nil {
			return err
		}
		writeJSON(w, ingestStatus(res), res)
		return nil
	}
}

// deploymentRoutes are the deployment stage's endpoints.
func (s *Server) deploymentRoutes(auth authFunc) []route {
	dep := "/api/v1/deployments/{id}"
	atomicQ := []param{{"atomic", "boolean", "true: store nothing if any record is rejected", false}}
	return []route{
		{Method: "POST", Path: "/api/v1/deployments", Summary: "Register a deployment of a model version; refused without a passed, signed-off evaluation.", Body: deploymentIn{}, Reply: ethos.Deployment{}, Status: 201, handle: auth(s.handleRegisterDeployment)},
		{Method: "GET", Path: "/api/v1/deployments", Summary: "List a project's deployments.", Query: append([]param{{"project_id", "string", "project", true}, {"status", "string", "registered, live, suspended or retired", false}}, pageQuery...), Reply: list[*ethos.Deployment]{}, Status: 200, handle: auth(s.handleListDeployments)},
		{Method: "GET", Path: dep, Summary: "A deployment and what blocks its go-live (QC-DEP-3).", Reply: deploymentOut{}, Status: 200, handle: auth(s.handleGetDeployment)},
		{Method: "POST", Path: dep + "/changes", Summary: "Change a deployment (model version, threshold, plan, site, intended use, responsible person, go-live, suspend, retire) with reason, expected effect and stakeholders notified.", Body: ethos.ChangeRequest{}, Reply: changeOut{}, Status: 200, handle: auth(s.handleChangeDeployment)},
		{Method: "GET", Path: dep + "/changes", Summary: "The change log with acknowledgements and pending roles.", Reply: list[*ethos.DeploymentChange]{}, Status: 200, handle: auth(s.handleListChanges)},
		{Method: "POST", Path: dep + "/changes/{seq}/ack", Summary: "Acknowledge a change in one of one's roles.", Body: ackIn{}, Reply: ethos.DeploymentChange{}, Status: 200, handle: auth(s.handleAckChange)},
		{Method: "GET", Path: dep + "/risk-register", Summary: "The deployment's risk register.", Reply: ethos.RiskRegister{}, Status: 200, handle: auth(s.handleGetRisk)},
		{Method: "PUT", Path: dep + "/risk-register", Summary: "Store the next revision of the risk register (revision = the current one, 0 for the first).", Body: ethos.RiskRegister{}, Reply: ethos.RiskRegister{}, Status: 200, handle: auth(s.handlePutRisk)},
		{Method: "POST", Path: dep + "/risk-register/ack", Summary: "Acknowledge a revision of the risk register as a stakeholder role.", Body: ackIn{}, Reply: ethos.RiskRegister{}, Status: 200, handle: auth(s.handleAckRisk)},
		{Method: "POST", Path: dep + "/incidents", Summary: "Record an incident or personal-data breach; deadlines computed.", Body: ethos.Incident{}, Reply: incidentOut{}, Status: 201, handle: auth(s.handleCreateIncident)},
		{Method: "GET", Path: dep + "/incidents", Summary: "Incidents with their deadlines; overdue ones flagged.", Query: append([]param{{"open", "boolean", "only incidents not closed", false}}, pageQuery...), Reply: list[incidentOut]{}, Status: 200, handle: auth(s.handleListIncidents)},
		{Method: "POST", Path: dep + "/incidents/{incident}", Summary: "Record a notification sent and/or change an incident's status.", Body: ethos.IncidentUpdate{}, Reply: incidentOut{}, Status: 200, handle: auth(s.handleUpdateIncident)},
		{Method: "GET", Path: dep + "/compliance", Summary: "The compliance checklist (QC-DEP-2) evaluated from evidence and attestations.", Reply: complianceOut{}, Status: 200, handle: auth(s.handleCompliance)},
		{Method: "POST", Path: dep + "/attestations", Summary: "Attest (or waive with a reason) a checklist item in one of one's roles.", Body: attestIn{}, Reply: ethos.Attestation{}, Status: 201, handle: auth(s.handleAttest)},
		{Method: "POST", Path: dep + "/events", Summary: "Ingest inference events (JSON array or JSON lines); duplicates once, bad records reported by index.", Query: atomicQ, Reply: ethos.IngestResult{}, Status: 200, handle: auth(s.handleEvents(false))},
		{Method: "POST", Path: dep + "/labels", Summary: "Attach ground truth by case id (JSON array or JSON lines).", Query: atomicQ, Reply: ethos.IngestResult{}, Status: 200, handle: auth(s.handleEvents(true))},
	}
}
