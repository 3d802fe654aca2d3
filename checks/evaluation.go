package checks

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// evaluationPlans returns the project's evaluation plans in the order
// they were registered (read once per run).
func (r *run) evaluationPlans(ctx context.Context) ([]*ethos.EvaluationPlan, error) {
	return r.plans.get(func() ([]*ethos.EvaluationPlan, error) {
		plans, err := collect(ctx, func(off, lim int) ([]*ethos.EvaluationPlan, int, error) {
			return r.s.Evaluations.FindEvaluationPlans(ctx, ethos.EvaluationPlanFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
		})
		sort.Slice(plans, func(i, j int) bool {
			if plans[i].AuditIndex != plans[j].AuditIndex {
				return plans[i].AuditIndex < plans[j].AuditIndex
			}
			return plans[i].ID < plans[j].ID
		})
		return plans, err
	})
}

func planLink(id string) string { return "/api/v1/evaluation/plans/" + url.PathEscape(id) }
func attemptLink(id, rest string) string {
	return "/api/v1/evaluation/runs/" + url.PathEscape(id) + rest
}

// plainReport answers QC-EVA-1 from the latest attempt of each evaluation
// plan: the evaluation stage's status of the attempt says whether a
// non-technical reviewer acknowledged its plain-language report (or an
// ethics reviewer accountably waived that). An attempt still waiting for
// its acknowledgement leaves the check pending, unless its model version
// is deployed, which fails it.
func (r *run) plainReport(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-EVA-1", "")
	if r.s.Evaluations == nil {
		v.attest("this server keeps no evaluation records; the governance lead must attest how results were explained")
		return v.done(nil), nil
	}
	plans, err := r.evaluationPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-EVA-1: list evaluation plans: %w", err)
	}
	if len(plans) == 0 {
		v.pend("no evaluation plan is registered for the project yet")
		return v.done(nil), nil
	}
	deps, err := r.allDeployments(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-EVA-1: %w", err)
	}
	acked, waived := 0, 0
	for _, p := range plans {
		latest, _, err := r.s.Evaluations.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("QC-EVA-1: list attempts of plan %s: %w", p.ID, err)
		}
		if len(latest) == 0 {
			v.pend("plan %s: no predictions uploaded yet, so there is no report to acknowledge", p.ID)
			continue
		}
		a := latest[0]
		st, err := r.s.Evaluations.Status(ctx, a.ID)
		if err != nil {
			return nil, fmt.Errorf("QC-EVA-1: status of attempt %s: %w", a.ID, err)
		}
		report := ethos.EvidenceRef{Kind: "plain-report", ID: a.ID, Digest: "sha256:" + a.InputDigest, AuditIndex: idx(a.AuditIndex),
			Link: attemptLink(a.ID, "/report?format=plain"), Note: fmt.Sprintf("attempt %d of plan %s (model version %s); model card at %s", a.Attempt, p.ID, a.ModelVersionID, attemptLink(a.ID, "/model-card"))}
		v.evidence(report)
		switch {
		case st.Acknowledged:
			acked++
			for _, so := range st.Signoffs {
				if so.Kind == ethos.SignoffAcknowledgement {
					v.evidence(ethos.EvidenceRef{Kind: "evaluation-signoff", ID: so.ID, AuditIndex: idx(so.AuditIndex), Link: attemptLink(a.ID, "/signoffs"),
						Note: fmt.Sprintf("plain-language report acknowledged by %s (%s) at %s", so.By, so.Role, stamp(so.At))})
				}
			}
		case slices.Contains(st.Waived, ethos.WaiveAcknowledgement):
			waived++
			for _, so := range st.Signoffs {
				if so.Kind == ethos.SignoffWaiver && slices.Contains(so.Waives, ethos.WaiveAcknowledgement) {
					v.evidence(ethos.EvidenceRef{Kind: "evaluation-signoff", ID: so.ID, AuditIndex: idx(so.AuditIndex), Link: attemptLink(a.ID, "/signoffs"),
						Note: fmt.Sprintf("acknowledgement waived by %s (%s): %s", so.By, so.Role, so.Reason)})
				}
			}
		default:
			var on []string
			for _, d := range deps {
				if d.ModelVersionID == a.ModelVersionID && d.Status != ethos.DeploymentRetired {
					on = append(on, d.ID)
				}
			}
			if len(on) > 0 {
				v.fail("attempt %s of plan %s: model version %s is deployed (%s) but no non-technical reviewer acknowledged its plain-language report", a.ID, p.ID, a.ModelVersionID, strings.Join(on, ", "))
			} else {
				v.pend("attempt %s of plan %s: the plain-language report awaits acknowledgement by a non-technical reviewer (patient advocate or clinician)", a.ID, p.ID)
			}
		}
	}
	sum := fmt.Sprintf("The plain-language report of the latest attempt of %s was acknowledged by a non-technical reviewer", plural(len(plans), "plan"))
	if waived > 0 {
		sum += fmt.Sprintf(" (%d by accountable waiver)", waived)
	}
	return v.done(map[ethos.CheckStatus]string{ethos.CheckPass: sum + "."}), nil
}

