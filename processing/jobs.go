package processing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
)

// Runner runs processing runs in the background for a server: the HTTP
// adapter starts a run through ethos.ProcessingWorkflow and polls its job
// until the record is stored.
//
// With Jobs set, every job is a row in the database: written when the job
// starts, its counts rewritten every ProgressEvery while it runs (the
// row's heartbeat), and finished once, done with the record's id or
// failed with the error. A job whose server stopped is settled by
// SettleInterrupted (at the next start, and by the sweep Open starts) so a
// data steward always learns what became of a run. Without Jobs, jobs
// live in this process's memory only.
type Runner struct {
	Processor *Processor
	Projects  ethos.ProjectService
	Instances ethos.InstanceService // collection rules: the project's purpose
	// Jobs keeps the jobs (nil: in memory only, lost with the process).
	Jobs ethos.ProcessingJobStore
	// ProgressEvery is how often a running job's counts are written to
	// Jobs (default 2 s): at most one write per period, however many
	// instances were done in it, and at least one, as a heartbeat.
	ProgressEvery time.Duration
	// Stale is how long a running job's row may go without a progress
	// write before the sweep takes its server for stopped (default
	// 2 min; it must be well above ProgressEvery, since a write may
	// wait for the database).
	Stale time.Duration
	// Wait is how long StartProcessingRun waits for a run to finish
	// before answering with a running job (default 2 s).
	Wait time.Duration
	// Keep is how many finished jobs are remembered (default 100).
	Keep int
	// Logger receives the operator's side of internal failures (nil:
	// not logged).
	Logger *slog.Logger

	mu       sync.Mutex
	jobs     map[string]*runnerJob
	finished []string // ids of finished jobs, oldest first
	wg       sync.WaitGroup
	stop     context.CancelFunc
	base     context.Context
}

type runnerJob struct {
	job  ethos.ProcessingJob
	done chan struct{}
}

var _ ethos.ProcessingWorkflow = (*Runner)(nil)

// Open prepares the runner and, with Jobs set, starts the sweep that
// settles jobs of stopped servers every Stale/2; Close cancels running
// jobs, records them failed and waits for them.
func (r *Runner) Open() {
	r.base, r.stop = context.WithCancel(context.Background())
	r.jobs = map[string]*runnerJob{}
	if r.Jobs == nil {
		return
	}
	r.wg.Go(func() {
		t := time.NewTicker(r.stale() / 2)
		defer t.Stop()
		for {
			select {
			case <-r.base.Done():
				return
			case <-t.C:
				if _, err := r.SettleInterrupted(r.base, r.Processor.now().Add(-r.stale())); err != nil && r.Logger != nil && r.base.Err() == nil {
					r.Logger.Error("settle interrupted processing jobs", "err", err.Error())
				}
			}
		}
	})
}

// Close cancels the running jobs and waits until they have stopped.
func (r *Runner) Close() error {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	return nil
}

func (r *Runner) stale() time.Duration {
	if r.Stale > 0 {
		return r.Stale
	}
	return 2 * time.Minute
}

func (r *Runner) progressEvery() time.Duration {
	if r.ProgressEvery > 0 {
		return r.ProgressEvery
	}
	return 2 * time.Second
}

func (r *Runner) wait() time.Duration {
	if r.Wait > 0 {
		return r.Wait
	}
	return 2 * time.Second
}

func (r *Runner) keep() int {
	if r.Keep > 0 {
		return r.Keep
	}
	return 100
}

// Interrupted is the reason a job cut off by its server's stop is failed
// with (code ECONFLICT: the run did not fail on its data, it was cut; an
// answer about it is 409, not a server error).
const Interrupted = "interrupted: the server stopped during the run and nothing was recorded; start the run again ('ethos process run', or POST /api/v1/projects/{id}/processing-runs)"

