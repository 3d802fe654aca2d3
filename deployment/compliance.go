package deployment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// The regimes of the checklist.
const (
	RegimeAIAct = "EU AI Act"
	RegimeGDPR  = "GDPR"
	RegimeHIPAA = "HIPAA"
)

// Checklist returns the default compliance checklist of QC-DEP-2: the
// duties of a deployer of a high-risk AI system under the EU AI Act and the
// duties GDPR and HIPAA put on a hospital running one. Items that Ethos can
// check from records name an evidence key; the others name the roles who
// may attest them. The wording is Ethos's own summary, not the legal text.
func Checklist() []ethos.ComplianceItem {
	steward := []ethos.Role{ethos.RoleDataSteward}
	admin := []ethos.Role{ethos.RoleAdmin}
	return []ethos.ComplianceItem{
		{ID: "AIA-9", Regime: RegimeAIAct, Citation: "art. 9", Duty: "A risk management process covers the system: hazards assessed, controls verified, residual risks accepted before use.", Evidence: ethos.EvidenceRiskRegisterComplete},
		{ID: "AIA-12", Regime: RegimeAIAct, Citation: "art. 12", Duty: "The system records events automatically while it runs, so that its use can be traced.", Evidence: ethos.EvidenceInferenceLogging},
		{ID: "AIA-15", Regime: RegimeAIAct, Citation: "art. 15", Duty: "The deployed version reached its declared accuracy and robustness in an evaluation that passed.", Evidence: ethos.EvidenceEvaluationPassed},
		{ID: "AIA-26-1", Regime: RegimeAIAct, Citation: "art. 26(1)", Duty: "The system is used as its instructions for use say, within its intended purpose.", AttestRoles: []ethos.Role{ethos.RoleMLEngineer, ethos.RoleAdmin}},
		{ID: "AIA-26-2", Regime: RegimeAIAct, Citation: "art. 26(2), art. 14", Duty: "Named people with the competence, training and authority to oversee the system are assigned.", Evidence: ethos.EvidenceHumanOversight},
		{ID: "AIA-26-4", Regime: RegimeAIAct, Citation: "art. 26(4)", Duty: "Input data under the deployer's control is relevant and sufficiently representative for the intended purpose.", AttestRoles: steward},
		{ID: "AIA-26-5", Regime: RegimeAIAct, Citation: "art. 26(5), art. 72", Duty: "Operation is monitored on the planned schedule, and risks found are passed to the provider.", Evidence: ethos.EvidenceMonitoringOnTime},
		{ID: "AIA-26-6", Regime: RegimeAIAct, Citation: "art. 26(6)", Duty: "Automatically generated logs are kept for at least six months.", Evidence: ethos.EvidenceLogRetention},
		{ID: "AIA-26-7", Regime: RegimeAIAct, Citation: "art. 26(7)", Duty: "Workers and their representatives are told before the system is used at the workplace.", AttestRoles: admin},
		{ID: "AIA-26-11", Regime: RegimeAIAct, Citation: "art. 26(11)", Duty: "People about whom the system helps to make decisions are told that it is used.", AttestRoles: []ethos.Role{ethos.RoleClinician, ethos.RoleAdmin}},
		{ID: "AIA-27", Regime: RegimeAIAct, Citation: "art. 27", Duty: "A fundamental-rights impact assessment is done where the deployer is a public body or provides public services (waive with a reason otherwise).", AttestRoles: []ethos.Role{ethos.RoleEthicsReviewer}},
		{ID: "AIA-73", Regime: RegimeAIAct, Citation: "art. 73, art. 26(5)", Duty: "Serious incidents are reported to the market surveillance authority within their deadlines.", Evidence: ethos.EvidenceAIActIncidentsOnTime},
		{ID: "GDPR-6-9", Regime: RegimeGDPR, Citation: "art. 6, art. 9", Duty: "Processing of health data has a lawful basis and an art. 9(2) condition, documented.", AttestRoles: steward},
		{ID: "GDPR-7-17", Regime: RegimeGDPR, Citation: "art. 7(3), art. 17", Duty: "Withdrawn consents and erasure requests touching the deployed model have been acted on.", Evidence: ethos.EvidenceNoOpenWithdrawal},
		{ID: "GDPR-22", Regime: RegimeGDPR, Citation: "art. 22", Duty: "No decision with significant effect rests on the model alone; a person reviews it.", Evidence: ethos.EvidenceHumanOversight},
		{ID: "GDPR-30", Regime: RegimeGDPR, Citation: "art. 30", Duty: "The processing is entered in the record of processing activities.", AttestRoles: steward},
		{ID: "GDPR-32", Regime: RegimeGDPR, Citation: "art. 32", Duty: "Security of processing: access is controlled and the audit trail verifies.", Evidence: ethos.EvidenceAuditLogVerified},
		{ID: "GDPR-33", Regime: RegimeGDPR, Citation: "art. 33, art. 34", Duty: "Personal-data breaches are notified to the supervisory authority, and to people where required, in time.", Evidence: ethos.EvidenceGDPRBreachesOnTime},
		{ID: "GDPR-35", Regime: RegimeGDPR, Citation: "art. 35", Duty: "A data protection impact assessment is done and its measures are in place.", AttestRoles: []ethos.Role{ethos.RoleDataSteward, ethos.RoleEthicsReviewer}},
		{ID: "HIPAA-308", Regime: RegimeHIPAA, Citation: "45 CFR 164.308(a)(1)(ii)(A)", Duty: "The security risk analysis covers the model service and its data flows.", AttestRoles: admin},
		{ID: "HIPAA-312B", Regime: RegimeHIPAA, Citation: "45 CFR 164.312(b)", Duty: "Audit controls record and allow review of activity on systems holding PHI.", Evidence: ethos.EvidenceAuditLogVerified},
		{ID: "HIPAA-404", Regime: RegimeHIPAA, Citation: "45 CFR 164.404-164.408", Duty: "Breaches of unsecured PHI are notified to individuals, HHS and the media within their deadlines.", Evidence: ethos.EvidenceHIPAABreachesOnTime},
		{ID: "HIPAA-504E", Regime: RegimeHIPAA, Citation: "45 CFR 164.504(e)", Duty: "A business associate agreement covers every vendor that handles PHI for the model.", AttestRoles: admin},
		{ID: "HIPAA-514", Regime: RegimeHIPAA, Citation: "45 CFR 164.502(b), 164.514", Duty: "Only the minimum necessary PHI reaches the model; data used outside care is de-identified.", AttestRoles: steward},
	}
}

