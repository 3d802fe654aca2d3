package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// UserService stores users.
type UserService struct{ db *DB }

// NewUserService returns the user service over db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

var _ ethos.UserService = (*UserService)(nil)

const userCols = `u.id, u.party_id, u.name, u.roles, u.disabled, u.created_at, u.updated_at,
	p.id, p.name, p.type, p.created_at, p.updated_at`

const userFrom = ` FROM users u JOIN parties p ON p.id = u.party_id`

func scanUser(sc interface{ Scan(...any) error }) (*ethos.User, error) {
	var u ethos.User
	var p ethos.Party
	var roles, c, up, pc, pu string
	if err := sc.Scan(&u.ID, &u.PartyID, &u.Name, &roles, &u.Disabled, &c, &up, &p.ID, &p.Name, &p.Type, &pc, &pu); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, fmt.Errorf("sqlite: user %s: bad roles: %w", u.ID, err)
	}
	var err error
	if u.CreatedAt, err = parseTime(c); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(up); err != nil {
		return nil, err
	}
	if p.CreatedAt, err = parseTime(pc); err != nil {
		return nil, err
	}
	if p.UpdatedAt, err = parseTime(pu); err != nil {
		return nil, err
	}
	u.Party = &p
	return &u, nil
}

// FindUserByID returns one user (with party) or ENOTFOUND.
func (s *UserService) FindUserByID(ctx context.Context, id string) (*ethos.User, error) {
	us, _, err := s.FindUsers(ctx, ethos.UserFilter{ID: &id})
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "user %s not found", id)
	}
	return us[0], nil
}

// FindUsers returns the matching users and their total count.
func (s *UserService) FindUsers(ctx context.Context, f ethos.UserFilter) ([]*ethos.User, int, error) {
	var w where
	if f.ID != nil {
		w.add("u.id = ?", *f.ID)
	}
	if f.PartyID != nil {
		w.add("u.party_id = ?", *f.PartyID)
	}
	if f.Role != nil {
		w.add("EXISTS (SELECT 1 FROM json_each(u.roles) WHERE value = ?)", string(*f.Role))
	}
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+userCols+userFrom+w.String()+" ORDER BY u.created_at, u.id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find users: %w", err)
	}
	defer rows.Close()
	var out []*ethos.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "users u", &w)
	return out, n, err
}

// CreateUser stores u; its party must exist.
func (s *UserService) CreateUser(ctx context.Context, u *ethos.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	roles, _ := json.Marshal(u.Roles)
	now := s.db.Now().UTC()
	u.ID, u.CreatedAt, u.UpdatedAt = newID("usr"), now, now
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO users (id, party_id, name, roles, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.PartyID, u.Name, string(roles), u.Disabled, fmtTime(now), fmtTime(now))
	if isForeignKey(err) {
		return ethos.Errorf(ethos.EINVALID, "party %s not found", u.PartyID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	return nil
}

// UpdateUser changes the fields set in upd.
func (s *UserService) UpdateUser(ctx context.Context, id string, upd ethos.UserUpdate) (*ethos.User, error) {
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE u.id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "user %s not found", id)
		} else if err != nil {
			return err
		}
		if upd.Name != nil {
			u.Name = *upd.Name
		}
		if upd.Roles != nil {
			u.Roles = *upd.Roles
		}
		if upd.Disabled != nil {
			u.Disabled = *upd.Disabled
		}
		if err := u.Validate(); err != nil {
			return err
		}
		roles, _ := json.Marshal(u.Roles)
		_, err = tx.ExecContext(ctx, `UPDATE users SET name = ?, roles = ?, disabled = ?, updated_at = ? WHERE id = ?`,
			u.Name, string(roles), u.Disabled, fmtTime(s.db.Now()), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindUserByID(ctx, id)
}
