package checks

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/ethos-imaging/ethos"
)

func depLink(id, rest string) string { return "/api/v1/deployments/" + url.PathEscape(id) + rest }

// deploymentChecks answers QC-DEP-1, QC-DEP-2 and QC-DEP-3 once per
// deployment of the project that is not retired (Scope "deployment ID"),
// or once for the project, pending, when there is none.
func (r *run) deploymentChecks(ctx context.Context) ([]*ethos.QualityCheck, error) {
	// projectWide answers the three checks once for the project, each as
	// mark leaves it.
	projectWide := func(mark func(v *verdict)) []*ethos.QualityCheck {
		var out []*ethos.QualityCheck
		for _, id := range []string{"QC-DEP-1", "QC-DEP-2", "QC-DEP-3"} {
			v := r.newVerdict(id, "")
			mark(v)
			out = append(out, v.done(nil))
		}
		return out
	}
	if r.s.Deployments == nil {
		return projectWide(func(v *verdict) {
			v.attest("this server keeps no deployment registry; the clinical AI governance lead must attest deployments")
		}), nil
	}
	deps, err := r.allDeployments(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-DEP: %w", err)
	}
	var active []*ethos.Deployment
	retired := 0
	for _, d := range deps {
		if d.Status == ethos.DeploymentRetired {
			retired++
			continue
		}
		active = append(active, d)
	}
	if len(active) == 0 {
		return projectWide(func(v *verdict) {
			if retired > 0 {
				v.pend("every deployment of the project (%d) is retired; nothing runs to check", retired)
			} else {
				v.pend("no model version of the project is deployed yet")
			}
		}), nil
	}
	var out []*ethos.QualityCheck
	for _, d := range active {
		results, err := r.s.Deployments.Compliance(ctx, d.ID, r.now)
		if err != nil {
			return nil, fmt.Errorf("QC-DEP-2: compliance of deployment %s: %w", d.ID, err)
		}
		q1, err := r.monitoring(ctx, d)
		if err != nil {
			return nil, err
		}
		q3, err := r.riskFile(ctx, d, results)
		if err != nil {
			return nil, err
		}
		ref := ethos.EvidenceRef{Kind: "deployment", ID: d.ID, Link: depLink(d.ID, ""),
			Note: fmt.Sprintf("model version %s at %s, %s, revision %d", d.ModelVersionID, d.Site, d.Status, d.Revision)}
		for _, q := range []*ethos.QualityCheck{q1, r.compliance(d, results), q3} {
			q.Evidence = append([]ethos.EvidenceRef{ref}, q.Evidence...)
			out = append(out, q)
		}
	}
	return out, nil
}

func scope(d *ethos.Deployment) string { return "deployment " + d.ID }

// live reports whether the deployment runs in clinical use; before
// go-live (and while suspended) what is missing is pending, not failed.
func live(d *ethos.Deployment) bool { return d.Status == ethos.DeploymentLive }

// monitoring answers QC-DEP-1 with the monitor's own QC-DEP-1 status of
// the deployment: events arriving, checks run on time, rules and owners
// set.
func (r *run) monitoring(ctx context.Context, d *ethos.Deployment) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-DEP-1", scope(d))
	if r.s.Monitor == nil {
		v.attest("this server runs no monitoring; the deployment's responsible person must attest how it is monitored")
		return v.done(nil), nil
	}
	st, err := r.s.Monitor.Status(ctx, d.ID)
	switch {
	case ethos.ErrorCode(err) == ethos.ENOTFOUND:
		if live(d) {
			v.fail("deployment %s is live without a monitoring plan", d.ID)
		} else {
			v.pend("deployment %s (%s) has no monitoring plan yet", d.ID, d.Status)
		}
		return v.done(nil), nil
	case err != nil:
		return nil, fmt.Errorf("QC-DEP-1: monitoring status of %s: %w", d.ID, err)
	}
	note := fmt.Sprintf("%s, %s; recent events: %t; next check due %s", plural(st.Rules, "alert rule"), plural(st.Owners, "owner"), st.RecentEvents, stamp(st.NextDue))
	if len(st.Notes) > 0 {
		note += "; to look at: " + strings.Join(st.Notes, "; ")
	}
	v.evidence(ethos.EvidenceRef{Kind: "monitoring-status", ID: d.ID, Link: depLink(d.ID, "/monitoring/status"), Note: note})
	if st.LastRun != nil {
		v.evidence(ethos.EvidenceRef{Kind: "monitoring-run", ID: st.LastRun.ID, Link: depLink(d.ID, "/monitoring/runs"),
			Note: fmt.Sprintf("last run at %s", stamp(st.LastRun.FinishedAt))})
	}
	if !st.Pass {
		for _, f := range st.Failures {
			if live(d) {
				v.fail("%s", f)
			} else {
				v.pend("%s (deployment is %s)", f, d.Status)
			}
		}
		if len(st.Failures) == 0 {
			v.fail("the monitor reports the check not met")
		}
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("Monitoring of deployment %s is on time: events arrive, scheduled checks ran, %s and %s are set.", d.ID, plural(st.Rules, "alert rule"), plural(st.Owners, "owner")),
	}), nil
}

