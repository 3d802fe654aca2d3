package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos"
)

// DUAService stores data-use agreements.
type DUAService struct{ db *DB }

// NewDUAService returns the agreement service over db.
func NewDUAService(db *DB) *DUAService { return &DUAService{db: db} }

var _ ethos.DUAService = (*DUAService)(nil)

const duaCols = `id, party_id, project_id, stages, purposes, views, expires_at, approved_by, reference, created_at, revoked_at, last_used_at`

func scanDUA(sc interface{ Scan(...any) error }) (*ethos.DUA, error) {
	var d ethos.DUA
	var stages, purposes, views, e, c string
	var r, l sql.NullString
	if err := sc.Scan(&d.ID, &d.PartyID, &d.ProjectID, &stages, &purposes, &views, &e, &d.ApprovedBy, &d.Reference, &c, &r, &l); err != nil {
		return nil, err
	}
	for _, j := range []struct {
		src string
		dst any
	}{{stages, &d.Stages}, {purposes, &d.Purposes}, {views, &d.Views}} {
		if err := json.Unmarshal([]byte(j.src), j.dst); err != nil {
			return nil, fmt.Errorf("sqlite: agreement %s: %w", d.ID, err)
		}
	}
	var err error
	if d.ExpiresAt, err = parseTime(e); err != nil {
		return nil, err
	}
	if d.CreatedAt, err = parseTime(c); err != nil {
		return nil, err
	}
	if d.RevokedAt, err = parseTimePtr(r); err != nil {
		return nil, err
	}
	if d.LastUsedAt, err = parseTimePtr(l); err != nil {
		return nil, err
	}
	return &d, nil
}

// FindDUAs returns the matching agreements and their total count.
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
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+duaCols+" FROM duas"+w.String()+" ORDER BY created_at, id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find agreements: %w", err)
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

// CreateDUA stores d; party and project must exist.
func (s *DUAService) CreateDUA(ctx context.Context, d *ethos.DUA) error {
	if err := d.Validate(); err != nil {
		return err
	}
	now := s.db.Now().UTC()
	d.ID, d.CreatedAt = newID("dua"), now
	d.ExpiresAt = d.ExpiresAt.UTC()
	stages, _ := json.Marshal(d.Stages)
	purposes, _ := json.Marshal(d.Purposes)
	views, _ := json.Marshal(d.Views)
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO duas (`+duaCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
		d.ID, d.PartyID, d.ProjectID, string(stages), string(purposes), string(views), fmtTime(d.ExpiresAt),
		d.ApprovedBy, d.Reference, fmtTime(now))
	if isForeignKey(err) {
		return ethos.Errorf(ethos.EINVALID, "agreement party %s or project %s not found", d.PartyID, d.ProjectID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create agreement: %w", err)
	}
	return nil
}

// RevokeDUA ends an agreement now.
func (s *DUAService) RevokeDUA(ctx context.Context, id string, now time.Time) (*ethos.DUA, error) {
	var out *ethos.DUA
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		d, err := scanDUA(tx.QueryRowContext(ctx, "SELECT "+duaCols+" FROM duas WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "agreement %s not found", id)
		} else if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return ethos.Errorf(ethos.ECONFLICT, "agreement %s is already revoked", id)
		}
		n := now.UTC()
		d.RevokedAt = &n
		_, err = tx.ExecContext(ctx, `UPDATE duas SET revoked_at = ? WHERE id = ?`, fmtTime(n), id)
		out = d
		return err
	})
	return out, err
}

// TouchDUA records a use of the agreement (at most once a minute).
func (s *DUAService) TouchDUA(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.db.ExecContext(ctx, `UPDATE duas SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		fmtTime(now), id, fmtTime(now.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("sqlite: touch agreement: %w", err)
	}
	return nil
}
