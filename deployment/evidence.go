package deployment

import (
	"context"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos"
)

// DeploymentEvidence establishes, from what the registry stores, the
// evidence keys of one deployment (QC-DEP-2):
//   - inference-logging-enabled: events stored, the latest received within
//     the registry's LoggingWindow;
//   - risk-register-complete: the stored register (with the plan's
//     stakeholder roles) passes Complete;
//   - evaluation-passed: the evaluation gate still names an approved
//     evaluation for the deployed model version;
//   - human-oversight-assigned: a responsible person is named and, when
//     users can be looked up, exists and is not disabled;
//   - gdpr-/ai-act-/hipaa-…-on-time: no notification of the deployment's
//     incidents is overdue or was late;
//   - no-open-consent-withdrawal (with the registry's Obligations): no
//     open withdrawal obligation on the deployed model version;
//   - monitoring-ran-on-time (with the registry's Monitoring): the
//     deployment's QC-DEP-1 status passes;
//   - log-retention-6-months: the plan's log_retention is at least six
//     months.
//
// Other keys (audit-log-verified), and the two above without their
// reader, are asked of the registry's Evidence, and are unobserved
// without it.
type DeploymentEvidence struct {
	Registry   *Registry
	Deployment *ethos.Deployment
	Now        time.Time

	incidents map[ethos.EvidenceKey]ethos.Observation
}

var _ ethos.ComplianceEvidence = (*DeploymentEvidence)(nil)

func (e *DeploymentEvidence) Observe(ctx context.Context, key ethos.EvidenceKey) (ethos.Observation, bool, error) {
	r, d := e.Registry, e.Deployment
	src := "deployment " + d.ID
	switch key {
	case ethos.EvidenceInferenceLogging:
		st, err := r.Store.EventStats(ctx, d.ID)
		if err != nil {
			return ethos.Observation{}, false, err
		}
		window := r.LoggingWindow
		if window <= 0 {
			window = 24 * time.Hour
		}
		o := ethos.Observation{Source: src + " inference events", At: e.Now}
		switch {
		case st.Count == 0:
			o.Detail = "no inference event has been received"
		case st.LastReceivedAt.Before(e.Now.Add(-window)):
			o.Detail = fmt.Sprintf("%d events stored, but none received since %s (window %s)", st.Count, st.LastReceivedAt.Format(time.RFC3339), window)
		default:
			o.OK = true
			o.Detail = fmt.Sprintf("%d events stored, the latest received at %s (window %s)", st.Count, st.LastReceivedAt.Format(time.RFC3339), window)
		}
		return o, true, nil
	case ethos.EvidenceRiskRegisterComplete:
		reg, err := r.Store.RiskRegister(ctx, d.ID)
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return ethos.Observation{OK: false, Detail: "no risk register is stored", Source: src, At: e.Now}, true, nil
		}
		if err != nil {
			return ethos.Observation{}, false, err
		}
		return RegisterObservation(effectiveRegister(reg, d), Catalogue(), e.Now), true, nil
	case ethos.EvidenceEvaluationPassed:
		id, err := r.gate(ctx, d.ModelVersionID)
		if ethos.ErrorCode(err) == ethos.EINTERNAL {
			return ethos.Observation{}, false, err
		}
		o := ethos.Observation{Source: "evaluation gate", At: e.Now}
		if err != nil {
			o.Detail = ethos.ErrorMessage(err)
		} else {
			o.OK, o.Detail = true, fmt.Sprintf("model version %s has approved evaluation %s", d.ModelVersionID, id)
		}
		return o, true, nil
	case ethos.EvidenceHumanOversight:
		o := ethos.Observation{Source: src, At: e.Now}
		if err := r.checkUser(ctx, "responsible_user_id", d.ResponsibleUserID); err != nil {
			if ethos.ErrorCode(err) == ethos.EINTERNAL {
				return ethos.Observation{}, false, err
			}
			o.Detail = ethos.ErrorMessage(err)
		} else {
			o.OK, o.Detail = true, "responsible person "+d.ResponsibleUserID+" assigned"
		}
		return o, true, nil
	case ethos.EvidenceGDPRBreachesOnTime, ethos.EvidenceAIActIncidentsOnTime, ethos.EvidenceHIPAABreachesOnTime:
		if e.incidents == nil {
			incs, _, err := r.Store.FindIncidents(ctx, ethos.IncidentFilter{DeploymentID: &d.ID, Limit: 1000})
			if err != nil {
				return ethos.Observation{}, false, err
			}
			obs, err := IncidentsObservations(incs, e.Now)
			if err != nil {
				return ethos.Observation{}, false, err
			}
			e.incidents = obs
		}
		o := e.incidents[key]
		o.Source = src + ": " + o.Source
		return o, true, nil
	case ethos.EvidenceNoOpenWithdrawal:
		if r.Obligations != nil {
			o, err := r.obligationObservation(ctx, d, e.Now)
			return o, err == nil, err
		}
	case ethos.EvidenceMonitoringOnTime:
		if r.Monitoring != nil {
			o, err := r.monitoringObservation(ctx, d, e.Now)
			return o, err == nil, err
		}
	case ethos.EvidenceLogRetention:
		o, err := r.retentionObservation(ctx, d, e.Now)
		return o, err == nil, err
	}
	if r.Evidence != nil {
		return r.Evidence.Observe(ctx, key)
	}
	return ethos.Observation{}, false, nil
}
