package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// TrainingStore implements ethos.TrainingStore: the training-run register
// and the model versions runs produce. A run is kept whole as JSON beside
// the columns queries filter on.
type TrainingStore struct{ db *DB }

// NewTrainingStore returns the register over db.
func NewTrainingStore(db *DB) *TrainingStore { return &TrainingStore{db: db} }

var _ ethos.TrainingStore = (*TrainingStore)(nil)

// CreateTrainingRun stores r and its model version in one transaction.
func (s *TrainingStore) CreateTrainingRun(ctx context.Context, r *ethos.TrainingRun) error {
	if err := r.Validate(); err != nil {
		return err
	}
	switch {
	case !ethos.ValidID(r.ID):
		return ethos.Errorf(ethos.EINVALID, "training run: id: required")
	case !ethos.ValidID(r.ModelVersion):
		return ethos.Errorf(ethos.EINVALID, "training run %s: model_version: required", r.ID)
	case !r.Status.Valid():
		return ethos.Errorf(ethos.EINVALID, "training run %s: unknown status %q", r.ID, r.Status)
	case !ethos.ValidID(r.RegisteredBy):
		return ethos.Errorf(ethos.EINVALID, "training run %s: registered_by: required", r.ID)
	}
	if r.RegisteredAt.IsZero() {
		r.RegisteredAt = s.db.Now().UTC()
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO training_runs (id, project_id, dataset_version, status, model_version, registered_at, body)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.ProjectID, r.DatasetVersion, string(r.Status), r.ModelVersion, nanos(r.RegisteredAt), string(body))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "training run %s exists", r.ID)
		}
		if err != nil {
			return fmt.Errorf("insert training run: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO model_versions (id, project_id, name, run_id, dataset_version, sha256, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ModelVersion, r.ProjectID, r.ModelName, r.ID, r.DatasetVersion, r.ModelSHA256, string(ethos.ModelActive), nanos(r.RegisteredAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "model version %s exists", r.ModelVersion)
		}
		if err != nil {
			return fmt.Errorf("insert model version: %w", err)
		}
		return nil
	})
}

// FindTrainingRunByID returns one run.
func (s *TrainingStore) FindTrainingRunByID(ctx context.Context, id string) (*ethos.TrainingRun, error) {
	rs, _, err := s.FindTrainingRuns(ctx, ethos.TrainingRunFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("training run", id)
	}
	return rs[0], nil
}

// FindTrainingRuns returns runs, oldest registration first.
func (s *TrainingStore) FindTrainingRuns(ctx context.Context, f ethos.TrainingRunFilter) ([]*ethos.TrainingRun, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.DatasetVersion != nil {
		w.add("dataset_version = ?", *f.DatasetVersion)
	}
	if f.Status != nil {
		w.add("status = ?", string(*f.Status))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM training_runs"+w.String()+" ORDER BY registered_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.TrainingRun](rows, "training run")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "training_runs", &w)
	return out, n, err
}

// SignOffTrainingRun records the verdict on a run waiting for one.
func (s *TrainingStore) SignOffTrainingRun(ctx context.Context, id string, so ethos.TrainingSignOff) (*ethos.TrainingRun, error) {
	if err := so.Validate(); err != nil {
		return nil, err
	}
	if so.At.IsZero() {
		so.At = s.db.Now().UTC()
	}
	var out *ethos.TrainingRun
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		var body string
		err := tx.QueryRowContext(ctx, "SELECT body FROM training_runs WHERE id = ?", id).Scan(&body)
		if noRows(err) {
			return notFound("training run", id)
		}
		if err != nil {
			return err
		}
		var r ethos.TrainingRun
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return fmt.Errorf("training run row: %w", err)
		}
		if r.Status != ethos.RunRegistered {
			return ethos.Errorf(ethos.ECONFLICT, "training run %s is %s already", id, r.Status)
		}
		r.SignOff = &so
		r.Status = ethos.RunSignedOff
		if so.Decision == ethos.SignOffRejected {
			r.Status = ethos.RunRejected
		}
		b, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		// The status guard makes a concurrent second sign-off fail.
		res, err := tx.ExecContext(ctx, "UPDATE training_runs SET status = ?, body = ? WHERE id = ? AND status = ?", string(r.Status), string(b), id, string(ethos.RunRegistered))
		if err != nil {
			return fmt.Errorf("sign off training run: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ethos.Errorf(ethos.ECONFLICT, "training run %s was signed off meanwhile", id)
		}
		out = &r
		return nil
	})
	return out, err
}

// FindModelVersionByID returns one model version.
func (s *TrainingStore) FindModelVersionByID(ctx context.Context, id string) (*ethos.ModelVersion, error) {
	var m ethos.ModelVersion
	var created int64
	err := s.db.db.QueryRowContext(ctx, `SELECT id, project_id, name, run_id, dataset_version, sha256, status, created_at
		FROM model_versions WHERE id = ?`, id).Scan(&m.ID, &m.ProjectID, &m.Name, &m.Run, &m.DatasetVersion, &m.SHA256, &m.Status, &created)
	if noRows(err) {
		return nil, notFound("model version", id)
	}
	if err != nil {
		return nil, err
	}
	m.CreatedAt = fromNanos(created)
	return &m, nil
}

