package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ethos-imaging/ethos"
)

// DUAService implements ethos.DUAService.
type DUAService struct{ db *DB }

// NewDUAService returns the agreement service over db.
func NewDUAService(db *DB) *DUAService { return &DUAService{db: db} }

var _ ethos.DUAService = (*DUAService)(nil)

const duaCols = "id, party_id, project_id, stages, purposes, views, expires_at, approved_by, reference, created_at, revoked_at, last_used_at"

func scanDUA(s interface{ Scan(...any) error }) (*ethos.DUA, error) {
	var d ethos.DUA
	var stages, purposes, views string
	var expires, created int64
	var revoked, used sql.NullInt64
	if err := s.Scan(&d.ID, &d.PartyID, &d.ProjectID, &stages, &purposes, &views, &expires, &d.ApprovedBy, &d.Reference, &created, &revoked, &used); err != nil {
		return nil, err
	}
	d.Stages, d.Purposes, d.Views = splitWords[ethos.Stage](stages), splitWords[ethos.Purpose](purposes), splitWords[ethos.View](views)
	d.ExpiresAt, d.CreatedAt = fromNanos(expires), fromNanos(created)
	d.RevokedAt, d.LastUsedAt = fromNullNanos(revoked), fromNullNanos(used)
	return &d, nil
}

func (s *DUAService) FindDUAByID(ctx context.Context, id string) (*ethos.DUA, error) {
	ds, _, err := s.FindDUAs(ctx, ethos.DUAFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, notFound("data-use agreement", id)
	}
	return ds[0], nil
}

func (s *DUAService) FindDUAs(ctx context.Context, f ethos.DUAFilter) ([]*ethos.DUA, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.PartyID != nil {
		w.add("party_id = ?", *f.PartyID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Active != nil {
		w.add("revoked_at IS NULL AND expires_at > ?", nanos(*f.Active))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+duaCols+" FROM duas"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ethos.DUA
	for rows.Next() {
		d, err := scanDUA(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "duas", &w)
	return out, n, err
}

func (s *DUAService) CreateDUA(ctx context.Context, d *ethos.DUA) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.ID == "" {
		d.ID = ethos.NewID("dua")
	} else if !ethos.ValidID(d.ID) {
		return ethos.Errorf(ethos.EINVALID, "id: not a valid identifier")
	}
	d.CreatedAt = s.db.Now().UTC()
	if !d.ExpiresAt.After(d.CreatedAt) {
		return ethos.Errorf(ethos.EINVALID, "expires_at: must be in the future")
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		for _, ref := range []struct{ table, field, id string }{{"parties", "party_id", d.PartyID}, {"projects", "project_id", d.ProjectID}, {"users", "approved_by", d.ApprovedBy}} {
			if ok, err := exists(ctx, tx, ref.table, ref.id); err != nil {
				return err
			} else if !ok {
				return ethos.Errorf(ethos.EINVALID, "%s: %s not found", ref.field, ref.id)
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO duas ("+duaCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
			d.ID, d.PartyID, d.ProjectID, joinWords(d.Stages), joinWords(d.Purposes), joinWords(d.Views), nanos(d.ExpiresAt), d.ApprovedBy, d.Reference, nanos(d.CreatedAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "data-use agreement %s exists", d.ID)
		}
		return err
	})
}

func (s *DUAService) RevokeDUA(ctx context.Context, id string, now time.Time) (*ethos.DUA, error) {
	var out *ethos.DUA
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE duas SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", nanos(now), id); err != nil {
			return err
		}
		d, err := scanDUA(tx.QueryRowContext(ctx, "SELECT "+duaCols+" FROM duas WHERE id = ?", id))
		if noRows(err) {
			return notFound("data-use agreement", id)
		}
		out = d
		return err
	})
	return out, err
}

func (s *DUAService) TouchDUA(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.db.ExecContext(ctx, "UPDATE duas SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)", nanos(now), id, nanos(now.Add(-time.Minute)))
	if err != nil {
		return err
	}
	_ = res
	return nil
}
