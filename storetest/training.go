package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/google/go-cmp/cmp"
)

// RunTraining checks the lineage service, the training-run register and
// the obligation service over a fresh database from open.
func RunTraining(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("Lineage", func(t *testing.T) { testLineage(t, sqlstore.NewLineageService(open(t))) })
	t.Run("TrainingRuns", func(t *testing.T) { testTrainingRuns(t, sqlstore.NewTrainingStore(open(t))) })
	t.Run("Obligations", func(t *testing.T) { testObligations(t, sqlstore.NewObligationService(open(t))) })
}

// Node helpers for lineage tests.
func subj(c byte) ethos.LineageNode {
	return ethos.LineageNode{Kind: ethos.LineageSubject, ID: strings.Repeat(string(c), 64)}
}
func node(k ethos.LineageKind, id string) ethos.LineageNode {
	return ethos.LineageNode{Kind: k, ID: id}
}
func edge(from ethos.LineageNode, rel ethos.LineageRelation, to ethos.LineageNode) ethos.LineageEdge {
	return ethos.LineageEdge{From: from, Relation: rel, To: to}
}

// LineageFixture records a small graph with the shapes that matter: two
// subjects whose instances went through ONE processing run, two dataset
// versions (one with both subjects, one with subject b only), a training
// run and model on each, and a model from a run that used the second
// dataset. It returns the nodes by name.
func LineageFixture(tb testing.TB, l ethos.LineageRecorder) map[string]ethos.LineageNode {
	tb.Helper()
	n := map[string]ethos.LineageNode{
		"a": subj('a'), "b": subj('b'),
		"ia": node(ethos.LineageInstance, "ins_a"), "ib": node(ethos.LineageInstance, "ins_b"), "ib2": node(ethos.LineageInstance, "ins_b2"),
		"pr": node(ethos.LineageProcessingRun, "prc_1"),
		"da": node(ethos.LineageDeidInstance, "did_a"), "db": node(ethos.LineageDeidInstance, "did_b"), "db2": node(ethos.LineageDeidInstance, "did_b2"),
		"ds1": node(ethos.LineageDatasetVersion, "dsv_1"), "ds2": node(ethos.LineageDatasetVersion, "dsv_2"),
		"tr1": node(ethos.LineageTrainingRun, "trn_1"), "tr2": node(ethos.LineageTrainingRun, "trn_2"),
		"m1": node(ethos.LineageModelVersion, "mdl_1"), "m2": node(ethos.LineageModelVersion, "mdl_2"),
		"u": node(ethos.LineageAgent, "usr_1"),
	}
	d, used, gen := ethos.RelWasDerivedFrom, ethos.RelUsed, ethos.RelWasGeneratedBy
	edges := []ethos.LineageEdge{
		edge(n["ia"], d, n["a"]), edge(n["ib"], d, n["b"]), edge(n["ib2"], d, n["b"]),
		edge(n["pr"], used, n["ia"]), edge(n["pr"], used, n["ib"]), edge(n["pr"], used, n["ib2"]),
		edge(n["da"], gen, n["pr"]), edge(n["db"], gen, n["pr"]), edge(n["db2"], gen, n["pr"]),
		edge(n["da"], d, n["ia"]), edge(n["db"], d, n["ib"]), edge(n["db2"], d, n["ib2"]),
		edge(n["ds1"], d, n["da"]), edge(n["ds1"], d, n["db"]),
		edge(n["ds2"], d, n["db2"]),
		edge(n["tr1"], used, n["ds1"]), edge(n["m1"], gen, n["tr1"]), edge(n["m1"], d, n["ds1"]),
		edge(n["tr2"], used, n["ds2"]), edge(n["m2"], gen, n["tr2"]), edge(n["m2"], d, n["ds2"]),
		edge(n["tr1"], ethos.RelWasAssociatedWith, n["u"]), edge(n["pr"], ethos.RelWasAssociatedWith, n["u"]),
	}
	if err := l.RecordLineage(context.Background(), edges...); err != nil {
		tb.Fatal(err)
	}
	return n
}

