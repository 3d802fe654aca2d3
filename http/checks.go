package http

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// The quality-check endpoint: the framework's eleven checks answered for
// one project from the evidence every stage recorded (docs/checks.md). The
// answer draws on all five stages, so the caller must be allowed to read
// the aggregate view of each, for the purpose that stage's data serves;
// each decision is audited, and so is the answer (its counts only).

// checksRoutes are the quality-check endpoints.
func (s *Server) checksRoutes(auth authFunc) []route {
	return []route{
		{Method: "GET", Path: "/api/v1/projects/{id}/checks", Summary: "The eleven quality checks (QC-COL-1 … QC-DEP-3) of a project: pass, fail, pending or needs-attestation, each with its evidence (aggregate read of every stage).",
			Reply: ethos.ProjectChecks{}, Status: 200, handle: auth(s.handleProjectChecks)},
	}
}

// checkPurposes is the purpose each stage's data is read for in a checks
// request; collection and processing use the project's collection purpose.
var checkPurposes = map[ethos.Stage]ethos.Purpose{
	ethos.StageTraining:   ethos.PurposeAITraining,
	ethos.StageEvaluation: ethos.PurposeAIEvaluation,
	ethos.StageDeployment: ethos.PurposeAIDeploymentMonitoring,
}

func (s *Server) handleProjectChecks(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Checks == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "quality checks are not configured on this server")
	}
	ctx := r.Context()
	prj, err := s.Projects.FindProjectByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	collect := ethos.PurposeResearch
	if s.Instances != nil {
		rules, err := s.Instances.CollectionRules(ctx, prj.ID)
		switch {
		case err == nil:
			collect = rules.Purpose
		case ethos.ErrorCode(err) != ethos.ENOTFOUND:
			return err
		}
	}
	duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &prj.ID, Limit: 1000})
	if err != nil {
		return err
	}
	resource := "project/" + prj.ID + "/checks"
	for _, st := range ethos.Stages {
		purpose, ok := checkPurposes[st]
		if !ok {
			purpose = collect
		}
		if _, err := s.decide(ctx, p, ethos.AccessRequest{ProjectID: prj.ID, ProjectPartyID: prj.PartyID, Stage: st, Action: ethos.ActionRead,
			Purpose: purpose, View: ethos.ViewAggregate, DUAs: duas}, resource); err != nil {
			return err
		}
	}
	pc, err := s.Checks.ProjectChecks(ctx, prj.ID)
	if err != nil {
		return err
	}
	if err := s.recordChange(ctx, p, "checks.answer", resource, checkCounts(pc), prj.Stage); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pc)
	return nil
}

// checkCounts sums the answers in words for the audit log: "11 answers:
// 8 pass, 1 fail, 2 pending; failing QC-TRA-1".
func checkCounts(pc *ethos.ProjectChecks) string {
	n := map[ethos.CheckStatus]int{}
	var failing []string
	for _, q := range pc.Checks {
		n[q.Status]++
		if q.Status == ethos.CheckFail && !slices.Contains(failing, q.ID) {
			failing = append(failing, q.ID)
		}
	}
	var parts []string
	for _, st := range []ethos.CheckStatus{ethos.CheckPass, ethos.CheckFail, ethos.CheckPending, ethos.CheckAttestation} {
		if n[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[st], st))
		}
	}
	out := fmt.Sprintf("%d answers: %s", len(pc.Checks), strings.Join(parts, ", "))
	if len(failing) > 0 {
		sort.Strings(failing)
		out += "; failing " + strings.Join(failing, ", ")
	}
	return out
}
