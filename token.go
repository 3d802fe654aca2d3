package ethos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// TokenPrefix starts every API token secret, so a leaked token is easy to
// recognise in a scanner.
const TokenPrefix = "ethos_"

// Token is an API credential of a user. The secret (256 random bits) is
// shown once at creation; only its SHA-256 hash is stored.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Hash       [32]byte   `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Active reports whether t may authenticate at now: not revoked, not expired.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && now.Before(t.ExpiresAt)
}

// NewTokenSecret returns a fresh secret and its hash. The secret is
// TokenPrefix followed by 256 random bits in unpadded base64url.
func NewTokenSecret() (secret string, hash [32]byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ethos: crypto/rand failed: " + err.Error())
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashTokenSecret(secret)
}

// HashTokenSecret returns the stored form of a token secret.
func HashTokenSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// WellFormedTokenSecret reports whether s has the shape NewTokenSecret gives
// (a cheap check before any database look-up).
func WellFormedTokenSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	return ok && len(rest) == 43 && base64.RawURLEncoding.Strict().DecodedLen(len(rest)) == 32
}

// MaxTokenLifetime bounds a token's lifetime; long-lived secrets are how
// access outlives its purpose.
const MaxTokenLifetime = 366 * 24 * time.Hour

// TokenFilter selects tokens. Nil fields select everything.
type TokenFilter struct {
	ID     *string
	UserID *string
	Active *time.Time // only tokens active at this time

	Offset int
	Limit  int
}

// TokenService stores tokens and authenticates secrets.
type TokenService interface {
	// CreateToken stores t (ID, UserID, Name, Hash, ExpiresAt set by the
	// caller; an empty ID is assigned). The user must exist.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByID returns the token with the given id (ENOTFOUND if none).
	FindTokenByID(ctx context.Context, id string) (*Token, error)
	// FindTokens returns the tokens matching filter and the total count.
	FindTokens(ctx context.Context, filter TokenFilter) ([]*Token, int, error)
	// RevokeToken marks the token revoked at now (idempotent) and returns it.
	RevokeToken(ctx context.Context, id string, now time.Time) (*Token, error)
	// Authenticate finds the token whose hash is hash and its user. It
	// returns EUNAUTHORIZED when there is none, it is expired or revoked,
	// or the user is disabled; otherwise it records now as last use.
	Authenticate(ctx context.Context, hash [32]byte, now time.Time) (*Token, *User, error)
}
