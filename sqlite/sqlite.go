// Package sqlite stores Ethos's records in an embedded SQLite database
// (modernc.org/sqlite, pure Go). The services and their SQL are package
// sqlstore's, shared with the postgres package; this package opens the
// file, applies its migrations and keeps the audit log's storage
// (audit.Storage, one row per leaf).
//
// The database runs in WAL mode with synchronous=FULL, so a committed
// transaction survives a crash, and writes take the write lock at BEGIN
// (BEGIN IMMEDIATE). The schema comes from embedded forward-only
// migrations with checksums. The data directory is kept at mode 0700 and
// the database files at 0600.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ethos-imaging/ethos/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DBFile is the database's file name inside the data directory.
const DBFile = "ethos.db"

// walPageBytes is a WAL frame: a page (SQLite's default 4 KiB, which
// Ethos keeps) and the frame's 24-byte header.
const walPageBytes = 4096 + 24

// DB is the database. Use NewDB, set Now if needed, Open, and Close.
type DB struct {
	Dir string           // data directory
	Now func() time.Time // clock; default time.Now

	db     *sql.DB
	store  *sqlstore.DB
	driver string // database/sql driver name; "" is modernc.org/sqlite's (tests wrap it)
}

// NewDB returns a DB over the data directory dir.
func NewDB(dir string) *DB { return &DB{Dir: dir, Now: time.Now} }

// Path returns the database file's path.
func (db *DB) Path() string { return filepath.Join(db.Dir, DBFile) }

// SQL returns the underlying handle (for tests and the tamper tool).
func (db *DB) SQL() *sql.DB { return db.db }

// Open creates the data directory (0700) and database if needed, checks
// their permissions, opens the database and applies pending migrations.
func (db *DB) Open(ctx context.Context) error {
	if db.Now == nil {
		db.Now = time.Now
	}
	if err := EnsureDir(db.Dir); err != nil {
		return err
	}
	path := db.Path()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	// journal_size_limit: the WAL file is cut back to the size of the
	// writer's checkpoint mark when the log restarts. Without it the
	// file keeps the largest size it ever reached — the log grows
	// without a checkpoint getting through while a reader holds an old
	// snapshot (a long export) — until the database is closed
	// (docs/storage-durability.md).
	walLimit := int64(sqlstore.CheckpointLimit) * walPageBytes
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
		fmt.Sprintf("&_pragma=journal_size_limit(%d)", walLimit) + "&_txlock=immediate"
	name := db.driver
	if name == "" {
		name = "sqlite"
	}
	drv, err := sql.Open(name, "")
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	sdb := sql.OpenDB(connector{d: drv.Driver(), dsn: dsn}) // statements finalized with their connection (driver.go)
	drv.Close()
	sdb.SetMaxOpenConns(8)
	sdb.SetMaxIdleConns(8)
	sdb.SetConnMaxIdleTime(0)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return fmt.Errorf("open database %s: %w", path, err)
	}
	var mode string
	if err := sdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		sdb.Close()
		return fmt.Errorf("database %s: journal mode %q, want wal (%v)", path, mode, err)
	}
	ms, err := Migrations()
	if err != nil {
		sdb.Close()
		return err
	}
	if err := sqlstore.Migrate(ctx, sdb, ms, db.Now()); err != nil {
		sdb.Close()
		return err
	}
	db.db = sdb
	db.store = sqlstore.New(sdb, func() time.Time { return db.Now() })
	db.store.SQLiteRules()
	return nil
}

// EnsureDir creates dir with mode 0700, or narrows an existing one to 0700.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict data directory to 0700: %w", err)
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.db == nil {
		return nil
	}
	if db.store != nil {
		if err := db.store.Close(); err != nil {
			db.db.Close()
			return err
		}
	}
	return db.db.Close()
}

// Exists reports whether a database exists in dir.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, DBFile))
	return !errors.Is(err, fs.ErrNotExist)
}

// withTx runs fn in a write transaction, in the store's write turn and
// on its write connection.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.store.WriteTx(ctx, fn)
}

func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
