package checks

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// processingRuns returns the project's processing runs, oldest first
// (read once per run).
func (r *run) processingRuns(ctx context.Context) ([]*ethos.ProcessingRun, error) {
	return r.procRuns.get(func() ([]*ethos.ProcessingRun, error) {
		runs, err := collect(ctx, func(off, lim int) ([]*ethos.ProcessingRun, int, error) {
			return r.s.Processing.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
		})
		oldestFirst(runs, func(x *ethos.ProcessingRun) (time.Time, string) { return x.StartedAt, x.ID })
		return runs, err
	})
}

// datasetVersions returns the project's dataset versions (read once per
// run).
func (r *run) datasetVersions(ctx context.Context) ([]*ethos.DatasetVersion, error) {
	return r.versions.get(func() ([]*ethos.DatasetVersion, error) {
		return collect(ctx, func(off, lim int) ([]*ethos.DatasetVersion, int, error) {
			return r.s.Datasets.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
		})
	})
}

func (r *run) runLink(id string) string {
	return projectLink(r.prj, "/processing-runs/"+url.PathEscape(id))
}

// processingRecorded answers QC-PRO-1: every processing run of the
// project left a complete record (the record's own validation: who ran
// it, the software, the key fingerprint, the profile and its hash, every
// input's hashes and outcome, written plus quarantined equal to the
// inputs), finished, with the action counts of what was removed,
// replaced or kept.
func (r *run) processingRecorded(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-PRO-1", "")
	if r.s.Processing == nil {
		v.attest("this server keeps no processing records; a data steward must attest how data was processed")
		return v.done(nil), nil
	}
	runs, err := r.processingRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-PRO-1: list processing runs: %w", err)
	}
	if len(runs) == 0 {
		v.pend("no processing run is recorded for the project yet")
		return v.done(nil), nil
	}
	inputs := 0
	for _, head := range runs {
		rv, err := r.s.runVerdict(ctx, head)
		if err != nil {
			return nil, err
		}
		inputs += head.Inputs
		for _, p := range rv.problems {
			v.fail("%s", p)
		}
		v.evidence(ethos.EvidenceRef{Kind: "processing-run", ID: head.ID, Digest: head.Profile.Hash, Link: r.runLink(head.ID), Note: rv.note})
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("%s recorded completely: profile and options with their hash, software, who ran it, key fingerprint, and the hashes and outcome of each of %d inputs.", plural(len(runs), "processing run"), inputs),
		ethos.CheckFail: "At least one processing record is incomplete.",
	}), nil
}

// runRecord is the QC-PRO-1 verdict on one processing record.
type runRecord struct {
	key      string // the listed fields it was computed for
	problems []string
	note     string
}

// maxRunVerdicts bounds the verdicts a Service remembers.
const maxRunVerdicts = 10000

// runVerdict reads a processing run with all its items and judges its
// record. Processing records are never changed once stored, so the
// verdict is remembered per run (keyed also by the listed counts and
// profile hash, which would differ for a different record under the same
// id): the items of a large run are decoded once per server, not once per
// answer.
func (s *Service) runVerdict(ctx context.Context, head *ethos.ProcessingRun) (*runRecord, error) {
	key := fmt.Sprintf("%s|%s|%d|%d|%d|%d", head.ID, head.Profile.Hash, head.Inputs, head.Written, head.Quarantined, head.FinishedAt.UnixNano())
	s.mu.Lock()
	rv, ok := s.runs[head.ID]
	s.mu.Unlock()
	if ok && rv.key == key {
		return rv, nil
	}
	full, err := s.Processing.ProcessingRun(ctx, head.ID)
	if err != nil {
		return nil, fmt.Errorf("QC-PRO-1: read processing run %s: %w", head.ID, err)
	}
	rv = &runRecord{key: key}
	if err := full.Validate(); err != nil {
		rv.problems = append(rv.problems, fmt.Sprintf("processing run %s: the record is incomplete: %s", full.ID, ethos.ErrorMessage(err)))
	}
	if full.Profile.Standard == "" {
		rv.problems = append(rv.problems, fmt.Sprintf("processing run %s: the record does not name the de-identification standard", full.ID))
	}
	if full.FinishedAt.IsZero() || full.FinishedAt.Before(full.StartedAt) {
		rv.problems = append(rv.problems, fmt.Sprintf("processing run %s: no valid finishing time is recorded", full.ID))
	}
	if full.Written > 0 && len(full.Actions) == 0 {
		rv.problems = append(rv.problems, fmt.Sprintf("processing run %s: %d outputs written but no count of what was removed, replaced or kept", full.ID, full.Written))
	}
	rv.note = fmt.Sprintf("%s by %s with %s, profile %s (%s); %d inputs: %d written, %d quarantined",
		stamp(full.StartedAt), full.StartedBy, full.Software, profileWords(full.Profile), strings.Join(full.Profile.Options, ", "),
		full.Inputs, full.Written, full.Quarantined)
	if len(rv.problems) > 0 {
		rv.note = "incomplete record: " + rv.note
	}
	s.mu.Lock()
	if s.runs == nil || len(s.runs) >= maxRunVerdicts {
		s.runs = map[string]*runRecord{}
	}
	s.runs[head.ID] = rv
	s.mu.Unlock()
	return rv, nil
}

