// Package sqlite stores Ethos's records in an embedded SQLite database
// (modernc.org/sqlite, pure Go) in WAL mode: parties, users, tokens,
// projects and their stage history, stage records, data-use agreements,
// and the audit log's leaves, Merkle hashes and checkpoints (it implements
// audit.Storage).
//
// The schema comes from embedded, forward-only migrations with checksums:
// a migration already applied whose text changed is refused, as is a
// database migrated by a newer binary.
package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the database handle shared by the services.
type DB struct {
	db   *sql.DB
	Path string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// NewDB returns a DB for the database file at path; call Open.
func NewDB(path string) *DB {
	return &DB{Path: path, Now: time.Now}
}

// Open creates the file's directory (0700) when missing, opens the
// database in WAL mode with full fsync on commit, and applies migrations.
func (db *DB) Open(ctx context.Context) error {
	if db.Path == "" {
		return fmt.Errorf("sqlite: no database path")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(db.Path), 0o700); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	d, err := sql.Open("sqlite", "file:"+db.Path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", db.Path, err)
	}
	d.SetMaxOpenConns(4)
	d.SetMaxIdleConns(4)
	db.db = d
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		return fmt.Errorf("sqlite: open %s: %w", db.Path, err)
	}
	if err := os.Chmod(db.Path, 0o600); err != nil {
		d.Close()
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		d.Close()
		return err
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.db == nil {
		return nil
	}
	return db.db.Close()
}

// SQL returns the underlying handle (for tests and tools).
func (db *DB) SQL() *sql.DB { return db.db }

// Migration is one embedded schema migration.
type Migration struct {
	Version  int
	Name     string
	Checksum string // hex SHA-256 of the file
	SQL      string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlite: migration file %s is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: e.Name(), Checksum: hex.EncodeToString(sum[:]), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// ErrMigrationChanged is wrapped when an applied migration's text differs
// from the embedded one, or the database is newer than this binary.
var ErrMigrationChanged = errors.New("sqlite: applied migrations do not match this binary")

func (db *DB) migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	applied := map[int]string{}
	rows, err := db.db.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: read migrations: %w", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return err
		}
		applied[v] = sum
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("%w: the database has migration %d, this binary knows %d", ErrMigrationChanged, v, len(ms))
		}
	}
	for _, m := range ms {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return fmt.Errorf("%w: migration %s was applied with checksum %.12s, the binary's is %.12s", ErrMigrationChanged, m.Name, sum, m.Checksum)
			}
			continue
		}
		tx, err := db.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
			m.Version, m.Name, m.Checksum, fmtTime(db.Now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad stored time %q: %w", s, err)
	}
	return t, nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// newID returns a random id with a type prefix, e.g. "prj_3f9a…".
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// isUnique reports whether err is a UNIQUE constraint failure.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isForeignKey reports whether err is a FOREIGN KEY constraint failure.
func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// where builds a WHERE clause from conditions.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, arg)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page returns the LIMIT/OFFSET clause (a limit of 0 means no limit).
func page(offset, limit int) string {
	if limit <= 0 && offset <= 0 {
		return ""
	}
	if limit <= 0 {
		limit = -1
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, max(offset, 0))
}

// count runs SELECT COUNT(*) over table with w.
func (db *DB) count(ctx context.Context, table string, w *where) (int, error) {
	var n int
	err := db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+w.String(), w.args...).Scan(&n)
	return n, err
}

// withTx runs fn in a write transaction.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}
