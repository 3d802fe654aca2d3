package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// MaxLabelBodyBytes bounds a label file sent to the labels endpoint.
const MaxLabelBodyBytes = 64 << 20

// Processing stage (QC-PRO-1, QC-PRO-2): processing records, dataset
// versions and splits, read through the access policy's processing row
// for a declared purpose (each decision audited by s.decide), and dataset
// work (build, labels, split, datasheet) through s.DatasetWork, which
// applies the policy for the project's declared purpose and audits.
// Members of a version (collection instance ids and subject keys) never
// leave the server. Processing runs start through s.ProcessingWork (the
// processor decides and audits; a long run answers 202 and is polled), and
// exports for training stream as a tar archive through s.DatasetExport
// (the policy's training row, a DUA for a limited party, the export gate;
// audited before the first byte).

func (s *Server) processingRoutes(auth authFunc) []route {
	purpose := param{"purpose", "string", "declared purpose of use (research, ai-training, …)", true}
	q := append([]param{purpose}, pageQuery...)
	return []route{
		{Method: "GET", Path: "/api/v1/projects/{id}/processing-runs", Summary: "List a project's processing records, without their items (QC-PRO-1).",
			Query: q, Reply: list[*ethos.ProcessingRun]{}, Status: 200, handle: auth(s.handleListProcessingRuns)},
		{Method: "GET", Path: "/api/v1/projects/{id}/processing-runs/{run}", Summary: "One processing record with every input's hashes, outcome and the per-group loss (QC-PRO-1, QC-PRO-2).",
			Query: []param{purpose}, Reply: ethos.ProcessingRun{}, Status: 200, handle: auth(s.handleGetProcessingRun)},
		{Method: "GET", Path: "/api/v1/projects/{id}/dataset-versions", Summary: "List a project's dataset versions, without manifests.",
			Query: q, Reply: list[*ethos.DatasetVersion]{}, Status: 200, handle: auth(s.handleListDatasetVersions)},
		{Method: "GET", Path: "/api/v1/projects/{id}/dataset-versions/{version}", Summary: "One dataset version with its manifest (pseudonymous entries only).",
			Query: []param{purpose}, Reply: ethos.DatasetVersion{}, Status: 200, handle: auth(s.handleGetDatasetVersion)},
		{Method: "GET", Path: "/api/v1/projects/{id}/dataset-versions/{version}/splits", Summary: "The patient-level splits of a dataset version, with leakage check and balance table.",
			Query: []param{purpose}, Reply: []*ethos.DatasetSplit{}, Status: 200, handle: auth(s.handleListDatasetSplits)},
		{Method: "POST", Path: "/api/v1/projects/{id}/dataset-versions", Summary: "Build a content-addressed dataset version from a processing run's outputs (an existing version with the same content is returned).",
			Body: datasetIn{}, Reply: datasetOut{}, Status: 201, handle: auth(s.handleBuildDatasetVersion)},
		{Method: "POST", Path: "/api/v1/projects/{id}/dataset-versions/{version}/labels", Summary: "Import a CSV label file (columns id, label; body text/csv) into a new version: all rows or none.",
			Query: []param{{"allowed", "string", "comma-separated closed set of label values", false}}, Reply: ethos.DatasetVersion{}, Status: 201, handle: auth(s.handleLabelDatasetVersion)},
		{Method: "POST", Path: "/api/v1/projects/{id}/dataset-versions/{version}/splits", Summary: "Make and store a patient-level split, stratified and seeded, with leakage check and balance table.",
			Body: splitIn{}, Reply: ethos.DatasetSplit{}, Status: 201, handle: auth(s.handleSplitDatasetVersion)},
		{Method: "POST", Path: "/api/v1/projects/{id}/processing-runs", Summary: "Start a processing run: de-identify the project's stored instances server-side (QC-PRO-1, QC-PRO-2). 201 with the record when it finished quickly, else 202 with the job to poll at …/processing-runs/{run}.",
			Body: processingIn{}, Reply: processingOut{}, Status: 202, handle: auth(s.handleStartProcessingRun)},
		{Method: "GET", Path: "/api/v1/projects/{id}/processing-runs/{run}/job", Summary: "The job of a processing run started through the API, from its stored row (running, done or failed; counts; a run cut off by a server stop is failed with the reason).",
			Query: []param{purpose}, Reply: ethos.ProcessingJob{}, Status: 200, handle: auth(s.handleGetProcessingJob)},
		{Method: "GET", Path: "/api/v1/projects/{id}/processing-jobs", Summary: "List the jobs of a project's processing runs started through the API, newest first (what became of each: running, done with its record, or failed with the reason).",
			Query: append([]param{{"state", "string", "running, done or failed", false}}, q...), Reply: list[*ethos.ProcessingJob]{}, Status: 200, handle: auth(s.handleListProcessingJobs)},
		{Method: "GET", Path: "/api/v1/projects/{id}/dataset-versions/{version}/export", Summary: "Export a version for training as a tar archive (manifest.json, manifest.csv, files/…): the policy's training row (a limited party needs a DUA), the withdrawal gate; audited.",
			Query:  []param{{"split", "string", "split whose parts go into the manifest", false}, {"reweigh", "string", "comma-separated attributes for reweighing weights", false}},
			Status: 200, Raw: "application/x-tar", handle: auth(s.handleExportDataset)},
		{Method: "GET", Path: "/api/v1/projects/{id}/dataset-versions/{version}/datasheet", Summary: "The version's datasheet (Gebru et al.'s seven sections) from recorded facts.",
			Query: []param{{"format", "string", "json (default), md or html", false}}, Status: 200, Raw: "application/json", handle: auth(s.handleDatasheet)},
	}
}

