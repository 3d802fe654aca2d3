package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/ethos-imaging/ethos"
)

// ProcessingJobService implements ethos.ProcessingJobStore: the jobs of
// processing runs started through the API, one row each (migration
// 0083), so any server process over the database answers for them and
// they outlive a restart.
type ProcessingJobService struct{ db *DB }

// NewProcessingJobService returns the processing-job store over db.
func NewProcessingJobService(db *DB) *ProcessingJobService { return &ProcessingJobService{db: db} }

var _ ethos.ProcessingJobStore = (*ProcessingJobService)(nil)

const jobColumns = `id, project_id, purpose, started_by, request_id, spec_hash, state, done, total, error_code, error, run_id, started_at, updated_at, finished_at`

func (s *ProcessingJobService) CreateProcessingJob(ctx context.Context, j *ethos.ProcessingJob) error {
	switch {
	case j.ID == "" || j.ProjectID == "":
		return ethos.Errorf(ethos.EINVALID, "processing job: id and project are required")
	case j.State != ethos.JobRunning:
		return ethos.Errorf(ethos.EINVALID, "processing job %s: a new job is running, not %q", j.ID, j.State)
	case j.Done < 0 || j.Total < 0 || j.Done > j.Total:
		return ethos.Errorf(ethos.EINVALID, "processing job %s: counts %d of %d", j.ID, j.Done, j.Total)
	}
	if j.StartedAt.IsZero() {
		j.StartedAt = s.db.Now().UTC()
	}
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = j.StartedAt
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO processing_jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', ?, ?, 0)`,
			j.ID, j.ProjectID, string(j.Purpose), j.StartedBy, j.RequestID, j.SpecHash, string(j.State), j.Done, j.Total,
			nanos(j.StartedAt), nanos(j.UpdatedAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "processing job %s already exists", j.ID)
		}
		return err
	})
}

func (s *ProcessingJobService) ProcessingJobProgress(ctx context.Context, id string, done, total int, at time.Time) error {
	if done < 0 || total < 0 || done > total {
		return ethos.Errorf(ethos.EINVALID, "processing job %s: counts %d of %d", id, done, total)
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		// Counts never go back: a late writer does not undo a newer one.
		res, err := tx.ExecContext(ctx, `UPDATE processing_jobs SET done = CASE WHEN done > ? THEN done ELSE ? END, total = ?, updated_at = ?
			WHERE id = ? AND state = 'running'`, done, done, total, nanos(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if ok, err := exists(ctx, tx, "processing_jobs", id); err != nil || ok {
			return err // finished: left as it is
		}
		return notFound("processing job", id)
	})
}

func (s *ProcessingJobService) FinishProcessingJob(ctx context.Context, j *ethos.ProcessingJob) error {
	switch j.State {
	case ethos.JobDone:
		if j.RunID == "" {
			return ethos.Errorf(ethos.EINVALID, "processing job %s: a job done names its record", j.ID)
		}
		if j.ErrorCode != "" || j.Error != "" {
			return ethos.Errorf(ethos.EINVALID, "processing job %s: a job done has no error", j.ID)
		}
	case ethos.JobFailed:
		if j.Error == "" || j.RunID != "" {
			return ethos.Errorf(ethos.EINVALID, "processing job %s: a failed job says why and names no record", j.ID)
		}
	default:
		return ethos.Errorf(ethos.EINVALID, "processing job %s: finished as %q (done or failed)", j.ID, j.State)
	}
	if j.Done < 0 || j.Done > j.Total {
		return ethos.Errorf(ethos.EINVALID, "processing job %s: counts %d of %d", j.ID, j.Done, j.Total)
	}
	if j.FinishedAt.IsZero() {
		j.FinishedAt = s.db.Now().UTC()
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE processing_jobs SET state = ?, done = ?, total = ?, error_code = ?, error = ?, run_id = ?, updated_at = ?, finished_at = ?
			WHERE id = ? AND state = 'running'`, string(j.State), j.Done, j.Total, j.ErrorCode, j.Error, j.RunID, nanos(j.FinishedAt), nanos(j.FinishedAt), j.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if ok, err := exists(ctx, tx, "processing_jobs", j.ID); err != nil {
			return err
		} else if ok {
			return ethos.Errorf(ethos.ECONFLICT, "processing job %s already finished", j.ID)
		}
		return notFound("processing job", j.ID)
	})
}

func (s *ProcessingJobService) ProcessingJob(ctx context.Context, projectID, id string) (*ethos.ProcessingJob, error) {
	rows, err := s.db.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM processing_jobs WHERE id = ? AND project_id = ?`, id, projectID)
	if err != nil {
		return nil, err
	}
	js, err := scanJobs(rows)
	if err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "processing job %s not found in project %s", id, projectID)
	}
	return js[0], nil
}

