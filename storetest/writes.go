package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunWrites checks the store's write transactions (sqlstore.WriteTx, the
// path every service's writes take) over a fresh store from open: a
// transaction whose function fails, whose context is cancelled midway or
// that panics leaves nothing behind — no row, no lock, no transaction
// open on a connection — and the next writes, to the same rows, commit;
// a batch committed under sqlstore.DeferSync is stored like any other;
// concurrent writers all commit (docs/storage-durability.md).
func RunWrites(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	ctx := context.Background()
	failures := []struct {
		name string
		run  func(db *sqlstore.DB) error
	}{
		{"function_error_rolls_back", func(db *sqlstore.DB) error {
			return db.WriteTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "UPDATE w SET n = n + 100 WHERE id = 1"); err != nil {
					return err
				}
				return errors.New("refused after the update")
			})
		}},
		{"cancelled_context_rolls_back", func(db *sqlstore.DB) error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return db.WriteTx(cctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(cctx, "UPDATE w SET n = n + 100 WHERE id = 1"); err != nil {
					return err
				}
				cancel() // the client went away
				_, err := tx.ExecContext(cctx, "UPDATE w SET n = n + 100 WHERE id = 1")
				return err
			})
		}},
		{"panic_rolls_back", func(db *sqlstore.DB) (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("recovered: %v", p)
				}
			}()
			return db.WriteTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "UPDATE w SET n = n + 100 WHERE id = 1"); err != nil {
					return err
				}
				panic("a bug in a service")
			})
		}},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			db := open(t)
			mustExec(t, db, "CREATE TABLE w (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
			mustExec(t, db, "INSERT INTO w (id, n) VALUES (1, 0)")
			if err := c.run(db); err == nil {
				t.Fatal("the failing transaction reported success")
			}
			// The same row again: a transaction left open would hold
			// its lock (PostgreSQL) or the write connection (SQLite).
			for range 3 {
				err := noHang(t, "the next write", func() error {
					return db.WriteTx(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, "UPDATE w SET n = n + 1 WHERE id = 1")
						return err
					})
				})
				if err != nil {
					t.Fatalf("write after the failure: %v", err)
				}
			}
			var n int
			if err := db.SQL().QueryRowContext(ctx, "SELECT n FROM w WHERE id = 1").Scan(&n); err != nil || n != 3 {
				t.Errorf("n = %d (%v), want 3: the failed transaction's update is stored, or a later one is lost", n, err)
			}
		})
	}
	t.Run("deferred_sync_commit_is_stored", func(t *testing.T) {
		db := open(t)
		mustExec(t, db, "CREATE TABLE w (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
		for i, lazy := range []bool{true, false, true} {
			wctx := ctx
			if lazy {
				wctx = sqlstore.DeferSync(ctx)
			}
			if err := db.WriteTx(wctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(wctx, "INSERT INTO w (id, n) VALUES (?, ?)", i, i)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM w").Scan(&n); err != nil || n != 3 {
			t.Errorf("%d rows (%v), want 3", n, err)
		}
	})
	t.Run("concurrent_writers_all_commit", func(t *testing.T) {
		db := open(t)
		mustExec(t, db, "CREATE TABLE w (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
		mustExec(t, db, "INSERT INTO w (id, n) VALUES (1, 0)")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				errs <- db.WriteTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "UPDATE w SET n = n + 1 WHERE id = 1")
					return err
				})
			})
		}
		noHang(t, "the writers", func() error { wg.Wait(); return nil })
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT n FROM w WHERE id = 1").Scan(&n); err != nil || n != 8 {
			t.Errorf("n = %d (%v), want 8", n, err)
		}
	})
}

func mustExec(t *testing.T, db *sqlstore.DB, q string) {
	t.Helper()
	if _, err := db.SQL().ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// noHang runs f and fails the test if it does not return: a transaction
// left open holds what the next write waits for. The bound detects a
// deadlock; it is not a speed check.
func noHang(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never returned (a lock or connection held by a failed transaction)", what)
		return nil
	}
}
