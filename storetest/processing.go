package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// RunProcessing checks the processing service (records of processing runs,
// QC-PRO-1; dataset versions and splits) over a fresh store from open.
func RunProcessing(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("Runs", func(t *testing.T) { testProcessingRuns(t, sqlstore.NewProcessingService(open(t))) })
	t.Run("Datasets", func(t *testing.T) {
		db := open(t)
		testDatasets(t, db, sqlstore.NewProcessingService(db), sqlstore.NewDatasetService(db))
	})
}

// ProcessingRunFixture returns a valid run of project with one written and
// one quarantined item.
func ProcessingRunFixture(project string, started time.Time) *ethos.ProcessingRun {
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	return &ethos.ProcessingRun{ProjectID: project, StartedBy: "usr-1", StartedAt: started, FinishedAt: started.Add(time.Second),
		Software: "ethos test", KeyFingerprint: "fp-1234", Profile: ethos.ProcessingProfile{Standard: "DICOM PS3.15 Annex E", Name: "basic", Options: []string{}, Hash: "h-1"},
		Inputs: 2, Written: 1, Quarantined: 1, Actions: map[string]int{"remove": 3}, TagActions: map[string]map[string]int{"(0010,0010)": {"remove": 1}},
		Items: []ethos.ProcessingItem{
			{InstanceID: "ins-1", Subject: a, Status: ethos.ItemWritten, InputSHA256: strings.Repeat("1", 64), OutputSHA256: strings.Repeat("2", 64),
				Output: &ethos.BlobRef{Subject: a, Digest: strings.Repeat("3", 64), Size: 10}, OutputUID: "2.25.1", PseudoID: "P1", Group: map[string]string{"sex": "F"}},
			{InstanceID: "ins-2", Subject: b, Status: ethos.ItemQuarantined, InputSHA256: strings.Repeat("4", 64), Reasons: []string{"possible burned-in text"}},
		}}
}

func testProcessingRuns(t *testing.T, s *sqlstore.ProcessingService) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r1 := ProcessingRunFixture("prj-1", t0)
	if err := s.CreateProcessingRun(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if r1.ID == "" {
		t.Fatal("no id assigned")
	}
	r2 := ProcessingRunFixture("prj-2", t0.Add(time.Hour))
	if err := s.CreateProcessingRun(ctx, r2); err != nil {
		t.Fatal(err)
	}
	t.Run("RoundTrip", func(t *testing.T) {
		got, err := s.ProcessingRun(ctx, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(r1)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("got\n%s\nwant\n%s", b, a)
		}
	})
	t.Run("ManyItemsRoundTripInOrder", func(t *testing.T) {
		// More items than one INSERT writes, and not a multiple of it.
		r := ProcessingRunFixture("prj-4", t0)
		item := r.Items[1]
		r.Items = r.Items[:1]
		for i := range 250 {
			it := item
			it.InstanceID = fmt.Sprintf("ins-q%03d", 249-i) // not in id order
			r.Items = append(r.Items, it)
		}
		r.Inputs, r.Quarantined = len(r.Items), len(r.Items)-1
		if err := s.CreateProcessingRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.ProcessingRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("%d items read back, want the %d written in their order", len(got.Items), len(r.Items))
		}
	})
	t.Run("FilterByProject", func(t *testing.T) {
		p := "prj-2"
		rs, n, err := s.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &p})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || len(rs) != 1 || rs[0].ID != r2.ID || rs[0].Items != nil {
			t.Errorf("got %d runs (%d), want r2 without items", len(rs), n)
		}
	})
	t.Run("ENOTFOUND", func(t *testing.T) {
		_, err := s.ProcessingRun(ctx, "prc-none")
		code(t, err, ethos.ENOTFOUND)
	})
	t.Run("ECONFLICT", func(t *testing.T) {
		again := ProcessingRunFixture("prj-1", t0)
		again.ID = r1.ID
		code(t, s.CreateProcessingRun(ctx, again), ethos.ECONFLICT)
	})
	t.Run("EINVALIDStoresNothing", func(t *testing.T) {
		cases := map[string]func(r *ethos.ProcessingRun){
			"CountsDisagree":      func(r *ethos.ProcessingRun) { r.Written = 2 },
			"NoKeyFingerprint":    func(r *ethos.ProcessingRun) { r.KeyFingerprint = "" },
			"OutputOtherSubject":  func(r *ethos.ProcessingRun) { r.Items[0].Output.Subject = r.Items[1].Subject },
			"QuarantinedNoReason": func(r *ethos.ProcessingRun) { r.Items[1].Reasons = nil },
			"DuplicateInstance":   func(r *ethos.ProcessingRun) { r.Items[1] = r.Items[0]; r.Written, r.Quarantined = 2, 0 },
			"DuplicateInstanceOtherStatus": func(r *ethos.ProcessingRun) {
				r.Items[1].InstanceID = r.Items[0].InstanceID
			},
		}
		for name, mutate := range cases {
			t.Run(name, func(t *testing.T) {
				r := ProcessingRunFixture("prj-3", t0)
				mutate(r)
				code(t, s.CreateProcessingRun(ctx, r), ethos.EINVALID)
				p := "prj-3"
				if _, n, err := s.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &p}); err != nil || n != 0 {
					t.Errorf("%d runs stored after a refused write (%v)", n, err)
				}
			})
		}
	})
}

