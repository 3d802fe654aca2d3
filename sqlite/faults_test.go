package sqlite_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// faultDriverName is modernc.org/sqlite's driver wrapped so that a test
// can make one operation of a connection fail (faultDriver).
const faultDriverName = "sqlite-faults"

func init() {
	base, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	sql.Register(faultDriverName, faultDriver{base.Driver()})
	base.Close()
}

// fault makes the operations op ("begin", "commit", "rollback", "exec",
// "query", "stmt-exec", "stmt-query") whose SQL contains match fail with
// err, times times (0: every time). With after set the operation runs
// first and its success is reported as err: a COMMIT that took effect
// but whose connection then broke.
type fault struct {
	op, match string
	err       error
	after     bool
	times     int
}

// faults is the fault in force and what the wrapped driver saw.
var faults struct {
	sync.Mutex
	f     *fault
	fired int
	// misuse lists operations on a statement whose connection was
	// already closed: a statement finalized after its connection (or
	// run on it) is a use-after-free in the C library below.
	misuse []string
	// record makes fire keep every operation, "op query", in log.
	record bool
	log    []string
}

// inject installs f for the rest of the test.
func inject(t *testing.T, f *fault) {
	faults.Lock()
	faults.f, faults.fired, faults.misuse = f, 0, nil
	faults.Unlock()
	t.Cleanup(func() {
		faults.Lock()
		faults.f = nil
		faults.Unlock()
	})
}

// fire reports the injected error for op on query, if any.
func fire(op, query string, after bool) error {
	faults.Lock()
	defer faults.Unlock()
	if faults.record && !after {
		faults.log = append(faults.log, op+" "+query)
	}
	f := faults.f
	if f == nil || f.op != op || f.after != after || !strings.Contains(query, f.match) || (f.times > 0 && faults.fired >= f.times) {
		return nil
	}
	faults.fired++
	return f.err
}

// recordOps returns the operations the driver runs during f.
func recordOps(f func()) []string {
	faults.Lock()
	faults.record, faults.log = true, nil
	faults.Unlock()
	f()
	faults.Lock()
	defer faults.Unlock()
	faults.record = false
	return faults.log
}

func misused(what string) error {
	faults.Lock()
	faults.misuse = append(faults.misuse, what)
	faults.Unlock()
	return fmt.Errorf("%s: its connection is closed", what)
}

type faultDriver struct{ base driver.Driver }

func (d faultDriver) Open(name string) (driver.Conn, error) {
	c, err := d.base.Open(name)
	if err != nil {
		return nil, err
	}
	bc, ok := c.(sqlite.BaseConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("fault driver: %T lacks the connection methods the adapter uses", c)
	}
	return &faultConn{c: bc}, nil
}

type faultConn struct {
	c      sqlite.BaseConn
	mu     sync.Mutex
	closed bool
}

func (c *faultConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *faultConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *faultConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &faultStmt{c: c, s: st, q: q}, nil
}

func (c *faultConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.c.Close()
}

func (c *faultConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *faultConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := fire("begin", "", false); err != nil {
		return nil, err
	}
	tx, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return faultTx{tx}, nil
}

func (c *faultConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if err := fire("exec", q, false); err != nil {
		return nil, err
	}
	return c.c.ExecContext(ctx, q, args)
}

func (c *faultConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if err := fire("query", q, false); err != nil {
		return nil, err
	}
	return c.c.QueryContext(ctx, q, args)
}

func (c *faultConn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }
func (c *faultConn) IsValid() bool                          { return c.c.IsValid() }
func (c *faultConn) Ping(ctx context.Context) error         { return c.c.(driver.Pinger).Ping(ctx) }

type faultTx struct{ tx driver.Tx }

func (t faultTx) Commit() error {
	if err := fire("commit", "", false); err != nil {
		return err // the transaction stays open in SQLite
	}
	if err := t.tx.Commit(); err != nil {
		return err
	}
	return fire("commit", "", true)
}

