// Package sqlstore holds the SQL behind Ethos's services, written once for
// both databases Ethos runs on: the embedded SQLite of a single server
// (package sqlite) and PostgreSQL (package postgres). Queries use "?"
// placeholders and the SQL both dialects share (ON CONFLICT … DO NOTHING,
// excluded.col); times are Unix nanoseconds in 64-bit integers and lists
// are comma-separated words from closed vocabularies. The adapters own
// opening, migrations (one schema file per dialect, same tables and
// columns) and any storage that must differ by dialect, such as the audit
// log's hash chunks.
//
// A new stage adds its service here as one file, its tables as a migration
// in both sqlite/migrations and postgres/migrations, and its conformance
// tests in storetest, which runs against both.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethos-imaging/ethos"
)

// DB is an open database handle and the clock the services stamp records
// with. The adapters build it with New after their migrations ran.
type DB struct {
	db  *sql.DB
	Now func() time.Time
	// sqlite and wl are set by SQLiteRules; wl lets one write
	// transaction at a time begin.
	sqlite bool
	wl     chan struct{}
	// wconn is the connection every write transaction runs on when
	// writes are serialized; only the holder of the write turn uses it,
	// and the fields below with it.
	wconn             *sql.Conn
	syncLow, syncFull *sql.Stmt              // PRAGMA synchronous = NORMAL / FULL on wconn
	rawStmts          map[string]driver.Stmt // prepared on wconn's driver connection (rawWrite)
	wbad              bool                   // wconn reported broken in the transaction in progress (rawWrite)
	commits           int                    // write commits since the last checkpoint began
	// ckpt runs the background WAL checkpoints (SQLite).
	ckptBusy atomic.Bool
	ckptWG   sync.WaitGroup
}

// CheckpointEvery is how many SQLite write commits start a background WAL
// checkpoint (PASSIVE, on a connection of its own, beside the writer),
// and CheckpointLimit the WAL size in pages at which the writer
// checkpoints itself (SQLite's wal_autocheckpoint on the write
// connection) when the background ones fall behind. SQLite's own default
// checkpoints every 1,000 pages inside whichever commit crosses the
// mark: a pause for that request, on the one writer every batch waits
// for, and each page rewritten since the last checkpoint copied again.
var (
	CheckpointEvery = 64
	CheckpointLimit = 20000
)

// WriteCacheKiB is the page cache of SQLite's write connection (SQLite's
// default is 2 MiB): the interior pages of the event table and its three
// indexes outgrow the default once a deployment holds about a million
// events.
var WriteCacheKiB = 32 << 10

// SQLiteRules tells the services that the handle is SQLite's (the adapter
// calls it once, before any service is built), and so:
//   - write transactions through this handle (and through LockWrites)
//     wait their turn in the process instead of in the database: SQLite
//     lets one writer in and makes the others sleep and poll
//     (busy_timeout: 1, 2, 5, 10 … ms), so concurrent writers — the events
//     writer, the audit log, a token's last use — spent milliseconds
//     asleep after the lock was already free;
//   - those write transactions all run on one connection, kept for
//     writes: in WAL mode a connection empties its whole page cache when
//     it finds that another connection committed since its last
//     transaction, so writers taking turns on different connections of
//     the pool re-read every B-tree page they touched (the events writer
//     after each audit append: 11 µs of 54 per event in a direct test,
//     docs/benchmarks-deploy.md);
//   - the event store inserts one row per statement: a multi-row INSERT
//     needs a statement journal in SQLite (page copies spilled to a
//     temporary file).
//
// PostgreSQL needs neither.
func (db *DB) SQLiteRules() { db.sqlite, db.wl = true, make(chan struct{}, 1) }

// WriteWait is how long LockWrites waits for the write turn before it
// gives up, like SQLite's own busy timeout: a writer that waits longer is
// stuck behind something (or nested inside its own transaction), and an
// error says so instead of a request that never ends.
var WriteWait = 30 * time.Second

// LockWrites waits for the write turn (immediately when writes are not
// serialized) and returns the function that gives it back. It gives up
// when ctx ends or after WriteWait.
func (db *DB) LockWrites(ctx context.Context) (func(), error) {
	if db.wl == nil {
		return func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err // a request that ended does not take the turn
	}
	select {
	case db.wl <- struct{}{}:
		return func() { <-db.wl }, nil
	default:
	}
	t := time.NewTimer(WriteWait)
	defer t.Stop()
	select {
	case db.wl <- struct{}{}:
		return func() { <-db.wl }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, ethos.Errorf(ethos.EINTERNAL, "the database stayed busy for %s: another write did not finish", WriteWait)
	}
}

