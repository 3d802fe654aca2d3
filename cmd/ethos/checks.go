package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/checks"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/fileblob"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// checksService builds the quality checks (docs/checks.md) over the
// services "ethos serve" wired into s: each check reads the stage's
// records through the same stores the stage's endpoints use, and calls the
// stage's own judgements (evaluation criteria, compliance checklist,
// monitoring status).
func checksService(a *app, s *ehttp.Server, col *collectionServer) *checks.Service {
	evidence := sqlstore.NewCheckEvidence(a.store) // aggregate queries: instance counts, consents in batches
	cs := &checks.Service{
		Projects: a.projects, Records: a.records,
		Instances: col.instances, Summaries: evidence, Consents: col.consents, ConsentBatch: evidence,
		Audit:  a.logVerifier,
		Events: auditEvents{st: a.auditDB},

		Processing: s.ProcessingRuns, Datasets: s.Datasets,
		Training: s.TrainingRuns, Obligations: s.Obligations,
		Evaluations: s.Evaluations,
		CheckPlan: func(p *ethos.EvaluationPlan) error {
			_, err := evaluation.PlanCriteria(p)
			return err
		},
		Deployments: s.Deployments, Monitor: s.Monitor,
		Now: s.Now,
	}
	// Stored instances are sealed under their subject's data key by the
	// blob store; the checks read the wrapped keys it keeps.
	if fb, ok := col.registry.Blobs.(*fileblob.Store); ok && fb.Keys != nil {
		cs.Keys = fb.Keys
	}
	return cs
}

// auditEvents reads one audit event by index (QC-EVA-2 reads a plan's
// pre-registration event).
type auditEvents struct{ st audit.Storage }

func (e auditEvents) AuditEvent(ctx context.Context, index int64) (*ethos.AuditEvent, error) {
	size, err := e.st.Size(ctx)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= size {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "audit event %d not found (log of %d events)", index, size)
	}
	leaves, err := e.st.Leaves(ctx, index, index+1)
	if errors.Is(err, audit.ErrNotFound) {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "audit event %d not found", index)
	}
	if err != nil {
		return nil, err
	}
	ev, err := audit.DecodeEvent(leaves[0])
	if err != nil {
		return nil, fmt.Errorf("audit event %d: %w", index, err)
	}
	return &ethos.AuditEvent{Time: ev.Time, Actor: ev.Actor, Party: ev.Party, Action: ev.Action, Resource: ev.Resource, Stage: ethos.Stage(ev.Stage),
		Purpose: ethos.Purpose(ev.Purpose), Decision: ev.Decision, Reason: ev.Reason, RequestID: ev.RequestID}, nil
}

var (
	_ checks.AuditEventReader   = auditEvents{}
	_ checks.InstanceReader     = (*sqlstore.InstanceService)(nil)
	_ checks.InstanceSummarizer = (*sqlstore.CheckEvidence)(nil)
	_ checks.ConsentBatchReader = (*sqlstore.CheckEvidence)(nil)
)

// exitError makes the process exit with code after printing its message
// (ethos project checks: 3 when a check fails).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
