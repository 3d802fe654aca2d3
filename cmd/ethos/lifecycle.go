package main

import (
	"context"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/training"
)

// deploymentGate is the deployment stage's gate across the lifecycle: a
// model version may be deployed (registered, changed to, or taken live)
// only with a passed, signed-off evaluation (the evaluation stage, asked
// first), while
// it is active in the training register, and while no withdrawal
// obligation is open on it (docs/lifecycle.md). Without the last two
// checks a subject's withdrawal reached the dataset and model versions
// but a new deployment of the same model could still be registered and
// go live.
type deploymentGate struct {
	evaluations ethos.ApprovedEvaluations
	training    *training.Service
}

var _ ethos.ApprovedEvaluations = deploymentGate{}

// ApprovedEvaluation returns the approved evaluation of modelVersionID, or
// ECONFLICT naming why the model version may not be deployed.
func (g deploymentGate) ApprovedEvaluation(ctx context.Context, modelVersionID string) (string, error) {
	id, err := g.evaluations.ApprovedEvaluation(ctx, modelVersionID)
	if err != nil || id == "" {
		return id, err
	}
	m, err := g.training.Runs.FindModelVersionByID(ctx, modelVersionID)
	if err != nil {
		return "", err
	}
	if m.Status != ethos.ModelActive {
		return "", ethos.Errorf(ethos.ECONFLICT, "model version %s is %s in the training register", modelVersionID, m.Status)
	}
	open := ethos.ObligationOpen
	target := ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: modelVersionID}
	obs, n, err := g.training.Obligations.FindObligations(ctx, ethos.ObligationFilter{Target: &target, Status: &open, Limit: 10})
	if err != nil {
		return "", err
	}
	if n > 0 {
		ids := make([]string, len(obs))
		for i, o := range obs {
			ids[i] = o.ID
		}
		return "", ethos.Errorf(ethos.ECONFLICT, "model version %s has %d open withdrawal obligations (%s): resolve them first (retrain, exemption or retire)",
			modelVersionID, n, strings.Join(ids, ", "))
	}
	return id, nil
}