// New returns the store over an open handle whose schema is migrated.
// now is called for every timestamp; nil means time.Now.
func New(sdb *sql.DB, now func() time.Time) *DB {
	if now == nil {
		now = time.Now
	}
	return &DB{db: sdb, Now: now}
}

// SQL returns the underlying handle.
func (db *DB) SQL() *sql.DB { return db.db }

// isUnique reports whether err is a uniqueness violation in either
// dialect: SQLite's "UNIQUE constraint failed" / PRIMARY KEY message or
// PostgreSQL's SQLSTATE 23505.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "PRIMARY KEY") || strings.Contains(m, "SQLSTATE 23505")
}

func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// WriteTx runs fn in a write transaction in the write turn (see
// SQLiteRules) and commits it durably when fn returns nil. Adapters use
// it for the writes they own (the audit log's storage), so that every
// writer of the process shares the turn and, on SQLite, the write
// connection.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.writeTx(ctx, false, fn)
}

// deferKey marks a context whose writes may commit without their own
// flush; see DeferSync.
type deferKey struct{}

// DeferSync returns a context under which the event store commits a batch
// without waiting for the database to flush it to disk (SQLite in WAL
// mode: synchronous=NORMAL for that commit, no fsync; PostgreSQL:
// synchronous_commit off for that transaction). The caller promises that
// it makes a durable commit on the same database — the batch's audit
// entry — before it acknowledges the batch: that commit's flush carries
// the earlier one (SQLite syncs the whole WAL file, PostgreSQL flushes
// its WAL up to the later commit), so an acknowledged batch is as durable
// as before, with one flush instead of two. A crash before the audit
// entry is durable may lose the batch, which was not acknowledged.
func DeferSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferKey{}, true)
}

func syncDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferKey{}).(bool)
	return v
}

// writeTx is WriteTx; with lazy the commit does not wait for the flush
// (DeferSync).
//
// Whatever happens in between, the write turn is given back with no
// transaction open on the write connection, and the connection is kept
// only when it is known to be clean: a failed COMMIT or ROLLBACK (SQLite
// may leave the transaction open after a failed COMMIT; a driver may
// report the connection broken), a broken connection reported by a raw
// statement, or a panic in fn drop it, and the next write takes a fresh
// one (docs/storage-durability.md).
func (db *DB) writeTx(ctx context.Context, lazy bool, fn func(tx *sql.Tx) error) error {
	unlock, err := db.LockWrites(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer unlock()
	if lazy && db.sqlite {
		// A per-connection setting: set on the write connection for
		// this transaction only, and put back (or the connection
		// dropped) before the turn is given back.
		if err := db.writeConn(ctx); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		// Not under ctx: a request that ends here must not leave the
		// setting half made (the pragma is instant).
		if _, err := db.syncLow.ExecContext(context.Background()); err != nil {
			db.dropWriteConn()
			return fmt.Errorf("begin: %w", err)
		}
		defer func() {
			if db.wconn == nil {
				return
			}
			if _, err := db.syncFull.ExecContext(context.Background()); err != nil {
				db.dropWriteConn() // a new connection opens with FULL
			}
		}()
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	db.wbad = false
	finished := false
	defer func() {
		if finished {
			return
		}
		// fn panicked (a bug the HTTP server recovers from): the
		// transaction would stay open on the write connection, and
		// the next write would wait forever to close it.
		tx.Rollback()
		db.dropWriteConn()
	}()
	if lazy && !db.sqlite {
		if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit TO OFF"); err != nil {
			finished = true
			tx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		finished = true
		if rerr := tx.Rollback(); (rerr != nil && !errors.Is(rerr, sql.ErrTxDone)) || db.wbad {
			db.dropWriteConn()
		}
		return err
	}
	finished = true
	if err := tx.Commit(); err != nil {
		// SQLite can leave the transaction open after a failed COMMIT
		// (modernc.org/sqlite rolls it back, another driver may not);
		// the connection may be broken. Either way not reused.
		db.dropWriteConn()
		return fmt.Errorf("commit: %w", err)
	}
	db.committed()
	return nil
}

// committed counts a write commit (in the write turn) and starts a
// background checkpoint every CheckpointEvery commits, unless one is
// still running.
func (db *DB) committed() {
	if !db.sqlite {
		return
	}
	db.commits++
	if db.commits < CheckpointEvery || !db.ckptBusy.CompareAndSwap(false, true) {
		return
	}
	db.commits = 0
	db.ckptWG.Add(1)
	go func() {
		defer db.ckptWG.Done()
		defer db.ckptBusy.Store(false)
		// PASSIVE copies what no reader still needs and never waits; a
		// failure leaves the pages in the WAL for the next one (or for
		// the writer at CheckpointLimit).
		db.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}()
}

// withTx is WriteTx.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.WriteTx(ctx, fn)
}

// beginWrite begins a write transaction; the caller holds the write turn.
// With serialized writes it runs on the write connection, taken from the
// pool on first use and replaced when it fails to begin; a connection
// that turns out broken (driver.ErrBadConn, or closed by database/sql
// after one) is replaced once and the transaction begun on the new one,
// as database/sql retries on its pool.
func (db *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	if db.wl == nil {
		return db.db.BeginTx(ctx, nil)
	}
	for try := 0; ; try++ {
		if err := db.writeConn(ctx); err != nil {
			return nil, err
		}
		tx, err := db.wconn.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if ctx.Err() != nil {
			// The request ended, not the connection: keep it (its
			// page cache, its statements) for the next write. A BEGIN
			// that ran is reported as a transaction and rolled back by
			// database/sql, so nothing is left open.
			return nil, err
		}
		db.dropWriteConn()
		if try > 0 || !(errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)) {
			return nil, err
		}
	}
}

