package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunProcessingJobs checks the processing-job store (jobs of runs started
// through the API, docs/processing.md "Jobs") over a fresh store from
// open: the lifecycle running → done or failed, throttled progress that
// never goes back, finished jobs that stay finished, and the settling of
// jobs whose server stopped.
func RunProcessingJobs(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("Lifecycle", func(t *testing.T) { testJobLifecycle(t, sqlstore.NewProcessingJobService(open(t))) })
	t.Run("Settle", func(t *testing.T) {
		db := open(t)
		testJobSettle(t, db, sqlstore.NewProcessingJobService(db))
	})
}

var jobT0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func newJob(id, project string, total int) *ethos.ProcessingJob {
	return &ethos.ProcessingJob{ID: id, ProjectID: project, StartedBy: "usr-steward", Purpose: ethos.PurposeResearch, State: ethos.JobRunning,
		Total: total, StartedAt: jobT0, RequestID: "req-" + id, SpecHash: "spec-" + id}
}

func testJobLifecycle(t *testing.T, s *sqlstore.ProcessingJobService) {
	ctx := context.Background()
	j := newJob("prc-a", "prj-1", 10)
	if err := s.CreateProcessingJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	code(t, s.CreateProcessingJob(ctx, newJob("prc-a", "prj-1", 10)), ethos.ECONFLICT)
	for name, bad := range map[string]*ethos.ProcessingJob{
		"no project":   {ID: "prc-x", State: ethos.JobRunning},
		"not running":  {ID: "prc-x", ProjectID: "prj-1", State: ethos.JobDone},
		"done > total": {ID: "prc-x", ProjectID: "prj-1", State: ethos.JobRunning, Done: 3, Total: 2},
	} {
		if err := s.CreateProcessingJob(ctx, bad); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	got, err := s.ProcessingJob(ctx, "prj-1", "prc-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != ethos.JobRunning || got.Total != 10 || got.Done != 0 || got.RequestID != "req-prc-a" || got.SpecHash != "spec-prc-a" ||
		got.StartedBy != "usr-steward" || got.Purpose != ethos.PurposeResearch || !got.StartedAt.Equal(jobT0) || !got.UpdatedAt.Equal(jobT0) ||
		!got.FinishedAt.IsZero() || got.RunID != "" {
		t.Errorf("stored job %+v", got)
	}
	_, err = s.ProcessingJob(ctx, "prj-other", "prc-a")
	code(t, err, ethos.ENOTFOUND)
	_, err = s.ProcessingJob(ctx, "prj-1", "prc-none")
	code(t, err, ethos.ENOTFOUND)

	// Progress: written, never going back, invalid counts refused.
	if err := s.ProcessingJobProgress(ctx, "prc-a", 6, 10, jobT0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.ProcessingJobProgress(ctx, "prc-a", 4, 10, jobT0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	code(t, s.ProcessingJobProgress(ctx, "prc-a", 11, 10, jobT0), ethos.EINVALID)
	code(t, s.ProcessingJobProgress(ctx, "prc-none", 1, 10, jobT0), ethos.ENOTFOUND)
	if got = mustJob(t, s, "prj-1", "prc-a"); got.Done != 6 || !got.UpdatedAt.Equal(jobT0.Add(3*time.Second)) {
		t.Errorf("after progress: done %d updated %s, want 6 and the last write's time", got.Done, got.UpdatedAt)
	}

	// Finish: done names the record; failed says why; only once.
	fin := *got
	fin.State, fin.Done, fin.FinishedAt = ethos.JobDone, 10, jobT0.Add(5*time.Second)
	code(t, s.FinishProcessingJob(ctx, &fin), ethos.EINVALID) // no run id
	fin.RunID = "prc-a"
	if err := s.FinishProcessingJob(ctx, &fin); err != nil {
		t.Fatal(err)
	}
	code(t, s.FinishProcessingJob(ctx, &fin), ethos.ECONFLICT)
	if err := s.ProcessingJobProgress(ctx, "prc-a", 7, 10, jobT0.Add(9*time.Second)); err != nil {
		t.Errorf("progress after the end: %v, want ignored", err)
	}
	if got = mustJob(t, s, "prj-1", "prc-a"); got.State != ethos.JobDone || got.RunID != "prc-a" || got.Done != 10 ||
		!got.FinishedAt.Equal(jobT0.Add(5*time.Second)) || got.Error != "" {
		t.Errorf("done job %+v", got)
	}

	b := newJob("prc-b", "prj-1", 3)
	b.StartedAt = jobT0.Add(time.Minute)
	if err := s.CreateProcessingJob(ctx, b); err != nil {
		t.Fatal(err)
	}
	fb := *b
	fb.State = ethos.JobFailed
	code(t, s.FinishProcessingJob(ctx, &fb), ethos.EINVALID) // no reason
	fb.ErrorCode, fb.Error, fb.Done = ethos.EINVALID, "pixel integrity check failed on instance ins-2", 1
	if err := s.FinishProcessingJob(ctx, &fb); err != nil {
		t.Fatal(err)
	}
	if got = mustJob(t, s, "prj-1", "prc-b"); got.State != ethos.JobFailed || got.ErrorCode != ethos.EINVALID || got.Error != fb.Error ||
		got.RunID != "" || got.FinishedAt.IsZero() {
		t.Errorf("failed job %+v", got)
	}
	if err := got.Err(); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("failed job's error %v", err)
	}
	code(t, s.FinishProcessingJob(ctx, &ethos.ProcessingJob{ID: "prc-none", State: ethos.JobFailed, Error: "x"}), ethos.ENOTFOUND)

	// Listing: newest first, by project and state.
	if err := s.CreateProcessingJob(ctx, newJob("prc-c", "prj-2", 1)); err != nil {
		t.Fatal(err)
	}
	prj, failed := "prj-1", ethos.JobFailed
	list, n, err := s.FindProcessingJobs(ctx, ethos.ProcessingJobFilter{ProjectID: &prj})
	if err != nil || n != 2 || len(list) != 2 || list[0].ID != "prc-b" || list[1].ID != "prc-a" {
		t.Errorf("project's jobs: %d %v %v", n, jobIDs(list), err)
	}
	list, n, err = s.FindProcessingJobs(ctx, ethos.ProcessingJobFilter{State: &failed})
	if err != nil || n != 1 || list[0].ID != "prc-b" {
		t.Errorf("failed jobs: %d %v %v", n, jobIDs(list), err)
	}
}

func jobIDs(js []*ethos.ProcessingJob) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

func testJobSettle(t *testing.T, db *sqlstore.DB, s *sqlstore.ProcessingJobService) {
	ctx := context.Background()
	// A job whose server stopped mid-run, one whose server stopped after
	// the record was stored, one still alive (recent progress), and one
	// finished long ago.
	cut, recorded, alive, old := newJob("prc-cut", "prj-1", 8), newJob("", "prj-1", 2), newJob("prc-alive", "prj-1", 5), newJob("prc-old", "prj-1", 1)
	run := ProcessingRunFixture("prj-1", jobT0)
	if err := sqlstore.NewProcessingService(db).CreateProcessingRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	recorded.ID = run.ID
	for _, j := range []*ethos.ProcessingJob{cut, recorded, alive, old} {
		if err := s.CreateProcessingJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ProcessingJobProgress(ctx, "prc-cut", 3, 8, jobT0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.ProcessingJobProgress(ctx, "prc-alive", 1, 5, jobT0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	fo := *old
	fo.State, fo.ErrorCode, fo.Error, fo.FinishedAt = ethos.JobFailed, ethos.EINVALID, "earlier failure", jobT0
	if err := s.FinishProcessingJob(ctx, &fo); err != nil {
		t.Fatal(err)
	}
	_, err := s.SettleStaleProcessingJobs(ctx, jobT0.Add(time.Minute), "", jobT0)
	code(t, err, ethos.EINVALID)

	now := jobT0.Add(11 * time.Minute)
	got, err := s.SettleStaleProcessingJobs(ctx, jobT0.Add(5*time.Minute), "server stopped", now)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*ethos.ProcessingJob{}
	for _, j := range got {
		byID[j.ID] = j
	}
	if len(got) != 2 || byID["prc-cut"] == nil || byID[run.ID] == nil {
		t.Fatalf("settled %v, want the cut job and the recorded one", jobIDs(got))
	}
	if c := byID["prc-cut"]; c.State != ethos.JobFailed || c.Error != "server stopped" || c.ErrorCode != ethos.ECONFLICT || c.Done != 3 ||
		!c.FinishedAt.Equal(now) || c.RunID != "" {
		t.Errorf("cut job %+v", c)
	}
	if r := byID[run.ID]; r.State != ethos.JobDone || r.RunID != run.ID || r.Done != r.Total || r.Error != "" {
		t.Errorf("recorded job %+v", r)
	}
	if a := mustJob(t, s, "prj-1", "prc-alive"); a.State != ethos.JobRunning {
		t.Errorf("live job settled: %+v", a)
	}
	if o := mustJob(t, s, "prj-1", "prc-old"); o.Error != "earlier failure" || !o.FinishedAt.Equal(jobT0) {
		t.Errorf("finished job changed: %+v", o)
	}
	// A job its caller says is alive is left alone, however old its row.
	if got, err := s.SettleStaleProcessingJobs(ctx, jobT0.Add(time.Hour), "server stopped", now, "prc-alive"); err != nil || len(got) != 0 {
		t.Errorf("settle sparing the live job: %v %v", jobIDs(got), err)
	}
	if got, err := s.SettleStaleProcessingJobs(ctx, jobT0.Add(time.Hour), "server stopped", now); err != nil || len(got) != 1 || got[0].ID != "prc-alive" {
		t.Errorf("settle after the live job's heartbeat: %v %v", jobIDs(got), err)
	}
	// Settling again finds nothing more.
	if again, err := s.SettleStaleProcessingJobs(ctx, jobT0.Add(time.Hour), "server stopped", now); err != nil || len(again) != 0 {
		t.Errorf("second settle: %v %v", jobIDs(again), err)
	}
}

// mustJob reads a job that the test stored: a lookup error fails the test
// (instead of checking the zero job it would leave).
func mustJob(t *testing.T, s *sqlstore.ProcessingJobService, project, id string) *ethos.ProcessingJob {
	t.Helper()
	j, err := s.ProcessingJob(context.Background(), project, id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}
