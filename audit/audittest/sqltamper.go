package audittest

import (
	"context"
	"database/sql"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// SQLTamperer is a Tamperer for stores that keep leaves and stored hashes
// in SQL tables with one row per index, such as the SQLite and PostgreSQL
// adapters. It edits the rows with plain SQL, as an attacker with the
// database would. Zero fields take the defaults shown.
type SQLTamperer struct {
	DB        *sql.DB
	LeafTable string // "audit_leaves"
	HashTable string // "audit_hashes"
	Index     string // index column of both tables: "idx"
	Data      string // leaf bytes column: "data"
	Hash      string // stored hash column: "hash"
	// Dollar selects $1, $2 placeholders (PostgreSQL) instead of ?.
	Dollar bool
}

func (s SQLTamperer) names() (leaves, hashes, idx, data, hash string) {
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return pick(s.LeafTable, "audit_leaves"), pick(s.HashTable, "audit_hashes"),
		pick(s.Index, "idx"), pick(s.Data, "data"), pick(s.Hash, "hash")
}

func (s SQLTamperer) q(format string, args ...any) string {
	q := fmt.Sprintf(format, args...)
	if !s.Dollar {
		return q
	}
	out := make([]byte, 0, len(q)+4)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// SetLeaf implements Tamperer (UPDATE, or INSERT when the row is absent).
func (s SQLTamperer) SetLeaf(ctx context.Context, index int64, leaf []byte) error {
	t, _, idx, data, _ := s.names()
	res, err := s.DB.ExecContext(ctx, s.q("UPDATE %s SET %s = ? WHERE %s = ?", t, data, idx), leaf, index)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = s.DB.ExecContext(ctx, s.q("INSERT INTO %s (%s, %s) VALUES (?, ?)", t, idx, data), index, leaf)
	}
	return err
}

// DeleteLeaf implements Tamperer.
func (s SQLTamperer) DeleteLeaf(ctx context.Context, index int64) error {
	t, _, idx, _, _ := s.names()
	_, err := s.DB.ExecContext(ctx, s.q("DELETE FROM %s WHERE %s = ?", t, idx), index)
	return err
}

// InsertLeaf implements Tamperer: rows at index and above move up by one
// (through negative indexes, so the primary key never collides).
func (s SQLTamperer) InsertLeaf(ctx context.Context, index int64, leaf []byte) error {
	t, _, idx, data, _ := s.names()
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// idx → -(idx+1) → idx+1: no two rows share an index at any step.
	if _, err := tx.ExecContext(ctx, s.q("UPDATE %s SET %s = -(%s + 1) WHERE %s >= ?", t, idx, idx, idx), index); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q("UPDATE %s SET %s = -%s WHERE %s < 0", t, idx, idx, idx)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO %s (%s, %s) VALUES (?, ?)", t, idx, data), index, leaf); err != nil {
		return err
	}
	return tx.Commit()
}

// SetHash implements Tamperer.
func (s SQLTamperer) SetHash(ctx context.Context, index int64, h tlog.Hash) error {
	_, t, idx, _, hash := s.names()
	_, err := s.DB.ExecContext(ctx, s.q("UPDATE %s SET %s = ? WHERE %s = ?", t, hash, idx), h[:], index)
	return err
}
