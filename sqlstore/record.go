package sqlstore

import (
	"context"
	"database/sql"

	"github.com/ethos-imaging/ethos"
)

// RecordService implements ethos.RecordService.
type RecordService struct{ db *DB }

// NewRecordService returns the stage record service over db.
func NewRecordService(db *DB) *RecordService { return &RecordService{db: db} }

var _ ethos.RecordService = (*RecordService)(nil)

func (s *RecordService) CreateRecord(ctx context.Context, r *ethos.StageRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.ID == "" {
		r.ID = ethos.NewID("rec")
	}
	r.CreatedAt = s.db.Now().UTC()
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "projects", r.ProjectID); err != nil {
			return err
		} else if !ok {
			return notFound("project", r.ProjectID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO stage_records (id, project_id, stage, kind, identifiable, body, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.ProjectID, string(r.Stage), r.Kind, r.Identifiable, []byte(r.Body), r.CreatedBy, nanos(r.CreatedAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "record %s exists", r.ID)
		}
		return err
	})
}

func recordWhere(f ethos.RecordFilter) *where {
	var w where
	w.add("project_id = ?", f.ProjectID)
	w.add("stage = ?", string(f.Stage))
	if f.Identifiable != nil {
		w.add("identifiable = ?", *f.Identifiable)
	}
	return &w
}

func (s *RecordService) FindRecords(ctx context.Context, f ethos.RecordFilter) ([]*ethos.StageRecord, int, error) {
	w := recordWhere(f)
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT id, project_id, stage, kind, identifiable, body, created_by, created_at FROM stage_records"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*ethos.StageRecord{}
	for rows.Next() {
		var r ethos.StageRecord
		var body []byte
		var at int64
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.Stage, &r.Kind, &r.Identifiable, &body, &r.CreatedBy, &at); err != nil {
			return nil, 0, err
		}
		r.Body, r.CreatedAt = body, fromNanos(at)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "stage_records", w)
	return out, n, err
}

func (s *RecordService) CountRecords(ctx context.Context, f ethos.RecordFilter) ([]ethos.RecordCount, error) {
	w := recordWhere(f)
	rows, err := s.db.db.QueryContext(ctx, "SELECT kind, COUNT(*) FROM stage_records"+w.String()+" GROUP BY kind ORDER BY kind", w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ethos.RecordCount{}
	for rows.Next() {
		var c ethos.RecordCount
		if err := rows.Scan(&c.Kind, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