// compliance answers QC-DEP-2 with the deployment stage's compliance
// checklist: every item passed on evidence, attested or waived by a named
// person passes; an item that failed fails the check once the deployment
// is live (pending before); an item waiting for its attestation needs one.
func (r *run) compliance(d *ethos.Deployment, results []ethos.ComplianceResult) *ethos.QualityCheck {
	v := r.newVerdict("QC-DEP-2", scope(d))
	if len(results) == 0 {
		v.fail("the compliance checklist of deployment %s is empty", d.ID)
		return v.done(nil)
	}
	n := map[ethos.ComplianceOutcome]int{}
	for _, res := range results {
		n[res.Outcome]++
		it := res.Item
		switch res.Outcome {
		case ethos.ComplianceFail:
			if live(d) {
				v.fail("%s (%s %s): %s", it.ID, it.Regime, it.Citation, res.Reason)
			} else {
				v.pend("%s (%s %s): %s", it.ID, it.Regime, it.Citation, res.Reason)
			}
		case ethos.ComplianceAttestationNeeded:
			v.attest("%s (%s %s): %s", it.ID, it.Regime, it.Citation, res.Reason)
		case ethos.ComplianceWaived:
			if a := res.Attestation; a != nil {
				v.evidence(ethos.EvidenceRef{Kind: "compliance-waiver", ID: it.ID, Link: depLink(d.ID, "/attestations"),
					Note: fmt.Sprintf("waived by %s (%s) at %s: %s", a.UserID, a.Role, stamp(a.At), a.Reason)})
			}
		}
	}
	v.evidence(ethos.EvidenceRef{Kind: "compliance-checklist", ID: d.ID, Link: depLink(d.ID, "/compliance"),
		Note: fmt.Sprintf("%d items: %d pass, %d waived, %d need attestation, %d fail", len(results), n[ethos.CompliancePass], n[ethos.ComplianceWaived],
			n[ethos.ComplianceAttestationNeeded], n[ethos.ComplianceFail])})
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass:        fmt.Sprintf("All %d compliance items of deployment %s pass on evidence or carry a named person's attestation or waiver.", len(results), d.ID),
		ethos.CheckAttestation: fmt.Sprintf("%d of %d compliance items of deployment %s wait for a named person's attestation.", n[ethos.ComplianceAttestationNeeded], len(results), d.ID),
		ethos.CheckFail:        fmt.Sprintf("%d of %d compliance items of deployment %s fail.", n[ethos.ComplianceFail], len(results), d.ID),
	})
}

// riskFile answers QC-DEP-3: the compliance checklist's observation of
// the risk register (the deployment stage's completeness check: every
// catalogue hazard scored or excluded, controls verified, residual risks
// justified, the current revision acknowledged by every stakeholder role
// the plan names) must be met, and a live deployment must have gone live
// through a logged go-live change.
func (r *run) riskFile(ctx context.Context, d *ethos.Deployment, results []ethos.ComplianceResult) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-DEP-3", scope(d))
	reg, err := r.s.Deployments.RiskRegister(ctx, d.ID)
	switch {
	case ethos.ErrorCode(err) == ethos.ENOTFOUND:
		if live(d) {
			v.fail("deployment %s is live without a risk register", d.ID)
		} else {
			v.pend("deployment %s has no risk register yet", d.ID)
		}
		return v.done(nil), nil
	case err != nil:
		return nil, fmt.Errorf("QC-DEP-3: risk register of %s: %w", d.ID, err)
	}
	var acks []string
	for _, a := range reg.Acknowledgements {
		if a.Revision == reg.Revision {
			acks = append(acks, fmt.Sprintf("%s by %s at %s", a.Role, a.UserID, stamp(a.At)))
		}
	}
	v.evidence(ethos.EvidenceRef{Kind: "risk-register", ID: fmt.Sprintf("%s@%d", d.ID, reg.Revision), Link: depLink(d.ID, "/risk-register"),
		Note: fmt.Sprintf("revision %d of %s, %s; acknowledged: %s", reg.Revision, stamp(reg.RevisedAt), plural(len(reg.Risks), "risk"), orNone(acks))})
	var obs *ethos.Observation
	for i := range results {
		if results[i].Item.Evidence == ethos.EvidenceRiskRegisterComplete && results[i].Observation != nil {
			obs = results[i].Observation
		}
	}
	switch {
	case obs == nil:
		v.attest("the compliance checklist holds no observation of the risk register; the governance lead must attest its completeness")
	case !obs.OK && live(d):
		v.fail("the risk register is not complete and acknowledged: %s", obs.Detail)
	case !obs.OK:
		v.pend("before go-live: %s", obs.Detail)
	}
	if live(d) {
		cs, err := r.s.Deployments.FindChanges(ctx, d.ID)
		if err != nil {
			return nil, fmt.Errorf("QC-DEP-3: change log of %s: %w", d.ID, err)
		}
		var golive *ethos.DeploymentChange
		for _, c := range cs {
			if c.Kind == ethos.ChangeGoLive {
				golive = c
			}
		}
		if golive == nil {
			v.fail("deployment %s is live but its change log holds no go-live", d.ID)
		} else {
			v.evidence(ethos.EvidenceRef{Kind: "deployment-change", ID: fmt.Sprintf("%s#%d", d.ID, golive.Seq), Link: depLink(d.ID, "/changes"),
				Note: fmt.Sprintf("went live at %s by %s: %s", stamp(golive.At), golive.By, golive.Reason)})
		}
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("The risk register of deployment %s (revision %d) is complete and acknowledged by every stakeholder role.", d.ID, reg.Revision),
	}), nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}
