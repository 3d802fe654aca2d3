package storetest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/sqlstore"
)

// MigrateBefore prepares the database behind raw for a migration check:
// it applies, as sqlstore.Migrate records them, the migrations of ms
// that sort before the one whose name starts with prefix+"_", and fails
// t when ms holds no such migration. It returns what the checks'
// before function returns: a statement runner over raw ("?"
// placeholders; raw must accept them) and a function that closes raw.
func MigrateBefore(t *testing.T, raw *sql.DB, ms []sqlstore.Migration, prefix string) (exec func(q string, args ...any) error, done func()) {
	t.Helper()
	ctx := context.Background()
	var pre []sqlstore.Migration
	seen := false
	for _, m := range ms {
		if m.Name < prefix {
			pre = append(pre, m)
		}
		seen = seen || strings.HasPrefix(m.Name, prefix+"_")
	}
	if !seen {
		raw.Close()
		t.Fatalf("no migration %s", prefix)
	}
	if err := sqlstore.Migrate(ctx, raw, pre, time.Now()); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	return func(q string, args ...any) error {
		_, err := raw.ExecContext(ctx, q, args...)
		return err
	}, func() { raw.Close() }
}
