package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// ProjectService stores projects and their stage history.
type ProjectService struct{ db *DB }

// NewProjectService returns the project service over db.
func NewProjectService(db *DB) *ProjectService { return &ProjectService{db: db} }

var _ ethos.ProjectService = (*ProjectService)(nil)

const projectCols = `id, name, intended_use, modality, clinical_setting, stage, created_at, updated_at`

func scanProject(sc interface{ Scan(...any) error }) (*ethos.Project, error) {
	var p ethos.Project
	var c, u string
	if err := sc.Scan(&p.ID, &p.Name, &p.IntendedUse, &p.Modality, &p.ClinicalSetting, &p.Stage, &c, &u); err != nil {
		return nil, err
	}
	var err error
	if p.CreatedAt, err = parseTime(c); err != nil {
		return nil, err
	}
	if p.UpdatedAt, err = parseTime(u); err != nil {
		return nil, err
	}
	return &p, nil
}

// FindProjectByID returns one project or ENOTFOUND.
func (s *ProjectService) FindProjectByID(ctx context.Context, id string) (*ethos.Project, error) {
	ps, _, err := s.FindProjects(ctx, ethos.ProjectFilter{ID: &id})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "project %s not found", id)
	}
	return ps[0], nil
}

// FindProjects returns the matching projects and their total count.
func (s *ProjectService) FindProjects(ctx context.Context, f ethos.ProjectFilter) ([]*ethos.Project, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Name != nil {
		w.add("name = ?", *f.Name)
	}
	if f.Stage != nil {
		w.add("stage = ?", string(*f.Stage))
	}
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+projectCols+" FROM projects"+w.String()+" ORDER BY created_at, id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find projects: %w", err)
	}
	defer rows.Close()
	var out []*ethos.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "projects", &w)
	return out, n, err
}

// CreateProject stores p and its first history entry.
func (s *ProjectService) CreateProject(ctx context.Context, p *ethos.Project) error {
	if p.Stage == "" {
		p.Stage = ethos.StageCollection
	}
	if err := p.Validate(); err != nil {
		return err
	}
	now := s.db.Now().UTC()
	p.ID, p.CreatedAt, p.UpdatedAt = newID("prj"), now, now
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO projects (`+projectCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.IntendedUse, p.Modality, p.ClinicalSetting, string(p.Stage), fmtTime(now), fmtTime(now))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "a project named %q exists", p.Name)
		} else if err != nil {
			return fmt.Errorf("sqlite: create project: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO stage_history (project_id, from_stage, to_stage, by_actor, reason, at) VALUES (?, '', ?, ?, 'project created', ?)`,
			p.ID, string(p.Stage), ethos.ActorID(ctx), fmtTime(now))
		return err
	})
}

// UpdateProject changes the fields set in upd.
func (s *ProjectService) UpdateProject(ctx context.Context, id string, upd ethos.ProjectUpdate) (*ethos.Project, error) {
	var out *ethos.Project
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		p, err := scanProject(tx.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "project %s not found", id)
		} else if err != nil {
			return err
		}
		for _, f := range []struct{ src, dst *string }{{upd.Name, &p.Name}, {upd.IntendedUse, &p.IntendedUse},
			{upd.Modality, &p.Modality}, {upd.ClinicalSetting, &p.ClinicalSetting}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if err := p.Validate(); err != nil {
			return err
		}
		p.UpdatedAt = s.db.Now().UTC()
		_, err = tx.ExecContext(ctx, `UPDATE projects SET name = ?, intended_use = ?, modality = ?, clinical_setting = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.IntendedUse, p.Modality, p.ClinicalSetting, fmtTime(p.UpdatedAt), id)
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "a project named %q exists", p.Name)
		}
		out = p
		return err
	})
	return out, err
}

// SetProjectStage moves a project and records the move.
func (s *ProjectService) SetProjectStage(ctx context.Context, id string, to ethos.Stage, reason string) (*ethos.Project, error) {
	if reason == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "a stage change needs a reason")
	}
	if len(reason) > ethos.MaxTextLen {
		return nil, ethos.Errorf(ethos.EINVALID, "reason is longer than %d bytes", ethos.MaxTextLen)
	}
	var out *ethos.Project
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		p, err := scanProject(tx.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "project %s not found", id)
		} else if err != nil {
			return err
		}
		if err := ethos.CheckStageMove(p.Stage, to); err != nil {
			return err
		}
		now := s.db.Now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET stage = ?, updated_at = ? WHERE id = ?`, string(to), fmtTime(now), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO stage_history (project_id, from_stage, to_stage, by_actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, string(p.Stage), string(to), ethos.ActorID(ctx), reason, fmtTime(now)); err != nil {
			return err
		}
		p.Stage, p.UpdatedAt = to, now
		out = p
		return nil
	})
	return out, err
}