// SettleInterrupted finishes the jobs whose rows were last written before
// the given time: their server stopped. A job whose record had been stored
// is done; every other one failed with Interrupted. Each is audited (the
// run, its project's purpose and counts; no identifiers) and returned.
// The server calls it at start with a time that separates the previous
// processes' jobs from its own (docs/processing.md, "Jobs").
//
// Outputs the cut run had stored in the blob store stay there: they are
// encrypted under their subjects' keys, named by nothing, and identical
// to what an earlier run or the rerun stores (content-addressed), so they
// are not deleted (see docs/processing.md).
func (r *Runner) SettleInterrupted(ctx context.Context, before time.Time) ([]*ethos.ProcessingJob, error) {
	if r.Jobs == nil {
		return nil, nil
	}
	// This process's own running jobs are alive whatever their rows say
	// (a progress write may have waited for the database).
	r.mu.Lock()
	var own []string
	for id, j := range r.jobs {
		if j.job.State == ethos.JobRunning {
			own = append(own, id)
		}
	}
	r.mu.Unlock()
	js, err := r.Jobs.SettleStaleProcessingJobs(ctx, before, Interrupted, r.Processor.now(), own...)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, j := range js {
		ev := ethos.AuditEvent{Time: r.Processor.now(), Actor: "system", Action: "processing.job.interrupted", Resource: "processing-run/" + j.ID,
			Stage: ethos.StageProcessing, Purpose: j.Purpose, Decision: "", RequestID: j.RequestID,
			Reason: fmt.Sprintf("job started by %s at %s failed after %d of %d instances: %s", j.StartedBy, j.StartedAt.Format(time.RFC3339), j.Done, j.Total, j.Error)}
		if j.State == ethos.JobDone {
			ev.Action, ev.Reason = "processing.job.settled", fmt.Sprintf("job started by %s at %s: its record was stored before the server stopped; marked done", j.StartedBy, j.StartedAt.Format(time.RFC3339))
		}
		if r.Logger != nil {
			r.Logger.Warn("processing job of a stopped server settled", "job", j.ID, "project", j.ProjectID, "state", string(j.State))
		}
		if err := r.Processor.Auditor.Record(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return js, errors.Join(errs...)
}

// SettleAtStart settles, before Open, the jobs servers that stopped left
// running: every running job when oneServer (the database is this
// server's alone, as SQLite's data directory is), otherwise those whose
// progress was last written more than Stale ago (a shared PostgreSQL
// database: another server's live job keeps writing; the sweep settles
// the rest once they are stale).
func (r *Runner) SettleAtStart(ctx context.Context, oneServer bool) ([]*ethos.ProcessingJob, error) {
	before := r.Processor.now().Add(-r.stale())
	if oneServer {
		before = r.Processor.now().Add(time.Nanosecond)
	}
	return r.SettleInterrupted(ctx, before)
}

// specHash names a run's specification without its secret: the profile's
// name, the engine configuration's hash, the key's fingerprint and the
// bias options.
func specHash(spec ethos.ProcessingSpec, cfg *deid.Config, keys *deid.Keys) string {
	b, _ := json.Marshal(struct {
		Profile    string  `json:"profile"`
		Config     string  `json:"config"`
		Key        string  `json:"key"`
		Threshold  float64 `json:"threshold"`
		Confidence float64 `json:"confidence"`
	}{cmp.Or(spec.ProfileName, "basic"), cfg.Hash(), keys.Fingerprint(), spec.Threshold, spec.Confidence})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Spec turns a caller's specification into the engine's configuration
// and keys, with coded errors for bad input.
func Spec(spec ethos.ProcessingSpec) (*deid.Config, *deid.Keys, error) {
	opts, err := deid.ParseOptions(strings.Join(spec.Options, ","))
	if err != nil {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "options: %v", err)
	}
	var p *deid.Profile
	if len(bytes.TrimSpace(spec.Profile)) > 0 {
		if p, err = deid.DecodeProfile(bytes.NewReader(spec.Profile)); err != nil {
			return nil, nil, ethos.Errorf(ethos.EINVALID, "profile: %v", err)
		}
	}
	cfg, err := deid.NewConfig(p, opts)
	if err != nil {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "profile: %v", err)
	}
	keys, err := deid.NewKeys(bytes.TrimSpace(spec.Secret))
	if err != nil {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "secret: %v", err)
	}
	return cfg, keys, nil
}

