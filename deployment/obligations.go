package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// A consent withdrawal opens an obligation on every model version built
// from the subject's data (docs/training.md). When such a model version is
// deployed, the deployment shows it, and nothing is switched off silently:
//
//   - the change log gets an obligation-notice entry naming the
//     obligation, with the plan's stakeholder roles notified, who
//     acknowledge it like any change (NoticeObligations; the server's
//     sweep writes it within one interval of the withdrawal);
//   - the monitoring status lists it as a notice (OpenObligations, read
//     by the monitor);
//   - compliance item GDPR-7-17 (evidence no-open-consent-withdrawal)
//     fails until the obligation is resolved (retrain, exemption or
//     retire), evaluated from the obligations themselves.

// ObligationFinder reads withdrawal obligations; the training stage's
// ethos.ObligationService is one.
type ObligationFinder interface {
	FindObligations(ctx context.Context, f ethos.ObligationFilter) ([]*ethos.Obligation, int, error)
}

// MonitorStatuser reports QC-DEP-1 of a deployment; the monitor
// (ethos.MonitorService) is one.
type MonitorStatuser interface {
	Status(ctx context.Context, deploymentID string) (*ethos.MonitorStatus, error)
}

// maxObligations bounds the obligations read for one model version.
const maxObligations = 1000

// openObligations returns the open obligations on d's model version,
// oldest first.
func (r *Registry) openObligations(ctx context.Context, d *ethos.Deployment) ([]*ethos.Obligation, error) {
	open := ethos.ObligationOpen
	target := ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: d.ModelVersionID}
	obs, _, err := r.Obligations.FindObligations(ctx, ethos.ObligationFilter{Target: &target, Status: &open, Limit: maxObligations})
	if err != nil {
		return nil, fmt.Errorf("obligations of model version %s: %w", d.ModelVersionID, err)
	}
	slices.SortStableFunc(obs, func(a, b *ethos.Obligation) int { return a.OpenedAt.Compare(b.OpenedAt) })
	return obs, nil
}