// ValidateChecklist checks item ids are present and distinct and that each
// item can be decided: by evidence, by attestation, or both.
func ValidateChecklist(items []ethos.ComplianceItem) error {
	seen := map[string]bool{}
	for i, it := range items {
		switch {
		case it.ID == "":
			return ethos.Errorf(ethos.EINVALID, "checklist item %d: id required", i)
		case seen[it.ID]:
			return ethos.Errorf(ethos.EINVALID, "checklist item %s: id repeated", it.ID)
		case it.Evidence == "" && len(it.AttestRoles) == 0:
			return ethos.Errorf(ethos.EINVALID, "checklist item %s: names neither an evidence key nor roles that may attest", it.ID)
		}
		for _, r := range it.AttestRoles {
			if !r.Valid() {
				return ethos.Errorf(ethos.EINVALID, "checklist item %s: unknown role %q", it.ID, r)
			}
		}
		seen[it.ID] = true
	}
	return nil
}

// Evaluate decides every item at now:
//   - evidence found and ok: pass; evidence found and not ok: fail (an
//     attestation cannot overrule a recorded failure);
//   - otherwise the latest valid attestation decides: pass, or waived
//     when it is a waiver; valid means signed by a user in one of the
//     item's roles, dated no later than now, with a statement;
//   - otherwise attestation-needed, saying what is missing.
//
// ev may be nil when no evidence is available yet.
func Evaluate(ctx context.Context, items []ethos.ComplianceItem, ev ethos.ComplianceEvidence, atts []ethos.Attestation, now time.Time) ([]ethos.ComplianceResult, error) {
	if err := ValidateChecklist(items); err != nil {
		return nil, err
	}
	cache := map[ethos.EvidenceKey]*ethos.Observation{}
	out := make([]ethos.ComplianceResult, 0, len(items))
	for _, it := range items {
		res := ethos.ComplianceResult{Item: it}
		var missing string
		if it.Evidence != "" {
			obs, seen := cache[it.Evidence]
			if !seen && ev != nil {
				o, ok, err := ev.Observe(ctx, it.Evidence)
				if err != nil {
					return nil, fmt.Errorf("compliance item %s: observe %s: %w", it.ID, it.Evidence, err)
				}
				if ok {
					obs = &o
				}
				cache[it.Evidence] = obs
			}
			if obs != nil {
				res.Observation = obs
				if obs.OK {
					res.Outcome, res.Reason = ethos.CompliancePass, "evidence "+string(it.Evidence)+": "+obs.Detail
				} else {
					res.Outcome, res.Reason = ethos.ComplianceFail, "evidence "+string(it.Evidence)+" failed: "+obs.Detail
				}
				out = append(out, res)
				continue
			}
			missing = "no evidence recorded for " + string(it.Evidence)
		}
		if a, why := latestAttestation(it, atts, now); a != nil {
			res.Attestation = a
			res.Outcome = ethos.CompliancePass
			res.Reason = fmt.Sprintf("attested by %s (%s) at %s", a.UserID, a.Role, a.At.UTC().Format(time.RFC3339))
			if a.Waiver {
				res.Outcome = ethos.ComplianceWaived
				res.Reason = fmt.Sprintf("waived by %s (%s) at %s: %s", a.UserID, a.Role, a.At.UTC().Format(time.RFC3339), a.Reason)
			}
		} else {
			res.Outcome = ethos.ComplianceAttestationNeeded
			res.Reason = strings.Join(slices.DeleteFunc([]string{missing, why}, func(s string) bool { return s == "" }), "; ")
		}
		out = append(out, res)
	}
	return out, nil
}

