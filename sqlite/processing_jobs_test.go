package sqlite_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestProcessingJobsStore(t *testing.T) {
	storetest.RunProcessingJobs(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}

// TestSettleStaleJobsOneStatement checks that settling stale jobs updates
// them in one statement, not two per job (a server restarting after a
// crash with many jobs left running).
func TestSettleStaleJobsOneStatement(t *testing.T) {
	s := sqlstore.NewProcessingJobService(mustOpenFaultDB(t).Store())
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		j := &ethos.ProcessingJob{ID: fmt.Sprintf("prc-%d", i), ProjectID: "prj-1", State: ethos.JobRunning, Total: 10, StartedAt: t0}
		if err := s.CreateProcessingJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	var got []*ethos.ProcessingJob
	var err error
	ops := recordOps(func() {
		got, err = s.SettleStaleProcessingJobs(ctx, t0.Add(time.Hour), "server stopped", t0.Add(2*time.Hour), "prc-4")
	})
	if err != nil || len(got) != 4 {
		t.Fatalf("settled %d jobs (%v), want 4", len(got), err)
	}
	for _, j := range got {
		if j.State != ethos.JobFailed || j.Error != "server stopped" {
			t.Errorf("job %s: %s %q, want failed with the reason", j.ID, j.State, j.Error)
		}
	}
	n := 0
	for _, op := range ops {
		if strings.Contains(op, "UPDATE processing_jobs") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d UPDATE statements for 4 stale jobs, want 1", n)
	}
}

// BenchmarkProcessingJobProgress measures one progress write (the job's
// heartbeat, once every two seconds of a run).
func BenchmarkProcessingJobProgress(b *testing.B) {
	s := sqlstore.NewProcessingJobService(MustOpenDB(b).Store())
	ctx := context.Background()
	t0 := time.Now().UTC()
	if err := s.CreateProcessingJob(ctx, &ethos.ProcessingJob{ID: "prc-bench", ProjectID: "prj-1", State: ethos.JobRunning, Total: 1 << 30, StartedAt: t0}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.ProcessingJobProgress(ctx, "prc-bench", i, 1<<30, t0.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
	}
}
