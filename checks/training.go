package checks

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// trainingRuns returns the project's training runs, oldest first (read
// once per run).
func (r *run) trainingRuns(ctx context.Context) ([]*ethos.TrainingRun, error) {
	return r.trainRuns.get(func() ([]*ethos.TrainingRun, error) {
		runs, err := collect(ctx, func(off, lim int) ([]*ethos.TrainingRun, int, error) {
			return r.s.Training.FindTrainingRuns(ctx, ethos.TrainingRunFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
		})
		oldestFirst(runs, func(x *ethos.TrainingRun) (time.Time, string) { return x.RegisteredAt, x.ID })
		return runs, err
	})
}

func (r *run) trainingLink(id string) string {
	return projectLink(r.prj, "/training/runs/"+url.PathEscape(id))
}

// modelOf returns the model version a training run produced: the one
// recorded, else the id the register gives it.
func modelOf(tr *ethos.TrainingRun) string {
	if tr.ModelVersion != "" {
		return tr.ModelVersion
	}
	return ethos.ModelVersionID(tr.ID)
}

// allDeployments returns the project's deployments (read once per run).
func (r *run) allDeployments(ctx context.Context) ([]*ethos.Deployment, error) {
	if r.s.Deployments == nil {
		return nil, nil
	}
	return r.deployments.get(func() ([]*ethos.Deployment, error) {
		ds, err := collect(ctx, func(off, lim int) ([]*ethos.Deployment, int, error) {
			return r.s.Deployments.FindDeployments(ctx, ethos.DeploymentFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
		})
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
		return ds, nil
	})
}

// trainingReviewed answers QC-TRA-1 from the training register: every run
// is recorded completely (who, when, code and dataset versions,
// parameters, artefact hash) and carries a named reviewer's verdict given
// by someone other than its registrant. A run still waiting for its
// reviewer fails the check; a rejected run is a reviewed decision, but a
// deployment of its model fails it.
func (r *run) trainingReviewed(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-TRA-1", "")
	if r.s.Training == nil {
		v.attest("this server keeps no training register; the ML lead must attest how training runs were reviewed")
		return v.done(nil), nil
	}
	runs, err := r.trainingRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-TRA-1: list training runs: %w", err)
	}
	if len(runs) == 0 {
		v.pend("no training run is registered for the project yet")
		return v.done(nil), nil
	}
	deps, err := r.allDeployments(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-TRA-1: %w", err)
	}
	deployed := map[string][]string{} // model version -> deployments
	for _, d := range deps {
		if d.Status != ethos.DeploymentRetired {
			deployed[d.ModelVersionID] = append(deployed[d.ModelVersionID], d.ID)
		}
	}
	counts := map[ethos.TrainingRunStatus]int{}
	for _, tr := range runs {
		counts[tr.Status]++
		ref := ethos.EvidenceRef{Kind: "training-run", ID: tr.ID, Digest: "sha256:" + tr.ModelSHA256, Link: r.trainingLink(tr.ID)}
		if err := tr.Validate(); err != nil {
			v.fail("training run %s: the register entry is incomplete: %s", tr.ID, ethos.ErrorMessage(err))
		}
		if tr.RegisteredBy == "" || tr.RegisteredAt.IsZero() {
			v.fail("training run %s: the register does not say who registered it and when", tr.ID)
		}
		mv := modelOf(tr)
		switch tr.Status {
		case ethos.RunSignedOff, ethos.RunRejected:
			so := tr.SignOff
			switch {
			case so == nil || so.Reviewer == "":
				v.fail("training run %s is %s but no reviewer's sign-off is recorded", tr.ID, tr.Status)
			case so.Reviewer == tr.RegisteredBy:
				v.fail("training run %s was signed off by the user who registered it (%s)", tr.ID, so.Reviewer)
			default:
				ref.Note = fmt.Sprintf("code %s, dataset version %s, registered by %s at %s; %s by reviewer %s at %s",
					shortID(tr.CodeVersion), shortID(tr.DatasetVersion), tr.RegisteredBy, stamp(tr.RegisteredAt),
					so.Decision, so.Reviewer, stamp(so.At))
			}
			if tr.Status == ethos.RunRejected && len(deployed[mv]) > 0 {
				v.fail("model version %s of rejected training run %s is deployed (%s)", mv, tr.ID, strings.Join(deployed[mv], ", "))
			}
		default:
			v.fail("training run %s (model version %s) has no reviewer's sign-off yet", tr.ID, mv)
			ref.Note = "awaiting a named reviewer's sign-off"
			if len(deployed[mv]) > 0 {
				v.fail("model version %s of unreviewed training run %s is deployed (%s)", mv, tr.ID, strings.Join(deployed[mv], ", "))
			}
		}
		v.evidence(ref)
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("%s registered completely, each reviewed by a named reviewer other than its registrant (%d signed off, %d rejected).",
			plural(len(runs), "training run"), counts[ethos.RunSignedOff], counts[ethos.RunRejected]),
		ethos.CheckFail: fmt.Sprintf("Of %s, %d still wait for their reviewer; the problems list every run without a valid review or a complete register entry.", plural(len(runs), "training run"), counts[ethos.RunRegistered]),
	}), nil
}

