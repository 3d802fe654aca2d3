package collection_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/fileblob"
)

// gatedBlobs holds the first Flush until gate is closed (closing entered
// when it starts), counts the flushes and fails them with fail when set.
type gatedBlobs struct {
	*fileblob.Store
	gate    chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	flushes int
	fail    error
}

func (g *gatedBlobs) Flush(ctx context.Context) error {
	return g.FlushRefs(ctx, nil)
}

// FlushRefs is the flush Commit uses (collection.RefFlusher).
func (g *gatedBlobs) FlushRefs(ctx context.Context, refs []ethos.BlobRef) error {
	g.mu.Lock()
	g.flushes++
	first, fail := g.flushes == 1, g.fail
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	if fail != nil {
		return fail
	}
	return g.Store.FlushRefs(ctx, refs)
}

// committerGroups reads four groups of canary files (each group one
// stored and one quarantined instance).
func committerGroups(t *testing.T, f *fixture) [][]collection.Item {
	t.Helper()
	names := [][2]string{
		{"shard0/ct_00000.dcm", "shard0/mr_00002.dcm"},
		{"shard1/ct_00001.dcm", "shard0/xa_00006.dcm"},
		{"shard0/ct_00000.dcm", "shard0/ctsmall_00010.dcm"}, // the first group's CT again: a duplicate
		{"shard0/mrbig_00004.dcm", "shard1/ct_00001.dcm"},   // the second group's CT again
	}
	var groups [][]collection.Item
	for _, g := range names {
		var items []collection.Item
		for _, n := range g {
			data, err := os.ReadFile(filepath.Join(f.canary, n))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, collection.Item{Source: "file:" + n, Data: data})
		}
		groups = append(groups, items)
	}
	return groups
}