// latestAttestation returns the most recent valid attestation for it, or
// nil and what is missing.
func latestAttestation(it ethos.ComplianceItem, atts []ethos.Attestation, now time.Time) (*ethos.Attestation, string) {
	if len(it.AttestRoles) == 0 {
		return nil, ""
	}
	var best *ethos.Attestation
	var rejected []string
	for i := range atts {
		a := &atts[i]
		if a.ItemID != it.ID {
			continue
		}
		switch {
		case a.UserID == "" || a.At.IsZero() || strings.TrimSpace(a.Reason) == "":
			rejected = append(rejected, "an attestation lacks who, when or statement")
		case a.At.After(now):
			rejected = append(rejected, "an attestation is dated in the future")
		case !slices.Contains(it.AttestRoles, a.Role):
			rejected = append(rejected, fmt.Sprintf("an attestation by role %s, which may not attest it", a.Role))
		case best == nil || a.At.After(best.At):
			best = a
		}
	}
	if best != nil {
		return best, ""
	}
	why := "needs an attestation by " + roleList(it.AttestRoles)
	if len(rejected) > 0 {
		why += " (ignored: " + strings.Join(rejected, "; ") + ")"
	}
	return nil, why
}

// Summary counts results by outcome.
func Summary(rs []ethos.ComplianceResult) map[ethos.ComplianceOutcome]int {
	m := map[ethos.ComplianceOutcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

// EvidenceMap is evidence held in memory, keyed by evidence key.
type EvidenceMap map[ethos.EvidenceKey]ethos.Observation

// Observe implements ethos.ComplianceEvidence.
func (m EvidenceMap) Observe(_ context.Context, k ethos.EvidenceKey) (ethos.Observation, bool, error) {
	o, ok := m[k]
	return o, ok, nil
}

var _ ethos.ComplianceEvidence = EvidenceMap(nil)

// RegisterObservation turns the completeness check of a register into the
// evidence EvidenceRiskRegisterComplete.
func RegisterObservation(reg *ethos.RiskRegister, catalogue []ethos.Hazard, now time.Time) ethos.Observation {
	src := fmt.Sprintf("risk register of project %s, revision %d", reg.ProjectID, reg.Revision)
	gaps := Complete(reg, catalogue)
	if len(gaps) == 0 {
		return ethos.Observation{OK: true, Detail: fmt.Sprintf("%d risks, all complete and acknowledged", len(reg.Risks)), Source: src, At: now}
	}
	detail := fmt.Sprintf("%d gaps, first: %s", len(gaps), gaps[0])
	return ethos.Observation{OK: false, Detail: detail, Source: src, At: now}
}

// IncidentsObservations turns the deadlines of incidents into evidence,
// one observation per regime (GDPR, EU AI Act, HIPAA): ok when none of
// that regime's notifications is overdue or was sent late.
func IncidentsObservations(incs []*ethos.Incident, now time.Time) (map[ethos.EvidenceKey]ethos.Observation, error) {
	type tally struct {
		n   int
		bad []string
	}
	keys := []ethos.EvidenceKey{ethos.EvidenceGDPRBreachesOnTime, ethos.EvidenceAIActIncidentsOnTime, ethos.EvidenceHIPAABreachesOnTime}
	t := map[ethos.EvidenceKey]*tally{}
	for _, k := range keys {
		t[k] = &tally{}
	}
	for _, inc := range incs {
		st, err := Status(inc, now)
		if err != nil {
			return nil, err
		}
		for _, s := range st {
			var k ethos.EvidenceKey
			switch {
			case strings.HasPrefix(s.Rule, "GDPR"):
				k = ethos.EvidenceGDPRBreachesOnTime
			case strings.HasPrefix(s.Rule, "EU AI Act"):
				k = ethos.EvidenceAIActIncidentsOnTime
			default:
				k = ethos.EvidenceHIPAABreachesOnTime
			}
			t[k].n++
			if s.State == ethos.DeadlineOverdue || s.State == ethos.DeadlineLate {
				t[k].bad = append(t[k].bad, fmt.Sprintf("incident %s: %s to %s %s", inc.ID, s.Rule, s.Recipient, s.State))
			}
		}
	}
	out := map[ethos.EvidenceKey]ethos.Observation{}
	for _, k := range keys {
		o := ethos.Observation{OK: len(t[k].bad) == 0, Source: fmt.Sprintf("deadlines of %d incidents", len(incs)), At: now}
		if o.OK {
			o.Detail = fmt.Sprintf("%d notification duties, none overdue or late", t[k].n)
		} else {
			o.Detail = strings.Join(t[k].bad, "; ")
		}
		out[k] = o
	}
	return out, nil
}
