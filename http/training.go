package http

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ethos-imaging/ethos"
)

// The training stage's endpoints: the training-run register (QC-TRA-1,
// QC-TRA-2), lineage queries and PROV-JSON export, and withdrawal
// obligations. Project-scoped calls go through the access policy's
// training row for the ai-training purpose; questions that cross projects
// (which datasets and models used a subject, the graph around any node,
// obligations of every project) are for the roles that may read the audit
// log. Every decision is audited by s.decide.

type (
	trainingRunIn struct {
		DatasetVersion string             `json:"dataset_version"`
		Split          string             `json:"split"`
		CodeVersion    string             `json:"code_version"`
		CodeRepository string             `json:"code_repository"`
		Parameters     map[string]string  `json:"parameters"`
		Environment    map[string]string  `json:"environment"`
		ModelSHA256    string             `json:"model_sha256"`
		ModelName      string             `json:"model_name"`
		Metrics        map[string]float64 `json:"metrics"`
		StartedAt      time.Time          `json:"started_at,omitzero"`
		FinishedAt     time.Time          `json:"finished_at,omitzero"`
	}
	signOffIn struct {
		Decision ethos.SignOffDecision `json:"decision"` // approved | rejected
		Note     string                `json:"note"`
	}
	resolveIn struct {
		Action    ethos.ObligationAction `json:"action"` // retrain | exemption | retire
		Reference string                 `json:"reference"`
		Note      string                 `json:"note"`
	}
	subjectsOut struct {
		Model    string   `json:"model_version"`
		Subjects []string `json:"subjects"` // subject keys
		Count    int      `json:"count"`
	}
	usesOut struct {
		Subject         string   `json:"subject"`
		DatasetVersions []string `json:"dataset_versions"`
		TrainingRuns    []string `json:"training_runs"`
		ModelVersions   []string `json:"model_versions"`
	}
	nodesOut struct {
		Node      ethos.LineageNode   `json:"node"`
		Direction string              `json:"direction"` // upstream | downstream
		Walk      string              `json:"walk"`      // derivations | all
		Nodes     []ethos.LineageNode `json:"nodes"`
		Count     int                 `json:"count"`
		// Next is the cursor of the next page when the walk was asked
		// for a page at a time (limit) and more nodes follow.
		Next string `json:"next,omitempty"`
	}
)

var (
	lineageNodeQuery = []param{{"node", "string", "kind:id, e.g. processing-run:prc_…", true},
		{"walk", "string", "derivations (wasDerivedFrom only) or all (every relation; default)", false},
		{"kind", "string", "only nodes of these kinds (comma-separated)", false},
		{"limit", "integer", "a page of at most this many nodes (up to 10000), in walk order, nearest first; without limit or cursor, the whole walk sorted by kind and id", false},
		{"cursor", "string", "the next cursor of the previous page", false}}
	obligationQuery = append([]param{{"project", "string", "only this project's (training-stage read); without it, audit roles only", false},
		{"status", "string", "open or resolved", false}, {"target", "string", "kind:id of a dataset or model version", false}}, pageQuery...)
)

