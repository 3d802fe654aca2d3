package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunWrites checks the store's write transactions (sqlstore.WriteTx, the
// path every service's writes take) over a fresh store from open: a
// transaction whose function fails, whose context is cancelled midway or
// that panics leaves nothing behind — no row, no lock, no transaction
// open on a connection — and the next writes, to the same rows, commit;
// a batch committed under sqlstore.DeferSync is stored and the deferral
// stays with its own transaction;
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
	t.Run("deferred_sync_batch_is_stored_and_the_next_commit_is_full", func(t *testing.T) {
		db := open(t)
		mustExec(t, db, "CREATE TABLE w (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
		events := sqlstore.NewDeploymentStore(db)
		defer events.Close()
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i, lazy := range []bool{true, false, true} {
			ectx := ctx
			if lazy {
				ectx = sqlstore.DeferSync(ctx)
			}
			e := &ethos.InferenceEvent{DeploymentID: "dep-d", EventID: fmt.Sprintf("ev-%d", i), Time: at, CaseID: "c", Score: 0.5, ReceivedAt: at}
			if _, err := events.InsertEvents(ectx, []*ethos.InferenceEvent{e}, []string{"d"}, false); err != nil {
				t.Fatal(err)
			}
			// The commit that follows (the audit entry's, in the
			// server) flushes as always: the deferral stayed with the
			// batch's own transaction.
			if got := syncSetting(t, db); got != "on" && got != "2" {
				t.Fatalf("after batch %d (deferred %v) a write transaction runs at %q, want on (PostgreSQL) or 2 = FULL (SQLite)", i, lazy, got)
			}
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events").Scan(&n); err != nil || n != 3 {
			t.Errorf("%d events (%v), want 3", n, err)
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

// syncSetting is the flush setting a write transaction runs with:
// PostgreSQL's synchronous_commit, or SQLite's synchronous level.
func syncSetting(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	ctx := context.Background()
	var v string
	if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v)
	}); err == nil {
		return v
	}
	if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v)
	}); err != nil {
		t.Fatal(err)
	}
	return v
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