func testLineage(t *testing.T, l *sqlstore.LineageService) {
	ctx := context.Background()
	n := LineageFixture(t, l)
	names := func(ns []ethos.LineageNode) []string {
		out := []string{}
		for _, x := range ns {
			for k, v := range n {
				if v == x {
					out = append(out, k)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name  string
		start string
		up    bool
		walk  ethos.LineageWalk
		kinds []ethos.LineageKind
		want  []string
	}{
		{"SubjectADerivesOnlyIntoDataset1AndModel1", "a", false, ethos.WalkDerivations, []ethos.LineageKind{ethos.LineageDatasetVersion, ethos.LineageModelVersion}, []string{"ds1", "m1"}},
		{"SubjectBDerivesIntoBothDatasets", "b", false, ethos.WalkDerivations, []ethos.LineageKind{ethos.LineageDatasetVersion, ethos.LineageModelVersion}, []string{"ds1", "ds2", "m1", "m2"}},
		{"SubjectADerivationsAllKinds", "a", false, ethos.WalkDerivations, nil, []string{"da", "ds1", "ia", "m1"}},
		{"AllRelationsFanOutThroughTheProcessingRun", "a", false, ethos.WalkAll, []ethos.LineageKind{ethos.LineageDatasetVersion}, []string{"ds1", "ds2"}},
		{"SubjectsBehindModel2", "m2", true, ethos.WalkDerivations, []ethos.LineageKind{ethos.LineageSubject}, []string{"b"}},
		{"SubjectsBehindModel1", "m1", true, ethos.WalkDerivations, []ethos.LineageKind{ethos.LineageSubject}, []string{"a", "b"}},
		{"DownstreamOfProcessingRun", "pr", false, ethos.WalkAll, nil, []string{"da", "db", "db2", "ds1", "ds2", "m1", "m2", "tr1", "tr2"}},
		{"UpstreamOfTrainingRunAll", "tr2", true, ethos.WalkAll, []ethos.LineageKind{ethos.LineageDatasetVersion, ethos.LineageAgent}, []string{"ds2", "u"}},
		{"UpstreamOfSubjectIsEmpty", "a", true, ethos.WalkAll, nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []ethos.LineageNode
			var err error
			if tc.up {
				got, err = l.Upstream(ctx, n[tc.start], tc.walk, tc.kinds...)
			} else {
				got, err = l.Downstream(ctx, n[tc.start], tc.walk, tc.kinds...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, names(got)); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
			if !slices.IsSortedFunc(got, func(a, b ethos.LineageNode) int { return strings.Compare(a.String(), b.String()) }) {
				t.Errorf("result not sorted: %v", got)
			}
		})
	}
	t.Run("SubjectSetsFollowLateEdges", func(t *testing.T) {
		// Recorded out of order: the dataset before what it derives from.
		ds, m := node(ethos.LineageDatasetVersion, "dsv_late"), node(ethos.LineageModelVersion, "mdl_late")
		did, in := node(ethos.LineageDeidInstance, "did_late"), node(ethos.LineageInstance, "ins_late")
		ds2 := node(ethos.LineageDatasetVersion, "dsv_late2")
		for _, e := range []ethos.LineageEdge{
			edge(ds, ethos.RelWasDerivedFrom, did), edge(m, ethos.RelWasDerivedFrom, ds), edge(did, ethos.RelWasDerivedFrom, in),
			edge(in, ethos.RelWasDerivedFrom, subj('c')), edge(ds2, ethos.RelWasDerivedFrom, ds), edge(in, ethos.RelWasDerivedFrom, subj('d')),
		} {
			if err := l.RecordLineage(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, start := range []ethos.LineageNode{m, ds, ds2, did, n["m1"], n["m2"], n["ds1"], n["tr1"]} {
			fast, err := l.Upstream(ctx, start, ethos.WalkDerivations, ethos.LineageSubject)
			if err != nil {
				t.Fatal(err)
			}
			all, err := l.Upstream(ctx, start, ethos.WalkDerivations)
			if err != nil {
				t.Fatal(err)
			}
			walked := []ethos.LineageNode{}
			for _, x := range all {
				if x.Kind == ethos.LineageSubject {
					walked = append(walked, x)
				}
			}
			if d := cmp.Diff(walked, fast); d != "" {
				t.Errorf("subjects behind %s: -walked +indexed:\n%s", start, d)
			}
		}
		got, _ := l.Upstream(ctx, ds2, ethos.WalkDerivations, ethos.LineageSubject)
		if d := cmp.Diff([]ethos.LineageNode{subj('c'), subj('d')}, got); d != "" {
			t.Errorf("subjects behind a dataset derived from a dataset: -want +got:\n%s", d)
		}
	})
	t.Run("SubjectSetsUnderConcurrentWriters", func(t *testing.T) {
		// Twenty chains dataset <- deid <- instance <- subject, each edge
		// recorded by its own goroutine at once: every subject set must
		// still be complete.
		const chains = 20
		var wg sync.WaitGroup
		errs := make(chan error, 3*chains)
		for i := range chains {
			ds, did, in := node(ethos.LineageDatasetVersion, fmt.Sprintf("dsv_c%d", i)), node(ethos.LineageDeidInstance, fmt.Sprintf("did_c%d", i)), node(ethos.LineageInstance, fmt.Sprintf("ins_c%d", i))
			for _, e := range []ethos.LineageEdge{edge(ds, ethos.RelWasDerivedFrom, did), edge(did, ethos.RelWasDerivedFrom, in), edge(in, ethos.RelWasDerivedFrom, subj("0123456789abcdef"[i%16]))} {
				wg.Go(func() { errs <- l.RecordLineage(ctx, e) })
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range chains {
			got, err := l.Upstream(ctx, node(ethos.LineageDatasetVersion, fmt.Sprintf("dsv_c%d", i)), ethos.WalkDerivations, ethos.LineageSubject)
			if err != nil {
				t.Fatal(err)
			}
			if want := []ethos.LineageNode{subj("0123456789abcdef"[i%16])}; !cmp.Equal(want, got) {
				t.Errorf("chain %d: subjects %v, want %v", i, got, want)
			}
		}
	})
	t.Run("RecordingTwiceKeepsOneEdge", func(t *testing.T) {
		before, err := l.LineageEdges(ctx, []ethos.LineageNode{n["ds2"]})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.RecordLineage(ctx, edge(n["ds2"], ethos.RelWasDerivedFrom, n["db2"]), edge(n["ds2"], ethos.RelWasDerivedFrom, n["db2"])); err != nil {
			t.Fatal(err)
		}
		after, err := l.LineageEdges(ctx, []ethos.LineageNode{n["ds2"]})
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 3 || len(after) != 3 { // ds2<-db2, tr2->ds2, m2->ds2
			t.Errorf("edges of ds2: %d before, %d after, want 3 and 3: %v", len(before), len(after), after)
		}
	})
	t.Run("ErrInvalidEdgeStoresNothing", func(t *testing.T) {
		fresh := node(ethos.LineageDatasetVersion, "dsv_fresh")
		bad := []ethos.LineageEdge{
			edge(fresh, ethos.RelWasDerivedFrom, n["db"]),
			edge(n["m1"], ethos.RelUsed, n["ds1"]), // a model is not an activity
		}
		if err := l.RecordLineage(ctx, bad...); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Fatalf("err %v, want invalid", err)
		}
		if _, err := l.Downstream(ctx, fresh, ethos.WalkAll); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("node of a refused batch was stored (err %v)", err)
		}
		for _, e := range []ethos.LineageEdge{
			edge(n["ds1"], "influenced", n["db"]),
			edge(node(ethos.LineageSubject, "not-a-key"), ethos.RelWasDerivedFrom, n["ia"]),
			edge(n["ds1"], ethos.RelWasDerivedFrom, n["ds1"]),
			edge(n["tr1"], ethos.RelWasAssociatedWith, n["ds1"]),
		} {
			if err := l.RecordLineage(ctx, e); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("%v: err %v, want invalid", e, err)
			}
		}
	})
	t.Run("ErrNotFoundForUnknownNode", func(t *testing.T) {
		if _, err := l.Upstream(ctx, node(ethos.LineageModelVersion, "mdl_none"), ethos.WalkDerivations); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("err %v, want not found", err)
		}
	})
	t.Run("CycleEnds", func(t *testing.T) {
		x, y := node(ethos.LineageDatasetVersion, "dsv_x"), node(ethos.LineageDatasetVersion, "dsv_y")
		if err := l.RecordLineage(ctx, edge(x, ethos.RelWasDerivedFrom, y), edge(y, ethos.RelWasDerivedFrom, x)); err != nil {
			t.Fatal(err)
		}
		got, err := l.Upstream(ctx, x, ethos.WalkDerivations)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != y {
			t.Errorf("upstream of x = %v, want [y]", got)
		}
	})
	t.Run("EdgesTouchingNodes", func(t *testing.T) {
		got, err := l.LineageEdges(ctx, []ethos.LineageNode{n["tr1"], node(ethos.LineageTrainingRun, "trn_unknown")})
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range got {
			s = append(s, e.From.String()+" "+string(e.Relation)+" "+e.To.String())
			if e.At.IsZero() {
				t.Errorf("%v: no time", e)
			}
		}
		want := []string{
			"model-version:mdl_1 wasGeneratedBy training-run:trn_1",
			"training-run:trn_1 used dataset-version:dsv_1",
			"training-run:trn_1 wasAssociatedWith agent:usr_1",
		}
		if d := cmp.Diff(want, s); d != "" {
			t.Errorf("-want +got:\n%s", d)
		}
	})
	t.Run("LargeBatch", func(t *testing.T) {
		ds := node(ethos.LineageDatasetVersion, "dsv_large")
		var es []ethos.LineageEdge
		for i := range 1500 {
			in := node(ethos.LineageInstance, fmt.Sprintf("ins_l%04d", i))
			es = append(es, edge(in, ethos.RelWasDerivedFrom, subj("0123456789abcdef"[i%16])), edge(ds, ethos.RelWasDerivedFrom, in))
		}
		if err := l.RecordLineage(ctx, es...); err != nil {
			t.Fatal(err)
		}
		got, err := l.Upstream(ctx, ds, ethos.WalkDerivations, ethos.LineageSubject)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 16 {
			t.Errorf("%d subjects behind the large dataset, want 16", len(got))
		}
		all, err := l.LineageEdges(ctx, []ethos.LineageNode{ds})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1500 {
			t.Errorf("%d edges of the large dataset, want 1500", len(all))
		}
	})
	t.Run("PagesCoverTheWalkNearestFirst", func(t *testing.T) {
		ds := node(ethos.LineageDatasetVersion, "dsv_large")
		full, err := l.Upstream(ctx, ds, ethos.WalkDerivations)
		if err != nil {
			t.Fatal(err)
		}
		var got []ethos.LineageNode
		cursor, pages := "", 0
		for {
			pg, err := l.UpstreamPage(ctx, ds, ethos.WalkDerivations, cursor, 100)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, pg.Nodes...)
			if pg.Next == "" {
				break
			}
			if len(pg.Nodes) != 100 {
				t.Fatalf("page %d: %d nodes before the end", pages, len(pg.Nodes))
			}
			cursor = pg.Next
		}
		if pages != 16 || len(got) != len(full) {
			t.Fatalf("%d pages, %d nodes; want 16 pages, %d nodes", pages, len(got), len(full))
		}
		for i, x := range got {
			// Breadth-first: the 1,500 instances, then the 16 subjects.
			if want := ethos.LineageInstance; i >= 1500 {
				want = ethos.LineageSubject
				if x.Kind != want {
					t.Fatalf("node %d is %s, want a %s", i, x, want)
				}
			} else if x.Kind != want {
				t.Fatalf("node %d is %s, want an %s", i, x, want)
			}
		}
		sorted := slices.Clone(got)
		slices.SortFunc(sorted, func(a, b ethos.LineageNode) int {
			return strings.Compare(string(a.Kind)+":"+a.ID, string(b.Kind)+":"+b.ID)
		})
		if d := cmp.Diff(full, sorted); d != "" {
			t.Errorf("pages differ from the whole walk (-whole +pages):\n%s", d)
		}
	})
	t.Run("PagesOfOneKind", func(t *testing.T) {
		ds := node(ethos.LineageDatasetVersion, "dsv_large")
		pg, err := l.UpstreamPage(ctx, ds, ethos.WalkDerivations, "", 10, ethos.LineageSubject)
		if err != nil || len(pg.Nodes) != 10 || pg.Nodes[0].Kind != ethos.LineageSubject || pg.Next == "" {
			t.Fatalf("%+v %v", pg, err)
		}
		pg, err = l.UpstreamPage(ctx, ds, ethos.WalkDerivations, pg.Next, 10, ethos.LineageSubject)
		if err != nil || len(pg.Nodes) != 6 || pg.Next != "" {
			t.Fatalf("second page %+v %v", pg, err)
		}
		down, err := l.DownstreamPage(ctx, n["pr"], ethos.WalkAll, "", 1000)
		if err != nil || len(down.Nodes) != 9 || down.Next != "" {
			t.Errorf("downstream page %+v %v", down, err)
		}
	})
	t.Run("ErrConflictAfterTheGraphChanged", func(t *testing.T) {
		ds := node(ethos.LineageDatasetVersion, "dsv_large")
		pg, err := l.UpstreamPage(ctx, ds, ethos.WalkDerivations, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.RecordLineage(ctx, edge(node(ethos.LineageInstance, "ins_late"), ethos.RelWasDerivedFrom, subj('c'))); err != nil {
			t.Fatal(err)
		}
		if _, err := l.UpstreamPage(ctx, ds, ethos.WalkDerivations, pg.Next, 100); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("err %v, want conflict", err)
		}
	})
	t.Run("ErrInvalidPage", func(t *testing.T) {
		ds := node(ethos.LineageDatasetVersion, "dsv_large")
		for name, tc := range map[string]struct {
			cursor string
			limit  int
		}{"ZeroLimit": {"", 0}, "HugeLimit": {"", 1 << 20}, "BadCursor": {"not-a-cursor", 10}, "EmptyCursorJSON": {"e30", 10}} {
			if _, err := l.UpstreamPage(ctx, ds, ethos.WalkDerivations, tc.cursor, tc.limit); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("%s: err %v, want invalid", name, err)
			}
		}
		if _, err := l.UpstreamPage(ctx, node(ethos.LineageModelVersion, "mdl_none"), ethos.WalkDerivations, "", 10); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("unknown node: %v", err)
		}
	})
}