// trainingRoutes are the training stage's endpoints.
func (s *Server) trainingRoutes(auth authFunc) []route {
	return []route{
		{Method: "POST", Path: "/api/v1/projects/{id}/training/runs", Summary: "Register a training run: consent for ai-training re-checked over every instance of the dataset version (refused with counts, QC-TRA-2); refused while a withdrawal obligation is open on it.",
			Body: trainingRunIn{}, Reply: ethos.TrainingRun{}, Status: 201, handle: auth(s.handleRegisterRun)},
		{Method: "GET", Path: "/api/v1/projects/{id}/training/runs", Summary: "List a project's training runs.",
			Query: append([]param{{"dataset_version", "string", "", false}, {"status", "string", "registered, signed-off or rejected", false}}, pageQuery...),
			Reply: list[*ethos.TrainingRun]{}, Status: 200, handle: auth(s.handleListRuns)},
		{Method: "GET", Path: "/api/v1/projects/{id}/training/runs/{run}", Summary: "Get a training run.", Reply: ethos.TrainingRun{}, Status: 200, handle: auth(s.handleGetRun)},
		{Method: "POST", Path: "/api/v1/projects/{id}/training/runs/{run}/signoff", Summary: "Sign off a run as its named reviewer (QC-TRA-1; not the registrant).",
			Body: signOffIn{}, Reply: ethos.TrainingRun{}, Status: 200, handle: auth(s.handleSignOffRun)},

		{Method: "GET", Path: "/api/v1/lineage/subjects", Summary: "The subjects behind a model version (by derivation).",
			Query: []param{{"model", "string", "model version id", true}}, Reply: subjectsOut{}, Status: 200, handle: auth(s.handleLineageSubjects)},
		{Method: "GET", Path: "/api/v1/lineage/uses", Summary: "The dataset versions, training runs and model versions that used a subject's data (audit roles).",
			Query: []param{{"subject", "string", "subject key", true}}, Reply: usesOut{}, Status: 200, handle: auth(s.handleLineageUses)},
		{Method: "GET", Path: "/api/v1/lineage/downstream", Summary: "Everything built from a node, e.g. a processing run (audit roles).",
			Query: lineageNodeQuery, Reply: nodesOut{}, Status: 200, handle: auth(s.handleLineageWalk(false))},
		{Method: "GET", Path: "/api/v1/lineage/upstream", Summary: "Everything a node was built from (audit roles).",
			Query: lineageNodeQuery, Reply: nodesOut{}, Status: 200, handle: auth(s.handleLineageWalk(true))},
		{Method: "GET", Path: "/api/v1/lineage/prov", Summary: "W3C PROV-JSON of a project's graph — every processing run, dataset version and training run (training-stage read) or of a node's neighbourhood (audit roles).",
			Query: []param{{"project", "string", "project id", false}, {"node", "string", "kind:id", false}}, Reply: ethos.ProvDocument{}, Status: 200, handle: auth(s.handleProv)},

		{Method: "GET", Path: "/api/v1/obligations", Summary: "Withdrawal obligations on dataset and model versions.", Query: obligationQuery,
			Reply: list[*ethos.Obligation]{}, Status: 200, handle: auth(s.handleListObligations)},
		{Method: "GET", Path: "/api/v1/obligations/{id}", Summary: "Get an obligation.", Reply: ethos.Obligation{}, Status: 200, handle: auth(s.handleGetObligation)},
		{Method: "POST", Path: "/api/v1/obligations/{id}/resolve", Summary: "Resolve an obligation: retrain (reference: the new version, checked by lineage), exemption (reference: the document) or retire (training-stage approval).",
			Body: resolveIn{}, Reply: ethos.Obligation{}, Status: 200, handle: auth(s.handleResolveObligation)},
	}
}

func (s *Server) trainingReady() error {
	if s.Training == nil || s.TrainingRuns == nil || s.Lineage == nil || s.Obligations == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "the training register is not configured on this server")
	}
	return nil
}

// decideTraining asks the policy whether p may act on project's training
// stage for ai-training, and returns the actor the stage service needs.
func (s *Server) decideTraining(r *http.Request, p *principal, projectID string, action ethos.Action, resource string) (ethos.AccessRequest, error) {
	ctx := r.Context()
	req, err := s.projectRequest(ctx, p, projectID, ethos.AccessRequest{Stage: ethos.StageTraining, Action: action, Purpose: ethos.PurposeAITraining})
	if err != nil {
		return ethos.AccessRequest{}, err
	}
	if action == ethos.ActionRead {
		// The register, lineage and obligations name subjects by
		// pseudonymous key only: a de-identified view, which auditors
		// may read.
		req.View = ethos.ViewDeidentified
	}
	if _, err := s.decide(ctx, p, req, resource); err != nil {
		return ethos.AccessRequest{}, err
	}
	return trainingActor(p), nil
}

// decideCrossProject asks whether p may read across projects (the audit roles).
func (s *Server) decideCrossProject(r *http.Request, p *principal, resource string) error {
	_, err := s.decide(r.Context(), p, ethos.AccessRequest{Action: ethos.ActionAudit}, resource)
	return err
}

func trainingActor(p *principal) ethos.AccessRequest {
	return ethos.AccessRequest{UserID: p.User.ID, PartyID: p.Party.ID, PartyType: p.Party.Type, Roles: p.User.Roles}
}

