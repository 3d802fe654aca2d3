package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/storetest"
	"golang.org/x/mod/sumdb/tlog"
)

func MustOpen(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		db := MustOpen(t, filepath.Join(t.TempDir(), "ethos.db"))
		return storetest.Stores{
			Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Tokens: sqlite.NewTokenService(db),
			Projects: sqlite.NewProjectService(db), Records: sqlite.NewStageRecordService(db), DUAs: sqlite.NewDUAService(db),
			Now: time.Now,
		}
	})
}

func TestAuditStorage(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Storage {
		return sqlite.NewAuditStorage(MustOpen(t, filepath.Join(t.TempDir(), "ethos.db")))
	})
}

// tamperer edits audit rows with SQL, as the sqlite3 tool would.
type tamperer struct{ db *sqlite.DB }

func (t tamperer) SetLeaf(ctx context.Context, i int64, l []byte) error {
	_, err := t.db.SQL().ExecContext(ctx, "INSERT OR REPLACE INTO audit_leaves (idx, data) VALUES (?, ?)", i, l)
	return err
}
func (t tamperer) DeleteLeaf(ctx context.Context, i int64) error {
	_, err := t.db.SQL().ExecContext(ctx, "DELETE FROM audit_leaves WHERE idx = ?", i)
	return err
}
func (t tamperer) InsertLeaf(ctx context.Context, i int64, l []byte) error {
	// Shift in two steps so the primary key never collides.
	if _, err := t.db.SQL().ExecContext(ctx, "UPDATE audit_leaves SET idx = -idx - 1 WHERE idx >= ?", i); err != nil {
		return err
	}
	if _, err := t.db.SQL().ExecContext(ctx, "UPDATE audit_leaves SET idx = -idx WHERE idx < 0"); err != nil {
		return err
	}
	_, err := t.db.SQL().ExecContext(ctx, "INSERT INTO audit_leaves (idx, data) VALUES (?, ?)", i, l)
	return err
}
func (t tamperer) SetHash(ctx context.Context, i int64, h tlog.Hash) error {
	_, err := t.db.SQL().ExecContext(ctx, "UPDATE audit_hashes SET hash = ? WHERE idx = ?", h[:], i)
	return err
}

func TestAuditTamper(t *testing.T) {
	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) {
		db := MustOpen(t, filepath.Join(t.TempDir(), "ethos.db"))
		return sqlite.NewAuditStorage(db), tamperer{db}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	t.Run("FromEmptyDatabase", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "ethos.db")
		db := MustOpen(t, path)
		ms, err := sqlite.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL().QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("%d migrations applied, want %d", n, len(ms))
		}
		var mode string
		db.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal mode %q, want wal", mode)
		}
		for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), want)
			}
		}
		db.Close()
		// Reopening applies nothing and succeeds.
		MustOpen(t, path)
	})
	t.Run("ErrChangedMigration", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ethos.db")
		db := MustOpen(t, path)
		if _, err := db.SQL().Exec("UPDATE schema_migrations SET checksum = 'abc' WHERE version = 1"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		err := sqlite.NewDB(path).Open(ctx)
		if !errors.Is(err, sqlite.ErrMigrationChanged) {
			t.Fatalf("got %v, want ErrMigrationChanged", err)
		}
	})
	t.Run("ErrNewerDatabase", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ethos.db")
		db := MustOpen(t, path)
		if _, err := db.SQL().Exec("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 'x', '')"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := sqlite.NewDB(path).Open(ctx); !errors.Is(err, sqlite.ErrMigrationChanged) {
			t.Fatalf("got %v, want ErrMigrationChanged", err)
		}
	})
}
