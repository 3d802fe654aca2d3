package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunEventKeysMigration checks migration 0082 (events keyed by a number
// per deployment). before opens a database migrated up to 0081 and
// returns a statement runner ("?" placeholders) and a close function;
// after opens the same database with every migration applied. Events
// stored in the old layout are read back through the event store, a
// replay of one is a duplicate with its stored digest, and a new
// deployment takes the next number.
func RunEventKeysMigration(t *testing.T, before func(t *testing.T) (exec func(q string, args ...any) error, done func()), after func(t *testing.T) *sqlstore.DB) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exec, done := before(t)
	old := `INSERT INTO inference_events (deployment_id, event_id, t, case_id, site, score, decision, latency_ms, reader_action, sex, age_band,
		manufacturer, model_name, software_version, body_part, protocol, modality, institution, kvp, slice_thickness, pixel_spacing, digest, received_at)
		VALUES (?, ?, ?, ?, 'site', 0.5, ?, NULL, '', '', '', '', '', '', '', '', '', '', 120, NULL, NULL, ?, ?)`
	for _, r := range []struct{ dep, id, cas string }{{"dep_b", "e1", "c1"}, {"dep_b", "e2", "c2"}, {"dep_a", "e1", "c9"}} {
		if err := exec(old, r.dep, r.id, now.UnixNano(), r.cas, true, "digest-"+r.dep+r.id, now.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	done()

	db := after(t)
	events := sqlstore.NewDeploymentStore(db)
	defer events.Close()
	scan := func(dep string) string {
		t.Helper()
		var ids []string
		if err := events.ScanEvents(ctx, ethos.EventFilter{DeploymentID: dep}, func(e *ethos.InferenceEvent) error {
			if e.Acquisition.KVP == nil || *e.Acquisition.KVP != 120 || !e.Decision {
				t.Errorf("event %s/%s lost columns: %+v", dep, e.EventID, e)
			}
			ids = append(ids, e.EventID+"/"+e.CaseID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids, " ")
	}
	if got := scan("dep_b"); got != "e1/c1 e2/c2" {
		t.Errorf("dep_b after the migration: %q", got)
	}
	if got := scan("dep_a"); got != "e1/c9" {
		t.Errorf("dep_a after the migration: %q", got)
	}
	e1 := &ethos.InferenceEvent{DeploymentID: "dep_b", EventID: "e1", Time: now, CaseID: "c1", Score: 0.5, ReceivedAt: now}
	if dup, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{e1}, []string{"other"}, false); err != nil || dup[0] != "digest-dep_be1" {
		t.Fatalf("replay of a migrated event: %q %v", dup, err)
	}
	e3 := &ethos.InferenceEvent{DeploymentID: "dep_c", EventID: "e1", Time: now, CaseID: "c3", Score: 0.5, ReceivedAt: now}
	if dup, err := events.InsertEvents(ctx, []*ethos.InferenceEvent{e3}, []string{"d3"}, false); err != nil || dup[0] != "" {
		t.Fatalf("first event of a new deployment: %q %v", dup, err)
	}
	rows, err := db.SQL().QueryContext(ctx, "SELECT deployment_id, dkey FROM event_deployments ORDER BY dkey")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var id string
		var k int64
		if err := rows.Scan(&id, &k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, id+"="+strings.Repeat("|", int(k)))
	}
	rows.Close()
	if got := strings.Join(keys, " "); got != "dep_a=| dep_b=|| dep_c=|||" {
		t.Errorf("event keys %q, want dep_a, dep_b, dep_c numbered 1, 2, 3", got)
	}
	if st, err := events.EventStats(ctx, "dep_c"); err != nil || st.Count != 1 {
		t.Errorf("stats of the new deployment: %+v %v", st, err)
	}
	if st, err := events.EventStats(ctx, "dep_none"); err != nil || st.Count != 0 {
		t.Errorf("stats of a deployment without events: %+v %v", st, err)
	}
	if known, err := events.UpsertLabels(ctx, "dep_b", []*ethos.EventLabel{{CaseID: "c2", Positive: true, Source: ethos.LabelPathology, At: now}, {CaseID: "c9"}}, false); err != nil || !known[0] || known[1] {
		t.Errorf("labels after the migration: %v %v (want c2 known, c9 of another deployment not)", known, err)
	}
}