type (
	processingIn struct {
		ProfileName string          `json:"profile_name"`         // for the record ("basic" when empty)
		Profile     json.RawMessage `json:"profile,omitempty"`    // a de-identification profile document
		Options     []string        `json:"options"`              // profile option names
		Secret      string          `json:"secret"`               // the project's pseudonymisation secret (never stored; its fingerprint is)
		Threshold   *float64        `json:"threshold,omitempty"`  // QC-PRO-2 (default ethos.DefaultBiasThreshold)
		Confidence  *float64        `json:"confidence,omitempty"` // QC-PRO-2 (default ethos.DefaultBiasConfidence)
	}
	processingOut struct {
		Job ethos.ProcessingJob  `json:"job"`
		Run *ethos.ProcessingRun `json:"run,omitempty"` // the record, once done
	}
	datasetIn struct {
		RunID       string `json:"run_id"`
		Description string `json:"description"`
	}
	datasetOut struct {
		Version *ethos.DatasetVersion `json:"version"`
		LeftOut int                   `json:"left_out"` // outputs whose instance is no longer usable
	}
	splitIn struct {
		Parts      []ethos.DatasetSplitPart `json:"parts"`
		StratifyBy []string                 `json:"stratify_by"`
		Seed       int64                    `json:"seed"`
	}
)

// who is the caller as the access policy sees it, with the agreements of
// their party for the project.
func (s *Server) who(r *http.Request, p *principal) (ethos.AccessRequest, error) {
	if s.DatasetWork == nil {
		return ethos.AccessRequest{}, ethos.Errorf(ethos.ENOTIMPLEMENTED, "dataset work is not configured on this server")
	}
	return s.accessOf(r, p)
}

// accessOf is who without the check that dataset work is offered.
func (s *Server) accessOf(r *http.Request, p *principal) (ethos.AccessRequest, error) {
	id := r.PathValue("id")
	duas, _, err := s.DUAs.FindDUAs(r.Context(), ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &id, Limit: 1000})
	if err != nil {
		return ethos.AccessRequest{}, err
	}
	return ethos.AccessRequest{UserID: p.User.ID, PartyID: p.Party.ID, PartyType: p.Party.Type, Roles: p.User.Roles, DUAs: duas}, nil
}

func (s *Server) handleBuildDatasetVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in datasetIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.RunID == "" {
		return &fieldError{code: ethos.EINVALID, field: "run_id", msg: "run_id: the processing run is required"}
	}
	who, err := s.who(r, p)
	if err != nil {
		return err
	}
	v, left, err := s.DatasetWork.BuildDatasetVersion(r.Context(), who, r.PathValue("id"), in.RunID, in.Description, requestID(r.Context()))
	if err != nil {
		return err
	}
	v.Members = nil
	writeJSON(w, http.StatusCreated, datasetOut{Version: v, LeftOut: left})
	return nil
}

