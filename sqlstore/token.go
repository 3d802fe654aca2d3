package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ethos-imaging/ethos"
)

// TokenService implements ethos.TokenService.
type TokenService struct{ db *DB }

// NewTokenService returns the token service over db.
func NewTokenService(db *DB) *TokenService { return &TokenService{db: db} }

var _ ethos.TokenService = (*TokenService)(nil)

const tokenCols = "id, user_id, name, hash, created_at, expires_at, revoked_at, last_used_at"

func scanToken(s interface{ Scan(...any) error }) (*ethos.Token, error) {
	var t ethos.Token
	var hash []byte
	var created, expires int64
	var revoked, used sql.NullInt64
	if err := s.Scan(&t.ID, &t.UserID, &t.Name, &hash, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	copy(t.Hash[:], hash)
	t.CreatedAt, t.ExpiresAt = fromNanos(created), fromNanos(expires)
	t.RevokedAt, t.LastUsedAt = fromNullNanos(revoked), fromNullNanos(used)
	return &t, nil
}

func (s *TokenService) CreateToken(ctx context.Context, t *ethos.Token) error {
	if t.ID == "" {
		t.ID = ethos.NewID("tok")
	}
	if !ethos.ValidID(t.ID) {
		return ethos.Errorf(ethos.EINVALID, "id: not a valid identifier")
	}
	if t.Hash == ([32]byte{}) {
		return ethos.Errorf(ethos.EINVALID, "token hash: required")
	}
	now := s.db.Now().UTC()
	if !t.ExpiresAt.After(now) {
		return ethos.Errorf(ethos.EINVALID, "expires_at: must be in the future")
	}
	if t.ExpiresAt.Sub(now) > ethos.MaxTokenLifetime {
		return ethos.Errorf(ethos.EINVALID, "expires_at: at most %d days ahead", int(ethos.MaxTokenLifetime.Hours()/24))
	}
	t.CreatedAt = now
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "users", t.UserID); err != nil {
			return err
		} else if !ok {
			return ethos.Errorf(ethos.EINVALID, "user_id: user %s not found", t.UserID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
			t.ID, t.UserID, t.Name, t.Hash[:], nanos(t.CreatedAt), nanos(t.ExpiresAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "token exists")
		}
		return err
	})
}

func (s *TokenService) FindTokenByID(ctx context.Context, id string) (*ethos.Token, error) {
	ts, _, err := s.FindTokens(ctx, ethos.TokenFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, notFound("token", id)
	}
	return ts[0], nil
}

func (s *TokenService) FindTokens(ctx context.Context, f ethos.TokenFilter) ([]*ethos.Token, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.UserID != nil {
		w.add("user_id = ?", *f.UserID)
	}
	if f.Active != nil {
		w.add("revoked_at IS NULL AND expires_at > ?", nanos(*f.Active))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+tokenCols+" FROM tokens"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
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

func (s *TokenService) RevokeToken(ctx context.Context, id string, now time.Time) (*ethos.Token, error) {
	var out *ethos.Token
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", nanos(now), id); err != nil {
			return err
		}
		t, err := scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
		if noRows(err) {
			return notFound("token", id)
		}
		out = t
		return err
	})
	return out, err
}

// Authenticate looks the hash up and records the use. The reasons for a
// refusal are told apart in the error (for the audit log); none of them
// reveals whether a secret exists to someone without one.
func (s *TokenService) Authenticate(ctx context.Context, hash [32]byte, now time.Time) (*ethos.Token, *ethos.User, error) {
	t, err := scanToken(s.db.db.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash[:]))
	if noRows(err) {
		return nil, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "unknown token")
	} else if err != nil {
		return nil, nil, err
	}
	if t.RevokedAt != nil {
		return t, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "token %s is revoked", t.ID)
	}
	if !now.Before(t.ExpiresAt) {
		return t, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "token %s expired", t.ID)
	}
	u, err := scanUser(s.db.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", t.UserID))
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return t, nil, ethos.Errorf(ethos.EUNAUTHORIZED, "user %s is disabled", u.ID)
	}
	// Last use is recorded at most once a minute per token, so a busy
	// client does not turn every read into a write.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if _, err := s.db.db.ExecContext(ctx, "UPDATE tokens SET last_used_at = ? WHERE id = ?", nanos(now), t.ID); err != nil {
			return nil, nil, err
		}
		n := now.UTC()
		t.LastUsedAt = &n
	}
	return t, u, nil
}
