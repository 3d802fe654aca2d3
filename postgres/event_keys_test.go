package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestEventKeysMigration(t *testing.T) {
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
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); admin.Close() })
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	storetest.RunEventKeysMigration(t,
		func(t *testing.T) (func(string, ...any) error, func()) {
			raw, err := sql.Open("pgx", u.String())
			if err != nil {
				t.Fatal(err)
			}
			ms, err := postgres.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			// Apply the migrations before 0082 as Migrate records them.
			if _, err := raw.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			seen := false
			for _, m := range ms {
				if m.Name >= "0082" {
					seen = seen || strings.HasPrefix(m.Name, "0082_")
					continue
				}
				if _, err := raw.ExecContext(ctx, m.SQL); err != nil {
					t.Fatalf("%s: %v", m.Name, err)
				}
				if _, err := raw.ExecContext(ctx, "INSERT INTO schema_migrations (name, checksum, applied_at) VALUES ($1, $2, $3)", m.Name, m.Checksum, time.Now().UnixNano()); err != nil {
					t.Fatal(err)
				}
			}
			if !seen {
				t.Fatal("no migration 0082")
			}
			return func(q string, args ...any) error { _, err := raw.ExecContext(ctx, rebind(q), args...); return err }, func() { raw.Close() }
		},
		func(t *testing.T) *sqlstore.DB {
			db := postgres.NewDB(u.String())
			if err := db.Open(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.Store()
		})
}
