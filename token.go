package ethos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// Token is an API token. The secret (256 random bits) is shown once when the
// token is created; only its SHA-256 hash is stored.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"` // hex SHA-256 of the secret
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenPrefix starts every token secret, so a leaked secret is easy to
// recognise in a scanner.
const TokenPrefix = "ethos_"

// DefaultTokenTTL is the lifetime of a token when none is asked for.
const DefaultTokenTTL = 90 * 24 * time.Hour

// NewTokenSecret returns a fresh secret and its stored hash.
func NewTokenSecret() (secret, hash string) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand panics if the system cannot supply randomness)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashTokenSecret(secret)
}

// HashTokenSecret returns the hash stored for a secret.
func HashTokenSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// WellFormedTokenSecret reports whether s looks like a secret made by
// NewTokenSecret (prefix and 43 base64url characters).
func WellFormedTokenSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// Status says whether t can be used at now: "active", "expired" or "revoked".
func (t *Token) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// TokenFilter selects tokens; nil fields select everything.
type TokenFilter struct {
	ID     *string `json:"id,omitempty"`
	UserID *string `json:"user_id,omitempty"`
	Offset int     `json:"offset,omitempty"`
	Limit  int     `json:"limit,omitempty"`
}

// TokenService stores tokens.
type TokenService interface {
	FindTokens(ctx context.Context, filter TokenFilter) ([]*Token, int, error)
	// CreateToken stores t (Hash, UserID, Name, ExpiresAt set by the
	// caller) and assigns ID and CreatedAt.
	CreateToken(ctx context.Context, t *Token) error
	// RevokeToken marks the token revoked at now; revoking twice is a
	// conflict.
	RevokeToken(ctx context.Context, id string, now time.Time) (*Token, error)
	// Authenticate finds the token whose hash is that of secret, checks it
	// is neither expired nor revoked at now, records now as its last use
	// and returns it with its user (and the user's party). It fails with
	// EUNAUTHORIZED, saying why, for an unknown, expired or revoked token
	// or a disabled user; the token is returned when it was found so the
	// failure can be audited under its id.
	Authenticate(ctx context.Context, secret string, now time.Time) (*Token, *User, error)
}
