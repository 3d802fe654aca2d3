package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// ProcessingService implements ethos.ProcessingService (processing records,
// QC-PRO-1) and ethos.DatasetService (dataset versions and splits).
type ProcessingService struct{ db *DB }

// NewProcessingService returns the processing service over db.
func NewProcessingService(db *DB) *ProcessingService { return &ProcessingService{db: db} }

var _ ethos.ProcessingService = (*ProcessingService)(nil)

func (s *ProcessingService) CreateProcessingRun(ctx context.Context, r *ethos.ProcessingRun) error {
	if r.ID == "" {
		r.ID = ethos.NewID("prc")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	head := *r
	head.Items = nil
	body, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, "processing_runs", r.ID)
		if err != nil {
			return err
		}
		if ok {
			return ethos.Errorf(ethos.ECONFLICT, "processing run %s already exists", r.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO processing_runs (id, project_id, started_at, body) VALUES (?, ?, ?, ?)`,
			r.ID, r.ProjectID, nanos(r.StartedAt), string(body)); err != nil {
			return err
		}
		for i := range r.Items {
			it := &r.Items[i]
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO processing_items (run_id, seq, instance_id, subject, status, body) VALUES (?, ?, ?, ?, ?, ?)`,
				r.ID, i, it.InstanceID, string(it.Subject), string(it.Status), string(b)); err != nil {
				if isUnique(err) {
					return ethos.Errorf(ethos.EINVALID, "processing run: instance %s listed twice", it.InstanceID)
				}
				return err
			}
		}
		return nil
	})
}

func (s *ProcessingService) FindProcessingRuns(ctx context.Context, f ethos.ProcessingRunFilter) ([]*ethos.ProcessingRun, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM processing_runs"+w.String()+" ORDER BY started_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ethos.ProcessingRun
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, 0, err
		}
		var r ethos.ProcessingRun
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return nil, 0, fmt.Errorf("processing run row: %w", err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "processing_runs", &w)
	return out, n, err
}

func (s *ProcessingService) ProcessingRun(ctx context.Context, id string) (*ethos.ProcessingRun, error) {
	rs, _, err := s.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("processing run", id)
	}
	r := rs[0]
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM processing_items WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var it ethos.ProcessingItem
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			return nil, fmt.Errorf("processing item row: %w", err)
		}
		r.Items = append(r.Items, it)
	}
	return r, rows.Err()
}
