package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ethos-imaging/ethos/audit"
)

// AuditLeaves is the part of audit.Storage both adapters store alike: the
// table audit_leaves (idx, data), one row per event, and audit_checkpoints
// (size, signed). The adapters embed it and keep the tree's stored hashes
// in their own layout (SQLite packs them 256 to a row; PostgreSQL keeps one
// row per hash).
type AuditLeaves struct{ DB *sql.DB }

// MaxIndex returns one more than the largest idx in table (0 when empty).
func MaxIndex(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM "+table).Scan(&n)
	return n, err
}

// InsertMany inserts n rows (idx, col) with multi-row INSERTs of up to 256
// rows each.
func InsertMany(ctx context.Context, tx *sql.Tx, table, col string, start int64, n int, val func(int) any) error {
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
		q := "INSERT INTO " + table + " (idx, " + col + ") VALUES " + valueRows(k, 2)
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

// Size returns one more than the largest stored leaf index.
func (s AuditLeaves) Size(ctx context.Context) (int64, error) {
	return MaxIndex(ctx, s.DB, "audit_leaves")
}

func (s AuditLeaves) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
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

func (s AuditLeaves) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	rows, err := s.DB.QueryContext(ctx, "SELECT idx, data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
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

func (s AuditLeaves) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	_, err := s.DB.ExecContext(ctx, "INSERT INTO audit_checkpoints (size, signed) VALUES (?, ?) ON CONFLICT (size) DO UPDATE SET signed = excluded.signed", n, signed)
	return err
}

func (s AuditLeaves) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	err := s.DB.QueryRowContext(ctx, "SELECT signed FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&b)
	if noRows(err) {
		return nil, nil
	}
	return b, err
}
