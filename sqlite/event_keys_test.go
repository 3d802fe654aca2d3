package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// TestEventKeysMigration stores events in the schema before migration
// 0082 (keyed by the deployment's id), migrates, and reads them back
// through the event store keyed by number; new events of a known and of a
// new deployment take the right keys.
func TestEventKeysMigration(t *testing.T) {
	ctx := context.Background()
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
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db")+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := sqlstore.Migrate(ctx, sdb, ms[:cut], now); err != nil {
		t.Fatal(err)
	}
	old := `INSERT INTO inference_events (deployment_id, event_id, t, case_id, site, score, decision, latency_ms, reader_action, sex, age_band,
		manufacturer, model_name, software_version, body_part, protocol, modality, institution, kvp, slice_thickness, pixel_spacing, digest, received_at)
		VALUES (?, ?, ?, ?, 'site', 0.5, 1, NULL, '', '', '', '', '', '', '', '', '', '', NULL, NULL, NULL, ?, ?)`
	for _, r := range []struct{ dep, id, cas string }{{"dep_b", "e1", "c1"}, {"dep_b", "e2", "c2"}, {"dep_a", "e1", "c9"}} {
		if _, err := sdb.ExecContext(ctx, old, r.dep, r.id, now.UnixNano(), r.cas, "digest-"+r.dep+r.id, now.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlstore.Migrate(ctx, sdb, ms, now); err != nil {
		t.Fatal(err)
	}
	store := sqlstore.New(sdb, func() time.Time { return now })
	store.SQLiteRules()
	defer store.Close()
	events := sqlstore.NewDeploymentStore(store)
	defer events.Close()

	count := func(dep string) []string {
		t.Helper()
		var ids []string
		if err := events.ScanEvents(ctx, ethos.EventFilter{DeploymentID: dep}, func(e *ethos.InferenceEvent) error {
			ids = append(ids, e.EventID+"/"+e.CaseID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := strings.Join(count("dep_b"), " "); got != "e1/c1 e2/c2" {
		t.Errorf("dep_b after migration: %q", got)
	}
	if got := strings.Join(count("dep_a"), " "); got != "e1/c9" {
		t.Errorf("dep_a after migration: %q", got)
	}
	// A replay of a migrated event is a duplicate with its stored digest;
	// a new deployment gets the next key.
	e1 := &ethos.InferenceEvent{DeploymentID: "dep_b", EventID: "e1", Time: now, CaseID: "c1", Score: 0.5, ReceivedAt: now}
	e3 := &ethos.InferenceEvent{DeploymentID: "dep_c", EventID: "e1", Time: now, CaseID: "c3", Score: 0.5, ReceivedAt: now}
	dup, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{e1}, []string{"other"}, false)
	if err != nil || dup[0] != "digest-dep_be1" {
		t.Fatalf("replay of a migrated event: %q %v", dup, err)
	}
	if dup, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{e3}, []string{"d3"}, false); err != nil || dup[0] != "" {
		t.Fatalf("first event of a new deployment: %q %v", dup, err)
	}
	var keys []string
	rows, err := sdb.QueryContext(ctx, "SELECT deployment_id || '=' || dkey FROM event_deployments ORDER BY dkey")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	if got := strings.Join(keys, " "); got != "dep_a=1 dep_b=2 dep_c=3" {
		t.Errorf("event keys %q", got)
	}
	st, err := events.EventStats(ctx, "dep_c")
	if err != nil || st.Count != 1 {
		t.Errorf("stats of the new deployment: %+v %v", st, err)
	}
	if st, err := events.EventStats(ctx, "dep_none"); err != nil || st.Count != 0 {
		t.Errorf("stats of a deployment without events: %+v %v", st, err)
	}
}