// writeConn takes the write connection from the pool if there is none.
func (db *DB) writeConn(ctx context.Context) error {
	if db.wconn != nil {
		return nil
	}
	c, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	for _, p := range []string{fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", CheckpointLimit), fmt.Sprintf("PRAGMA cache_size = -%d", WriteCacheKiB)} {
		if _, err := c.ExecContext(ctx, p); err != nil {
			c.Close()
			return err
		}
	}
	low, err := c.PrepareContext(ctx, "PRAGMA synchronous = NORMAL")
	if err != nil {
		c.Close()
		return err
	}
	full, err := c.PrepareContext(ctx, "PRAGMA synchronous = FULL")
	if err != nil {
		low.Close()
		c.Close()
		return err
	}
	db.wconn, db.syncLow, db.syncFull = c, low, full
	return nil
}

// dropWriteConn closes the write connection (broken, or left in a state
// it must not keep); the next write takes a fresh one.
func (db *DB) dropWriteConn() { db.releaseWriteConn(true) }

// releaseWriteConn finalizes the statements prepared on the write
// connection and closes it: back into the pool, or, when bad is set, out
// of it. The next write takes a connection again.
//
// database/sql closes a connection itself when an operation on it
// reports driver.ErrBadConn (a COMMIT, a BEGIN, a statement), but not
// the statements prepared on it through the *sql.Conn or below it
// (rawWrite): those are then left unfinalized, a small leak, because
// finalizing a statement of a closed SQLite connection uses freed
// memory.
func (db *DB) releaseWriteConn(bad bool) error {
	if db.wconn == nil {
		return nil
	}
	// Raw runs its function only on a live connection, and under the
	// connection's lock (database/sql may still be rolling back on it
	// for a cancelled context).
	if db.wconn.Raw(func(any) error { db.closeRawStmts(); return nil }) == nil {
		db.syncLow.Close()
		db.syncFull.Close()
	} else {
		clear(db.rawStmts)
	}
	if bad {
		db.wconn.Raw(func(any) error { return driver.ErrBadConn }) // not back into the pool
	}
	err := db.wconn.Close()
	if errors.Is(err, sql.ErrConnDone) {
		err = nil // closed already, by database/sql
	}
	db.wconn, db.syncLow, db.syncFull = nil, nil, nil
	return err
}