func (s *Server) handleRegisterRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	var in trainingRunIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	run := &ethos.TrainingRun{ProjectID: r.PathValue("id"), DatasetVersion: in.DatasetVersion, Split: in.Split, CodeVersion: in.CodeVersion,
		CodeRepository: in.CodeRepository, Parameters: in.Parameters, Environment: in.Environment, ModelSHA256: in.ModelSHA256,
		ModelName: in.ModelName, Metrics: in.Metrics, StartedAt: in.StartedAt, FinishedAt: in.FinishedAt}
	if err := run.Validate(); err != nil {
		return err
	}
	actor, err := s.decideTraining(r, p, run.ProjectID, ethos.ActionWrite, "project/"+run.ProjectID+"/training")
	if err != nil {
		return err
	}
	out, err := s.Training.RegisterTrainingRun(r.Context(), actor, run, requestID(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	project := r.PathValue("id")
	f := ethos.TrainingRunFilter{ProjectID: &project, Offset: off, Limit: lim}
	q := r.URL.Query()
	if v := q.Get("dataset_version"); v != "" {
		f.DatasetVersion = &v
	}
	if v := q.Get("status"); v != "" {
		st := ethos.TrainingRunStatus(v)
		if !st.Valid() {
			return &fieldError{code: ethos.EINVALID, field: "status", msg: "status: want registered, signed-off or rejected"}
		}
		f.Status = &st
	}
	if _, err := s.decideTraining(r, p, project, ethos.ActionRead, "project/"+project+"/training"); err != nil {
		return err
	}
	runs, n, err := s.TrainingRuns.FindTrainingRuns(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*ethos.TrainingRun]{Items: runs, Total: n})
	return nil
}

// projectRun loads the run of the path, ENOTFOUND when it is another
// project's (after the access decision, so probing costs an audit entry).
func (s *Server) projectRun(r *http.Request, p *principal, action ethos.Action) (*ethos.TrainingRun, ethos.AccessRequest, error) {
	if err := s.trainingReady(); err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	project, id := r.PathValue("id"), r.PathValue("run")
	actor, err := s.decideTraining(r, p, project, action, "project/"+project+"/training-run/"+id)
	if err != nil {
		return nil, actor, err
	}
	run, err := s.TrainingRuns.FindTrainingRunByID(r.Context(), id)
	if err != nil {
		return nil, actor, err
	}
	if run.ProjectID != project {
		return nil, actor, ethos.Errorf(ethos.ENOTFOUND, "training run %s not found in project %s", id, project)
	}
	return run, actor, nil
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	run, _, err := s.projectRun(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleSignOffRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in signOffIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	so := ethos.TrainingSignOff{Reviewer: p.User.ID, Decision: in.Decision, Note: in.Note}
	if err := so.Validate(); err != nil {
		return err
	}
	run, actor, err := s.projectRun(r, p, ethos.ActionApprove)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Training.SignOffTrainingRun(r.Context(), actor, run.ID, so, requestID(r.Context())))
}

