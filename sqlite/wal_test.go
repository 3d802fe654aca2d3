package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestWALStaysBounded writes a steady load of event batches, with short
// reads beside them, and checks the size of the write-ahead log: it
// stays near the writer's checkpoint mark (sqlstore.CheckpointLimit
// pages) however many batches are written; a reader that holds one
// snapshot open stops checkpoints from getting past it, so the log grows
// while it lasts (SQLite's design), but once it ends the log is reset
// and its file cut back to the mark, not left at its largest.
func TestWALStaysBounded(t *testing.T) {
	const limitPages = 400
	oldEvery, oldLimit := sqlstore.CheckpointEvery, sqlstore.CheckpointLimit
	sqlstore.CheckpointEvery, sqlstore.CheckpointLimit = 8, limitPages
	t.Cleanup(func() { sqlstore.CheckpointEvery, sqlstore.CheckpointLimit = oldEvery, oldLimit })

	db := sqlite.NewDB(filepath.Join(t.TempDir(), "data"))
	ctx := context.Background()
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := db.Store()
	events := sqlstore.NewDeploymentStore(store)
	t.Cleanup(func() { events.Close() })
	var pageSize int64
	if err := store.SQL().QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	// The mark in bytes: frames of a page and a 24-byte header, the
	// 32-byte file header, and the frames of the commit that crosses
	// the mark (a batch touches far fewer than 100 pages).
	mark := 32 + (limitPages+100)*(pageSize+24)
	walSize := func() int64 {
		fi, err := os.Stat(db.Path() + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seq := 0
	batch := func() {
		evs := make([]*ethos.InferenceEvent, 50)
		digests := make([]string, len(evs))
		for i := range evs {
			seq++
			evs[i] = &ethos.InferenceEvent{DeploymentID: "dep-w", EventID: fmt.Sprintf("ev-%07d", seq), Time: now.Add(time.Duration(seq) * time.Second),
				CaseID: fmt.Sprintf("case-%d", seq), Site: "north", Score: 0.5, ReceivedAt: now}
			digests[i] = fmt.Sprintf("%064d", seq)
		}
		if _, err := events.InsertEvents(ctx, evs, digests, false); err != nil {
			t.Fatal(err)
		}
	}
	read := func() {
		var n int
		if err := store.SQL().QueryRowContext(ctx, "SELECT count(*) FROM inference_events WHERE event_id > ?", fmt.Sprintf("ev-%07d", seq-10)).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("steady_load_stays_near_the_mark", func(t *testing.T) {
		largest := int64(0)
		for i := range 300 {
			batch()
			if i%3 == 0 {
				read()
			}
			largest = max(largest, walSize())
		}
		if largest > mark {
			t.Errorf("the WAL reached %d bytes under a steady load, want at most %d (%d pages)", largest, mark, limitPages)
		}
	})

	t.Run("log_cut_back_after_a_long_reader", func(t *testing.T) {
		conn, err := store.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // BEGIN (DEFERRED): a reader, not a writer
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM inference_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		for range 150 {
			batch()
		}
		held := walSize()
		tx.Rollback()
		conn.Close()
		if held <= mark {
			t.Fatalf("the WAL stayed at %d bytes behind a reader's snapshot; the test needs it past %d", held, mark)
		}
		for range 60 {
			batch()
		}
		if got := walSize(); got > mark {
			t.Errorf("the WAL file is %d bytes after the reader ended (%d while it read), want it cut back to at most %d", got, held, mark)
		}
	})
}
