package storetest

import (
	"context"
	"encoding/json"
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
		testDatasets(t, sqlstore.NewProcessingService(db), sqlstore.NewDatasetService(db))
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
		}
		for name, mutate := range cases {
			t.Run(name, func(t *testing.T) {
				r := ProcessingRunFixture("prj-3", t0)
				mutate(r)
				code(t, s.CreateProcessingRun(ctx, r), ethos.EINVALID)
				p := "prj-3"
				if _, n, _ := s.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &p}); n != 0 {
					t.Errorf("%d runs stored after a refused write", n)
				}
			})
		}
	})
}

func testDatasets(t *testing.T, runs *sqlstore.ProcessingService, s *sqlstore.DatasetService) {
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
		vs, n, _ = s.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{Subject: &b})
		if n != 2 || len(vs) != 2 {
			t.Errorf("versions of subject b: %d (%d), want 2", len(vs), n)
		}
	})
	t.Run("ImmutableECONFLICT", func(t *testing.T) {
		again := mk(v1.ID, b)
		code(t, s.CreateDatasetVersion(ctx, again), ethos.ECONFLICT)
		got, _ := s.DatasetSubjects(ctx, v1.ID)
		if len(got) != 2 {
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
