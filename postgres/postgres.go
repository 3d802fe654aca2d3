// Package postgres stores Ethos's records in PostgreSQL (pgx). The services
// and their SQL are package sqlstore's, shared with the sqlite package; this
// package opens the connection, applies its own migrations (the same tables
// in PostgreSQL types) and keeps the audit log's storage. It passes the same
// conformance suites (storetest and audittest). It is for deployments that
// already run PostgreSQL with its backups and replicas.
//
// The shared queries use "?" placeholders; a thin database/sql driver
// wrapper rewrites them to PostgreSQL's $n placeholders before they reach
// pgx. Migrations are embedded, forward-only and checksummed, applied under
// an advisory lock so two servers starting together do not race.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DB is the database. Use NewDB, set Now if needed, Open, and Close.
type DB struct {
	DSN string
	Now func() time.Time

	db    *sql.DB
	store *sqlstore.DB
}

// NewDB returns a DB for the connection string dsn.
func NewDB(dsn string) *DB { return &DB{DSN: dsn, Now: time.Now} }

// SQL returns the underlying handle (tests).
func (db *DB) SQL() *sql.DB { return db.db }

// Open connects and applies pending migrations.
func (db *DB) Open(ctx context.Context) error {
	if db.Now == nil {
		db.Now = time.Now
	}
	cfg, err := pgx.ParseConfig(db.DSN)
	if err != nil {
		return fmt.Errorf("postgres connection string: %w", err)
	}
	sdb := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	sdb.SetMaxOpenConns(16)
	// Keep the connections open: with database/sql's default of two idle
	// ones, four concurrent requests closed and reopened connections, and
	// PostgreSQL starts a process for each (session 5, docs/benchmarks-deploy.md).
	sdb.SetMaxIdleConns(16)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return fmt.Errorf("connect to postgres: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		sdb.Close()
		return err
	}
	conn, err := sdb.Conn(ctx)
	if err != nil {
		sdb.Close()
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(0x657468_6f73)); err != nil {
		sdb.Close()
		return err
	}
	err = sqlstore.Migrate(ctx, sdb, ms, db.Now())
	conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(0x657468_6f73))
	if err != nil {
		sdb.Close()
		return err
	}
	db.db = sdb
	db.store = sqlstore.New(sdb, func() time.Time { return db.Now() })
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	if db.db == nil {
		return nil
	}
	return db.db.Close()
}

// withTx runs fn in a write transaction through the store (the audit
// log's append), which rolls it back when fn fails or panics: a
// transaction left open would keep the audit table's lock and every
// later append would wait for it.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.store.WriteTx(ctx, fn)
}

func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// rebind rewrites "?" placeholders outside string literals to $1, $2, ….
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case c == '?' && !inStr:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rebindConnector wraps pgx's connector so every query is rebound.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return rebindConn{conn}, nil
}

type rebindConn struct{ driver.Conn }

type fullConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
}

func (c rebindConn) full() fullConn { return c.Conn.(fullConn) }

func (c rebindConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }
func (c rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.full().PrepareContext(ctx, rebind(q))
}
func (c rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.full().BeginTx(ctx, opts)
}
func (c rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.full().QueryContext(ctx, rebind(q), args)
}
func (c rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.full().ExecContext(ctx, rebind(q), args)
}
func (c rebindConn) CheckNamedValue(v *driver.NamedValue) error { return c.full().CheckNamedValue(v) }
func (c rebindConn) Ping(ctx context.Context) error             { return c.full().Ping(ctx) }
func (c rebindConn) ResetSession(ctx context.Context) error     { return c.full().ResetSession(ctx) }
