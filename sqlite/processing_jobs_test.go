package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestProcessingJobsStore(t *testing.T) {
	storetest.RunProcessingJobs(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
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
