package auditbench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// SQLiteStore is an audit.Storage in SQLite (modernc.org/sqlite, WAL,
// synchronous=FULL so a committed transaction survives power loss), one
// row per leaf and per stored hash. It exists so the benchmarks measure
// the audit log on the database Ethos ships with before the sqlite
// adapter lands; it is the shape that adapter is expected to take, not
// the adapter (no migrations, no shared connection pool).
type SQLiteStore struct {
	DB *sql.DB
}

var _ audit.Storage = (*SQLiteStore)(nil)

// SQLiteSchema creates the three tables.
const SQLiteSchema = `
CREATE TABLE IF NOT EXISTS audit_leaves (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
`

// OpenSQLiteStore opens or creates the database file at path.
func OpenSQLiteStore(path string) (*SQLiteStore, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	// The numbers are only honest if every commit is synced: check the
	// pragmas took effect.
	var mode string
	var syncLevel int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("journal_mode is %q, want wal (%v)", mode, err)
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&syncLevel); err != nil || syncLevel != 2 {
		db.Close()
		return nil, fmt.Errorf("synchronous is %d, want 2 (FULL) (%v)", syncLevel, err)
	}
	if _, err := db.Exec(SQLiteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	return &SQLiteStore{DB: db}, nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.DB.Close() }

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func next(ctx context.Context, q querier, table string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx)+1, 0) FROM "+table).Scan(&n)
	return n, err
}

// Size implements audit.Storage: one more than the largest leaf index.
func (s *SQLiteStore) Size(ctx context.Context) (int64, error) {
	return next(ctx, s.DB, "audit_leaves")
}

// Append implements audit.Storage in one transaction.
func (s *SQLiteStore) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) (err error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	n, err := next(ctx, tx, "audit_leaves")
	if err != nil {
		return err
	}
	nh, err := next(ctx, tx, "audit_hashes")
	if err != nil {
		return err
	}
	if n != start || nh != hashStart {
		return fmt.Errorf("append at %d/%d, store at %d/%d: %w", start, hashStart, n, nh, audit.ErrConflict)
	}
	if err := insertMany(ctx, tx, "audit_leaves", start, len(leaves), func(i int) any { return leaves[i] }); err != nil {
		return err
	}
	if err := insertMany(ctx, tx, "audit_hashes", hashStart, len(hashes), func(i int) any { return hashes[i][:] }); err != nil {
		return err
	}
	return tx.Commit()
}

// insertMany inserts rows (start+i, value(i)) with multi-row INSERTs.
func insertMany(ctx context.Context, tx *sql.Tx, table string, start int64, n int, value func(int) any) error {
	const per = 200 // rows per statement (400 parameters)
	var stmt *sql.Stmt
	for i := 0; i < n; i += per {
		m := min(per, n-i)
		if stmt == nil || m != per {
			q := "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat("(?,?),", m), ",")
			var err error
			if stmt, err = tx.PrepareContext(ctx, q); err != nil {
				return err
			}
			defer stmt.Close()
		}
		args := make([]any, 0, 2*m)
		for j := range m {
			args = append(args, start+int64(i+j), value(i+j))
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// Leaves implements audit.Storage.
func (s *SQLiteStore) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	var out [][]byte
	err := s.ScanLeaves(ctx, start, end, func(i int64, l []byte) error {
		if i != start+int64(len(out)) {
			return fmt.Errorf("leaf %d: %w", start+int64(len(out)), audit.ErrNotFound)
		}
		out = append(out, append([]byte(nil), l...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != end-start {
		return nil, fmt.Errorf("leaf %d: %w", start+int64(len(out)), audit.ErrNotFound)
	}
	return out, nil
}

// Hashes implements audit.Storage.
func (s *SQLiteStore) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, "SELECT hash FROM audit_hashes WHERE idx = ?")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for i, x := range indexes {
		var b []byte
		if err := stmt.QueryRowContext(ctx, x).Scan(&b); errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("stored hash %d: %w", x, audit.ErrNotFound)
		} else if err != nil {
			return nil, err
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("stored hash %d: %d bytes", x, len(b))
		}
		out[i] = tlog.Hash(b)
	}
	return out, nil
}

// ScanLeaves implements audit.Storage with one ordered query.
func (s *SQLiteStore) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	rows, err := s.DB.QueryContext(ctx, "SELECT idx, data FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var data sql.RawBytes
		if err := rows.Scan(&i, &data); err != nil {
			return err
		}
		if err := fn(i, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanHashes implements audit.Storage with one ordered query.
func (s *SQLiteStore) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	rows, err := s.DB.QueryContext(ctx, "SELECT idx, hash FROM audit_hashes WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var b sql.RawBytes
		if err := rows.Scan(&i, &b); err != nil {
			return err
		}
		var h tlog.Hash
		if copy(h[:], b) != tlog.HashSize || len(b) != tlog.HashSize {
			h = tlog.Hash{} // a wrong-sized row never matches a real hash
		}
		if err := fn(i, h); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutCheckpoint implements audit.Storage.
func (s *SQLiteStore) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	_, err := s.DB.ExecContext(ctx, "INSERT OR REPLACE INTO audit_checkpoints (size, note) VALUES (?, ?)", n, signed)
	return err
}

// LatestCheckpoint implements audit.Storage.
func (s *SQLiteStore) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	err := s.DB.QueryRowContext(ctx, "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return b, err
}
