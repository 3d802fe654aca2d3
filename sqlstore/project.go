package sqlstore

import (
	"context"
	"database/sql"

	"github.com/ethos-imaging/ethos"
)

// ProjectService implements ethos.ProjectService.
type ProjectService struct{ db *DB }

// NewProjectService returns the project service over db.
func NewProjectService(db *DB) *ProjectService { return &ProjectService{db: db} }

var _ ethos.ProjectService = (*ProjectService)(nil)

const projectCols = "id, name, intended_use, modality, clinical_setting, party_id, stage, created_at, updated_at"

func scanProject(s interface{ Scan(...any) error }) (*ethos.Project, error) {
	var p ethos.Project
	var c, u int64
	if err := s.Scan(&p.ID, &p.Name, &p.IntendedUse, &p.Modality, &p.ClinicalSetting, &p.PartyID, &p.Stage, &c, &u); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(c), fromNanos(u)
	return &p, nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// findProject reads project id (without its stage history) through q.
func findProject(ctx context.Context, q querier, id string) (*ethos.Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ?", id))
	if noRows(err) {
		return nil, notFound("project", id)
	}
	return p, err
}

func loadHistory(ctx context.Context, q querier, p *ethos.Project) error {
	rows, err := q.QueryContext(ctx, "SELECT from_stage, to_stage, at, by_user, reason FROM stage_changes WHERE project_id = ? ORDER BY seq", p.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	p.StageHistory = []ethos.StageChange{}
	for rows.Next() {
		var c ethos.StageChange
		var at int64
		if err := rows.Scan(&c.From, &c.To, &at, &c.By, &c.Reason); err != nil {
			return err
		}
		c.At = fromNanos(at)
		p.StageHistory = append(p.StageHistory, c)
	}
	return rows.Err()
}

func (s *ProjectService) FindProjectByID(ctx context.Context, id string) (*ethos.Project, error) {
	p, err := findProject(ctx, s.db.db, id)
	if err != nil {
		return nil, err
	}
	return p, loadHistory(ctx, s.db.db, p)
}

func (s *ProjectService) FindProjects(ctx context.Context, f ethos.ProjectFilter) ([]*ethos.Project, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.PartyID != nil {
		w.add("party_id = ?", *f.PartyID)
	}
	if f.Stage != nil {
		w.add("stage = ?", string(*f.Stage))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+projectCols+" FROM projects"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
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

func (s *ProjectService) CreateProject(ctx context.Context, p *ethos.Project, by string) error {
	if p.Stage == "" {
		p.Stage = ethos.StageCollection
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if p.ID == "" {
		p.ID = ethos.NewID("prj")
	} else if !ethos.ValidID(p.ID) {
		return ethos.Errorf(ethos.EINVALID, "id: not a valid identifier")
	}
	now := s.db.Now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	p.StageHistory = []ethos.StageChange{{To: p.Stage, At: now, By: by, Reason: "project created"}}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "parties", p.PartyID); err != nil {
			return err
		} else if !ok {
			return ethos.Errorf(ethos.EINVALID, "party_id: party %s not found", p.PartyID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO projects ("+projectCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			p.ID, p.Name, p.IntendedUse, p.Modality, p.ClinicalSetting, p.PartyID, string(p.Stage), nanos(now), nanos(now))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "project %s exists", p.ID)
		} else if err != nil {
			return err
		}
		c := p.StageHistory[0]
		_, err = tx.ExecContext(ctx, "INSERT INTO stage_changes (project_id, seq, from_stage, to_stage, at, by_user, reason) VALUES (?, 0, '', ?, ?, ?, ?)",
			p.ID, string(c.To), nanos(c.At), c.By, c.Reason)
		return err
	})
}

func (s *ProjectService) UpdateProject(ctx context.Context, id string, upd ethos.ProjectUpdate) (*ethos.Project, error) {
	var out *ethos.Project
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		p, err := findProject(ctx, tx, id)
		if err != nil {
			return err
		}
		if upd.Name != nil {
			p.Name = *upd.Name
		}
		if upd.IntendedUse != nil {
			p.IntendedUse = *upd.IntendedUse
		}
		if upd.Modality != nil {
			p.Modality = *upd.Modality
		}
		if upd.ClinicalSetting != nil {
			p.ClinicalSetting = *upd.ClinicalSetting
		}
		if err := p.Validate(); err != nil {
			return err
		}
		p.UpdatedAt = s.db.Now().UTC()
		if _, err := tx.ExecContext(ctx, "UPDATE projects SET name = ?, intended_use = ?, modality = ?, clinical_setting = ?, updated_at = ? WHERE id = ?",
			p.Name, p.IntendedUse, p.Modality, p.ClinicalSetting, nanos(p.UpdatedAt), id); err != nil {
			return err
		}
		out = p
		return loadHistory(ctx, tx, p)
	})
	return out, err
}

func (s *ProjectService) MoveStage(ctx context.Context, id string, c ethos.StageChange) (*ethos.Project, error) {
	var out *ethos.Project
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		p, err := findProject(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := ethos.ValidateStageMove(p.Stage, c.To); err != nil {
			return err
		}
		c.From = p.Stage
		if c.At.IsZero() {
			c.At = s.db.Now().UTC()
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), -1) + 1 FROM stage_changes WHERE project_id = ?", id).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO stage_changes (project_id, seq, from_stage, to_stage, at, by_user, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
			id, seq, string(c.From), string(c.To), nanos(c.At), c.By, c.Reason); err != nil {
			return err
		}
		p.Stage, p.UpdatedAt = c.To, c.At
		if _, err := tx.ExecContext(ctx, "UPDATE projects SET stage = ?, updated_at = ? WHERE id = ?", string(p.Stage), nanos(p.UpdatedAt), id); err != nil {
			return err
		}
		out = p
		return loadHistory(ctx, tx, p)
	})
	return out, err
}