func (s *Server) handleLineageSubjects(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	id := r.URL.Query().Get("model")
	if !ethos.ValidID(id) {
		return &fieldError{code: ethos.EINVALID, field: "model", msg: "model: a model version id is required"}
	}
	m, err := s.TrainingRuns.FindModelVersionByID(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.decideTraining(r, p, m.ProjectID, ethos.ActionRead, "model-version/"+m.ID+"/subjects"); err != nil {
		return err
	}
	ns, err := s.Lineage.Upstream(r.Context(), ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: m.ID}, ethos.WalkDerivations, ethos.LineageSubject)
	if err != nil {
		return err
	}
	out := subjectsOut{Model: m.ID, Subjects: lineageIDs(ns), Count: len(ns)}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func lineageIDs(ns []ethos.LineageNode) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func (s *Server) handleLineageUses(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	k := ethos.SubjectKey(r.URL.Query().Get("subject"))
	if !k.Valid() {
		return &fieldError{code: ethos.EINVALID, field: "subject", msg: "subject: a subject key (64 lowercase hex digits) is required"}
	}
	if err := s.decideCrossProject(r, p, "lineage/subject"); err != nil {
		return err
	}
	out := usesOut{Subject: string(k), DatasetVersions: []string{}, TrainingRuns: []string{}, ModelVersions: []string{}}
	ns, err := s.Lineage.Downstream(r.Context(), ethos.LineageNode{Kind: ethos.LineageSubject, ID: string(k)}, ethos.WalkDerivations,
		ethos.LineageDatasetVersion, ethos.LineageModelVersion)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range ns {
		switch n.Kind {
		case ethos.LineageDatasetVersion:
			out.DatasetVersions = append(out.DatasetVersions, n.ID)
		case ethos.LineageModelVersion:
			out.ModelVersions = append(out.ModelVersions, n.ID)
			if m, err := s.TrainingRuns.FindModelVersionByID(r.Context(), n.ID); err == nil {
				out.TrainingRuns = append(out.TrainingRuns, m.Run)
			} else if ethos.ErrorCode(err) != ethos.ENOTFOUND {
				return err
			}
		}
	}
	slices.Sort(out.TrainingRuns)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleLineageWalk(up bool) func(w http.ResponseWriter, r *http.Request, p *principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := s.trainingReady(); err != nil {
			return err
		}
		q := r.URL.Query()
		n, err := lineageNodeParam("node", q.Get("node"))
		if err != nil {
			return err
		}
		walk, walkName := ethos.WalkAll, "all"
		switch q.Get("walk") {
		case "", "all":
		case "derivations":
			walk, walkName = ethos.WalkDerivations, "derivations"
		default:
			return &fieldError{code: ethos.EINVALID, field: "walk", msg: "walk: want derivations or all"}
		}
		var kinds []ethos.LineageKind
		for _, k := range commaList(q.Get("kind")) {
			if !ethos.LineageKind(k).Valid() {
				return &fieldError{code: ethos.EINVALID, field: "kind", msg: "kind: unknown node kind (want subject, instance, processing-run, deid-instance, dataset-version, training-run, model-version, evaluation, deployment or agent)"}
			}
			kinds = append(kinds, ethos.LineageKind(k))
		}
		if err := s.decideCrossProject(r, p, "lineage/"+string(n.Kind)+"/"+n.ID); err != nil {
			return err
		}
		out := nodesOut{Node: n, Direction: "downstream", Walk: walkName}
		if up {
			out.Direction = "upstream"
		}
		if q.Has("limit") || q.Has("cursor") {
			// A page at a time, in walk order (nearest first).
			pager, ok := s.Lineage.(ethos.LineagePager)
			if !ok {
				return ethos.Errorf(ethos.ENOTIMPLEMENTED, "this lineage store does not page walks")
			}
			limit := 1000
			if v := q.Get("limit"); v != "" {
				if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
					return &fieldError{code: ethos.EINVALID, field: "limit", msg: "limit: a positive number of nodes"}
				}
			}
			page := pager.DownstreamPage
			if up {
				page = pager.UpstreamPage
			}
			pg, err := page(r.Context(), n, walk, q.Get("cursor"), limit, kinds...)
			if err != nil {
				return err
			}
			out.Nodes, out.Count, out.Next = pg.Nodes, len(pg.Nodes), pg.Next
			writeJSON(w, http.StatusOK, out)
			return nil
		}
		if up {
			out.Direction = "upstream"
			out.Nodes, err = s.Lineage.Upstream(r.Context(), n, walk, kinds...)
		} else {
			out.Nodes, err = s.Lineage.Downstream(r.Context(), n, walk, kinds...)
		}
		if err != nil {
			return err
		}
		out.Count = len(out.Nodes)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Server) handleProv(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	q := r.URL.Query()
	project, node := q.Get("project"), q.Get("node")
	var roots []ethos.LineageNode
	switch {
	case (project == "") == (node == ""):
		return &fieldError{code: ethos.EINVALID, field: "project", msg: "give either project or node"}
	case node != "":
		n, err := lineageNodeParam("node", node)
		if err != nil {
			return err
		}
		if err := s.decideCrossProject(r, p, "lineage/"+string(n.Kind)+"/"+n.ID); err != nil {
			return err
		}
		roots = []ethos.LineageNode{n}
	default:
		if _, err := s.decideTraining(r, p, project, ethos.ActionRead, "project/"+project+"/lineage"); err != nil {
			return err
		}
		// The project's graph: every processing run, dataset version and
		// training run, with what each used and produced and what those
		// were derived from.
		var err error
		if roots, err = s.projectLineageRoots(r.Context(), project); err != nil {
			return err
		}
	}
	return replyOK(w)(s.Training.Provenance(r.Context(), roots))
}

func (s *Server) handleListObligations(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.trainingReady(); err != nil {
		return err
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := ethos.ObligationFilter{Offset: off, Limit: lim}
	if v := q.Get("status"); v != "" {
		st := ethos.ObligationStatus(v)
		if st != ethos.ObligationOpen && st != ethos.ObligationResolved {
			return &fieldError{code: ethos.EINVALID, field: "status", msg: "status: want open or resolved"}
		}
		f.Status = &st
	}
	if v := q.Get("target"); v != "" {
		n, err := lineageNodeParam("target", v)
		if err != nil {
			return err
		}
		f.Target = &n
	}
	if project := q.Get("project"); project != "" {
		f.ProjectID = &project
		if _, err := s.decideTraining(r, p, project, ethos.ActionRead, "project/"+project+"/obligations"); err != nil {
			return err
		}
	} else if err := s.decideCrossProject(r, p, "obligations"); err != nil {
		return err
	}
	obs, n, err := s.Obligations.FindObligations(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*ethos.Obligation]{Items: obs, Total: n})
	return nil
}

// loadObligation loads the obligation of the path and decides action on it:
// on its project's training stage; for one lineage tied to no project,
// the audit roles may read it and the roles that manage stages (admin,
// data steward, ethics reviewer) may resolve it.
func (s *Server) loadObligation(r *http.Request, p *principal, action ethos.Action) (*ethos.Obligation, ethos.AccessRequest, error) {
	if err := s.trainingReady(); err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	o, err := s.Obligations.FindObligationByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	resource := "obligation/" + o.ID
	if o.ProjectID != "" {
		actor, err := s.decideTraining(r, p, o.ProjectID, action, resource)
		return o, actor, err
	}
	if action == ethos.ActionRead {
		return o, trainingActor(p), s.decideCrossProject(r, p, resource)
	}
	_, err = s.decide(r.Context(), p, ethos.AccessRequest{Action: ethos.ActionManage, ManageKind: "stage"}, resource)
	return o, trainingActor(p), err
}

func (s *Server) handleGetObligation(w http.ResponseWriter, r *http.Request, p *principal) error {
	o, _, err := s.loadObligation(r, p, ethos.ActionRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (s *Server) handleResolveObligation(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in resolveIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	res := ethos.ObligationResolution{Action: in.Action, Reference: in.Reference, Note: in.Note, By: p.User.ID}
	if err := res.Validate(); err != nil {
		return err
	}
	o, actor, err := s.loadObligation(r, p, ethos.ActionApprove)
	if err != nil {
		return err
	}
	return replyOK(w)(s.Training.ResolveObligation(r.Context(), actor, o.ID, res, requestID(r.Context())))
}

// projectLineageRoots lists the project's processing runs, dataset
// versions (trained on or not) and training runs that lineage knows of.
func (s *Server) projectLineageRoots(ctx context.Context, project string) ([]ethos.LineageNode, error) {
	var roots []ethos.LineageNode
	for off := 0; ; off += 1000 {
		runs, n, err := s.TrainingRuns.FindTrainingRuns(ctx, ethos.TrainingRunFilter{ProjectID: &project, Offset: off, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, run := range runs {
			roots = append(roots, ethos.LineageNode{Kind: ethos.LineageTrainingRun, ID: run.ID})
		}
		if len(runs) == 0 || off+len(runs) >= n {
			break
		}
	}
	if s.ProcessingRuns != nil {
		for off := 0; ; off += 1000 {
			runs, n, err := s.ProcessingRuns.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &project, Offset: off, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for _, run := range runs {
				roots = append(roots, ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: run.ID})
			}
			if len(runs) == 0 || off+len(runs) >= n {
				break
			}
		}
	}
	if s.Datasets != nil {
		for off := 0; ; off += 1000 {
			vs, n, err := s.Datasets.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{ProjectID: &project, Offset: off, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				roots = append(roots, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: v.ID})
			}
			if len(vs) == 0 || off+len(vs) >= n {
				break
			}
		}
	}
	if len(roots) == 0 {
		return nil, nil
	}
	// Keep the roots lineage has edges for (a record made before lineage
	// was kept, or by a store without it, has none).
	edges, err := s.Lineage.LineageEdges(ctx, roots)
	if err != nil {
		return nil, err
	}
	known := map[ethos.LineageNode]bool{}
	for _, e := range edges {
		known[e.From], known[e.To] = true, true
	}
	return slices.DeleteFunc(roots, func(n ethos.LineageNode) bool { return !known[n] }), nil
}

// lineageNodeParam reads query parameter field as a lineage node
// ("kind:id"). The refusal does not quote what was sent.
func lineageNodeParam(field, v string) (ethos.LineageNode, error) {
	n, err := ethos.ParseLineageNode(v)
	if err != nil {
		return n, &fieldError{code: ethos.EINVALID, field: field, msg: field + ": want a lineage node kind:id (kind subject, instance, processing-run, deid-instance, dataset-version, training-run, model-version, evaluation, deployment or agent; a subject by its 64-hex key)"}
	}
	return n, nil
}
