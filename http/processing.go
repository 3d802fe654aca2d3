package http

import (
	"net/http"

	"github.com/ethos-imaging/ethos"
)

// Processing stage (QC-PRO-1, QC-PRO-2): processing records, dataset
// versions and splits, read through the access policy's processing row
// for a declared purpose (each decision audited by s.decide). Members of
// a version (collection instance ids and subject keys) never leave the
// server. Runs, labels, splits and exports are made by 'ethos process' and
// 'ethos dataset' on the machine that holds the data directory.

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
	}
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
	items, n, err := s.ProcessingRuns.FindProcessingRuns(r.Context(), ethos.ProcessingRunFilter{ProjectID: &prj.ID, Offset: off, Limit: lim})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*ethos.ProcessingRun]{Items: nonNil(items), Total: n})
	return nil
}

func (s *Server) handleGetProcessingRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	prj, err := s.readProcessing(r, p)
	if err != nil {
		return err
	}
	run, err := s.ProcessingRuns.ProcessingRun(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	if run.ProjectID != prj.ID {
		return ethos.Errorf(ethos.ENOTFOUND, "processing run %s not found in project %s", r.PathValue("run"), prj.ID)
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
	items, n, err := s.Datasets.FindDatasetVersions(r.Context(), ethos.DatasetVersionFilter{ProjectID: &prj.ID, Offset: off, Limit: lim})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*ethos.DatasetVersion]{Items: nonNil(items), Total: n})
	return nil
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