func profileWords(p ethos.ProcessingProfile) string {
	if p.Name != "" {
		return p.Name + " of " + p.Standard
	}
	return p.Standard
}

// processingBias answers QC-PRO-2 from the bias table each processing run
// records (per-group exclusion rates before versus after, flagged by the
// processing stage where a group loses disproportionately). The runs
// judged are those dataset versions were built from, and the latest run;
// a flagged group in any of them fails the check.
func (r *run) processingBias(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-PRO-2", "")
	if r.s.Processing == nil {
		v.attest("this server keeps no processing records; a data steward must attest how processing bias was checked")
		return v.done(nil), nil
	}
	runs, err := r.processingRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-PRO-2: list processing runs: %w", err)
	}
	if len(runs) == 0 {
		v.pend("no processing run is recorded for the project yet")
		return v.done(nil), nil
	}
	// Which runs matter: those whose outputs became dataset versions, and
	// the latest (its outputs are the current ones).
	why := map[string][]string{runs[len(runs)-1].ID: {"latest run"}}
	if r.s.Datasets != nil {
		dvs, err := r.datasetVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("QC-PRO-2: list dataset versions: %w", err)
		}
		for _, dv := range dvs {
			if dv.RunID != "" {
				why[dv.RunID] = append(why[dv.RunID], "dataset version "+shortID(dv.ID))
			}
		}
	}
	judged, flagged := 0, 0
	for _, pr := range runs {
		uses, ok := why[pr.ID]
		if !ok {
			continue
		}
		judged++
		ref := ethos.EvidenceRef{Kind: "processing-bias", ID: pr.ID, Digest: pr.Profile.Hash, Link: r.runLink(pr.ID)}
		b := pr.Bias
		switch {
		case b == nil:
			v.fail("processing run %s (%s) recorded no per-group exclusion rates", pr.ID, strings.Join(uses, ", "))
			ref.Note = "no bias table recorded"
		case b.Flagged > 0:
			flagged += b.Flagged
			for _, g := range b.Groups {
				if g.Flagged {
					v.fail("processing run %s: group %s=%s lost %.1f%% of its %d instances (interval %.1f–%.1f%%) against %.1f%% for the rest; threshold %.1f points",
						pr.ID, g.Attribute, g.Value, 100*g.Rate, g.Before, 100*g.Lower, 100*g.Upper, 100*g.RestRate, 100*b.Threshold)
				}
			}
			ref.Note = fmt.Sprintf("%s flagged of %d compared (%s)", plural(b.Flagged, "group"), len(b.Groups), strings.Join(uses, ", "))
		default:
			ref.Note = fmt.Sprintf("overall exclusion %.1f%%; %d groups compared at %.0f%% confidence, none above the rest by more than %.1f points (%s)",
				100*b.Overall, len(b.Groups), 100*b.Confidence, 100*b.Threshold, strings.Join(uses, ", "))
		}
		v.evidence(ref)
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("No demographic group lost disproportionately to quarantine in the %s judged.", plural(judged, "processing run")),
		ethos.CheckFail: fmt.Sprintf("%s lost disproportionately to processing, or a run recorded no bias table.", plural(flagged, "group")),
	}), nil
}

// shortID shortens a content-addressed id for prose.
func shortID(id string) string {
	if len(id) > 16 {
		return id[:12] + "…"
	}
	return id
}