func (s *ProcessingJobService) FindProcessingJobs(ctx context.Context, f ethos.ProcessingJobFilter) ([]*ethos.ProcessingJob, int, error) {
	var w where
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.State != nil {
		w.add("state = ?", string(*f.State))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM processing_jobs`+w.String()+` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`,
		append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanJobs(rows)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "processing_jobs", &w)
	return out, n, err
}

// jobHasRecord is true in a statement over processing_jobs when the
// job's run record is stored.
const jobHasRecord = "EXISTS (SELECT 1 FROM processing_runs r WHERE r.id = processing_jobs.id)"

func (s *ProcessingJobService) SettleStaleProcessingJobs(ctx context.Context, before time.Time, reason string, now time.Time, alive ...string) ([]*ethos.ProcessingJob, error) {
	if reason == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "processing jobs: a reason is required to fail them")
	}
	var ids []string
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM processing_jobs WHERE state = 'running' AND updated_at < ? ORDER BY id`, nanos(before))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !slices.Contains(alive, id) {
				ids = append(ids, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// One statement for every stale job (in chunks of ids): a job
		// whose record is stored is done — the record is written
		// before the job is finished, so a server that stopped in
		// between left a complete run —, any other is failed.
		for chunk := range slices.Chunk(ids, 2*nodeBatch) {
			args := []any{ethos.ECONFLICT, reason, nanos(now), nanos(now)}
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE processing_jobs SET
				state = CASE WHEN `+jobHasRecord+` THEN 'done' ELSE 'failed' END,
				done = CASE WHEN `+jobHasRecord+` THEN total ELSE done END,
				run_id = CASE WHEN `+jobHasRecord+` THEN id ELSE run_id END,
				error_code = CASE WHEN `+jobHasRecord+` THEN error_code ELSE ? END,
				error = CASE WHEN `+jobHasRecord+` THEN error ELSE ? END,
				updated_at = ?, finished_at = ?
				WHERE state = 'running' AND id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ethos.ProcessingJob, 0, len(ids))
	for chunk := range slices.Chunk(ids, 2*nodeBatch) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM processing_jobs WHERE id IN (`+placeholders(len(chunk))+`) ORDER BY id`, args...)
		if err != nil {
			return nil, err
		}
		js, err := scanJobs(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	return out, nil
}

// scanJobs reads rows of jobColumns and closes rows.
func scanJobs(rows *sql.Rows) ([]*ethos.ProcessingJob, error) {
	defer rows.Close()
	out := []*ethos.ProcessingJob{}
	for rows.Next() {
		var (
			j                   ethos.ProcessingJob
			purpose, state      string
			started, upd, fined int64
		)
		if err := rows.Scan(&j.ID, &j.ProjectID, &purpose, &j.StartedBy, &j.RequestID, &j.SpecHash, &state, &j.Done, &j.Total,
			&j.ErrorCode, &j.Error, &j.RunID, &started, &upd, &fined); err != nil {
			return nil, err
		}
		j.Purpose, j.State = ethos.Purpose(purpose), ethos.ProcessingJobState(state)
		j.StartedAt, j.UpdatedAt = fromNanos(started), fromNanos(upd)
		if fined != 0 {
			j.FinishedAt = fromNanos(fined)
		}
		out = append(out, &j)
	}
	return out, rows.Err()
}

// OneServer reports whether the database is served by one process only
// (SQLite's, in the server's data directory): then every job running at a
// server's start was left by a process that stopped. PostgreSQL may be
// shared by several servers, whose live jobs keep writing their progress.
func (s *ProcessingJobService) OneServer() bool { return s.db.sqlite }
