package sqlite_test

import (
	"context"
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
