package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// PartyService stores parties.
type PartyService struct{ db *DB }

// NewPartyService returns the party service over db.
func NewPartyService(db *DB) *PartyService { return &PartyService{db: db} }

var _ ethos.PartyService = (*PartyService)(nil)

const partyCols = `id, name, type, created_at, updated_at`

func scanParty(sc interface{ Scan(...any) error }) (*ethos.Party, error) {
	var p ethos.Party
	var c, u string
	if err := sc.Scan(&p.ID, &p.Name, &p.Type, &c, &u); err != nil {
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

// FindPartyByID returns one party or ENOTFOUND.
func (s *PartyService) FindPartyByID(ctx context.Context, id string) (*ethos.Party, error) {
	ps, _, err := s.FindParties(ctx, ethos.PartyFilter{ID: &id})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "party %s not found", id)
	}
	return ps[0], nil
}

// FindParties returns the matching parties and their total count.
func (s *PartyService) FindParties(ctx context.Context, f ethos.PartyFilter) ([]*ethos.Party, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Name != nil {
		w.add("name = ?", *f.Name)
	}
	if f.Type != nil {
		w.add("type = ?", string(*f.Type))
	}
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+partyCols+" FROM parties"+w.String()+" ORDER BY created_at, id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find parties: %w", err)
	}
	defer rows.Close()
	var out []*ethos.Party
	for rows.Next() {
		p, err := scanParty(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "parties", &w)
	return out, n, err
}

// CreateParty stores p, assigning ID and times.
func (s *PartyService) CreateParty(ctx context.Context, p *ethos.Party) error {
	if err := p.Validate(); err != nil {
		return err
	}
	now := s.db.Now().UTC()
	p.ID, p.CreatedAt, p.UpdatedAt = newID("pty"), now, now
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO parties (`+partyCols+`) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.Name, string(p.Type), fmtTime(now), fmtTime(now))
	if isUnique(err) {
		return ethos.Errorf(ethos.ECONFLICT, "a party named %q exists", p.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create party: %w", err)
	}
	return nil
}

// UpdateParty changes the fields set in upd.
func (s *PartyService) UpdateParty(ctx context.Context, id string, upd ethos.PartyUpdate) (*ethos.Party, error) {
	var out *ethos.Party
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		p, err := scanParty(tx.QueryRowContext(ctx, "SELECT "+partyCols+" FROM parties WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "party %s not found", id)
		} else if err != nil {
			return err
		}
		if upd.Name != nil {
			p.Name = *upd.Name
		}
		if upd.Type != nil {
			p.Type = *upd.Type
		}
		if err := p.Validate(); err != nil {
			return err
		}
		p.UpdatedAt = s.db.Now().UTC()
		_, err = tx.ExecContext(ctx, `UPDATE parties SET name = ?, type = ?, updated_at = ? WHERE id = ?`,
			p.Name, string(p.Type), fmtTime(p.UpdatedAt), id)
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "a party named %q exists", p.Name)
		}
		out = p
		return err
	})
	return out, err
}