// SetModelStatus changes a model version's status.
func (s *TrainingStore) SetModelStatus(ctx context.Context, id string, status ethos.ModelStatus) (*ethos.ModelVersion, error) {
	if status != ethos.ModelActive && status != ethos.ModelRetired {
		return nil, ethos.Errorf(ethos.EINVALID, "model version: unknown status %q", status)
	}
	res, err := s.db.db.ExecContext(ctx, "UPDATE model_versions SET status = ? WHERE id = ?", string(status), id)
	if err != nil {
		return nil, fmt.Errorf("set model status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("model version", id)
	}
	return s.FindModelVersionByID(ctx, id)
}

// ObligationService implements ethos.ObligationService.
type ObligationService struct{ db *DB }

// NewObligationService returns the obligation service over db.
func NewObligationService(db *DB) *ObligationService { return &ObligationService{db: db} }

var _ ethos.ObligationService = (*ObligationService)(nil)

// OpenObligations stores the obligations not recorded yet; only those
// are given an id, status and opening time.
func (s *ObligationService) OpenObligations(ctx context.Context, obs []*ethos.Obligation) ([]*ethos.Obligation, error) {
	for i, o := range obs {
		if o.Target.Kind != ethos.LineageDatasetVersion && o.Target.Kind != ethos.LineageModelVersion {
			return nil, ethos.Errorf(ethos.EINVALID, "obligation %d: the target must be a dataset-version or model-version, not %q", i+1, o.Target.Kind)
		}
		if err := o.Target.Validate(); err != nil {
			return nil, err
		}
		switch {
		case !o.Subject.Valid():
			return nil, ethos.Errorf(ethos.EINVALID, "obligation %d: subject: a subject key is required", i+1)
		case o.Cause == "":
			return nil, ethos.Errorf(ethos.EINVALID, "obligation %d: cause: required", i+1)
		case o.ProjectID != "" && !ethos.ValidID(o.ProjectID):
			return nil, ethos.Errorf(ethos.EINVALID, "obligation %d: project_id is not an id", i+1)
		}
	}
	now := s.db.Now().UTC()
	var out []*ethos.Obligation
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		for _, o := range obs {
			c := *o
			c.ID, c.Status, c.OpenedAt, c.Resolution = ethos.NewID("obl"), ethos.ObligationOpen, now, nil
			res, err := tx.ExecContext(ctx, `INSERT INTO obligations (id, project_id, target_kind, target_id, subject, cause, status, opened_at, opened_by)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target_kind, target_id, subject, cause) DO NOTHING`,
				c.ID, c.ProjectID, string(c.Target.Kind), c.Target.ID, string(c.Subject), c.Cause, string(c.Status), nanos(now), c.OpenedBy)
			if err != nil {
				return fmt.Errorf("insert obligation: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				*o = c
				out = append(out, o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindObligationByID returns one obligation.
func (s *ObligationService) FindObligationByID(ctx context.Context, id string) (*ethos.Obligation, error) {
	os, _, err := s.FindObligations(ctx, ethos.ObligationFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(os) == 0 {
		return nil, notFound("obligation", id)
	}
	return os[0], nil
}

// FindObligations returns obligations, oldest first.
func (s *ObligationService) FindObligations(ctx context.Context, f ethos.ObligationFilter) ([]*ethos.Obligation, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Target != nil {
		w.add("target_kind = ?", string(f.Target.Kind))
		w.add("target_id = ?", f.Target.ID)
	}
	if f.Subject != nil {
		w.add("subject = ?", string(*f.Subject))
	}
	if f.Status != nil {
		w.add("status = ?", string(*f.Status))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, `SELECT id, project_id, target_kind, target_id, subject, cause, status, opened_at, opened_by, resolution
		FROM obligations`+w.String()+" ORDER BY opened_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*ethos.Obligation{}
	for rows.Next() {
		var o ethos.Obligation
		var opened int64
		var res sql.NullString
		if err := rows.Scan(&o.ID, &o.ProjectID, &o.Target.Kind, &o.Target.ID, &o.Subject, &o.Cause, &o.Status, &opened, &o.OpenedBy, &res); err != nil {
			return nil, 0, err
		}
		o.OpenedAt = fromNanos(opened)
		if res.Valid {
			o.Resolution = new(ethos.ObligationResolution)
			if err := json.Unmarshal([]byte(res.String), o.Resolution); err != nil {
				return nil, 0, fmt.Errorf("obligation row: %w", err)
			}
		}
		out = append(out, &o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "obligations", &w)
	return out, n, err
}

// ResolveObligation closes an open obligation.
func (s *ObligationService) ResolveObligation(ctx context.Context, id string, res ethos.ObligationResolution) (*ethos.Obligation, error) {
	if err := res.Validate(); err != nil {
		return nil, err
	}
	if !ethos.ValidID(res.By) {
		return nil, ethos.Errorf(ethos.EINVALID, "resolution: by: the accountable user's id is required")
	}
	if res.At.IsZero() {
		res.At = s.db.Now().UTC()
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	r, err := s.db.db.ExecContext(ctx, "UPDATE obligations SET status = ?, resolution = ? WHERE id = ? AND status = ?",
		string(ethos.ObligationResolved), string(b), id, string(ethos.ObligationOpen))
	if err != nil {
		return nil, fmt.Errorf("resolve obligation: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		o, err := s.FindObligationByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, ethos.Errorf(ethos.ECONFLICT, "obligation %s is %s already", o.ID, o.Status)
	}
	return s.FindObligationByID(ctx, id)
}
