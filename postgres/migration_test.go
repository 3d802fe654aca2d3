package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// migrationDB returns the before and after functions of a storetest
// migration check over one fresh schema on the server named by
// $ETHOS_TEST_POSTGRES (dropped at the end of the test): before
// migrates it up to the migration named prefix_… excluded, after opens
// it as ethos does (every migration applied).
func migrationDB(t *testing.T, prefix string) (before func(*testing.T) (func(string, ...any) error, func()), after func(*testing.T) *sqlstore.DB) {
	dsn := os.Getenv("ETHOS_TEST_POSTGRES")
	if dsn == "" {
		testenv.Missing(t, "ETHOS_TEST_POSTGRES is not set (scripts/test.sh starts a server and sets it)")
	}
	ctx := context.Background()
	var rb [6]byte
	rand.Read(rb[:])
	schema := "ethos_test_" + hex.EncodeToString(rb[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); admin.Close() })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	before = func(t *testing.T) (func(string, ...any) error, func()) {
		ms, err := postgres.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := postgres.OpenRaw(u.String())
		if err != nil {
			t.Fatal(err)
		}
		return storetest.MigrateBefore(t, raw, ms, prefix)
	}
	after = func(t *testing.T) *sqlstore.DB {
		db := postgres.NewDB(u.String())
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.Store()
	}
	return before, after
}