// TestRun returns a valid run ready for the store.
func TestRun(id, project, dataset string) *ethos.TrainingRun {
	return &ethos.TrainingRun{ID: id, ProjectID: project, DatasetVersion: dataset, Split: "train", CodeVersion: "0123456789abcdef0123456789abcdef01234567",
		Parameters: map[string]string{"lr": "0.001", "epochs": "20"}, Environment: map[string]string{"torch": "2.4.1", "gpu": "A100"},
		ModelSHA256: strings.Repeat("ab", 32), ModelName: "cxr-triage", Metrics: map[string]float64{"val_auroc": 0.91},
		ModelVersion: ethos.ModelVersionID(id), Status: ethos.RunRegistered, RegisteredBy: "usr_1",
		Sources: []ethos.DataSource{{Source: "file:a.dcm", Instances: 2}}}
}

func testTrainingRuns(t *testing.T, s *sqlstore.TrainingStore) {
	ctx := context.Background()
	r1, r2, r3 := TestRun("trn_1", "prj_a", "dsv_1"), TestRun("trn_2", "prj_a", "dsv_2"), TestRun("trn_3", "prj_b", "dsv_1")
	for _, r := range []*ethos.TrainingRun{r1, r2, r3} {
		if err := s.CreateTrainingRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("FoundWhole", func(t *testing.T) {
		got, err := s.FindTrainingRunByID(ctx, "trn_1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r1, got); d != "" {
			t.Errorf("-stored +found:\n%s", d)
		}
		m, err := s.FindModelVersionByID(ctx, r1.ModelVersion)
		if err != nil {
			t.Fatal(err)
		}
		if m.Run != "trn_1" || m.SHA256 != r1.ModelSHA256 || m.DatasetVersion != "dsv_1" || m.Status != ethos.ModelActive || m.ProjectID != "prj_a" {
			t.Errorf("model version %+v", m)
		}
	})
	t.Run("ErrConflictOnSameID", func(t *testing.T) {
		if err := s.CreateTrainingRun(ctx, TestRun("trn_1", "prj_a", "dsv_1")); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("err %v, want conflict", err)
		}
	})
	t.Run("ErrInvalidStoresNothing", func(t *testing.T) {
		bad := TestRun("trn_bad", "prj_a", "dsv_1")
		bad.ModelSHA256 = "xyz"
		if err := s.CreateTrainingRun(ctx, bad); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v, want invalid", err)
		}
		if _, err := s.FindTrainingRunByID(ctx, "trn_bad"); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("invalid run stored (%v)", err)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		prj, ds := "prj_a", "dsv_1"
		for _, tc := range []struct {
			name string
			f    ethos.TrainingRunFilter
			want []string
		}{
			{"ByProject", ethos.TrainingRunFilter{ProjectID: &prj}, []string{"trn_1", "trn_2"}},
			{"ByDataset", ethos.TrainingRunFilter{DatasetVersion: &ds}, []string{"trn_1", "trn_3"}},
			{"Paged", ethos.TrainingRunFilter{Offset: 1, Limit: 1}, []string{"trn_2"}},
		} {
			rs, n, err := s.FindTrainingRuns(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			if d := cmp.Diff(tc.want, ids); d != "" {
				t.Errorf("%s: -want +got:\n%s", tc.name, d)
			}
			if tc.name != "Paged" && n != len(tc.want) || tc.name == "Paged" && n != 3 {
				t.Errorf("%s: total %d", tc.name, n)
			}
		}
	})
	t.Run("SignOffOnce", func(t *testing.T) {
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		got, err := s.SignOffTrainingRun(ctx, "trn_1", ethos.TrainingSignOff{Reviewer: "usr_rev", Decision: ethos.SignOffApproved, Note: "checked", At: at})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ethos.RunSignedOff || got.SignOff == nil || got.SignOff.Reviewer != "usr_rev" || !got.SignOff.At.Equal(at) {
			t.Errorf("after sign-off: %+v %+v", got, got.SignOff)
		}
		if _, err := s.SignOffTrainingRun(ctx, "trn_1", ethos.TrainingSignOff{Reviewer: "usr_rev", Decision: ethos.SignOffRejected}); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("second sign-off: err %v, want conflict", err)
		}
		st := ethos.RunSignedOff
		rs, _, err := s.FindTrainingRuns(ctx, ethos.TrainingRunFilter{Status: &st})
		if err != nil || len(rs) != 1 || rs[0].ID != "trn_1" {
			t.Errorf("signed-off runs %v (%v)", rs, err)
		}
	})
	t.Run("RejectedRun", func(t *testing.T) {
		got, err := s.SignOffTrainingRun(ctx, "trn_2", ethos.TrainingSignOff{Reviewer: "usr_rev", Decision: ethos.SignOffRejected, Note: "no validation split"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ethos.RunRejected {
			t.Errorf("status %s, want rejected", got.Status)
		}
	})
	t.Run("ErrInvalidSignOff", func(t *testing.T) {
		if _, err := s.SignOffTrainingRun(ctx, "trn_3", ethos.TrainingSignOff{Reviewer: "usr_rev", Decision: "maybe"}); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v, want invalid", err)
		}
		if _, err := s.SignOffTrainingRun(ctx, "trn_none", ethos.TrainingSignOff{Reviewer: "usr_rev", Decision: ethos.SignOffApproved}); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("err %v, want not found", err)
		}
	})
	t.Run("RetireModel", func(t *testing.T) {
		m, err := s.SetModelStatus(ctx, ethos.ModelVersionID("trn_3"), ethos.ModelRetired)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != ethos.ModelRetired {
			t.Errorf("status %s", m.Status)
		}
		if _, err := s.SetModelStatus(ctx, "mdl_none", ethos.ModelRetired); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("err %v, want not found", err)
		}
	})
}

