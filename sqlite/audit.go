package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditStorage keeps the audit log in the tables audit_leaves (idx, data),
// audit_hashes (idx, hash) and audit_checkpoints (size, signed): one row
// per leaf and per stored hash, so an auditor can read single rows with the
// sqlite3 tool. It implements audit.Storage; each Append is one
// transaction, committed with fsync (synchronous=FULL).
type AuditStorage struct{ db *DB }

// NewAuditStorage returns the audit storage over db.
func NewAuditStorage(db *DB) *AuditStorage { return &AuditStorage{db: db} }

var _ audit.Storage = (*AuditStorage)(nil)

func nextIndex(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM "+table).Scan(&n)
	return n, err
}

// Size returns one past the largest leaf index stored.
func (s *AuditStorage) Size(ctx context.Context) (int64, error) {
	n, err := nextIndex(ctx, s.db.db, "audit_leaves")
	if err != nil {
		return 0, fmt.Errorf("sqlite: audit size: %w", err)
	}
	return n, nil
}

// insertBatch is the number of rows per multi-row INSERT.
const insertBatch = 200

// Append stores leaves and hashes in one transaction.
func (s *AuditStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		n, err := nextIndex(ctx, tx, "audit_leaves")
		if err != nil {
			return fmt.Errorf("sqlite: audit append: %w", err)
		}
		if n != start {
			return fmt.Errorf("%w: append at %d, log size %d", audit.ErrConflict, start, n)
		}
		h, err := nextIndex(ctx, tx, "audit_hashes")
		if err != nil {
			return fmt.Errorf("sqlite: audit append: %w", err)
		}
		if h != hashStart {
			return fmt.Errorf("%w: hashes at %d, %d stored", audit.ErrConflict, hashStart, h)
		}
		if err := insertRows(ctx, tx, "audit_leaves (idx, data)", start, len(leaves), func(i int) any { return leaves[i] }); err != nil {
			return err
		}
		return insertRows(ctx, tx, "audit_hashes (idx, hash)", hashStart, len(hashes), func(i int) any { return hashes[i][:] })
	})
}

// insertRows inserts n rows (first+i, value(i)) in multi-row statements.
func insertRows(ctx context.Context, tx *sql.Tx, into string, first int64, n int, value func(int) any) error {
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	args := make([]any, 0, 2*insertBatch)
	for off := 0; off < n; off += insertBatch {
		k := min(insertBatch, n-off)
		st := stmts[k]
		if st == nil {
			q := "INSERT INTO " + into + " VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", k), ", ")
			var err error
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: audit append: %w", err)
			}
			stmts[k] = st
		}
		args = args[:0]
		for i := off; i < off+k; i++ {
			args = append(args, first+int64(i), value(i))
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: audit append: %w", err)
		}
	}
	return nil
}

// Leaves returns leaves [start, end).
func (s *AuditStorage) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	out := make([][]byte, 0, max(0, min(end-start, 1<<16)))
	next := start
	err := s.ScanLeaves(ctx, start, end, func(i int64, leaf []byte) error {
		if i != next {
			return fmt.Errorf("%w: leaf %d", audit.ErrNotFound, next)
		}
		next++
		out = append(out, append([]byte(nil), leaf...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if next != end {
		return nil, fmt.Errorf("%w: leaf %d", audit.ErrNotFound, next)
	}
	return out, nil
}

// Hashes returns stored hashes at the given indexes.
func (s *AuditStorage) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	conn, err := s.db.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st, err := conn.PrepareContext(ctx, "SELECT hash FROM audit_hashes WHERE idx = ?")
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit hashes: %w", err)
	}
	defer st.Close()
	for i, idx := range indexes {
		var b []byte
		if err := st.QueryRowContext(ctx, idx).Scan(&b); err == sql.ErrNoRows {
			return nil, fmt.Errorf("%w: stored hash %d", audit.ErrNotFound, idx)
		} else if err != nil {
			return nil, fmt.Errorf("sqlite: audit hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("sqlite: stored hash %d has %d bytes", idx, len(b))
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// ScanLeaves streams stored leaves in [start, end) by index.
func (s *AuditStorage) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	rows, err := s.db.db.QueryContext(ctx, "SELECT idx, data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return fmt.Errorf("sqlite: audit scan: %w", err)
	}
	defer rows.Close()
	var idx int64
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&idx, &data); err != nil {
			return fmt.Errorf("sqlite: audit scan: %w", err)
		}
		if err := fn(idx, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanHashes streams stored hashes in [start, end) by index.
func (s *AuditStorage) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	rows, err := s.db.db.QueryContext(ctx, "SELECT idx, hash FROM audit_hashes WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return fmt.Errorf("sqlite: audit scan: %w", err)
	}
	defer rows.Close()
	var idx int64
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&idx, &data); err != nil {
			return fmt.Errorf("sqlite: audit scan: %w", err)
		}
		var h tlog.Hash
		if len(data) != tlog.HashSize {
			// A row of the wrong length cannot be the stored hash: hand
			// the verifier a hash that will not match.
			copy(h[:], data)
			h[0] ^= 0xff
		} else {
			copy(h[:], data)
		}
		if err := fn(idx, h); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutCheckpoint stores a signed checkpoint for size n.
func (s *AuditStorage) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	_, err := s.db.db.ExecContext(ctx, "INSERT OR REPLACE INTO audit_checkpoints (size, signed) VALUES (?, ?)", n, signed)
	if err != nil {
		return fmt.Errorf("sqlite: put checkpoint: %w", err)
	}
	return nil
}

// LatestCheckpoint returns the checkpoint with the largest size, or nil.
func (s *AuditStorage) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	err := s.db.db.QueryRowContext(ctx, "SELECT signed FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&b)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	return b, nil
}