func TestCommitter(t *testing.T) {
	ctx := context.Background()
	t.Run("groups_ready_together_commit_together_and_are_delivered_once_durable", func(t *testing.T) {
		f := setup(t)
		gb := &gatedBlobs{Store: f.blobs, gate: make(chan struct{}), entered: make(chan struct{})}
		f.ing.Blobs = gb
		groups := committerGroups(t, f)
		type delivery struct {
			tag int
			res []*collection.Result
		}
		var got []delivery
		var problems []string
		com := f.ing.NewCommitter(ctx, len(groups), func(p *collection.Prepared, res []*collection.Result) error {
			// Delivered means committed: every record and audit event
			// of the group is stored already.
			for _, r := range res {
				id := r.Instance.ID
				if _, n, err := f.instances.FindInstances(ctx, ethos.InstanceFilter{ID: &id}); err != nil || n != 1 {
					problems = append(problems, "no record of delivered instance "+id)
				}
			}
			got = append(got, delivery{p.Tag, res})
			return nil
		})
		for i, items := range groups {
			p, err := f.ing.Prepare(ctx, f.batch, items)
			if err != nil {
				t.Fatal(err)
			}
			p.Tag = i
			if err := com.Submit(ctx, p); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				<-gb.entered // the first group's commit is under way
			}
		}
		close(gb.gate) // the first commit was held: the other three wait together
		if err := com.Close(); err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Error(p)
		}
		if gb.flushes != 2 {
			t.Errorf("%d flushes for four groups, the last three ready together: want 2", gb.flushes)
		}
		if len(got) != len(groups) {
			t.Fatalf("%d groups delivered, want %d", len(got), len(groups))
		}
		byTag := map[int][]*collection.Result{}
		for _, d := range got {
			if _, dup := byTag[d.tag]; dup {
				t.Fatalf("group %d delivered twice", d.tag)
			}
			byTag[d.tag] = d.res
		}
		want := [][2]ethos.InstanceStatus{
			{ethos.InstanceStored, ethos.InstanceQuarantined},
			{ethos.InstanceStored, ethos.InstanceQuarantined},
			{ethos.InstanceStored, ethos.InstanceQuarantined},
			{ethos.InstanceQuarantined, ethos.InstanceStored},
		}
		for g, w := range want {
			for i, st := range w {
				if r := byTag[g][i]; r.Instance.Status != st {
					t.Errorf("group %d item %d: %s (%s), want %s", g, i, r.Instance.Status, r.Instance.Detail, st)
				}
			}
		}
		if !byTag[2][0].Duplicate || byTag[2][0].Instance.ID != byTag[0][0].Instance.ID {
			t.Errorf("the first CT again: duplicate %t of %s, want a duplicate of %s", byTag[2][0].Duplicate, byTag[2][0].Instance.ID, byTag[0][0].Instance.ID)
		}
		if !byTag[3][1].Duplicate || byTag[3][1].Instance.ID != byTag[1][0].Instance.ID {
			t.Errorf("the second CT again, in the same commit as its first copy's group? duplicate %t", byTag[3][1].Duplicate)
		}
		if len(f.audit.events) != 8 {
			t.Errorf("%d audit events, want 8", len(f.audit.events))
		}
	})
	t.Run("failed_commit_delivers_nothing_and_stops_the_committer", func(t *testing.T) {
		f := setup(t)
		boom := errors.New("disk on fire")
		gb := &gatedBlobs{Store: f.blobs, gate: make(chan struct{}), entered: make(chan struct{}), fail: boom}
		close(gb.gate)
		f.ing.Blobs = gb
		delivered := 0
		com := f.ing.NewCommitter(ctx, 1, func(*collection.Prepared, []*collection.Result) error { delivered++; return nil })
		groups := committerGroups(t, f)
		p, err := f.ing.Prepare(ctx, f.batch, groups[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := com.Submit(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := com.Close(); !errors.Is(err, boom) {
			t.Fatalf("close: %v, want the flush's error", err)
		}
		if delivered != 0 {
			t.Errorf("%d groups delivered after a failed flush", delivered)
		}
		if err := com.Submit(ctx, p); !errors.Is(err, boom) {
			t.Errorf("submit after the failure: %v, want the failure", err)
		}
		_, n, err := f.instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &f.batch.Project.ID})
		if err != nil || n != 0 {
			t.Errorf("%d records after a failed commit (%v), want none", n, err)
		}
	})
	t.Run("groups_drained_after_a_failure_leave_no_blobs", func(t *testing.T) {
		f := setup(t)
		boom := errors.New("disk on fire")
		gb := &gatedBlobs{Store: f.blobs, gate: make(chan struct{}), entered: make(chan struct{}), fail: boom}
		f.ing.Blobs = gb
		com := f.ing.NewCommitter(ctx, 4, func(*collection.Prepared, []*collection.Result) error { return nil })
		for i, items := range committerGroups(t, f) {
			p, err := f.ing.Prepare(ctx, f.batch, items)
			if err != nil {
				t.Fatal(err)
			}
			if err := com.Submit(ctx, p); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				<-gb.entered // the first commit is under way; the rest queue behind it
			}
		}
		close(gb.gate) // the first commit fails; the three queued groups are drained
		if err := com.Close(); !errors.Is(err, boom) {
			t.Fatalf("close: %v, want the flush's error", err)
		}
		// Every stored instance of the failed group is the same file as
		// one of a drained group (the store keeps one blob for both):
		// nothing names any blob now, and none is left.
		if n := countBlobs(t, f.blobs); n != 0 {
			t.Errorf("%d blob files left by groups never recorded, want 0", n)
		}
	})
	t.Run("a_failed_commit_leaves_no_blobs", func(t *testing.T) {
		f := setup(t)
		boom := errors.New("disk on fire")
		gate := make(chan struct{})
		close(gate)
		f.ing.Blobs = &gatedBlobs{Store: f.blobs, gate: gate, entered: make(chan struct{}), fail: boom}
		p, err := f.ing.Prepare(ctx, f.batch, committerGroups(t, f)[1]) // a stored CT and a quarantined XA
		if err != nil {
			t.Fatal(err)
		}
		if n := countBlobs(t, f.blobs); n != 1 {
			t.Fatalf("%d blob files after Prepare, want 1", n)
		}
		if _, err := f.ing.Commit(ctx, p); !errors.Is(err, boom) {
			t.Fatalf("commit: %v, want the flush's error", err)
		}
		if n := countBlobs(t, f.blobs); n != 0 {
			t.Errorf("%d blob files left by a group whose commit failed before any record, want 0", n)
		}
	})
	t.Run("discard_keeps_a_blob_another_group_holds", func(t *testing.T) {
		f := setup(t)
		items := committerGroups(t, f)[0] // a stored CT and a quarantined MR
		kept, err := f.ing.Prepare(ctx, f.batch, items)
		if err != nil {
			t.Fatal(err)
		}
		dropped, err := f.ing.Prepare(ctx, f.batch, items) // the same CT again: the same blob
		if err != nil {
			t.Fatal(err)
		}
		f.ing.Discard(ctx, dropped)
		if n := countBlobs(t, f.blobs); n != 1 {
			t.Fatalf("%d blob files after discarding one of two groups holding the blob, want 1", n)
		}
		res, err := f.ing.Commit(ctx, kept)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readBlob(f, *res[0][0].Instance.Blob); err != nil {
			t.Fatalf("recorded instance's blob: %v", err)
		}
		f.ing.Discard(ctx, kept) // committed: nothing to give up
		if n := countBlobs(t, f.blobs); n != 1 {
			t.Fatalf("%d blob files after a discard of a committed group, want 1", n)
		}
	})
}

