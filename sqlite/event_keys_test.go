package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestEventKeysMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storetest.RunEventKeysMigration(t,
		func(t *testing.T) (func(string, ...any) error, func()) {
			ms, err := sqlite.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			cut := 0
			for i, m := range ms {
				if strings.HasPrefix(m.Name, "0082_") {
					cut = i
				}
			}
			if cut == 0 {
				t.Fatal("no migration 0082")
			}
			raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.DBFile)+"?_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			if err := sqlstore.Migrate(ctx, raw, ms[:cut], time.Now()); err != nil {
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