func (t faultTx) Rollback() error {
	if err := fire("rollback", "", false); err != nil {
		return err
	}
	return t.tx.Rollback()
}

type faultStmt struct {
	c *faultConn
	s driver.Stmt
	q string
}

func (s *faultStmt) Close() error {
	if s.c.isClosed() {
		return misused("close statement " + s.q)
	}
	return s.s.Close()
}

func (s *faultStmt) NumInput() int { return s.s.NumInput() }

func (s *faultStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("faultStmt: Exec without context")
}

func (s *faultStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("faultStmt: Query without context")
}

func (s *faultStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.c.isClosed() {
		return nil, misused("execute statement " + s.q)
	}
	if err := fire("stmt-exec", s.q, false); err != nil {
		return nil, err
	}
	return s.s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *faultStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.c.isClosed() {
		return nil, misused("query statement " + s.q)
	}
	if err := fire("stmt-query", s.q, false); err != nil {
		return nil, err
	}
	return s.s.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// mustOpenFaultDB opens a fresh database through the fault driver.
func mustOpenFaultDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "data"))
	sqlite.UseDriver(db, faultDriverName)
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// guard runs f and fails the test if it does not return: a write that
// never ends holds the write turn, and every later write of the process
// waits behind it. The bound is a deadlock detector, not a speed check.
func guard(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never returned (deadlock)", what)
		return nil
	}
}

var errDiskFull = errors.New("database or disk is full (13)")

