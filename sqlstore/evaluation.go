package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// EvaluationStore implements ethos.EvaluationStore: pre-registered plans,
// attempts and sign-offs, each written once (the schema's triggers refuse
// updates and deletes).
type EvaluationStore struct{ db *DB }

// NewEvaluationStore returns the evaluation store over db.
func NewEvaluationStore(db *DB) *EvaluationStore { return &EvaluationStore{db: db} }

var _ ethos.EvaluationStore = (*EvaluationStore)(nil)

func (s *EvaluationStore) CreateEvaluationPlan(ctx context.Context, p *ethos.EvaluationPlan) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.ID == "" {
		p.ID = ethos.NewID("evp")
	}
	if p.RegisteredAt.IsZero() {
		p.RegisteredAt = s.db.Now().UTC()
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "projects", p.ProjectID); err != nil {
			return err
		} else if !ok {
			return notFound("project", p.ProjectID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO evaluation_plans (id, project_id, model_version_id, body, registered_at) VALUES (?, ?, ?, ?, ?)",
			p.ID, p.ProjectID, p.ModelVersionID, string(body), nanos(p.RegisteredAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "evaluation plan %s exists", p.ID)
		}
		return err
	})
}

func (s *EvaluationStore) FindEvaluationPlanByID(ctx context.Context, id string) (*ethos.EvaluationPlan, error) {
	var body string
	err := s.db.db.QueryRowContext(ctx, "SELECT body FROM evaluation_plans WHERE id = ?", id).Scan(&body)
	if noRows(err) {
		return nil, notFound("evaluation plan", id)
	}
	if err != nil {
		return nil, err
	}
	var p ethos.EvaluationPlan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return nil, fmt.Errorf("evaluation plan row %s: %w", id, err)
	}
	return &p, nil
}

func (s *EvaluationStore) FindEvaluationPlans(ctx context.Context, f ethos.EvaluationPlanFilter) ([]*ethos.EvaluationPlan, int, error) {
	var w where
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.ModelVersionID != nil {
		w.add("model_version_id = ?", *f.ModelVersionID)
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM evaluation_plans"+w.String()+" ORDER BY registered_at DESC, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.EvaluationPlan](rows, "evaluation plan")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "evaluation_plans", &w)
	return out, n, err
}

func (s *EvaluationStore) CreateEvaluationRun(ctx context.Context, r *ethos.EvaluationRun) error {
	if !ethos.ValidID(r.PlanID) {
		return ethos.Errorf(ethos.EINVALID, "plan_id: required")
	}
	if len(r.Result) == 0 || !json.Valid(r.Result) {
		return ethos.Errorf(ethos.EINVALID, "result: must be a JSON value")
	}
	switch r.Outcome {
	case ethos.EvaluationPass, ethos.EvaluationFail, ethos.EvaluationUndetermined:
	default:
		return ethos.Errorf(ethos.EINVALID, "outcome: want pass, fail or undetermined")
	}
	if r.ID == "" {
		r.ID = ethos.NewID("evr")
	}
	if r.UploadedAt.IsZero() {
		r.UploadedAt = s.db.Now().UTC()
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		var projectID, model string
		err := tx.QueryRowContext(ctx, "SELECT project_id, model_version_id FROM evaluation_plans WHERE id = ?", r.PlanID).Scan(&projectID, &model)
		if noRows(err) {
			return notFound("evaluation plan", r.PlanID)
		}
		if err != nil {
			return err
		}
		var last int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(attempt), 0) FROM evaluation_runs WHERE plan_id = ?", r.PlanID).Scan(&last); err != nil {
			return err
		}
		r.ProjectID, r.ModelVersionID, r.Attempt = projectID, model, last+1
		head := *r
		head.Result = nil
		body, err := json.Marshal(&head)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO evaluation_runs (id, plan_id, model_version_id, attempt, body, result, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.PlanID, model, r.Attempt, string(body), string(r.Result), nanos(r.UploadedAt))
		if isUnique(err) {
			// A concurrent upload took the number, or the id exists.
			return ethos.Errorf(ethos.ECONFLICT, "evaluation attempt %d of plan %s was recorded concurrently; upload again", r.Attempt, r.PlanID)
		}
		return err
	})
}

func (s *EvaluationStore) FindEvaluationRunByID(ctx context.Context, id string) (*ethos.EvaluationRun, error) {
	var body, result string
	err := s.db.db.QueryRowContext(ctx, "SELECT body, result FROM evaluation_runs WHERE id = ?", id).Scan(&body, &result)
	if noRows(err) {
		return nil, notFound("evaluation attempt", id)
	}
	if err != nil {
		return nil, err
	}
	var r ethos.EvaluationRun
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("evaluation run row %s: %w", id, err)
	}
	r.Result = json.RawMessage(result)
	return &r, nil
}

func (s *EvaluationStore) FindEvaluationRuns(ctx context.Context, f ethos.EvaluationRunFilter) ([]*ethos.EvaluationRun, int, error) {
	var w where
	if f.PlanID != nil {
		w.add("plan_id = ?", *f.PlanID)
	}
	if f.ModelVersionID != nil {
		w.add("model_version_id = ?", *f.ModelVersionID)
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM evaluation_runs"+w.String()+" ORDER BY uploaded_at DESC, attempt DESC, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.EvaluationRun](rows, "evaluation run")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "evaluation_runs", &w)
	return out, n, err
}

func (s *EvaluationStore) CreateEvaluationSignoff(ctx context.Context, so *ethos.EvaluationSignoff) error {
	switch so.Kind {
	case ethos.SignoffEthics, ethos.SignoffAcknowledgement, ethos.SignoffWaiver:
	default:
		return ethos.Errorf(ethos.EINVALID, "kind: want ethics-review, acknowledgement or waiver")
	}
	if so.ID == "" {
		so.ID = ethos.NewID("evs")
	}
	if so.At.IsZero() {
		so.At = s.db.Now().UTC()
	}
	body, err := json.Marshal(so)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "evaluation_runs", so.RunID); err != nil {
			return err
		} else if !ok {
			return notFound("evaluation attempt", so.RunID)
		}
		var last int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM evaluation_signoffs WHERE run_id = ?", so.RunID).Scan(&last); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO evaluation_signoffs (id, run_id, seq, kind, body, at) VALUES (?, ?, ?, ?, ?, ?)",
			so.ID, so.RunID, last+1, string(so.Kind), string(body), nanos(so.At))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "a sign-off of %s was recorded concurrently; try again", so.RunID)
		}
		return err
	})
}

func (s *EvaluationStore) FindEvaluationSignoffs(ctx context.Context, runID string) ([]*ethos.EvaluationSignoff, error) {
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM evaluation_signoffs WHERE run_id = ? ORDER BY seq", runID)
	if err != nil {
		return nil, err
	}
	return scanBodies[ethos.EvaluationSignoff](rows, "evaluation sign-off")
}
