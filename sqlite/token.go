package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos"
)

// TokenService stores API tokens (hashes only).
type TokenService struct {
	db    *DB
	users *UserService
}

// NewTokenService returns the token service over db.
func NewTokenService(db *DB) *TokenService { return &TokenService{db: db, users: NewUserService(db)} }

var _ ethos.TokenService = (*TokenService)(nil)

const tokenCols = `id, user_id, name, hash, created_at, expires_at, revoked_at, last_used_at`

func scanToken(sc interface{ Scan(...any) error }) (*ethos.Token, error) {
	var t ethos.Token
	var c, e string
	var r, l sql.NullString
	if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &c, &e, &r, &l); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = parseTime(c); err != nil {
		return nil, err
	}
	if t.ExpiresAt, err = parseTime(e); err != nil {
		return nil, err
	}
	if t.RevokedAt, err = parseTimePtr(r); err != nil {
		return nil, err
	}
	if t.LastUsedAt, err = parseTimePtr(l); err != nil {
		return nil, err
	}
	return &t, nil
}

// FindTokens returns the matching tokens and their total count.
func (s *TokenService) FindTokens(ctx context.Context, f ethos.TokenFilter) ([]*ethos.Token, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.UserID != nil {
		w.add("user_id = ?", *f.UserID)
	}
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+tokenCols+" FROM tokens"+w.String()+" ORDER BY created_at, id"+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: find tokens: %w", err)
	}
	defer rows.Close()
	var out []*ethos.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "tokens", &w)
	return out, n, err
}

// CreateToken stores t; the caller sets Hash, UserID, Name and ExpiresAt.
func (s *TokenService) CreateToken(ctx context.Context, t *ethos.Token) error {
	if len(t.Hash) != 64 {
		return ethos.Errorf(ethos.EINVALID, "token hash must be a hex SHA-256")
	}
	if err := validName("token name", t.Name); err != nil {
		return err
	}
	now := s.db.Now().UTC()
	if !t.ExpiresAt.After(now) {
		return ethos.Errorf(ethos.EINVALID, "token expiry must be in the future")
	}
	t.ID, t.CreatedAt = newID("tok"), now
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)`,
		t.ID, t.UserID, t.Name, t.Hash, fmtTime(now), fmtTime(t.ExpiresAt))
	switch {
	case isForeignKey(err):
		return ethos.Errorf(ethos.EINVALID, "user %s not found", t.UserID)
	case isUnique(err):
		return ethos.Errorf(ethos.ECONFLICT, "token hash exists")
	case err != nil:
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	return nil
}

// RevokeToken marks a token revoked.
func (s *TokenService) RevokeToken(ctx context.Context, id string, now time.Time) (*ethos.Token, error) {
	var out *ethos.Token
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		t, err := scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ethos.Errorf(ethos.ENOTFOUND, "token %s not found", id)
		} else if err != nil {
			return err
		}
		if t.RevokedAt != nil {
			return ethos.Errorf(ethos.ECONFLICT, "token %s is already revoked", id)
		}
		now := now.UTC()
		t.RevokedAt = &now
		_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, fmtTime(now), id)
		out = t
		return err
	})
	return out, err
}

// Authenticate checks a secret and records its use.
func (s *TokenService) Authenticate(ctx context.Context, secret string, now time.Time) (*ethos.Token, *ethos.User, error) {
	if !ethos.WellFormedTokenSecret(secret) {
		return nil, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "malformed token")
	}
	t, err := scanToken(s.db.db.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", ethos.HashTokenSecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "unknown token")
	} else if err != nil {
		return nil, nil, fmt.Errorf("sqlite: authenticate: %w", err)
	}
	switch t.Status(now) {
	case "revoked":
		return t, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "token %s was revoked", t.ID)
	case "expired":
		return t, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "token %s has expired", t.ID)
	}
	u, err := s.users.FindUserByID(ctx, t.UserID)
	if err != nil {
		return t, nil, err
	}
	if u.Disabled {
		return t, u, ethos.Errorf(ethos.EUNAUTHORIZED, "user %s is disabled", u.ID)
	}
	// Record the use at most once a minute per token, to keep reads from
	// turning into a write each.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if _, err := s.db.db.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, fmtTime(now), t.ID); err != nil {
			return t, u, fmt.Errorf("sqlite: record token use: %w", err)
		}
		n := now.UTC()
		t.LastUsedAt = &n
	}
	return t, u, nil
}

func validName(field, s string) error {
	if s == "" {
		return ethos.Errorf(ethos.EINVALID, "%s is required", field)
	}
	if len(s) > ethos.MaxNameLen {
		return ethos.Errorf(ethos.EINVALID, "%s is longer than %d bytes", field, ethos.MaxNameLen)
	}
	return nil
}
