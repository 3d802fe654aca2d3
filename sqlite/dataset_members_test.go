package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestDatasetMembersMigration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	storetest.RunDatasetMembersMigration(t, processing.ManifestID,
		func(t *testing.T) (func(string, ...any) error, func()) {
			if err := sqlite.EnsureDir(dir); err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.DBFile)+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
			if err != nil {
				t.Fatal(err)
			}
			ms, err := sqlite.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			var pre []sqlite.Migration
			for _, m := range ms {
				if m.Name < "0080" {
					pre = append(pre, m)
				}
			}
			if len(pre) == len(ms) || !strings.HasPrefix(ms[len(pre)].Name, "0080_") {
				t.Fatalf("no migration 0080 after %s", pre[len(pre)-1].Name)
			}
			if err := sqlstore.Migrate(ctx, raw, pre, time.Now()); err != nil {
				t.Fatal(err)
			}
			return func(q string, args ...any) error { _, err := raw.ExecContext(ctx, q, args...); return err }, func() { raw.Close() }
		},
		func(t *testing.T) *sqlstore.DB {
			db := sqlite.NewDB(dir)
			if err := db.Open(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.Store()
		})
}