func (s *Server) handleLabelDatasetVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/csv") && !strings.HasPrefix(ct, "text/plain") {
		return &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("labels: Content-Type must be text/csv, not %q", ct)}
	}
	who, err := s.who(r, p)
	if err != nil {
		return err
	}
	allowed := commaList(r.URL.Query().Get("allowed"))
	body := http.MaxBytesReader(w, r.Body, MaxLabelBodyBytes)
	v, err := s.DatasetWork.LabelDatasetVersion(r.Context(), who, r.PathValue("id"), r.PathValue("version"), body, allowed, requestID(r.Context()))
	if err != nil {
		return err
	}
	v.Members = nil
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) handleSplitDatasetVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in splitIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	who, err := s.who(r, p)
	if err != nil {
		return err
	}
	sp, err := s.DatasetWork.SplitDatasetVersion(r.Context(), who, r.PathValue("id"), r.PathValue("version"), in.Parts, in.StratifyBy, in.Seed, requestID(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sp)
	return nil
}

func (s *Server) handleDatasheet(w http.ResponseWriter, r *http.Request, p *principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	who, err := s.who(r, p)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := s.DatasetWork.WriteDatasheet(r.Context(), who, r.PathValue("id"), r.PathValue("version"), format, &b, requestID(r.Context())); err != nil {
		return err
	}
	ct := map[string]string{"json": "application/json", "md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}[format]
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b.Bytes())
	return err
}

// readProcessing decides a read of the project's processing stage for the
// declared purpose through the de-identified view.
func (s *Server) readProcessing(r *http.Request, p *principal) (*ethos.Project, error) {
	if s.ProcessingRuns == nil || s.Datasets == nil {
		return nil, ethos.Errorf(ethos.ENOTIMPLEMENTED, "the processing stage is not configured on this server")
	}
	purpose := ethos.Purpose(r.URL.Query().Get("purpose"))
	if !purpose.Valid() {
		return nil, &fieldError{code: ethos.EINVALID, field: "purpose", msg: "query parameter purpose: a known purpose of use is required (e.g. research, ai-training)"}
	}
	ctx := r.Context()
	prj, err := s.Projects.FindProjectByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &prj.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	_, err = s.decide(ctx, p, ethos.AccessRequest{ProjectID: prj.ID, ProjectPartyID: prj.PartyID, Stage: ethos.StageProcessing, Action: ethos.ActionRead,
		Purpose: purpose, View: ethos.ViewDeidentified, DUAs: duas}, "project/"+prj.ID+"/processing")
	return prj, err
}

func (s *Server) handleListProcessingRuns(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	return replyList[*ethos.ProcessingRun](w)(s.ProcessingRuns.FindProcessingRuns(r.Context(), ethos.ProcessingRunFilter{ProjectID: &prj.ID, Offset: off, Limit: lim}))
}

func (s *Server) handleGetProcessingRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	id := r.PathValue("run")
	run, err := s.ProcessingRuns.ProcessingRun(r.Context(), id)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND && s.ProcessingWork != nil {
		// Not recorded yet: a run still going (202 with its job), one
		// that failed (its error), or one whose record was stored since
		// the read above (read again).
		if j, jerr := s.ProcessingWork.ProcessingJob(r.Context(), prj.ID, id); jerr == nil {
			switch j.State {
			case ethos.JobFailed:
				return j.Err()
			case ethos.JobRunning:
				writeJSON(w, http.StatusAccepted, processingOut{Job: *j})
				return nil
			case ethos.JobDone:
				run, err = s.ProcessingRuns.ProcessingRun(r.Context(), id)
			}
		}
	}
	if err != nil {
		return err
	}
	if run.ProjectID != prj.ID {
		return ethos.Errorf(ethos.ENOTFOUND, "processing run %s not found in project %s", id, prj.ID)
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleListDatasetVersions(w http.ResponseWriter, r *http.Request, p *principal) error {
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	return replyList[*ethos.DatasetVersion](w)(s.Datasets.FindDatasetVersions(r.Context(), ethos.DatasetVersionFilter{ProjectID: &prj.ID, Offset: off, Limit: lim}))
}

func (s *Server) projectVersion(r *http.Request, prj *ethos.Project) (*ethos.DatasetVersion, error) {
	v, err := s.Datasets.DatasetVersion(r.Context(), r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	if v.ProjectID != prj.ID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %.12s not found in project %s", r.PathValue("version"), prj.ID)
	}
	return v, nil
}

func (s *Server) handleGetDatasetVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	v, err := s.projectVersion(r, prj)
	if err != nil {
		return err
	}
	v.Members = nil // collection ids and subject keys stay inside Ethos
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleListDatasetSplits(w http.ResponseWriter, r *http.Request, p *principal) error {
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	v, err := s.projectVersion(r, prj)
	if err != nil {
		return err
	}
	splits, err := s.Datasets.FindDatasetSplits(r.Context(), v.ID)
	if err != nil {
		return err
	}
	if splits == nil {
		splits = []*ethos.DatasetSplit{}
	}
	writeJSON(w, http.StatusOK, splits)
	return nil
}

func (s *Server) handleStartProcessingRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.ProcessingWork == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "processing runs are not offered by this server")
	}
	var in processingIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Secret) == "" {
		return &fieldError{code: ethos.EINVALID, field: "secret", msg: "secret: the project's pseudonymisation secret is required (outputs must link across runs)"}
	}
	spec := ethos.ProcessingSpec{ProfileName: in.ProfileName, Profile: in.Profile, Options: in.Options, Secret: []byte(in.Secret),
		Threshold: ethos.DefaultBiasThreshold, Confidence: ethos.DefaultBiasConfidence}
	if in.Threshold != nil {
		spec.Threshold = *in.Threshold
	}
	if in.Confidence != nil {
		spec.Confidence = *in.Confidence
	}
	who, err := s.accessOf(r, p)
	if err != nil {
		return err
	}
	j, err := s.ProcessingWork.StartProcessingRun(r.Context(), who, r.PathValue("id"), spec, requestID(r.Context()))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/projects/"+j.ProjectID+"/processing-runs/"+j.ID)
	switch j.State {
	case ethos.JobFailed:
		return j.Err()
	case ethos.JobDone:
		writeJSON(w, http.StatusCreated, processingOut{Job: *j, Run: j.Run})
	default:
		writeJSON(w, http.StatusAccepted, processingOut{Job: *j})
	}
	return nil
}