// OpenObligations implements ethos.DeploymentObligations: the open
// withdrawal obligations on the model version the deployment runs. Without
// an obligation reader it returns none.
func (r *Registry) OpenObligations(ctx context.Context, deploymentID string) ([]*ethos.Obligation, error) {
	d, err := r.Store.FindDeploymentByID(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	if r.Obligations == nil {
		return []*ethos.Obligation{}, nil
	}
	return r.openObligations(ctx, d)
}

var _ ethos.DeploymentObligations = (*Registry)(nil)

// SystemActor is the user id Ethos writes its own change-log entries as.
const SystemActor = "system"

// noticeDeployed reports whether a deployment in status st runs its model
// (live) or may run it again (suspended): those get notices.
func noticeDeployed(st ethos.DeploymentStatus) bool {
	return st == ethos.DeploymentLive || st == ethos.DeploymentSuspended
}

// NoticeObligations writes an obligation-notice entry in the change log of
// a live or suspended deployment for every open obligation on its model
// version that has none yet, and returns the entries written. It changes
// nothing else: the deployment keeps its status until a person decides.
func (r *Registry) NoticeObligations(ctx context.Context, deploymentID string) ([]*ethos.DeploymentChange, error) {
	if r.Obligations == nil {
		return nil, nil
	}
	var out []*ethos.DeploymentChange
	// A concurrent change takes the revision first: read again and retry.
	for attempt := 0; ; attempt++ {
		written, err := r.noticeOnce(ctx, deploymentID, out)
		if ethos.ErrorCode(err) == ethos.ECONFLICT && attempt < 3 {
			out = written
			continue
		}
		return written, err
	}
}

func (r *Registry) noticeOnce(ctx context.Context, deploymentID string, out []*ethos.DeploymentChange) ([]*ethos.DeploymentChange, error) {
	cur, err := r.Store.FindDeploymentByID(ctx, deploymentID)
	if err != nil {
		return out, err
	}
	if !noticeDeployed(cur.Status) {
		return out, nil
	}
	obs, err := r.openObligations(ctx, cur)
	if err != nil || len(obs) == 0 {
		return out, err
	}
	changes, err := r.Store.FindChanges(ctx, deploymentID)
	if err != nil {
		return out, err
	}
	noticed := map[string]bool{}
	for _, c := range changes {
		if c.Kind == ethos.ChangeObligationNotice {
			noticed[c.To] = true
		}
	}
	notified := cur.StakeholderRoles
	if len(notified) == 0 {
		notified = []ethos.Role{ethos.RoleClinician}
	}
	for _, o := range obs {
		if noticed[o.ID] {
			continue
		}
		now := r.now()
		d := *cur
		d.Revision, d.UpdatedAt = cur.Revision+1, now
		c := &ethos.DeploymentChange{DeploymentID: d.ID, Seq: d.Revision, Kind: ethos.ChangeObligationNotice, From: "model version " + d.ModelVersionID, To: o.ID,
			Reason: fmt.Sprintf("a consent withdrawal opened obligation %s on the deployed model version %s (%s)", o.ID, d.ModelVersionID, o.OpenedAt.UTC().Format(time.RFC3339)),
			ExpectedEffect: "no automatic effect: the model version must be retrained without the subject, exempted with a documented basis, or retired; " +
				"compliance item GDPR-7-17 fails until the obligation is resolved",
			Notified: notified, By: SystemActor, At: now, Acks: []ethos.ChangeAck{}}
		if err := r.Store.UpdateDeployment(ctx, &d, c); err != nil {
			return out, err
		}
		c.Pending = pending(c)
		out = append(out, c)
		cur = &d
	}
	return out, nil
}

// SweepObligationNotices runs NoticeObligations over every live and
// suspended deployment and returns how many entries it wrote. An error on
// one deployment does not stop the others; the first is returned.
func (r *Registry) SweepObligationNotices(ctx context.Context) (int, error) {
	if r.Obligations == nil {
		return 0, nil
	}
	n := 0
	var first error
	for _, st := range []ethos.DeploymentStatus{ethos.DeploymentLive, ethos.DeploymentSuspended} {
		for offset := 0; ; {
			ds, total, err := r.Store.FindDeployments(ctx, ethos.DeploymentFilter{Status: &st, Offset: offset, Limit: 500})
			if err != nil {
				return n, err
			}
			for _, d := range ds {
				cs, err := r.NoticeObligations(ctx, d.ID)
				n += len(cs)
				if err != nil && first == nil {
					first = fmt.Errorf("obligation notices of deployment %s: %w", d.ID, err)
				}
			}
			offset += len(ds)
			if len(ds) == 0 || offset >= total {
				break
			}
		}
	}
	return n, first
}

// obligationObservation is the evidence no-open-consent-withdrawal of a
// deployment: ok when its model version has no open obligation.
func (r *Registry) obligationObservation(ctx context.Context, d *ethos.Deployment, now time.Time) (ethos.Observation, error) {
	obs, err := r.openObligations(ctx, d)
	if err != nil {
		return ethos.Observation{}, err
	}
	o := ethos.Observation{Source: "withdrawal obligations on model version " + d.ModelVersionID, At: now}
	if len(obs) == 0 {
		o.OK, o.Detail = true, "no open withdrawal obligation on the deployed model version"
		return o, nil
	}
	ids := make([]string, 0, min(len(obs), 5))
	for _, ob := range obs[:min(len(obs), 5)] {
		ids = append(ids, ob.ID+" (opened "+ob.OpenedAt.UTC().Format(time.RFC3339)+")")
	}
	more := ""
	if len(obs) > 5 {
		more = fmt.Sprintf(" and %d more", len(obs)-5)
	}
	o.Detail = fmt.Sprintf("%d open withdrawal obligation(s) on the deployed model version: %s%s; resolve by retraining, a documented exemption or retiring",
		len(obs), strings.Join(ids, ", "), more)
	return o, nil
}

// MinLogRetention is what the EU AI Act (art. 26(6)) asks of a deployer:
// keep the logs the system generates for at least six months.
const MinLogRetention = 183 * 24 * time.Hour

// logRetention reads the plan member "log_retention" (a span such as
// "365d"); 0 when the plan declares none.
func logRetention(plan []byte) (time.Duration, error) {
	var head struct {
		LogRetention *string `json:"log_retention"`
	}
	if err := json.Unmarshal(plan, &head); err != nil {
		return 0, ethos.Errorf(ethos.EINVALID, "plan.log_retention: want a span such as \"365d\"")
	}
	if head.LogRetention == nil {
		return 0, nil
	}
	d, err := ethos.ParseSpan(*head.LogRetention)
	if err != nil || d <= 0 {
		return 0, ethos.Errorf(ethos.EINVALID, "plan.log_retention: want a positive span such as \"365d\"")
	}
	return d, nil
}

// retentionObservation is the evidence log-retention-6-months of a
// deployment: its plan keeps inference logs at least six months. Ethos
// itself deletes no inference event, so the declared period is the one
// that binds whoever runs the database; the stored span is reported.
func (r *Registry) retentionObservation(ctx context.Context, d *ethos.Deployment, now time.Time) (ethos.Observation, error) {
	o := ethos.Observation{Source: "deployment " + d.ID + " plan (log_retention) and inference events", At: now}
	keep, err := logRetention(d.Plan)
	if err != nil {
		o.Detail = ethos.ErrorMessage(err)
		return o, nil
	}
	st, err := r.Store.EventStats(ctx, d.ID)
	if err != nil {
		return ethos.Observation{}, err
	}
	stored := "no inference event stored yet"
	if st.Count > 0 {
		stored = fmt.Sprintf("%d events stored, the oldest from %s; Ethos deletes none", st.Count, st.FirstTime.UTC().Format(time.RFC3339))
	}
	switch {
	case keep == 0:
		o.Detail = "the plan declares no log_retention (at least \"183d\" is required); " + stored
	case keep < MinLogRetention:
		o.Detail = fmt.Sprintf("the plan keeps logs %s, less than six months (183d); %s", ethos.SpanOf(keep), stored)
	default:
		o.OK, o.Detail = true, fmt.Sprintf("the plan keeps logs %s (at least six months); %s", ethos.SpanOf(keep), stored)
	}
	return o, nil
}

// monitoringObservation is the evidence monitoring-ran-on-time of a
// deployment: its QC-DEP-1 status passes (windows checked on time, the
// last run succeeded, events arriving, rules and owners set).
func (r *Registry) monitoringObservation(ctx context.Context, d *ethos.Deployment, now time.Time) (ethos.Observation, error) {
	o := ethos.Observation{Source: "monitoring status (QC-DEP-1) of deployment " + d.ID, At: now}
	st, err := r.Monitoring.Status(ctx, d.ID)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND {
		o.Detail = "no monitoring plan is stored for the deployment"
		return o, nil
	}
	if err != nil {
		return ethos.Observation{}, err
	}
	if !st.Pass {
		o.Detail = strings.Join(st.Failures, "; ")
		return o, nil
	}
	o.OK = true
	o.Detail = fmt.Sprintf("%d rules, %d owners, events arriving; next window check due %s", st.Rules, st.Owners, st.NextDue.UTC().Format(time.RFC3339))
	if st.CheckedTo != nil {
		o.Detail += "; windows checked to " + st.CheckedTo.UTC().Format(time.RFC3339)
	}
	return o, nil
}
