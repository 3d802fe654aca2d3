package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// migrationDB returns the before and after functions of a storetest
// migration check over one fresh data directory: before migrates it up
// to the migration named prefix_… excluded, after opens it as ethos does
// (every migration applied).
func migrationDB(t *testing.T, prefix string) (before func(*testing.T) (func(string, ...any) error, func()), after func(*testing.T) *sqlstore.DB) {
	dir := filepath.Join(t.TempDir(), "data")
	before = func(t *testing.T) (func(string, ...any) error, func()) {
		if err := sqlite.EnsureDir(dir); err != nil {
			t.Fatal(err)
		}
		ms, err := sqlite.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.DBFile)+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
		if err != nil {
			t.Fatal(err)
		}
		return storetest.MigrateBefore(t, raw, ms, prefix)
	}
	after = func(t *testing.T) *sqlstore.DB {
		db := sqlite.NewDB(dir)
		if err := db.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.Store()
	}
	return before, after
}