// clinicalMetrics answers QC-EVA-2: every evaluation plan was
// pre-registered — the audit event at the plan's recorded index is its
// registration, naming its content digest, and every attempt was uploaded
// after it — and its criteria pass the evaluation stage's own check of
// clinically meaningful metrics judged overall and per subgroup.
func (r *run) clinicalMetrics(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-EVA-2", "")
	if r.s.Evaluations == nil {
		v.attest("this server keeps no evaluation records; the governance lead must attest the acceptance criteria")
		return v.done(nil), nil
	}
	plans, err := r.evaluationPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-EVA-2: list evaluation plans: %w", err)
	}
	if len(plans) == 0 {
		v.pend("no evaluation plan is registered for the project yet")
		return v.done(nil), nil
	}
	if r.s.CheckPlan == nil {
		v.attest("this server cannot check plans' criteria here; the governance lead must attest that they are clinically meaningful")
	}
	if r.s.Events == nil {
		v.attest("this server cannot read audit events here; an auditor must attest the plans' pre-registration events")
	}
	attempts := 0
	for _, p := range plans {
		ref := ethos.EvidenceRef{Kind: "evaluation-plan", ID: p.ID, Digest: "sha256:" + p.Digest, AuditIndex: idx(p.AuditIndex), Link: planLink(p.ID),
			Note: fmt.Sprintf("%q registered by %s at %s, threshold %g, prevalence %g, subgroups %s",
				p.Title, p.RegisteredBy, stamp(p.RegisteredAt), p.Threshold, p.Prevalence, strings.Join(p.Attributes, ", "))}
		v.evidence(ref)
		if r.s.CheckPlan != nil {
			if err := r.s.CheckPlan(p); err != nil {
				v.fail("plan %s: %s", p.ID, ethos.ErrorMessage(err))
			}
		}
		if r.s.Events != nil {
			ev, err := r.s.Events.AuditEvent(ctx, p.AuditIndex)
			switch {
			case ethos.ErrorCode(err) == ethos.ENOTFOUND:
				v.fail("plan %s: its pre-registration event %d is not in the audit log", p.ID, p.AuditIndex)
			case err != nil:
				return nil, fmt.Errorf("QC-EVA-2: read audit event %d: %w", p.AuditIndex, err)
			case p.Digest == "" || ev.Action != "evaluation.plan.register" || ev.Resource != "evaluation-plan/"+p.ID || !strings.Contains(ev.Reason, p.Digest):
				// (Every reason contains an empty digest: a plan without
				// one names no content the event could vouch for.)
				v.fail("plan %s: audit event %d is not the registration of this plan with digest %s", p.ID, p.AuditIndex, shortID(p.Digest))
			}
		}
		err := pages(ctx, func(off, lim int) ([]*ethos.EvaluationRun, int, error) {
			return r.s.Evaluations.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &p.ID, Offset: off, Limit: lim})
		}, func(a *ethos.EvaluationRun) error {
			attempts++
			if a.AuditIndex <= p.AuditIndex || a.UploadedAt.Before(p.RegisteredAt) {
				v.fail("attempt %s was uploaded (audit event %d) before plan %s was registered (audit event %d)", a.ID, a.AuditIndex, p.ID, p.AuditIndex)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("QC-EVA-2: list attempts of plan %s: %w", p.ID, err)
		}
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("Every evaluation plan (%d) was entered in the audit log, with clinically meaningful criteria overall and per subgroup, before any of its attempts (%d in all).",
			len(plans), attempts),
	}), nil
}