// countBlobs counts the blob files in a fileblob store, once the
// deferred puts still completing in the background (renaming their files
// into place) are done.
func countBlobs(t *testing.T, s *fileblob.Store) int {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && len(d.Name()) == 64 {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readBlob(f *fixture, ref ethos.BlobRef) ([]byte, error) {
	rc, err := f.blobs.Open(context.Background(), ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// gatedFind holds the Ingester's check that no record names a blob it
// is about to delete (a FindInstances by blob digest), once, after the
// check: it closes checked and waits for resume, or for a while, since
// an ingest that (correctly) waits for the discard cannot signal.
type gatedFind struct {
	ethos.InstanceService
	once    sync.Once
	checked chan struct{}
	resume  chan struct{}
}

func (g *gatedFind) FindInstances(ctx context.Context, f ethos.InstanceFilter) ([]*ethos.Instance, int, error) {
	ins, n, err := g.InstanceService.FindInstances(ctx, f)
	if f.BlobDigest != nil {
		g.once.Do(func() {
			close(g.checked)
			select {
			case <-g.resume:
			case <-time.After(500 * time.Millisecond):
			}
		})
	}
	return ins, n, err
}

// TestDiscardRacingIngestOfSameFile checks that a discarded group's blob
// is not deleted under an ingest of the same file that began after the
// discard found no record naming the blob: that ingest's put finds the
// blob in place, keeps it, and records it, so deleting it then would
// leave a record naming a blob that is gone.
func TestDiscardRacingIngestOfSameFile(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	items := committerGroups(t, f)[0] // a stored CT and a quarantined MR
	dropped, err := f.ing.Prepare(ctx, f.batch, items)
	if err != nil {
		t.Fatal(err)
	}
	data := items[0].Data
	gf := &gatedFind{InstanceService: f.instances, checked: make(chan struct{}), resume: make(chan struct{})}
	f.ing.Instances = gf
	discarded := make(chan struct{})
	go func() {
		defer close(discarded)
		f.ing.Discard(ctx, dropped)
	}()
	<-gf.checked // the discard found no record naming the blob
	res, err := f.ing.IngestBytes(ctx, f.batch, items[0].Source, data)
	close(gf.resume)
	<-discarded
	if err != nil {
		t.Fatal(err)
	}
	if res.Instance.Status != ethos.InstanceStored {
		t.Fatalf("instance %s, want stored", res.Instance.Status)
	}
	if _, err := readBlob(f, *res.Instance.Blob); err != nil {
		t.Fatalf("the recorded instance's blob: %v", err)
	}
}
