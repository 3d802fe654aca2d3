package sqlstore

import (
	"context"

	"github.com/ethos-imaging/ethos"
)

// PartyService implements ethos.PartyService.
type PartyService struct{ db *DB }

// NewPartyService returns the party service over db.
func NewPartyService(db *DB) *PartyService { return &PartyService{db: db} }

var _ ethos.PartyService = (*PartyService)(nil)

const partyCols = "id, name, type, created_at"

func scanParty(s interface{ Scan(...any) error }) (*ethos.Party, error) {
	var p ethos.Party
	var at int64
	if err := s.Scan(&p.ID, &p.Name, &p.Type, &at); err != nil {
		return nil, err
	}
	p.CreatedAt = fromNanos(at)
	return &p, nil
}

func (s *PartyService) FindPartyByID(ctx context.Context, id string) (*ethos.Party, error) {
	ps, _, err := s.FindParties(ctx, ethos.PartyFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, notFound("party", id)
	}
	return ps[0], nil
}

func (s *PartyService) FindParties(ctx context.Context, f ethos.PartyFilter) ([]*ethos.Party, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Type != nil {
		w.add("type = ?", string(*f.Type))
	}
	if f.Name != nil {
		w.add("name = ?", *f.Name)
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+partyCols+" FROM parties"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
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

func (s *PartyService) CreateParty(ctx context.Context, p *ethos.Party) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.ID == "" {
		p.ID = ethos.NewID("pty")
	} else if !ethos.ValidID(p.ID) {
		return ethos.Errorf(ethos.EINVALID, "id: not a valid identifier")
	}
	p.CreatedAt = s.db.Now().UTC()
	_, err := s.db.db.ExecContext(ctx, "INSERT INTO parties ("+partyCols+") VALUES (?, ?, ?, ?)", p.ID, p.Name, string(p.Type), nanos(p.CreatedAt))
	if isUnique(err) {
		return ethos.Errorf(ethos.ECONFLICT, "a party with this id or name exists")
	}
	return err
}
