package processing

import (
	"bytes"
	"context"
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
// until the record is stored. Jobs live in memory (the record, once
// stored, is what lasts); a server restart interrupts a running job and
// nothing of it is recorded (the processor writes the record last).
type Runner struct {
	Processor *Processor
	Projects  ethos.ProjectService
	Instances ethos.InstanceService // collection rules: the project's purpose
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

// Open prepares the runner; Close cancels running jobs and waits for them.
func (r *Runner) Open() {
	r.base, r.stop = context.WithCancel(context.Background())
	r.jobs = map[string]*runnerJob{}
}

// Close cancels the running jobs and waits until they have stopped.
func (r *Runner) Close() error {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	return nil
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
	j := &runnerJob{job: ethos.ProcessingJob{ID: req.RunID, ProjectID: p.ID, StartedBy: who.UserID, Purpose: rules.Purpose, State: ethos.JobRunning,
		Total: total, StartedAt: r.Processor.now()}, done: make(chan struct{})}
	req.Progress = func(done, total int) {
		r.mu.Lock()
		j.job.Done, j.job.Total = max(j.job.Done, done), total
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.jobs[j.job.ID] = j
	r.mu.Unlock()
	r.wg.Go(func() {
		defer close(j.done)
		run, err := r.Processor.Run(r.base, req)
		r.mu.Lock()
		defer r.mu.Unlock()
		j.job.FinishedAt = r.Processor.now()
		if err != nil && r.Logger != nil && ethos.ErrorCode(err) == ethos.EINTERNAL {
			r.Logger.Error("processing run failed", "run", req.RunID, "project", p.ID, "err", err.Error())
		}
		if err != nil {
			j.job.State, j.job.ErrorCode, j.job.Error = ethos.JobFailed, ethos.ErrorCode(err), failure(err)
		} else {
			j.job.State, j.job.Run, j.job.Done, j.job.Total = ethos.JobDone, run, run.Inputs, run.Inputs
		}
		r.finished = append(r.finished, j.job.ID)
		keep := r.Keep
		if keep <= 0 {
			keep = 100
		}
		for len(r.finished) > keep {
			delete(r.jobs, r.finished[0])
			r.finished = r.finished[1:]
		}
	})
	wait := r.Wait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	t := time.NewTimer(wait)
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
		return "interrupted (the server stopped); nothing recorded"
	}
	return ethos.ErrorMessage(err)
}

func (r *Runner) ProcessingJob(_ context.Context, projectID, id string) (*ethos.ProcessingJob, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	if !ok || j.job.ProjectID != projectID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "processing job %s not found in project %s", id, projectID)
	}
	out := j.job
	return &out, nil
}
