package http

import (
	"context"

	"github.com/ethos-imaging/ethos"
)

// projectRequest completes req (which names the stage, action, purpose
// and view) with what the policy needs to know of project projectID: its
// id, the party that owns it, and the data use agreements p's party holds
// on it.
func (s *Server) projectRequest(ctx context.Context, p *principal, projectID string, req ethos.AccessRequest) (ethos.AccessRequest, error) {
	prj, err := s.Projects.FindProjectByID(ctx, projectID)
	if err != nil {
		return ethos.AccessRequest{}, err
	}
	duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &prj.ID, Limit: 1000})
	if err != nil {
		return ethos.AccessRequest{}, err
	}
	req.ProjectID, req.ProjectPartyID, req.DUAs = prj.ID, prj.PartyID, duas
	return req, nil
}

// decideOnProject asks the policy about req on project projectID (see
// projectRequest) for resource; decide audits the decision.
func (s *Server) decideOnProject(ctx context.Context, p *principal, projectID string, req ethos.AccessRequest, resource string) error {
	req, err := s.projectRequest(ctx, p, projectID, req)
	if err != nil {
		return err
	}
	_, err = s.decide(ctx, p, req, resource)
	return err
}

// aggregateRead is the view asked for action by the evaluation and
// monitoring endpoints: aggregate results when reading, none otherwise.
func aggregateRead(action ethos.Action) ethos.View {
	if action == ethos.ActionRead {
		return ethos.ViewAggregate
	}
	return ""
}
