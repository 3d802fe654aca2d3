package processing_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// blockingAuditor holds the processor's final audit event until released,
// so that a run is seen running by the test.
type blockingAuditor struct {
	release chan struct{}
	events  []ethos.AuditEvent
	mu      sync.Mutex
}

func (b *blockingAuditor) Record(ctx context.Context, e ethos.AuditEvent) error {
	if e.Decision == "allow" {
		<-b.release
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	return nil
}

// finishedJob polls r for the job until it is no longer running (at most
// ten seconds), and returns it as last read.
func finishedJob(t *testing.T, r *processing.Runner, projectID, id string) *ethos.ProcessingJob {
	t.Helper()
	var j *ethos.ProcessingJob
	for range 1000 {
		var err error
		if j, err = r.ProcessingJob(context.Background(), projectID, id); err != nil {
			t.Fatal(err)
		}
		if j.State != ethos.JobRunning {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return j
}

func TestRunner(t *testing.T) {
	ctx := context.Background()
	f := setup(t, "canary/shard0/ct_00000.dcm", "canary/shard1/ct_00001.dcm", "canary/shard0/mr_00002.dcm", "pydicom/CT_small.dcm")
	if err := f.instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: f.project.ID, Purpose: ethos.PurposeResearch}); err != nil {
		t.Fatal(err)
	}
	spec := ethos.ProcessingSpec{Secret: []byte("project-secret-for-processing-tests"), Options: []string{"retain-patient-characteristics"}, Threshold: 0.1, Confidence: 0.95}
	jobs := sqlstore.NewProcessingJobService(f.store)
	newRunner := func(t *testing.T, a ethos.Auditor, wait time.Duration) *processing.Runner {
		p := *f.proc
		p.Auditor = a
		r := &processing.Runner{Processor: &p, Projects: sqlstore.NewProjectService(f.store), Instances: f.instances, Wait: wait,
			Jobs: jobs, ProgressEvery: time.Millisecond}
		r.Open()
		t.Cleanup(func() { r.Close() })
		return r
	}

	t.Run("LongRunAnswersRunningThenDone", func(t *testing.T) {
		a := &blockingAuditor{release: make(chan struct{})}
		r := newRunner(t, a, time.Millisecond)
		j, err := r.StartProcessingRun(ctx, f.access, f.project.ID, spec, "req-1")
		if err != nil {
			t.Fatal(err)
		}
		if j.State != ethos.JobRunning || j.Purpose != ethos.PurposeResearch || j.StartedBy != f.access.UserID || j.Total != 4 {
			t.Fatalf("job %+v, want running", j)
		}
		if _, err := r.ProcessingJob(ctx, "prj_other", j.ID); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("another project's job: %v", err)
		}
		// The row is written at the start and its counts while it runs
		// (the final audit is held: every instance is done by then).
		for range 1000 {
			row, err := jobs.ProcessingJob(ctx, f.project.ID, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if row.State != ethos.JobRunning || row.RequestID != "req-1" || len(row.SpecHash) != 64 || row.StartedBy != f.access.UserID {
				t.Fatalf("row %+v, want running", row)
			}
			if row.Done == 4 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if row, err := jobs.ProcessingJob(ctx, f.project.ID, j.ID); err != nil || row.Done != 4 {
			t.Errorf("row %+v (%v), want counts 4 of 4 written while running", row, err)
		}
		close(a.release)
		got := finishedJob(t, r, f.project.ID, j.ID)
		if got.State != ethos.JobDone || got.Done != 4 || got.Total != 4 || got.Run == nil || got.Run.ID != j.ID {
			t.Fatalf("job %+v", got)
		}
		stored, err := f.runs.ProcessingRun(ctx, j.ID)
		if err != nil || stored.Inputs != 4 {
			t.Fatalf("record %v %v", stored, err)
		}
		// Another runner (another server process, or this one after a
		// restart) answers from the row.
		other := newRunner(t, a, time.Minute)
		row := finishedJob(t, other, f.project.ID, j.ID)
		if row.State != ethos.JobDone || row.RunID != j.ID || row.Done != 4 || row.FinishedAt.IsZero() || row.Run != nil {
			t.Errorf("stored job %+v", row)
		}
	})
	t.Run("SettleInterruptedFailsAndAudits", func(t *testing.T) {
		a := &blockingAuditor{release: make(chan struct{})}
		close(a.release)
		r := newRunner(t, a, time.Minute)
		// A job a stopped server left running, and one still alive.
		t0 := time.Now().UTC()
		cut := &ethos.ProcessingJob{ID: "prc_cut", ProjectID: f.project.ID, StartedBy: f.access.UserID, Purpose: ethos.PurposeResearch,
			State: ethos.JobRunning, Total: 4, StartedAt: t0.Add(-time.Hour), RequestID: "req-cut", SpecHash: "h"}
		alive := *cut
		alive.ID, alive.StartedAt = "prc_alive", t0
		for _, j := range []*ethos.ProcessingJob{cut, &alive} {
			if err := jobs.CreateProcessingJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		got, err := r.SettleInterrupted(ctx, t0.Add(-time.Minute))
		if err != nil || len(got) != 1 || got[0].ID != "prc_cut" {
			t.Fatalf("settled %v %v, want the cut job", got, err)
		}
		row, err := r.ProcessingJob(ctx, f.project.ID, "prc_cut")
		if err != nil || row.State != ethos.JobFailed || row.Error != processing.Interrupted || row.ErrorCode != ethos.ECONFLICT {
			t.Fatalf("cut job %+v %v", row, err)
		}
		if row, err := r.ProcessingJob(ctx, f.project.ID, "prc_alive"); err != nil || row.State != ethos.JobRunning {
			t.Errorf("live job %+v (%v)", row, err)
		}
		if len(a.events) != 1 || a.events[0].Action != "processing.job.interrupted" || a.events[0].Resource != "processing-run/prc_cut" ||
			a.events[0].Actor != "system" || a.events[0].RequestID != "req-cut" {
			t.Errorf("audit %+v, want one interruption", a.events)
		}
		// This runner's own running job is never taken for stale.
		blocked := &blockingAuditor{release: make(chan struct{})}
		mine := newRunner(t, blocked, time.Millisecond)
		own, err := mine.StartProcessingRun(ctx, f.access, f.project.ID, spec, "req-own")
		if err != nil {
			t.Fatal(err)
		}
		settled, err := mine.SettleInterrupted(ctx, time.Now().Add(time.Hour))
		close(blocked.release)
		for _, j := range settled {
			if j.ID == own.ID {
				t.Errorf("own running job settled: %+v", j)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		// Settled at a later time (the sweep), the other one goes too.
		if row, err := r.ProcessingJob(ctx, f.project.ID, "prc_alive"); err != nil || row.State != ethos.JobFailed {
			t.Errorf("stale job left running: %+v (%v)", row, err)
		}
	})
	t.Run("ShortRunAnswersDone", func(t *testing.T) {
		a := &blockingAuditor{release: make(chan struct{})}
		close(a.release)
		r := newRunner(t, a, time.Minute)
		j, err := r.StartProcessingRun(ctx, f.access, f.project.ID, spec, "req-2")
		if err != nil {
			t.Fatal(err)
		}
		if j.State != ethos.JobDone || j.Run == nil || j.Run.Written == 0 {
			t.Fatalf("job %+v", j)
		}
	})
	t.Run("ErrForbiddenAnsweredAtOnce", func(t *testing.T) {
		a := &blockingAuditor{release: make(chan struct{})}
		close(a.release)
		r := newRunner(t, a, time.Minute)
		who := f.access
		who.Roles = []ethos.Role{ethos.RoleClinician}
		if _, err := r.StartProcessingRun(ctx, who, f.project.ID, spec, "req-3"); ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Fatalf("err %v, want forbidden", err)
		}
		if len(a.events) != 1 || a.events[0].Decision != "deny" {
			t.Errorf("audit %+v, want one denial", a.events)
		}
	})
	t.Run("ErrInvalidSpec", func(t *testing.T) {
		r := newRunner(t, f.audit, time.Minute)
		for name, s := range map[string]ethos.ProcessingSpec{
			"short secret":   {Secret: []byte("short"), Threshold: 0.1, Confidence: 0.95},
			"unknown option": {Secret: spec.Secret, Options: []string{"frobnicate"}, Threshold: 0.1, Confidence: 0.95},
			"bad profile":    {Secret: spec.Secret, Profile: []byte(`{"nope": 1}`), Threshold: 0.1, Confidence: 0.95},
			"bad confidence": {Secret: spec.Secret, Threshold: 0.1, Confidence: 2},
		} {
			if _, err := r.StartProcessingRun(ctx, f.access, f.project.ID, s, "req"); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
	})
}

// failingBlobs is the fixture's blob store that fails every output after
// the first `after` (a run cut off midway), remembering what was stored.
type failingBlobs struct {
	*fileblob.Store
	after int
	mu    sync.Mutex
	put   []ethos.BlobRef
}

func (b *failingBlobs) PutDeferred(ctx context.Context, s ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return b.putDeferred(ctx, s, r, b.Store.PutDeferred)
}

func (b *failingBlobs) PutDeferredBuffered(ctx context.Context, s ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return b.putDeferred(ctx, s, r, b.Store.PutDeferredBuffered)
}

func (b *failingBlobs) putDeferred(ctx context.Context, s ethos.SubjectKey, r io.Reader,
	put func(context.Context, ethos.SubjectKey, io.Reader) (ethos.BlobRef, error)) (ethos.BlobRef, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.put) >= b.after {
		return ethos.BlobRef{}, errors.New("disk full (test)")
	}
	ref, err := put(ctx, s, r)
	if err == nil {
		b.put = append(b.put, ref)
	}
	return ref, err
}

// TestRunnerCutRunOutputs checks what docs/processing.md says of a run
// cut off midway: the job is failed with the reason in its row, nothing
// is recorded, and the outputs it had stored are exactly outputs the run
// started again records (content-addressed), so none stays unnamed.
func TestRunnerCutRunOutputs(t *testing.T) {
	ctx := context.Background()
	f := setup(t, "canary/shard0/ct_00000.dcm", "canary/shard1/ct_00001.dcm", "canary/shard0/mr_00002.dcm", "pydicom/CT_small.dcm")
	if err := f.instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: f.project.ID, Purpose: ethos.PurposeResearch}); err != nil {
		t.Fatal(err)
	}
	spec := ethos.ProcessingSpec{Secret: []byte("project-secret-for-processing-tests"), Threshold: 0.1, Confidence: 0.95}
	jobs := sqlstore.NewProcessingJobService(f.store)
	start := func(blobs ethos.BlobStore) *ethos.ProcessingJob {
		t.Helper()
		p := *f.proc
		p.Blobs, p.Workers = blobs, 1
		r := &processing.Runner{Processor: &p, Projects: sqlstore.NewProjectService(f.store), Instances: f.instances, Wait: time.Minute, Jobs: jobs}
		r.Open()
		defer r.Close()
		j, err := r.StartProcessingRun(ctx, f.access, f.project.ID, spec, "req")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	cut := &failingBlobs{Store: f.blobs, after: 2}
	j := start(cut)
	row, err := jobs.ProcessingJob(ctx, f.project.ID, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != ethos.JobFailed || row.Error == "" || row.RunID != "" || row.FinishedAt.IsZero() || row.Done < 2 || row.Done >= row.Total {
		t.Fatalf("cut job's row %+v", row)
	}
	if _, err := f.runs.ProcessingRun(ctx, j.ID); ethos.ErrorCode(err) != ethos.ENOTFOUND {
		t.Fatalf("cut run recorded: %v", err)
	}
	if len(cut.put) != 2 {
		t.Fatalf("%d outputs stored before the cut, want 2", len(cut.put))
	}
	again := start(f.blobs)
	if again.State != ethos.JobDone || again.Run == nil {
		t.Fatalf("run started again: %+v", again)
	}
	named := map[ethos.BlobRef]bool{}
	for _, it := range again.Run.Items {
		if it.Output != nil {
			named[*it.Output] = true
		}
	}
	for _, ref := range cut.put {
		if !named[ref] {
			t.Errorf("output %s of the cut run is not named by the run started again", ref)
		}
	}
}

// stuckBlobs holds every output until the run is cancelled.
type stuckBlobs struct {
	*fileblob.Store
	entered chan struct{}
	once    sync.Once
}

func (b *stuckBlobs) PutDeferred(ctx context.Context, s ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	b.once.Do(func() { close(b.entered) })
	<-ctx.Done()
	return ethos.BlobRef{}, ctx.Err()
}

func (b *stuckBlobs) PutDeferredBuffered(ctx context.Context, s ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	return b.PutDeferred(ctx, s, r)
}

// TestRunnerCloseMidRun checks a server stopping gracefully while a job
// runs: the job's row says it was interrupted.
func TestRunnerCloseMidRun(t *testing.T) {
	ctx := context.Background()
	f := setup(t, "canary/shard0/ct_00000.dcm", "pydicom/CT_small.dcm")
	if err := f.instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: f.project.ID, Purpose: ethos.PurposeResearch}); err != nil {
		t.Fatal(err)
	}
	jobs := sqlstore.NewProcessingJobService(f.store)
	p := *f.proc
	stuck := &stuckBlobs{Store: f.blobs, entered: make(chan struct{})}
	p.Blobs = stuck
	r := &processing.Runner{Processor: &p, Projects: sqlstore.NewProjectService(f.store), Instances: f.instances, Wait: time.Millisecond, Jobs: jobs}
	r.Open()
	j, err := r.StartProcessingRun(ctx, f.access, f.project.ID, ethos.ProcessingSpec{Secret: []byte("project-secret-for-processing-tests"), Threshold: 0.1, Confidence: 0.95}, "req")
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	<-stuck.entered
	r.Close()
	row, err := jobs.ProcessingJob(ctx, f.project.ID, j.ID)
	if err != nil || row.State != ethos.JobFailed || row.Error != processing.Interrupted || row.ErrorCode != ethos.ECONFLICT {
		t.Fatalf("row after close %+v %v", row, err)
	}
}

// BenchmarkRunnerJobs compares a run through the runner with jobs in
// memory only (before jobs were kept) and with jobs kept in the database
// (the row at the start, a progress write every ProgressEvery, the end),
// also with progress written every 10 ms to price the writes themselves.
// It reports CPU seconds per run (user + system of the process).
func BenchmarkRunnerJobs(b *testing.B) {
	root, files := benchFiles(b)
	for _, v := range []struct {
		name  string
		kept  bool
		every time.Duration
	}{{"memory", false, 0}, {"database", true, 0}, {"database-every-10ms", true, 10 * time.Millisecond}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			f := setupCorpus(b, root, files)
			if err := f.instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: f.project.ID, Purpose: ethos.PurposeResearch}); err != nil {
				b.Fatal(err)
			}
			r := &processing.Runner{Processor: f.proc, Projects: sqlstore.NewProjectService(f.store), Instances: f.instances, Wait: time.Hour, ProgressEvery: v.every}
			if v.kept {
				r.Jobs = sqlstore.NewProcessingJobService(f.store)
			}
			r.Open()
			defer r.Close()
			spec := ethos.ProcessingSpec{Secret: []byte("project-secret-for-processing-tests"), Threshold: 0.1, Confidence: 0.95}
			start := cpuNow()
			for b.Loop() {
				j, err := r.StartProcessingRun(ctx, f.access, f.project.ID, spec, "req")
				if err != nil || j.State != ethos.JobDone {
					b.Fatalf("%+v %v", j, err)
				}
			}
			reportCPU(b, start)
		})
	}
}