// rawWrite runs f on the driver connection under the write connection,
// inside the write transaction in progress (the caller holds the write
// turn, in WriteTx's fn); prepare reuses statements prepared on it. It
// reports false when writes do not run on one connection (PostgreSQL):
// the caller uses the transaction instead.
//
// An error of f that says the connection is broken (driver.ErrBadConn)
// is returned as it is but not shown to database/sql: it would close the
// connection at once, and wait for that to the end of the transaction
// that holds it, which never comes. The connection is marked bad instead
// and dropped when writeTx rolls the transaction back; so it is after a
// panic in f, which writeTx's caller sees.
func (db *DB) rawWrite(f func(prepare func(ctx context.Context, query string) (driver.Stmt, error)) error) (bool, error) {
	if db.wconn == nil {
		return false, nil
	}
	var ferr error
	var panicked any
	err := db.wconn.Raw(func(dc any) (err error) {
		defer func() {
			if p := recover(); p != nil {
				panicked, err = p, errRawPanic
			}
		}()
		ferr = f(func(ctx context.Context, query string) (driver.Stmt, error) {
			if st := db.rawStmts[query]; st != nil {
				return st, nil
			}
			pc, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return nil, fmt.Errorf("driver connection %T cannot prepare", dc)
			}
			st, err := pc.PrepareContext(ctx, query)
			if err != nil {
				return nil, err
			}
			if db.rawStmts == nil {
				db.rawStmts = map[string]driver.Stmt{}
			}
			db.rawStmts[query] = st
			return st, nil
		})
		if errors.Is(ferr, driver.ErrBadConn) {
			return errRawBadConn
		}
		return ferr
	})
	switch {
	case panicked != nil:
		db.wbad = true
		panic(panicked)
	case ferr != nil:
		if errors.Is(ferr, driver.ErrBadConn) {
			db.wbad = true
		}
		return true, ferr
	}
	return true, err
}

// errRawBadConn and errRawPanic stand for driver.ErrBadConn and a panic
// towards database/sql in rawWrite.
var (
	errRawBadConn = errors.New("sqlstore: the write connection is broken")
	errRawPanic   = errors.New("sqlstore: panic on the write connection")
)

// closeRawStmts finalizes the statements of rawWrite, before their
// connection closes.
func (db *DB) closeRawStmts() {
	for q, st := range db.rawStmts {
		st.Close()
		delete(db.rawStmts, q)
	}
}

// Close waits for the write turn and a running background checkpoint and
// gives the write connection back to the pool; the adapter calls it
// before closing the handle. Writes after Close take a connection again.
func (db *DB) Close() error {
	unlock, err := db.LockWrites(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	db.ckptWG.Wait()
	return db.releaseWriteConn(false)
}

// Helpers for columns.

func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(*t), Valid: true}
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func joinWords[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func splitWords[T ~string](s string) []T {
	if s == "" {
		return []T{}
	}
	parts := strings.Split(s, ",")
	out := make([]T, len(parts))
	for i, p := range parts {
		out[i] = T(p)
	}
	return out
}

// page returns the LIMIT and OFFSET for a filter: default 100, at most 1000.
func page(offset, limit int) (int, int) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
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

func notFound(kind, id string) error {
	return ethos.Errorf(ethos.ENOTFOUND, "%s %s not found", kind, id)
}

// count runs a COUNT(*) over table with w.
func (db *DB) count(ctx context.Context, table string, w *where) (int, error) {
	var n int
	err := db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+w.String(), w.args...).Scan(&n)
	return n, err
}

// exists reports whether a row with id exists in table (inside tx).
func exists(ctx context.Context, tx *sql.Tx, table, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// scanBodies decodes one JSON body column per row and closes rows.
func scanBodies[T any](rows *sql.Rows, what string) ([]*T, error) {
	defer rows.Close()
	out := []*T{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal([]byte(body), v); err != nil {
			return nil, fmt.Errorf("%s row: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// The placeholders of multi-value SQL, built in one place.

// repeatJoin is n copies of item joined by sep.
func repeatJoin(item, sep string, n int) string {
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n*(len(item)+len(sep)) - len(sep))
	for i := range n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(item)
	}
	return b.String()
}

// placeholders is n "?" parameters, comma separated: an IN list, or the
// inside of one row of VALUES.
func placeholders(n int) string { return repeatJoin("?", ", ", n) }

// valueRows is the VALUES list of a multi-row INSERT: rows rows of cols
// parameters each, "(?, ?), (?, ?)" for rows 2 and cols 2.
func valueRows(rows, cols int) string {
	return repeatJoin("("+placeholders(cols)+")", ", ", rows)
}
