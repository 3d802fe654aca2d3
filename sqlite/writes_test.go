package sqlite_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestSerializedWrites checks the in-process write queue of the SQLite
// adapter: concurrent writers all get their turn, a writer that waits too
// long (here: one nested inside another's turn) gets an error instead of
// hanging, and a cancelled context ends the wait.
func TestSerializedWrites(t *testing.T) {
	db := MustOpenDB(t)
	store := db.Store()
	ctx := context.Background()

	t.Run("concurrent_writers_all_commit", func(t *testing.T) {
		if _, err := store.SQL().ExecContext(ctx, "CREATE TABLE w (n INTEGER)"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				unlock, err := store.LockWrites(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer unlock()
				_, err = store.SQL().ExecContext(ctx, "INSERT INTO w VALUES (?)", i)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		var n int
		store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM w").Scan(&n)
		if n != 16 {
			t.Errorf("%d rows, want 16", n)
		}
	})

	t.Run("ErrInternal_nested_writer_times_out", func(t *testing.T) {
		old := sqlstore.WriteWait
		sqlstore.WriteWait = 50 * time.Millisecond
		defer func() { sqlstore.WriteWait = old }()
		unlock, err := store.LockWrites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if _, err := store.LockWrites(ctx); ethos.ErrorCode(err) != ethos.EINTERNAL {
			t.Fatalf("nested wait: %v, want EINTERNAL after WriteWait", err)
		}
	})

	t.Run("cancelled_context_ends_the_wait", func(t *testing.T) {
		unlock, err := store.LockWrites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := store.LockWrites(cctx); err != context.Canceled {
			t.Fatalf("wait with a cancelled context: %v", err)
		}
	})
}

// TestWriteConnection checks that write transactions share one
// connection (a temporary table, private to its connection, is seen by
// the next write) and that a batch of events committed under
// sqlstore.DeferSync leaves that connection back at synchronous=FULL.
func TestWriteConnection(t *testing.T) {
	db := MustOpenDB(t)
	store := db.Store()
	ctx := context.Background()
	syncLevel := func(t *testing.T) int {
		t.Helper()
		var level int
		if err := store.WriteTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
		}); err != nil {
			t.Fatal(err)
		}
		return level
	}

	t.Run("writes_share_one_connection", func(t *testing.T) {
		if err := store.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TEMP TABLE mark (n INTEGER)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := store.WriteTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO temp.mark VALUES (1)")
				return err
			}); err != nil {
				t.Fatalf("the temporary table of the write connection is gone: %v", err)
			}
		}
	})

	t.Run("cancelled_request_keeps_the_connection", func(t *testing.T) {
		// A client that went away before its write began: the write
		// fails, and the write connection (its page cache, its prepared
		// statements) is kept, not replaced.
		if err := store.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TEMP TABLE keep (n INTEGER)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for range 3 {
			if err := store.WriteTx(cctx, func(tx *sql.Tx) error { return nil }); err == nil {
				t.Fatal("a write with a cancelled context succeeded")
			}
		}
		if err := store.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO temp.keep VALUES (1)")
			return err
		}); err != nil {
			t.Errorf("the write connection was replaced after cancelled requests: %v", err)
		}
	})

	t.Run("deferred_commit_restores_full_sync", func(t *testing.T) {
		if got := syncLevel(t); got != 2 {
			t.Fatalf("synchronous = %d before, want 2 (FULL)", got)
		}
		events := sqlstore.NewDeploymentStore(store)
		defer events.Close()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i, lazy := range []bool{true, false, true} {
			e := &ethos.InferenceEvent{DeploymentID: "dep-x", EventID: string(rune('a' + i)), Time: now, CaseID: "case-1", Score: 0.5, ReceivedAt: now}
			cctx := ctx
			if lazy {
				cctx = sqlstore.DeferSync(ctx)
			}
			dup, err := events.InsertEvents(cctx, []*ethos.InferenceEvent{e}, []string{"d"}, false)
			if err != nil || len(dup) != 1 || dup[0] != "" {
				t.Fatalf("insert %d: %v %q", i, err, dup)
			}
			if got := syncLevel(t); got != 2 {
				t.Fatalf("synchronous = %d after insert %d (deferred %v), want 2 (FULL)", got, i, lazy)
			}
		}
		var n int
		if err := store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events e JOIN event_deployments k ON k.dkey = e.dkey WHERE k.deployment_id = 'dep-x'").Scan(&n); err != nil || n != 3 {
			t.Fatalf("%d events stored (%v), want 3", n, err)
		}
	})
}
