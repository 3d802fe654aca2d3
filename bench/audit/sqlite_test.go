package auditbench_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/sqlite"
)

// openSQLite opens the real SQLite adapter (package sqlite) with its data
// directory at dir and returns its audit storage and the database file's
// path. The adapter's conformance and tamper suites run in package sqlite;
// here it is measured, and tampered with by the sqlite3 tool.
func openSQLite(tb testing.TB, dir string) (audit.Storage, string) {
	tb.Helper()
	db := sqlite.NewDB(dir)
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return sqlite.NewAuditStorage(db), db.Path()
}

// TestSQLite3ToolTamperNamed is the scenario of the issue: someone edits,
// deletes or swaps an audit row with the sqlite3 command-line tool, and
// Verify names the first bad index.
func TestSQLite3ToolTamperNamed(t *testing.T) {
	sqlite3 := testenv.Tool(t, "sqlite3")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		sql   string
		index int64
	}{
		{"EditedRow", `UPDATE audit_leaves SET data = replace(data, '"decision":"allow"', '"decision":"deny"') WHERE idx = 41;`, 41},
		{"DeletedRow", `DELETE FROM audit_leaves WHERE idx = 77;`, 77},
		{"SwappedRows", `UPDATE audit_leaves SET idx = -1 WHERE idx = 12; UPDATE audit_leaves SET idx = 12 WHERE idx = 19; UPDATE audit_leaves SET idx = 19 WHERE idx = -1;`, 12},
		{"DeletedLastRow", `DELETE FROM audit_leaves WHERE idx = 119;`, 119},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openSQLite(t, filepath.Join(t.TempDir(), "data"))
			l := audittest.Fill(t, s, 120)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{}); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			out, err := exec.Command(sqlite3, path, tc.sql).CombinedOutput()
			if err != nil {
				t.Fatalf("sqlite3: %v\n%s", err, out)
			}
			_, err = audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
			ve, ok := errors.AsType[*audit.VerifyError](err)
			if !ok || ve.Index != tc.index {
				t.Fatalf("Verify after %q: %v; want the first bad index %d", tc.sql, err, tc.index)
			}
		})
	}
}

// BenchmarkSQLiteDurableAppend is BenchmarkDurableAppend on the real SQLite
// adapter (WAL, synchronous=FULL): one transaction per group-committed
// batch.
func BenchmarkSQLiteDurableAppend(b *testing.B) {
	for _, writers := range []int{1, 64, 256, 1024} {
		b.Run(fmt.Sprintf("store=adapter/writers=%d", writers), func(b *testing.B) {
			s, _ := openSQLite(b, filepath.Join(b.TempDir(), "data"))
			durableAppend(b, s, writers)
		})
	}
}
