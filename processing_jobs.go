package ethos

import (
	"context"
	"time"
)

// ProcessingJobStore keeps the jobs of processing runs started through the
// workflow, so that what became of a run outlives the server process that
// ran it (docs/processing.md, "Jobs"). Rows name the user who started a
// job and the project, never a patient.
type ProcessingJobStore interface {
	// CreateProcessingJob stores a new job in state running (ECONFLICT
	// for an id already kept).
	CreateProcessingJob(ctx context.Context, j *ProcessingJob) error
	// ProcessingJobProgress writes a running job's counts and marks it
	// alive at the given time; a job no longer running is left as it is
	// (ENOTFOUND for an unknown id).
	ProcessingJobProgress(ctx context.Context, id string, done, total int, at time.Time) error
	// FinishProcessingJob moves a running job to done (with RunID) or
	// failed (with ErrorCode and Error). A job already finished is not
	// changed: ECONFLICT.
	FinishProcessingJob(ctx context.Context, j *ProcessingJob) error
	// ProcessingJob returns a project's job (ENOTFOUND otherwise).
	ProcessingJob(ctx context.Context, projectID, id string) (*ProcessingJob, error)
	// FindProcessingJobs lists jobs, newest first.
	FindProcessingJobs(ctx context.Context, f ProcessingJobFilter) ([]*ProcessingJob, int, error)
	// SettleStaleProcessingJobs finishes every job still running whose
	// progress was last written before the given time: the process that
	// ran it is gone. A job whose record was stored is done (its
	// record's id); any other failed with reason (code EINTERNAL),
	// finished at now; the jobs named in alive (the caller's own running
	// jobs) are left alone. It returns the jobs it changed.
	SettleStaleProcessingJobs(ctx context.Context, before time.Time, reason string, now time.Time, alive ...string) ([]*ProcessingJob, error)
}

// ProcessingJobFilter selects processing jobs.
type ProcessingJobFilter struct {
	ProjectID *string
	State     *ProcessingJobState
	Offset    int
	Limit     int
}