func (r *Runner) StartProcessingRun(ctx context.Context, who ethos.AccessRequest, projectID string, spec ethos.ProcessingSpec, requestID string) (*ethos.ProcessingJob, error) {
	if r.jobs == nil {
		return nil, ethos.Errorf(ethos.ENOTIMPLEMENTED, "processing runs are not configured on this server")
	}
	p, err := r.Projects.FindProjectByID(ctx, projectID)
	if err != nil {
		return nil, err
	}
	rules, err := r.Instances.CollectionRules(ctx, p.ID)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND {
		return nil, ethos.Errorf(ethos.EINVALID, "project %s has no collection rules (no declared purpose)", p.ID)
	} else if err != nil {
		return nil, err
	}
	cfg, keys, err := Spec(spec)
	if err != nil {
		return nil, err
	}
	bias := BiasOptions{Threshold: spec.Threshold, Confidence: spec.Confidence}
	if err := bias.validate(); err != nil {
		return nil, err
	}
	req := &Request{Project: p, Purpose: rules.Purpose, Access: who, Config: cfg, Keys: keys, Profile: spec.ProfileName,
		Bias: bias, RequestID: requestID, RunID: ethos.NewID("prc")}
	// A refusal is answered now, not by a job: the processor decides
	// (and audits the refusal) before it reads anything.
	ar := who
	ar.ProjectID, ar.ProjectPartyID = p.ID, p.PartyID
	ar.Stage, ar.Action, ar.Purpose, ar.Now = ethos.StageProcessing, ethos.ActionWrite, rules.Purpose, r.Processor.now()
	if d := r.Processor.Decider.Decide(&ar); !d.Allow {
		_, err := r.Processor.Run(ctx, req)
		if err == nil {
			err = ethos.Errorf(ethos.EINTERNAL, "processing run: policy decisions disagree")
		}
		return nil, err
	}
	// The total is known before the first instance is done (the
	// processor lists the same stored instances when it starts).
	stored := ethos.InstanceStored
	_, total, err := r.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &p.ID, Status: &stored, Limit: 1})
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "processing run: project %s has no stored instances", p.ID)
	}
	now := r.Processor.now()
	j := &runnerJob{job: ethos.ProcessingJob{ID: req.RunID, ProjectID: p.ID, StartedBy: who.UserID, Purpose: rules.Purpose, State: ethos.JobRunning,
		Total: total, StartedAt: now, UpdatedAt: now, RequestID: requestID, SpecHash: specHash(spec, cfg, keys)}, done: make(chan struct{})}
	req.Progress = func(done, total int) {
		r.mu.Lock()
		j.job.Done, j.job.Total = max(j.job.Done, done), total
		r.mu.Unlock()
	}
	if r.Jobs != nil {
		row := j.job
		if err := r.Jobs.CreateProcessingJob(ctx, &row); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.jobs[j.job.ID] = j
	r.mu.Unlock()
	r.wg.Go(func() {
		defer close(j.done)
		stopBeat := r.heartbeat(j)
		run, err := r.Processor.Run(r.base, req)
		stopBeat()
		r.mu.Lock()
		j.job.FinishedAt = r.Processor.now()
		j.job.UpdatedAt = j.job.FinishedAt
		if err != nil && r.Logger != nil && ethos.ErrorCode(err) == ethos.EINTERNAL {
			r.Logger.Error("processing run failed", "run", req.RunID, "project", p.ID, "err", err.Error())
		}
		if err != nil {
			j.job.State, j.job.ErrorCode, j.job.Error = ethos.JobFailed, ethos.ErrorCode(err), failure(err)
			if errors.Is(err, context.Canceled) {
				j.job.ErrorCode = ethos.ECONFLICT // cut, see Interrupted
			}
		} else {
			j.job.State, j.job.Run, j.job.RunID, j.job.Done, j.job.Total = ethos.JobDone, run, run.ID, run.Inputs, run.Inputs
		}
		row := j.job
		r.finished = append(r.finished, j.job.ID)
		for len(r.finished) > r.keep() {
			delete(r.jobs, r.finished[0])
			r.finished = r.finished[1:]
		}
		r.mu.Unlock()
		if r.Jobs != nil {
			// Written even when the server is stopping (r.base is
			// cancelled then): the job says it was interrupted.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(r.base), 30*time.Second)
			defer cancel()
			row.Run = nil
			if err := r.Jobs.FinishProcessingJob(fctx, &row); err != nil && r.Logger != nil {
				r.Logger.Error("record the end of a processing job", "job", row.ID, "project", p.ID, "state", string(row.State), "err", err.Error())
			}
		}
	})
	t := time.NewTimer(r.wait())
	defer t.Stop()
	select {
	case <-j.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return r.ProcessingJob(ctx, p.ID, j.job.ID)
}

// failure is a failed run's message for the job: coded errors say what
// went wrong; others (storage, engine internals) are logged by the caller
// of Run only as "internal error" here, except the pixel check, which
// names the instance by its Ethos id.
func failure(err error) string {
	if pe, ok := errors.AsType[*PixelError](err); ok {
		return fmt.Sprintf("nothing recorded: %v", pe)
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return ethos.ErrorMessage(err)
}

// heartbeat writes j's counts to Jobs every ProgressEvery until the
// returned function is called (which waits for the writer to stop).
func (r *Runner) heartbeat(j *runnerJob) func() {
	if r.Jobs == nil {
		return func() {}
	}
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(r.progressEvery())
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-r.base.Done():
				return
			case <-t.C:
			}
			r.mu.Lock()
			done, total := j.job.Done, j.job.Total
			r.mu.Unlock()
			at := r.Processor.now()
			if err := r.Jobs.ProcessingJobProgress(r.base, j.job.ID, done, total, at); err != nil {
				if r.Logger != nil && r.base.Err() == nil {
					r.Logger.Error("record the progress of a processing job", "job", j.job.ID, "err", err.Error())
				}
				continue
			}
			r.mu.Lock()
			j.job.UpdatedAt = at
			r.mu.Unlock()
		}
	}()
	return func() { close(quit); <-stopped }
}

// ProcessingJob returns the job: this process's own copy while it runs it
// or remembers it (the freshest counts), otherwise the stored row (a job
// of another server process, or of one that stopped).
func (r *Runner) ProcessingJob(ctx context.Context, projectID, id string) (*ethos.ProcessingJob, error) {
	r.mu.Lock()
	j, ok := r.jobs[id]
	var out ethos.ProcessingJob
	if ok {
		out = j.job
	}
	r.mu.Unlock()
	if ok && out.ProjectID == projectID {
		return &out, nil
	}
	if r.Jobs != nil {
		return r.Jobs.ProcessingJob(ctx, projectID, id)
	}
	return nil, ethos.Errorf(ethos.ENOTFOUND, "processing job %s not found in project %s", id, projectID)
}
