package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"time"
)

// Schema migrations are one directory of numbered .sql files per dialect
// (sqlite/migrations, postgres/migrations), embedded in the adapter; the
// bookkeeping below is shared. A stage adds a file with the same number and
// tables to both directories.

// Migration is one embedded schema change.
type Migration struct {
	Name     string // file name, e.g. 0001_init.sql; applied in name order
	SQL      string
	Checksum string // hex SHA-256 of SQL
}

// ReadMigrations reads fsys's migrations/*.sql in name order.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Name: n[len("migrations/"):], SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// MigrationError reports a database whose applied migrations do not match
// the binary's: a changed migration, or one the binary does not know.
type MigrationError struct {
	Name   string
	Reason string
}

func (e *MigrationError) Error() string { return "migration " + e.Name + ": " + e.Reason }

// Migrate applies the migrations not yet applied, each in its own
// transaction with its bookkeeping row. Migrations are forward-only: an
// applied migration whose text changed, or an applied migration the binary
// does not have, stops the run before anything is applied.
func Migrate(ctx context.Context, db *sql.DB, ms []Migration, now time.Time) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT name, checksum FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := map[string]string{}
	for rows.Next() {
		var n, c string
		if err := rows.Scan(&n, &c); err != nil {
			rows.Close()
			return err
		}
		applied[n] = c
	}
	if err := rows.Close(); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, m := range ms {
		known[m.Name] = true
		if c, ok := applied[m.Name]; ok && c != m.Checksum {
			return &MigrationError{Name: m.Name, Reason: fmt.Sprintf("applied with checksum %s but the binary's text has %s; applied migrations must never change", c[:12], m.Checksum[:12])}
		}
	}
	for n := range applied {
		if !known[n] {
			return &MigrationError{Name: n, Reason: "applied to this database but unknown to this binary (a newer ethos wrote it)"}
		}
	}
	for _, m := range ms {
		if _, ok := applied[m.Name]; ok {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return &MigrationError{Name: m.Name, Reason: err.Error()}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, checksum, applied_at) VALUES (?, ?, ?)`,
			m.Name, m.Checksum, now.UnixNano()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %s: %w", m.Name, err)
		}
	}
	return nil
}