func testDatasets(t *testing.T, db *sqlstore.DB, runs *sqlstore.ProcessingService, s *sqlstore.DatasetService) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	run := ProcessingRunFixture("prj-1", t0)
	if err := runs.CreateProcessingRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	mk := func(id string, subjects ...ethos.SubjectKey) *ethos.DatasetVersion {
		v := &ethos.DatasetVersion{ID: id, ProjectID: "prj-1", RunID: run.ID, CreatedAt: t0, CreatedBy: "usr-1"}
		for i, sub := range subjects {
			e := ethos.ManifestEntry{ID: "2.25." + string(rune('1'+i)), Patient: "P" + string(sub[:1]), SHA256: strings.Repeat("5", 64), Path: "x.dcm", Label: "pos"}
			v.Entries = append(v.Entries, e)
			v.Members = append(v.Members, ethos.DatasetMember{EntryID: e.ID, InstanceID: "ins-" + string(rune('1'+i)), Subject: sub,
				Blob: ethos.BlobRef{Subject: sub, Digest: strings.Repeat("6", 64)}})
		}
		return v
	}
	v1 := mk(strings.Repeat("c", 64), a, b)
	if err := s.CreateDatasetVersion(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v2 := mk(strings.Repeat("d", 64), b)
	if err := s.CreateDatasetVersion(ctx, v2); err != nil {
		t.Fatal(err)
	}
	t.Run("RoundTrip", func(t *testing.T) {
		got, err := s.DatasetVersion(ctx, v1.ID)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := json.Marshal(v1)
		y, _ := json.Marshal(got)
		if string(x) != string(y) {
			t.Errorf("got\n%s\nwant\n%s", y, x)
		}
	})
	t.Run("MembersStoredOnce", func(t *testing.T) {
		// The version's body holds the manifest; members are rows of
		// dataset_members only (migration 0080).
		var body string
		if err := db.SQL().QueryRowContext(ctx, "SELECT body FROM dataset_versions WHERE id = ?", v1.ID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "members") || strings.Contains(body, "ins-1") || !strings.Contains(body, "2.25.1") {
			t.Errorf("body %s", body)
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM dataset_members WHERE version_id = ?", v1.ID).Scan(&n); err != nil || n != 2 {
			t.Errorf("%d member rows (%v)", n, err)
		}
	})
	t.Run("DatasetSubjects", func(t *testing.T) {
		m, err := s.DatasetSubjects(ctx, v1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 2 || m["ins-1"] != a || m["ins-2"] != b {
			t.Errorf("got %v", m)
		}
		_, err = s.DatasetSubjects(ctx, strings.Repeat("e", 64))
		code(t, err, ethos.ENOTFOUND)
	})
	t.Run("FindBySubject", func(t *testing.T) {
		vs, n, err := s.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{Subject: &a})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || len(vs) != 1 || vs[0].ID != v1.ID || vs[0].Entries != nil {
			t.Errorf("versions of subject a: %d (%d)", len(vs), n)
		}
		vs, n, err = s.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{Subject: &b})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || len(vs) != 2 {
			t.Errorf("versions of subject b: %d (%d), want 2", len(vs), n)
		}
	})
	t.Run("ImmutableECONFLICT", func(t *testing.T) {
		again := mk(v1.ID, b)
		code(t, s.CreateDatasetVersion(ctx, again), ethos.ECONFLICT)
		got, err := s.DatasetSubjects(ctx, v1.ID)
		if err != nil || len(got) != 2 {
			t.Errorf("members changed: %v", got)
		}
	})
	t.Run("EINVALIDStoresNothing", func(t *testing.T) {
		bad := mk(strings.Repeat("f", 64), a, b)
		bad.Members[1].InstanceID = bad.Members[0].InstanceID
		code(t, s.CreateDatasetVersion(ctx, bad), ethos.EINVALID)
		_, err := s.DatasetVersion(ctx, bad.ID)
		code(t, err, ethos.ENOTFOUND)
		code(t, s.CreateDatasetVersion(ctx, mk("not-a-hash", a)), ethos.EINVALID)
	})
	t.Run("Splits", func(t *testing.T) {
		sp := &ethos.DatasetSplit{VersionID: v1.ID, Seed: 7, Parts: []ethos.DatasetSplitPart{{Name: "train", Fraction: 1}},
			Assignment: map[string]string{"2.25.1": "train"}, CreatedAt: t0, CreatedBy: "usr-1", Leakage: ethos.DatasetLeakage{Patients: 2, Verified: true}}
		if err := s.CreateDatasetSplit(ctx, sp); err != nil {
			t.Fatal(err)
		}
		got, err := s.DatasetSplit(ctx, sp.ID)
		if err != nil || got.Seed != 7 || !got.Leakage.Verified || got.Assignment["2.25.1"] != "train" {
			t.Errorf("got %+v, %v", got, err)
		}
		list, err := s.FindDatasetSplits(ctx, v1.ID)
		if err != nil || len(list) != 1 {
			t.Errorf("splits of v1: %d, %v", len(list), err)
		}
		orphan := *sp
		orphan.ID, orphan.VersionID = "", strings.Repeat("9", 64)
		code(t, s.CreateDatasetSplit(ctx, &orphan), ethos.ENOTFOUND)
		_, err = s.DatasetSplit(ctx, "spl-none")
		code(t, err, ethos.ENOTFOUND)
	})
}

