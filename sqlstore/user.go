package sqlstore

import (
	"context"
	"database/sql"

	"github.com/ethos-imaging/ethos"
)

// UserService implements ethos.UserService.
type UserService struct{ db *DB }

// NewUserService returns the user service over db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

var _ ethos.UserService = (*UserService)(nil)

const userCols = "id, party_id, name, roles, disabled, created_at"

func scanUser(s interface{ Scan(...any) error }) (*ethos.User, error) {
	var u ethos.User
	var roles string
	var at int64
	if err := s.Scan(&u.ID, &u.PartyID, &u.Name, &roles, &u.Disabled, &at); err != nil {
		return nil, err
	}
	u.Roles = splitWords[ethos.Role](roles)
	u.CreatedAt = fromNanos(at)
	return &u, nil
}

func (s *UserService) FindUserByID(ctx context.Context, id string) (*ethos.User, error) {
	us, _, err := s.FindUsers(ctx, ethos.UserFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, notFound("user", id)
	}
	return us[0], nil
}

func (s *UserService) FindUsers(ctx context.Context, f ethos.UserFilter) ([]*ethos.User, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.PartyID != nil {
		w.add("party_id = ?", *f.PartyID)
	}
	if f.Role != nil {
		w.add("(',' || roles || ',') LIKE ?", "%,"+string(*f.Role)+",%")
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+userCols+" FROM users"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
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
	n, err := s.db.count(ctx, "users", &w)
	return out, n, err
}

func (s *UserService) CreateUser(ctx context.Context, u *ethos.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = ethos.NewID("usr")
	} else if !ethos.ValidID(u.ID) {
		return ethos.Errorf(ethos.EINVALID, "id: not a valid identifier")
	}
	u.CreatedAt = s.db.Now().UTC()
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "parties", u.PartyID); err != nil {
			return err
		} else if !ok {
			return ethos.Errorf(ethos.EINVALID, "party_id: party %s not found", u.PartyID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?)",
			u.ID, u.PartyID, u.Name, joinWords(u.Roles), u.Disabled, nanos(u.CreatedAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "user %s exists", u.ID)
		}
		return err
	})
}

func (s *UserService) UpdateUser(ctx context.Context, id string, upd ethos.UserUpdate) (*ethos.User, error) {
	var out *ethos.User
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if noRows(err) {
			return notFound("user", id)
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
		if _, err := tx.ExecContext(ctx, "UPDATE users SET name = ?, roles = ?, disabled = ? WHERE id = ?", u.Name, joinWords(u.Roles), u.Disabled, id); err != nil {
			return err
		}
		out = u
		return nil
	})
	return out, err
}