// TestWriteConnectionFaults makes one operation of a write fail in each
// way a database, its driver or a caller can make it fail, and checks
// that the failed write left nothing behind and that the write
// connection is rolled back and usable: the next writes (a transaction,
// a batch of events, a deferred-sync batch) commit, at
// synchronous=FULL, and no statement is used after its connection
// closed.
func TestWriteConnectionFaults(t *testing.T) {
	old := sqlstore.WriteWait
	sqlstore.WriteWait = 5 * time.Second
	t.Cleanup(func() { sqlstore.WriteWait = old })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	event := func(id string) *ethos.InferenceEvent {
		return &ethos.InferenceEvent{DeploymentID: "dep-f", EventID: id, Time: now, CaseID: "case-" + id, Score: 0.5, ReceivedAt: now}
	}
	type write func(ctx context.Context, store *sqlstore.DB, events *sqlstore.DeploymentStore) error
	txWrite := func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) error {
		return store.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO w (n) VALUES (1)")
			return err
		})
	}
	laterTxWrite := func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) error {
		return store.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO w (n) VALUES (7)")
			return err
		})
	}
	eventsWrite := func(lazy bool) write {
		return func(ctx context.Context, _ *sqlstore.DB, events *sqlstore.DeploymentStore) error {
			if lazy {
				ctx = sqlstore.DeferSync(ctx)
			}
			_, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{event("failed")}, []string{"d"}, false)
			return err
		}
	}
	cases := []struct {
		name  string
		fault *fault
		write write
		// outcome: "fails" (nothing stored), "fails_stored" (reported
		// failed, but the fault came after its commit: an idempotent
		// retry is safe) or "retried" (on a fresh connection, stored).
		outcome string
	}{
		{"ErrDiskFull_insert_rolls_back", &fault{op: "exec", match: "INSERT INTO w", err: errDiskFull}, txWrite, "fails"},
		{"ErrDiskFull_event_insert_rolls_back", &fault{op: "stmt-exec", match: "INSERT INTO inference_events", err: errDiskFull}, eventsWrite(false), "fails"},
		{"ErrBusy_commit_left_open", &fault{op: "commit", err: errors.New("database is locked (5)")}, txWrite, "fails"},
		{"ErrBusy_event_commit_left_open", &fault{op: "commit", err: errors.New("database is locked (5)")}, eventsWrite(true), "fails"},
		{"ErrBadConn_commit", &fault{op: "commit", err: driver.ErrBadConn}, txWrite, "fails"},
		{"ErrBadConn_after_commit", &fault{op: "commit", err: driver.ErrBadConn, after: true}, eventsWrite(false), "fails_stored"},
		{"ErrBadConn_begin_retried", &fault{op: "begin", err: driver.ErrBadConn, times: 1}, txWrite, "retried"},
		{"ErrBadConn_event_insert", &fault{op: "stmt-exec", match: "INSERT INTO inference_events", err: driver.ErrBadConn}, eventsWrite(false), "fails"},
		{"ErrBadConn_rollback", &fault{op: "rollback", err: driver.ErrBadConn}, func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) error {
			return store.WriteTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO w (n) VALUES (1)"); err != nil {
					return err
				}
				return errors.New("the caller gives up")
			})
		}, "fails"},
		{"ErrBusy_deferred_sync_pragma", &fault{op: "stmt-exec", match: "synchronous = NORMAL", err: errors.New("database is locked (5)")}, eventsWrite(true), "fails"},
		{"ErrBadConn_restoring_full_sync", &fault{op: "stmt-exec", match: "synchronous = FULL", err: driver.ErrBadConn, times: 1}, eventsWrite(true), "stored"},
		{"panic_in_transaction", nil, func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("recovered: %v", p)
				}
			}()
			return store.WriteTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO w (n) VALUES (1)"); err != nil {
					return err
				}
				panic("a handler bug")
			})
		}, "fails"},
		{"cancelled_context_before_commit", nil, func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) error {
			// database/sql rolls the transaction back on its own
			// goroutine while writeTx drops the connection.
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return store.WriteTx(cctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(cctx, "INSERT INTO w (n) VALUES (1)"); err != nil {
					return err
				}
				cancel()
				return nil
			})
		}, "fails"},
		{"cancelled_context_in_transaction", nil, func(ctx context.Context, store *sqlstore.DB, _ *sqlstore.DeploymentStore) error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return store.WriteTx(cctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(cctx, "INSERT INTO w (n) VALUES (1)"); err != nil {
					return err
				}
				cancel() // the client went away
				_, err := tx.ExecContext(cctx, "INSERT INTO w (n) VALUES (2)")
				return err
			})
		}, "fails"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := mustOpenFaultDB(t)
			store := db.Store()
			events := sqlstore.NewDeploymentStore(store)
			t.Cleanup(func() { events.Close() })
			ctx := context.Background()
			if _, err := store.SQL().ExecContext(ctx, "CREATE TABLE w (n INTEGER)"); err != nil {
				t.Fatal(err)
			}
			// A first batch prepares the event insert on the write
			// connection (sqlstore's raw statements).
			if _, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{event("warm")}, []string{"d"}, false); err != nil {
				t.Fatal(err)
			}
			inject(t, c.fault)
			err := guard(t, "the failing write", func() error { return c.write(ctx, store, events) })
			switch c.outcome {
			case "fails", "fails_stored":
				if err == nil {
					t.Fatal("the write succeeded despite the fault")
				}
			default:
				if err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			faults.Lock()
			faults.f = nil
			faults.Unlock()

			later := []write{laterTxWrite, nil, nil, laterTxWrite}
			for i := range later {
				if later[i] == nil {
					// later batches carry new ids; the second defers its sync
					later[i] = func(ctx context.Context, _ *sqlstore.DB, events *sqlstore.DeploymentStore) error {
						if i == 2 {
							ctx = sqlstore.DeferSync(ctx)
						}
						_, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{event(fmt.Sprintf("next-%d", i))}, []string{"d"}, false)
						return err
					}
				}
			}
			for i, w := range later {
				if err := guard(t, fmt.Sprintf("write %d after the fault", i), func() error { return w(ctx, store, events) }); err != nil {
					t.Fatalf("write %d after the fault: %v", i, err)
				}
			}
			var level int
			if err := guard(t, "reading synchronous", func() error {
				return store.WriteTx(ctx, func(tx *sql.Tx) error {
					return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
				})
			}); err != nil || level != 2 {
				t.Errorf("write connection at synchronous = %d (%v), want 2 (FULL)", level, err)
			}
			var failedRows, laterRows, failedEvents, laterEvents int
			store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM w WHERE n IN (1, 2)").Scan(&failedRows)
			store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM w WHERE n = 7").Scan(&laterRows)
			store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events WHERE event_id = 'failed'").Scan(&failedEvents)
			store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events WHERE event_id LIKE 'next-%'").Scan(&laterEvents)
			if stored := failedRows + failedEvents; (stored > 0) != (c.outcome != "fails") {
				t.Errorf("the failing write stored %d rows; outcome %s", stored, c.outcome)
			}
			if laterRows != 2 || laterEvents != 2 {
				t.Errorf("%d transactions and %d batches after the fault stored, want 2 and 2", laterRows, laterEvents)
			}
			faults.Lock()
			misuse := faults.misuse
			faults.Unlock()
			if len(misuse) > 0 {
				t.Errorf("statements used after their connection closed: %q", misuse)
			}
			if err := guard(t, "Close", db.Close); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// TestCloseWithWritesInFlight closes the database twice, concurrently,