// trainingConsent answers QC-TRA-2: each training run carries the consent
// re-check made at its registration, covering every instance of its
// dataset version for ai-training, and the disclosure of the dataset's
// collection sources (the datasheet of its dataset version); a consent
// withdrawal since then whose obligation on the run's dataset or model
// version is still open fails the check until it is resolved.
func (r *run) trainingConsent(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-TRA-2", "")
	if r.s.Training == nil {
		v.attest("this server keeps no training register; a data steward must attest sources and consent of training data")
		return v.done(nil), nil
	}
	runs, err := r.trainingRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-TRA-2: list training runs: %w", err)
	}
	if len(runs) == 0 {
		v.pend("no training run is registered for the project yet")
		return v.done(nil), nil
	}
	open := map[string][]*ethos.Obligation{} // "kind:id" -> open obligations
	if r.s.Obligations == nil {
		v.attest("this server keeps no withdrawal obligations; a data steward must attest that no consent was withdrawn since training")
	} else {
		st := ethos.ObligationOpen
		err := pages(ctx, func(off, lim int) ([]*ethos.Obligation, int, error) {
			return r.s.Obligations.FindObligations(ctx, ethos.ObligationFilter{ProjectID: &r.prj.ID, Status: &st, Offset: off, Limit: lim})
		}, func(o *ethos.Obligation) error {
			k := o.Target.String()
			open[k] = append(open[k], o)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("QC-TRA-2: list obligations: %w", err)
		}
	}
	var inProject map[string]bool // dataset version ids of the project
	if r.s.Datasets != nil {
		dvs, err := r.datasetVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("QC-TRA-2: list dataset versions: %w", err)
		}
		inProject = make(map[string]bool, len(dvs))
		for _, dv := range dvs {
			inProject[dv.ID] = true
		}
	}
	covered := 0
	for _, tr := range runs {
		if tr.Status == ethos.RunRejected {
			continue // not used: its data disclosure does not matter
		}
		c := tr.Coverage
		ref := ethos.EvidenceRef{Kind: "consent-recheck", ID: tr.ID, Link: r.trainingLink(tr.ID)}
		switch {
		case c == nil:
			v.fail("training run %s: no consent re-check is recorded", tr.ID)
			ref.Note = "no consent re-check recorded"
		case !c.Complete():
			v.fail("training run %s: consent for %s covered %d of %d instances at registration (%d subjects withdrew, %d others not covered)",
				tr.ID, c.Purpose, c.Covered, c.Instances, c.Withdrawn, c.OutOfScope)
			ref.Note = fmt.Sprintf("%d of %d instances covered", c.Covered, c.Instances)
		case c.Purpose != ethos.PurposeAITraining:
			v.fail("training run %s: consent was re-checked for %s, not %s", tr.ID, c.Purpose, ethos.PurposeAITraining)
		default:
			covered++
			ref.Note = fmt.Sprintf("all %d instances of %s covered for %s at %s", c.Instances, plural(c.Subjects, "subject"), c.Purpose, stamp(c.CheckedAt))
		}
		v.evidence(ref)
		if inProject != nil && !inProject[tr.DatasetVersion] {
			v.fail("training run %s: its dataset version %s is not recorded in the project, so it has no datasheet", tr.ID, shortID(tr.DatasetVersion))
		}
		if len(tr.Sources) == 0 {
			v.fail("training run %s: the dataset's collection sources are not disclosed", tr.ID)
		} else {
			var ss []string
			for _, s := range tr.Sources {
				ss = append(ss, fmt.Sprintf("%s (%d)", s.Source, s.Instances))
			}
			v.evidence(ethos.EvidenceRef{Kind: "datasheet", ID: tr.DatasetVersion,
				Link: projectLink(r.prj, "/dataset-versions/"+url.PathEscape(tr.DatasetVersion)+"/datasheet"), Note: "sources: " + strings.Join(ss, ", ")})
		}
		mv := modelOf(tr)
		for _, n := range []ethos.LineageNode{{Kind: ethos.LineageDatasetVersion, ID: tr.DatasetVersion}, {Kind: ethos.LineageModelVersion, ID: mv}} {
			for _, o := range open[n.String()] {
				v.fail("training run %s: consent withdrawn since training; obligation %s on %s is open", tr.ID, o.ID, n)
				v.evidence(ethos.EvidenceRef{Kind: "obligation", ID: o.ID, Link: "/api/v1/obligations/" + url.PathEscape(o.ID),
					Note: "open since " + stamp(o.OpenedAt) + " on " + n.String()})
			}
		}
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("Every training run's data sources are disclosed and consent for ai-training covered every instance when it was registered (%s), with no withdrawal left open.", plural(covered, "run")),
		ethos.CheckFail: "A training run's consent coverage or source disclosure is missing, incomplete, or undone by a withdrawal still open.",
	}), nil
}