// RunDatasetMembersMigration checks migration 0080 (dataset members kept
// once): before returns exec over a database migrated up to 0080
// excluded ("?" placeholders), where a version is written the way earlier
// binaries wrote it (members in the body and, in part, in
// dataset_members); after opens the same database with every migration
// applied. The version's id, manifest and members must come back the
// same, and the id must still be the hash of the manifest (manifestID).
func RunDatasetMembersMigration(t *testing.T, manifestID func([]ethos.ManifestEntry) (string, error),
	before func(t *testing.T) (exec func(q string, args ...any) error, done func()), after func(t *testing.T) *sqlstore.DB) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	run := ProcessingRunFixture("prj-1", t0)
	run.ID = "prc-legacy"
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	v := &ethos.DatasetVersion{ProjectID: "prj-1", RunID: run.ID, Description: "before 0080", CreatedAt: t0, CreatedBy: "usr-1"}
	for i, sub := range []ethos.SubjectKey{a, b, a} {
		id := "2.25." + strings.Repeat("7", i+1)
		v.Entries = append(v.Entries, ethos.ManifestEntry{ID: id, Patient: "P" + string(sub[:1]), SHA256: strings.Repeat("5", 64), Size: int64(1000 + i),
			Path: "S/R/" + id + ".dcm", Modality: "CT", Label: "pos", Attributes: map[string]string{"sex": "F", "age": "061Y"}})
		v.Members = append(v.Members, ethos.DatasetMember{EntryID: id, InstanceID: "ins-" + strings.Repeat("9", i+1), Subject: sub,
			Blob: ethos.BlobRef{Subject: sub, Digest: strings.Repeat(string(rune('a'+i)), 64), Size: int64(1000 + i)}})
	}
	id, err := manifestID(v.Entries)
	if err != nil {
		t.Fatal(err)
	}
	v.ID = id
	empty := &ethos.DatasetVersion{ID: strings.Repeat("0", 64), ProjectID: "prj-1", RunID: run.ID, CreatedAt: t0, CreatedBy: "usr-1", Entries: []ethos.ManifestEntry{}}

	exec, done := before(t)
	head := *run
	head.Items = nil
	runBody, _ := json.Marshal(&head)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(exec("INSERT INTO processing_runs (id, project_id, started_at, body) VALUES (?, ?, ?, ?)", run.ID, run.ProjectID, t0.UnixNano(), string(runBody)))
	for _, x := range []*ethos.DatasetVersion{v, empty} {
		body, _ := json.Marshal(x) // with its members, as before 0080
		must(exec("INSERT INTO dataset_versions (id, project_id, run_id, parent_id, created_at, created_by, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
			x.ID, x.ProjectID, x.RunID, x.Parent, t0.UnixNano(), x.CreatedBy, string(body)))
		for _, m := range x.Members {
			must(exec("INSERT INTO dataset_members (version_id, instance_id, subject) VALUES (?, ?, ?)", x.ID, m.InstanceID, string(m.Subject)))
		}
	}
	done()

	db := after(t)
	s := sqlstore.NewDatasetService(db)
	ctx := context.Background()
	got, err := s.DatasetVersion(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("SameIDAndManifest", func(t *testing.T) {
		x, _ := json.Marshal(v)
		y, _ := json.Marshal(got)
		if string(x) != string(y) {
			t.Errorf("after the migration\n%s\nbefore\n%s", y, x)
		}
		if id, err := manifestID(got.Entries); err != nil || id != v.ID {
			t.Errorf("manifest hash %s (%v), id %s", id, err, v.ID)
		}
	})
	t.Run("BodyWithoutMembers", func(t *testing.T) {
		var body string
		if err := db.SQL().QueryRowContext(ctx, "SELECT body FROM dataset_versions WHERE id = ?", v.ID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "members") || strings.Contains(body, "ins-9") {
			t.Errorf("body %s", body)
		}
	})
	t.Run("SubjectQueriesStillAnswer", func(t *testing.T) {
		m, err := s.DatasetSubjects(ctx, v.ID)
		if err != nil || len(m) != 3 || m["ins-99"] != b {
			t.Errorf("%v %v", m, err)
		}
		vs, n, err := s.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{Subject: &b})
		if err != nil || n != 1 || vs[0].ID != v.ID {
			t.Errorf("versions of b: %d %v", n, err)
		}
	})
	t.Run("EmptyVersion", func(t *testing.T) {
		e, err := s.DatasetVersion(ctx, empty.ID)
		if err != nil || len(e.Entries) != 0 || len(e.Members) != 0 {
			t.Errorf("%+v %v", e, err)
		}
	})
	t.Run("NewVersionsAfter", func(t *testing.T) {
		w := *v
		w.ID, w.Parent = strings.Repeat("1", 64), v.ID
		if err := s.CreateDatasetVersion(ctx, &w); err != nil {
			t.Fatal(err)
		}
		back, err := s.DatasetVersion(ctx, w.ID)
		if err != nil || len(back.Members) != 3 || back.Members[2] != w.Members[2] {
			t.Errorf("%+v %v", back, err)
		}
	})
}
