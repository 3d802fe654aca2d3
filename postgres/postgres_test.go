package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/tlog"
)

// MustOpenDB opens a fresh, empty database: a new schema on the server
// named by $ETHOS_TEST_POSTGRES (set by scripts/test.sh), dropped at the
// end of the test. Without the variable the test is skipped, or failed
// under CI.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	dsn := os.Getenv("ETHOS_TEST_POSTGRES")
	if dsn == "" {
		testenv.Missing(tb, "ETHOS_TEST_POSTGRES is not set (scripts/test.sh starts a server and sets it)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	schema := "ethos_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("pgx", dsn)
		if err == nil {
			a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db := postgres.NewDB(u.String())
	if err := db.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		st := MustOpenDB(t).Store()
		return storetest.Stores{
			Parties: sqlstore.NewPartyService(st), Users: sqlstore.NewUserService(st), Tokens: sqlstore.NewTokenService(st),
			Projects: sqlstore.NewProjectService(st), DUAs: sqlstore.NewDUAService(st), Records: sqlstore.NewRecordService(st),
			Now: time.Now,
		}
	})
}

func TestAuditStorage(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Storage { return postgres.NewAuditStorage(MustOpenDB(t)) })
}

type tamperer struct{ db *postgres.DB }

func (x tamperer) SetLeaf(ctx context.Context, i int64, leaf []byte) error {
	_, err := x.db.SQL().ExecContext(ctx, "INSERT INTO audit_leaves (idx, data) VALUES (?, ?) ON CONFLICT (idx) DO UPDATE SET data = excluded.data", i, leaf)
	return err
}

func (x tamperer) DeleteLeaf(ctx context.Context, i int64) error {
	_, err := x.db.SQL().ExecContext(ctx, "DELETE FROM audit_leaves WHERE idx = ?", i)
	return err
}

func (x tamperer) InsertLeaf(ctx context.Context, i int64, leaf []byte) error {
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

func (x tamperer) SetHash(ctx context.Context, i int64, h tlog.Hash) error {
	_, err := x.db.SQL().ExecContext(ctx, "INSERT INTO audit_hashes (idx, hash) VALUES (?, ?) ON CONFLICT (idx) DO UPDATE SET hash = excluded.hash", i, h[:])
	return err
}

func TestAuditTamper(t *testing.T) {
	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) {
		db := MustOpenDB(t)
		return postgres.NewAuditStorage(db), tamperer{db}
	})
}

func TestMigrationsReopen(t *testing.T) {
	db := MustOpenDB(t)
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n == 0 {
		t.Fatalf("schema_migrations: %d rows, %v", n, err)
	}
	// Opening again applies nothing and succeeds.
	again := postgres.NewDB(db.DSN)
	if err := again.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	again.Close()
}
