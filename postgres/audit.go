package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditStorage implements audit.Storage in the tables audit_leaves (idx,
// data), audit_hashes (idx, hash) and audit_checkpoints (size, signed):
// one row per leaf and per stored hash. Append is one transaction holding
// an exclusive lock on audit_leaves; PostgreSQL's commit is durable
// (synchronous_commit on, the default) when it returns.
type AuditStorage struct{ db *DB }

// NewAuditStorage returns the audit storage over db.
func NewAuditStorage(db *DB) *AuditStorage { return &AuditStorage{db: db} }

var _ audit.Storage = (*AuditStorage)(nil)

func maxIndex(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM "+table).Scan(&n)
	return n, err
}

// Size returns one more than the largest stored leaf index.
func (s *AuditStorage) Size(ctx context.Context) (int64, error) {
	return maxIndex(ctx, s.db.db, "audit_leaves")
}

func (s *AuditStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE audit_leaves IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		n, err := maxIndex(ctx, tx, "audit_leaves")
		if err != nil {
			return err
		}
		if n != start {
			return fmt.Errorf("append at leaf %d, log has %d: %w", start, n, audit.ErrConflict)
		}
		h, err := maxIndex(ctx, tx, "audit_hashes")
		if err != nil {
			return err
		}
		if h != hashStart {
			return fmt.Errorf("append at stored hash %d, log has %d: %w", hashStart, h, audit.ErrConflict)
		}
		if err := insertMany(ctx, tx, "audit_leaves", "data", start, len(leaves), func(i int) any { return leaves[i] }); err != nil {
			return err
		}
		return insertMany(ctx, tx, "audit_hashes", "hash", hashStart, len(hashes), func(i int) any { return hashes[i][:] })
	})
}

// insertMany inserts n rows (idx, col) with multi-row INSERTs of up to 256
// rows each.
func insertMany(ctx context.Context, tx *sql.Tx, table, col string, start int64, n int, val func(int) any) error {
	const chunk = 256
	var stmt *sql.Stmt
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	args := make([]any, 0, 2*chunk)
	for off := 0; off < n; off += chunk {
		k := min(chunk, n-off)
		args = args[:0]
		for i := off; i < off+k; i++ {
			args = append(args, start+int64(i), val(i))
		}
		q := "INSERT INTO " + table + " (idx, " + col + ") VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?),", k), ",")
		var err error
		if k == chunk {
			if stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, q); err != nil {
					return err
				}
			}
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

func (s *AuditStorage) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("leaves [%d, %d): bad range", start, end)
	}
	out := make([][]byte, 0, min(end-start, 1<<16))
	next := start
	err := s.ScanLeaves(ctx, start, end, func(i int64, leaf []byte) error {
		if i != next {
			return fmt.Errorf("leaf %d: %w", next, audit.ErrNotFound)
		}
		out = append(out, append([]byte(nil), leaf...))
		next++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if next != end {
		return nil, fmt.Errorf("leaf %d: %w", next, audit.ErrNotFound)
	}
	return out, nil
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

func (s *AuditStorage) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	rows, err := s.db.db.QueryContext(ctx, "SELECT idx, data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var leaf sql.RawBytes
		if err := rows.Scan(&i, &leaf); err != nil {
			return err
		}
		if err := fn(i, leaf); err != nil {
			return err
		}
	}
	return rows.Err()
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

func (s *AuditStorage) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	_, err := s.db.db.ExecContext(ctx, "INSERT INTO audit_checkpoints (size, signed) VALUES (?, ?) ON CONFLICT (size) DO UPDATE SET signed = excluded.signed", n, signed)
	return err
}

func (s *AuditStorage) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	err := s.db.db.QueryRowContext(ctx, "SELECT signed FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&b)
	if noRows(err) {
		return nil, nil
	}
	return b, err
}
