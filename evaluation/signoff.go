package evaluation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

// MaxReason bounds a sign-off's reason and reference.
const MaxReason = 4000

// SignOff records a sign-off of the latest attempt of a plan:
//
//   - ethics-review: an ethics reviewer approves or rejects, with a reason;
//     the reviewer must be neither who registered the plan nor who uploaded
//     the predictions;
//   - acknowledgement: a non-technical reviewer (patient advocate or
//     clinician) states they read the plain-language report (QC-EVA-1);
//   - waiver: an ethics reviewer accepts, with a reason, named criteria
//     that did not pass or the missing acknowledgement.
//
// Every sign-off is appended to the audit log before it is stored; the
// entry carries ethos.AuditText of the reason (its length and digest),
// never the reason, so no identifier written in it can reach the log.
func (s *Service) SignOff(ctx context.Context, who ethos.EvaluationActor, runID string, so *ethos.EvaluationSignoff) (*ethos.EvaluationStatus, error) {
	// Held from the "latest attempt" check to the stored sign-off, so an
	// upload cannot slip in between.
	s.mu.Lock()
	defer s.mu.Unlock()
	run, plan, err := s.runAndPlan(ctx, runID)
	if err != nil {
		return nil, err
	}
	latest, err := s.latestRun(ctx, plan.ID)
	if err != nil {
		return nil, err
	}
	if latest.ID != run.ID {
		return nil, ethos.Errorf(ethos.ECONFLICT, "attempt %d of plan %s was superseded by attempt %d (%s): sign off the latest attempt", run.Attempt, plan.ID, latest.Attempt, latest.ID)
	}
	if len(so.Reason) > MaxReason || len(so.Reference) > MaxReason {
		return nil, ethos.Errorf(ethos.EINVALID, "reason and reference: at most %d bytes", MaxReason)
	}
	independent := func() error {
		if who.UserID == plan.RegisteredBy || who.UserID == run.UploadedBy {
			return ethos.Errorf(ethos.EFORBIDDEN, "%s registered the plan or uploaded the predictions: an independent reviewer must sign off", who.UserID)
		}
		return nil
	}
	switch so.Kind {
	case ethos.SignoffEthics:
		if !who.HasRole(ethos.RoleEthicsReviewer) {
			return nil, ethos.Errorf(ethos.EFORBIDDEN, "an ethics review needs the ethics-reviewer role")
		}
		if so.Decision != ethos.DecisionApproved && so.Decision != ethos.DecisionRejected {
			return nil, ethos.Errorf(ethos.EINVALID, "decision: want approved or rejected")
		}
		if strings.TrimSpace(so.Reason) == "" {
			return nil, ethos.Errorf(ethos.EINVALID, "reason: an ethics review needs a reason")
		}
		if err := independent(); err != nil {
			return nil, err
		}
		so.Role, so.Waives = ethos.RoleEthicsReviewer, nil
	case ethos.SignoffAcknowledgement:
		role := ethos.Role("")
		for _, r := range NonTechnicalRoles {
			if who.HasRole(r) {
				role = r
				break
			}
		}
		if role == "" {
			return nil, ethos.Errorf(ethos.EFORBIDDEN, "the plain-language report is acknowledged by a non-technical reviewer (patient-advocate or clinician role)")
		}
		if so.Decision == "" {
			so.Decision = ethos.DecisionAcknowledged
		}
		if so.Decision != ethos.DecisionAcknowledged {
			return nil, ethos.Errorf(ethos.EINVALID, "decision: an acknowledgement has decision acknowledged")
		}
		so.Role, so.Waives = role, nil
	case ethos.SignoffWaiver:
		if !who.HasRole(ethos.RoleEthicsReviewer) {
			return nil, ethos.Errorf(ethos.EFORBIDDEN, "a waiver needs the ethics-reviewer role")
		}
		if so.Decision == "" {
			so.Decision = ethos.DecisionWaived
		}
		if so.Decision != ethos.DecisionWaived {
			return nil, ethos.Errorf(ethos.EINVALID, "decision: a waiver has decision waived")
		}
		if strings.TrimSpace(so.Reason) == "" {
			return nil, ethos.Errorf(ethos.EINVALID, "reason: a waiver must say why it is accountable")
		}
		if err := independent(); err != nil {
			return nil, err
		}
		js, err := judgements(run)
		if err != nil {
			return nil, err
		}
		if len(so.Waives) == 0 {
			return nil, ethos.Errorf(ethos.EINVALID, "waives: name the criteria (ids) or %q waived", ethos.WaiveAcknowledgement)
		}
		for _, w := range so.Waives {
			if w == ethos.WaiveAcknowledgement {
				continue
			}
			i := slices.IndexFunc(js, func(j evalstat.Judgement) bool { return j.Criterion.ID == w })
			if i < 0 {
				return nil, ethos.Errorf(ethos.EINVALID, "waives: names a criterion the plan does not have")
			}
			if js[i].Outcome == evalstat.Pass {
				return nil, ethos.Errorf(ethos.EINVALID, "waives: criterion %q passed; nothing to waive", w)
			}
		}
		so.Role = ethos.RoleEthicsReviewer
	default:
		return nil, ethos.Errorf(ethos.EINVALID, "kind: want ethics-review, acknowledgement or waiver")
	}
	so.ID, so.RunID, so.By, so.At = ethos.NewID("evs"), run.ID, who.UserID, s.now()
	reason := fmt.Sprintf("%s of attempt %d of evaluation-plan/%s: %s; reason on the sign-off: %s", so.Kind, run.Attempt, plan.ID, so.Decision, ethos.AuditText(so.Reason))
	if len(so.Waives) > 0 {
		reason += "; waives " + strings.Join(so.Waives, ", ")
	}
	idx, err := s.Audit.RecordIndexed(ctx, ethos.AuditEvent{Time: so.At, Actor: who.UserID, Party: who.PartyID,
		Action: "evaluation.signoff." + string(so.Kind), Resource: "evaluation-run/" + run.ID, Stage: ethos.StageEvaluation,
		Purpose: ethos.PurposeAIEvaluation, Decision: "", Reason: reason, RequestID: who.RequestID})
	if err != nil {
		return nil, fmt.Errorf("audit sign-off: %w", err)
	}
	so.AuditIndex = idx
	if err := s.Store.CreateEvaluationSignoff(ctx, so); err != nil {
		return nil, err
	}
	return s.Status(ctx, run.ID)
}