func testObligations(t *testing.T, s *sqlstore.ObligationService) {
	ctx := context.Background()
	a, b := ethos.SubjectKey(strings.Repeat("a", 64)), ethos.SubjectKey(strings.Repeat("b", 64))
	ds1, m1 := node(ethos.LineageDatasetVersion, "dsv_1"), node(ethos.LineageModelVersion, "mdl_1")
	mk := func(target ethos.LineageNode, sub ethos.SubjectKey) *ethos.Obligation {
		return &ethos.Obligation{ProjectID: "prj_a", Target: target, Subject: sub, Cause: ethos.CauseWithdrawal, OpenedBy: "usr_1"}
	}
	opened, err := s.OpenObligations(ctx, []*ethos.Obligation{mk(ds1, a), mk(m1, a), mk(ds1, b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) != 3 {
		t.Fatalf("opened %d, want 3", len(opened))
	}
	t.Run("AgainOpensNothing", func(t *testing.T) {
		again, err := s.OpenObligations(ctx, []*ethos.Obligation{mk(ds1, a), mk(m1, a)})
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 0 {
			t.Errorf("opened %d again, want 0", len(again))
		}
	})
	t.Run("ErrInvalidTarget", func(t *testing.T) {
		_, err := s.OpenObligations(ctx, []*ethos.Obligation{mk(node(ethos.LineageTrainingRun, "trn_1"), a)})
		if ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v, want invalid", err)
		}
		_, err = s.OpenObligations(ctx, []*ethos.Obligation{mk(ds1, "nope")})
		if ethos.ErrorCode(err) != ethos.EINVALID {
			t.Errorf("err %v, want invalid", err)
		}
	})
	open := ethos.ObligationOpen
	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    ethos.ObligationFilter
			want int
		}{
			{"Open", ethos.ObligationFilter{Status: &open}, 3},
			{"ByTarget", ethos.ObligationFilter{Target: &ds1}, 2},
			{"BySubject", ethos.ObligationFilter{Subject: &b}, 1},
			{"ByProjectAndTarget", ethos.ObligationFilter{ProjectID: new("prj_a"), Target: &m1}, 1},
			{"OtherProject", ethos.ObligationFilter{ProjectID: new("prj_b")}, 0},
		} {
			got, n, err := s.FindObligations(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || n != tc.want {
				t.Errorf("%s: %d (total %d), want %d", tc.name, len(got), n, tc.want)
			}
		}
	})
	t.Run("ResolveOnce", func(t *testing.T) {
		res := ethos.ObligationResolution{Action: ethos.ResolveRetrain, Reference: "mdl_2", Note: "retrained without the subject", By: "usr_gov"}
		got, err := s.ResolveObligation(ctx, opened[1].ID, res)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ethos.ObligationResolved || got.Resolution == nil || got.Resolution.Reference != "mdl_2" || got.Resolution.At.IsZero() {
			t.Errorf("resolved: %+v", got)
		}
		if _, err := s.ResolveObligation(ctx, opened[1].ID, res); ethos.ErrorCode(err) != ethos.ECONFLICT {
			t.Errorf("second resolve: err %v, want conflict", err)
		}
		if _, n, _ := s.FindObligations(ctx, ethos.ObligationFilter{Status: &open}); n != 2 {
			t.Errorf("%d open after resolving one, want 2", n)
		}
	})
	t.Run("ErrInvalidResolution", func(t *testing.T) {
		for _, res := range []ethos.ObligationResolution{
			{Action: "ignore", Note: "long enough note", By: "usr_gov"},
			{Action: ethos.ResolveRetrain, Note: "long enough note", By: "usr_gov"},
			{Action: ethos.ResolveRetire, Note: "short", By: "usr_gov"},
			{Action: ethos.ResolveRetire, Note: "long enough note"},
		} {
			if _, err := s.ResolveObligation(ctx, opened[0].ID, res); ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("%+v: err %v, want invalid", res, err)
			}
		}
		if _, err := s.ResolveObligation(ctx, "obl_none", ethos.ObligationResolution{Action: ethos.ResolveRetire, Note: "long enough note", By: "usr_gov"}); ethos.ErrorCode(err) != ethos.ENOTFOUND {
			t.Errorf("err %v, want not found", err)
		}
	})
}