func (s *Server) handleGetProcessingJob(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.ProcessingWork == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "processing runs are not offered by this server")
	}
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	j, err := s.ProcessingWork.ProcessingJob(r.Context(), prj.ID, r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) handleListProcessingJobs(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.ProcessingJobs == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "processing jobs are not kept by this server")
	}
	off, lim, err := pageParams(r)
	if err != nil {
		return err
	}
	f := ethos.ProcessingJobFilter{Offset: off, Limit: lim}
	switch st := ethos.ProcessingJobState(r.URL.Query().Get("state")); st {
	case "":
	case ethos.JobRunning, ethos.JobDone, ethos.JobFailed:
		f.State = &st
	default:
		return &fieldError{code: ethos.EINVALID, field: "state", msg: "query parameter state: running, done or failed"}
	}
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	f.ProjectID = &prj.ID
	return replyList[*ethos.ProcessingJob](w)(s.ProcessingJobs.FindProcessingJobs(r.Context(), f))
}

// tarWriter sets the archive's headers on the first byte written, so an
// error found before then is still answered as JSON.
type tarWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (t *tarWriter) Write(b []byte) (int, error) {
	if !t.started {
		t.started = true
		h := t.w.Header()
		h.Set("Content-Type", "application/x-tar")
		h.Set("Content-Disposition", `attachment; filename="`+t.name+`"`)
		h.Set("X-Content-Type-Options", "nosniff")
		t.w.WriteHeader(http.StatusOK)
	}
	return t.w.Write(b)
}

func (s *Server) handleExportDataset(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.DatasetExport == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "dataset exports are not offered by this server")
	}
	who, err := s.accessOf(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var o ethos.DatasetExportOptions
	o.SplitID = q.Get("split")
	o.ReweighBy = commaList(q.Get("reweigh"))
	version := r.PathValue("version")
	if !ethos.ValidBlobDigest(version) {
		return &fieldError{code: ethos.EINVALID, field: "version", msg: "version: a dataset version id is 64 hex digits"}
	}
	tw := &tarWriter{w: w, name: "dataset-" + version[:12] + ".tar"}
	err = s.DatasetExport.ExportDataset(r.Context(), who, r.PathValue("id"), version, o, tw, requestID(r.Context()))
	if err == nil || !tw.started {
		return err
	}
	// The archive is under way: an error reply cannot follow it. Cut
	// the connection so that the client sees a truncated stream rather
	// than an archive that merely ends early.
	s.Logger.Error("dataset export interrupted", "err", err.Error(), "request_id", requestID(r.Context()))
	if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
		conn.Close()
	}
	return nil
}

// commaList splits a comma-separated list, trims each item and drops the
// empty ones (nil for none). Every list-valued query parameter and form
// field is read with it (labels' allowed, export's reweigh, the lineage
// walks' kind, the evaluation form's attributes), so that "a, b,"
// means the same everywhere: a and b; a list of nothing but commas and
// spaces is no list, as an empty parameter is.
func commaList(v string) []string {
	var out []string
	for a := range strings.SplitSeq(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
