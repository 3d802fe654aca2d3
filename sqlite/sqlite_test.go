package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/storetest"
	"golang.org/x/mod/sumdb/tlog"
)

// MustOpenDB opens a fresh database in a temporary data directory.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "data"))
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		db := MustOpenDB(t)
		return storetest.Stores{
			Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Tokens: sqlite.NewTokenService(db),
			Projects: sqlite.NewProjectService(db), DUAs: sqlite.NewDUAService(db), Records: sqlite.NewRecordService(db),
			Now: time.Now,
		}
	})
}

func TestAuditStorage(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Storage { return sqlite.NewAuditStorage(MustOpenDB(t)) })
}

// tamperer edits audit rows with plain SQL, as someone with the database
// file would.
type tamperer struct{ db *sqlite.DB }

func (x tamperer) SetLeaf(ctx context.Context, i int64, leaf []byte) error {
	_, err := x.db.SQL().ExecContext(ctx, "INSERT INTO audit_leaves (idx, data) VALUES (?, ?) ON CONFLICT (idx) DO UPDATE SET data = excluded.data", i, leaf)
	return err
}

func (x tamperer) DeleteLeaf(ctx context.Context, i int64) error {
	_, err := x.db.SQL().ExecContext(ctx, "DELETE FROM audit_leaves WHERE idx = ?", i)
	return err
}

func (x tamperer) InsertLeaf(ctx context.Context, i int64, leaf []byte) error {
	// Renumber from the top down so the primary key never collides.
	tx, err := x.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE audit_leaves SET idx = -idx - 1 WHERE idx >= ?", i); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE audit_leaves SET idx = -idx WHERE idx < 0"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO audit_leaves (idx, data) VALUES (?, ?)", i, leaf); err != nil {
		return err
	}
	return tx.Commit()
}

// SetHash rewrites 32 bytes inside a chunk row (extending it with zero
// bytes when the index is past its end).
func (x tamperer) SetHash(ctx context.Context, i int64, h tlog.Hash) error {
	var b []byte
	err := x.db.SQL().QueryRowContext(ctx, "SELECT hashes FROM audit_hash_chunks WHERE chunk = ?", i/256).Scan(&b)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	off := int(i%256) * 32
	for len(b) < off+32 {
		b = append(b, 0)
	}
	copy(b[off:], h[:])
	_, err = x.db.SQL().ExecContext(ctx, "INSERT INTO audit_hash_chunks (chunk, hashes) VALUES (?, ?) ON CONFLICT (chunk) DO UPDATE SET hashes = excluded.hashes", i/256, b)
	return err
}

func TestAuditTamper(t *testing.T) {
	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) {
		db := MustOpenDB(t)
		return sqlite.NewAuditStorage(db), tamperer{db}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	t.Run("FromEmpty", func(t *testing.T) {
		db := MustOpenDB(t)
		ms, err := sqlite.Migrations()
		if err != nil || len(ms) == 0 {
			t.Fatalf("Migrations = %d, %v", len(ms), err)
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
			t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, len(ms))
		}
		for _, table := range []string{"parties", "users", "tokens", "projects", "stage_changes", "duas", "stage_records", "audit_leaves", "audit_hash_chunks", "audit_checkpoints"} {
			if _, err := db.SQL().ExecContext(ctx, "SELECT COUNT(*) FROM "+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
		var mode string
		db.SQL().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
	})
	t.Run("Reopen", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		for range 2 {
			db := sqlite.NewDB(dir)
			if err := db.Open(ctx); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
	})
	t.Run("ErrChangedMigration", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		db := sqlite.NewDB(dir)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		db.SQL().ExecContext(ctx, "UPDATE schema_migrations SET checksum = 'deadbeefdeadbeefdeadbeef' WHERE name = '0001_init.sql'")
		db.Close()
		err := sqlite.NewDB(dir).Open(ctx)
		me, ok := errors.AsType[*sqlite.MigrationError](err)
		if !ok || me.Name != "0001_init.sql" || !strings.Contains(me.Reason, "must never change") {
			t.Fatalf("Open = %v, want a MigrationError naming 0001_init.sql", err)
		}
	})
	t.Run("ErrUnknownMigration", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		db := sqlite.NewDB(dir)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		db.SQL().ExecContext(ctx, "INSERT INTO schema_migrations VALUES ('9999_future.sql', 'ab', 0)")
		db.Close()
		err := sqlite.NewDB(dir).Open(ctx)
		if me, ok := errors.AsType[*sqlite.MigrationError](err); !ok || me.Name != "9999_future.sql" {
			t.Fatalf("Open = %v, want a MigrationError naming 9999_future.sql", err)
		}
	})
}

func TestDataDirPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := sqlite.NewDB(dir)
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, db.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}

// TestAuditHashChunks crosses several 256-hash chunk boundaries, with
// batches that end inside chunks, and compares every stored hash with the
// in-memory storage fed the same events.
func TestAuditHashChunks(t *testing.T) {
	ctx := context.Background()
	st := sqlite.NewAuditStorage(MustOpenDB(t))
	mem := audit.NewMemStorage()
	for _, s := range []audit.Storage{st, mem} {
		l := audittest.MustLog(t, s)
		for i := 0; i < 700; {
			n := min(700-i, 1+i%97)
			evs := make([]audit.Event, n)
			for j := range evs {
				evs[j] = audittest.Event(i + j)
			}
			if _, err := l.AppendBatch(ctx, evs); err != nil {
				t.Fatal(err)
			}
			i += n
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	count := tlog.StoredHashCount(700)
	idx := make([]int64, count)
	for i := range idx {
		idx[i] = int64(i)
	}
	got, err := st.Hashes(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mem.Hashes(ctx, idx)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored hash %d differs", i)
		}
	}
	var scanned int64
	if err := st.ScanHashes(ctx, 300, count, func(i int64, h tlog.Hash) error {
		if i != 300+scanned || h != want[i] {
			t.Fatalf("ScanHashes gave %d (want %d)", i, 300+scanned)
		}
		scanned++
		return nil
	}); err != nil || scanned != count-300 {
		t.Fatalf("ScanHashes: %d hashes, %v", scanned, err)
	}
	if _, err := st.Hashes(ctx, []int64{count}); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("Hashes past the end: %v, want ErrNotFound", err)
	}
	if _, err := audit.Verify(ctx, st, audittest.TestKey(t).Verifier, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