// while transactions and event batches are being written: every write
// either reports an error or is found after reopening (none is reported
// committed and lost), nothing hangs or panics, and both Closes return.
func TestCloseWithWritesInFlight(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := sqlite.NewDB(dir)
	ctx := context.Background()
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	store := db.Store()
	if _, err := store.SQL().ExecContext(ctx, "CREATE TABLE w (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	events := sqlstore.NewDeploymentStore(store)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const writers, each = 4, 25
	var mu sync.Mutex
	var rows []int
	var evIDs []string
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if i == 2 {
					started <- struct{}{}
				}
				n := w*each + i
				if w%2 == 0 {
					err := store.WriteTx(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, "INSERT INTO w (n) VALUES (?)", n)
						return err
					})
					if err == nil {
						mu.Lock()
						rows = append(rows, n)
						mu.Unlock()
					}
					continue
				}
				id := fmt.Sprintf("ev-%d", n)
				cctx := ctx
				if i%2 == 0 {
					cctx = sqlstore.DeferSync(ctx) // made durable by the next full commit, or lost unacknowledged
				}
				if _, err := events.InsertEvents(cctx, []*ethos.InferenceEvent{{DeploymentID: "dep-c", EventID: id, Time: now, CaseID: "c", Score: 0.5, ReceivedAt: now}}, []string{"d"}, false); err == nil && i%2 == 1 {
					mu.Lock()
					evIDs = append(evIDs, id)
					mu.Unlock()
				}
			}
		})
	}
	for range writers {
		<-started
	}
	var closers sync.WaitGroup
	for range 2 {
		closers.Go(func() {
			guard(t, "Close", func() error {
				events.Close()
				return db.Close()
			})
		})
	}
	closers.Wait()
	guard(t, "the writers", func() error { wg.Wait(); return nil })

	again := sqlite.NewDB(dir)
	if err := again.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, n := range rows {
		var c int
		if err := again.SQL().QueryRowContext(ctx, "SELECT count(*) FROM w WHERE n = ?", n).Scan(&c); err != nil || c != 1 {
			t.Errorf("row %d was reported committed but is not stored (%d, %v)", n, c, err)
		}
	}
	for _, id := range evIDs {
		var c int
		if err := again.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events WHERE event_id = ?", id).Scan(&c); err != nil || c != 1 {
			t.Errorf("event %s was reported stored but is not (%d, %v)", id, c, err)
		}
	}
	t.Logf("%d transactions and %d full-sync batches acknowledged before the close", len(rows), len(evIDs))
}
