package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditStorage implements audit.Storage in the tables audit_leaves (idx,
// data), audit_hashes (idx, hash) and audit_checkpoints (size, signed):
// one row per leaf and per stored hash. Append is one transaction holding
// an exclusive lock on audit_leaves; PostgreSQL's commit is durable
// (synchronous_commit on, the default) when it returns.
type AuditStorage struct {
	sqlstore.AuditLeaves // leaves and checkpoints, as every adapter stores them
	db                   *DB
}

// NewAuditStorage returns the audit storage over db.
// The database must be open.
func NewAuditStorage(db *DB) *AuditStorage {
	return &AuditStorage{AuditLeaves: sqlstore.AuditLeaves{DB: db.db}, db: db}
}

var _ audit.Storage = (*AuditStorage)(nil)

func (s *AuditStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE audit_leaves IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		// Both tables' next indexes in one round trip (one per batch of
		// events, whose reply waits for this commit).
		var n, h int64
		if err := tx.QueryRowContext(ctx, "SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves), (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_hashes)").Scan(&n, &h); err != nil {
			return err
		}
		if n != start {
			return fmt.Errorf("append at leaf %d, log has %d: %w", start, n, audit.ErrConflict)
		}
		if h != hashStart {
			return fmt.Errorf("append at stored hash %d, log has %d: %w", hashStart, h, audit.ErrConflict)
		}
		if err := sqlstore.InsertMany(ctx, tx, "audit_leaves", "data", start, len(leaves), func(i int) any { return leaves[i] }); err != nil {
			return err
		}
		return sqlstore.InsertMany(ctx, tx, "audit_hashes", "hash", hashStart, len(hashes), func(i int) any { return hashes[i][:] })
	})
}

func (s *AuditStorage) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	const chunk = 500
	for off := 0; off < len(indexes); off += chunk {
		part := indexes[off:min(off+chunk, len(indexes))]
		args := make([]any, len(part))
		for i, x := range part {
			args[i] = x
		}
		rows, err := s.db.db.QueryContext(ctx, "SELECT idx, hash FROM audit_hashes WHERE idx IN ("+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+")", args...)
		if err != nil {
			return nil, err
		}
		got := make(map[int64]tlog.Hash, len(part))
		for rows.Next() {
			var i int64
			var h []byte
			if err := rows.Scan(&i, &h); err != nil {
				rows.Close()
				return nil, err
			}
			if len(h) != len(tlog.Hash{}) {
				rows.Close()
				return nil, fmt.Errorf("stored hash %d: %d bytes, want 32", i, len(h))
			}
			got[i] = tlog.Hash(h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for i, x := range part {
			h, ok := got[x]
			if !ok {
				return nil, fmt.Errorf("stored hash %d: %w", x, audit.ErrNotFound)
			}
			out[off+i] = h
		}
	}
	return out, nil
}

func (s *AuditStorage) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	rows, err := s.db.db.QueryContext(ctx, "SELECT idx, hash FROM audit_hashes WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var h sql.RawBytes
		if err := rows.Scan(&i, &h); err != nil {
			return err
		}
		var hh tlog.Hash
		if len(h) != len(hh) {
			// A row of the wrong length is a tampered row: report it as a
			// hash that cannot match (all zero bytes), so Verify names it.
			if err := fn(i, hh); err != nil {
				return err
			}
			continue
		}
		copy(hh[:], h)
		if err := fn(i, hh); err != nil {
			return err
		}
	}
	return rows.Err()
}