// StageHistory returns the project's stage changes, oldest first.
func (s *ProjectService) StageHistory(ctx context.Context, id string) ([]*ethos.StageChange, error) {
	if _, err := s.FindProjectByID(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT project_id, from_stage, to_stage, by_actor, reason, at FROM stage_history WHERE project_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage history: %w", err)
	}
	defer rows.Close()
	var out []*ethos.StageChange
	for rows.Next() {
		var c ethos.StageChange
		var at string
		if err := rows.Scan(&c.ProjectID, &c.From, &c.To, &c.By, &c.Reason, &at); err != nil {
			return nil, err
		}
		if c.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// StageRecordService stores stage records.
type StageRecordService struct{ db *DB }

// NewStageRecordService returns the stage record service over db.
func NewStageRecordService(db *DB) *StageRecordService { return &StageRecordService{db: db} }

var _ ethos.StageRecordService = (*StageRecordService)(nil)

// FindStageRecords returns the matching records, newest first.
func (s *StageRecordService) FindStageRecords(ctx context.Context, f ethos.StageRecordFilter) ([]*ethos.StageRecord, int, error) {
	var w where
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Stage != nil {
		w.add("stage = ?", string(*f.Stage))
	}
	if f.Views != nil {
		if len(f.Views) == 0 {
			return nil, 0, nil
		}
		in := "view IN (?"
		args := []any{string(f.Views[0])}
		for _, v := range f.Views[1:] {
			in += ", ?"
			args = append(args, string(v))
		}
		w.conds = append(w.conds, in+")")
		w.args = append(w.args, args...)
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT id, project_id, stage, kind, title, view, body, created_by, created_at FROM stage_records`+
		w.String()+" ORDER BY created_at DESC, id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find stage records: %w", err)
	}
	defer rows.Close()
	var out []*ethos.StageRecord
	for rows.Next() {
		var r ethos.StageRecord
		var c string
		var body []byte
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.Stage, &r.Kind, &r.Title, &r.View, &body, &r.CreatedBy, &c); err != nil {
			return nil, 0, err
		}
		if len(body) > 0 {
			r.Body = body
		}
		if r.CreatedAt, err = parseTime(c); err != nil {
			return nil, 0, err
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "stage_records", &w)
	return out, n, err
}

// CreateStageRecord stores r.
func (s *StageRecordService) CreateStageRecord(ctx context.Context, r *ethos.StageRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := s.db.Now().UTC()
	r.ID, r.CreatedAt, r.CreatedBy = newID("rec"), now, ethos.ActorID(ctx)
	var body any
	if len(r.Body) > 0 {
		body = []byte(r.Body)
	}
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO stage_records (id, project_id, stage, kind, title, view, body, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ProjectID, string(r.Stage), r.Kind, r.Title, string(r.View), body, r.CreatedBy, fmtTime(now))
	if isForeignKey(err) {
		return ethos.Errorf(ethos.ENOTFOUND, "project %s not found", r.ProjectID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create stage record: %w", err)
	}
	return nil
}