func (s *Service) latestRun(ctx context.Context, planID string) (*ethos.EvaluationRun, error) {
	runs, _, err := s.Store.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &planID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, nil
	}
	// Newest upload first; equal times are ordered by attempt.
	return runs[0], nil
}

// judgements decodes the criteria judgements of an attempt.
func judgements(run *ethos.EvaluationRun) ([]evalstat.Judgement, error) {
	var r struct {
		Criteria []evalstat.Judgement `json:"criteria"`
	}
	if err := json.Unmarshal(run.Result, &r); err != nil {
		return nil, fmt.Errorf("attempt %s: result: %w", run.ID, err)
	}
	return r.Criteria, nil
}

// Status says whether an attempt passes the evaluation stage: it is the
// latest attempt of its plan, each criterion passed or was waived, the
// latest ethics review approved it, and a non-technical reviewer
// acknowledged the plain-language report (or that was waived).
func (s *Service) Status(ctx context.Context, runID string) (*ethos.EvaluationStatus, error) {
	run, err := s.Store.FindEvaluationRunByID(ctx, runID)
	if err != nil {
		return nil, err
	}
	sos, err := s.Store.FindEvaluationSignoffs(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	latest, err := s.latestRun(ctx, run.PlanID)
	if err != nil {
		return nil, err
	}
	js, err := judgements(run)
	if err != nil {
		return nil, err
	}
	st := &ethos.EvaluationStatus{RunID: run.ID, PlanID: run.PlanID, ModelVersionID: run.ModelVersionID, Attempt: run.Attempt,
		Latest: latest != nil && latest.ID == run.ID, Outcome: run.Outcome, Ethics: "pending", Waived: []string{}, Blocking: []string{}, Signoffs: sos}
	waived := map[string]bool{}
	for _, so := range sos {
		switch so.Kind {
		case ethos.SignoffEthics:
			st.Ethics = so.Decision
		case ethos.SignoffAcknowledgement:
			st.Acknowledged = true
		case ethos.SignoffWaiver:
			for _, w := range so.Waives {
				if !waived[w] {
					waived[w] = true
					st.Waived = append(st.Waived, w)
				}
			}
		}
	}
	if !st.Latest && latest != nil {
		st.Blocking = append(st.Blocking, fmt.Sprintf("superseded by attempt %d (%s)", latest.Attempt, latest.ID))
	}
	for _, j := range js {
		if j.Outcome != evalstat.Pass && !waived[j.Criterion.ID] {
			st.Blocking = append(st.Blocking, fmt.Sprintf("criterion %s %s: %s", j.Criterion.ID, j.Outcome, j.Evidence))
		}
	}
	switch st.Ethics {
	case "pending":
		st.Blocking = append(st.Blocking, "no ethics review yet")
	case ethos.DecisionRejected:
		st.Blocking = append(st.Blocking, "rejected by the ethics review")
	}
	if !st.Acknowledged && !waived[ethos.WaiveAcknowledgement] {
		st.Blocking = append(st.Blocking, "the plain-language report is not acknowledged by a non-technical reviewer (QC-EVA-1)")
	}
	st.Passed = len(st.Blocking) == 0
	return st, nil
}

// ApprovedEvaluation returns the id of the attempt that passed the
// evaluation stage for a model version: of every plan for it, the latest
// attempt, when it passed (criteria met or waived, ethics approval,
// acknowledgement); the most recent such attempt wins. With none it
// returns ENOTFOUND saying, plan by plan, what is missing.
func (s *Service) ApprovedEvaluation(ctx context.Context, modelVersionID string) (string, error) {
	plans, _, err := s.Store.FindEvaluationPlans(ctx, ethos.EvaluationPlanFilter{ModelVersionID: &modelVersionID, Limit: 1000})
	if err != nil {
		return "", err
	}
	if len(plans) == 0 {
		return "", ethos.Errorf(ethos.ENOTFOUND, "model version %s has no registered evaluation plan", modelVersionID)
	}
	var best *ethos.EvaluationRun
	var why []string
	for _, p := range plans {
		run, err := s.latestRun(ctx, p.ID)
		if err != nil {
			return "", err
		}
		if run == nil {
			why = append(why, fmt.Sprintf("plan %s: no predictions uploaded", p.ID))
			continue
		}
		st, err := s.Status(ctx, run.ID)
		if err != nil {
			return "", err
		}
		if !st.Passed {
			why = append(why, fmt.Sprintf("plan %s attempt %d (%s): %s", p.ID, run.Attempt, run.ID, strings.Join(st.Blocking, "; ")))
			continue
		}
		if best == nil || run.UploadedAt.After(best.UploadedAt) {
			best = run
		}
	}
	if best == nil {
		return "", ethos.Errorf(ethos.ENOTFOUND, "no evaluation of model version %s passed and was signed off: %s", modelVersionID, strings.Join(why, " | "))
	}
	return best.ID, nil
}
