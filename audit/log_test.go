package audit_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"golang.org/x/mod/sumdb/tlog"
)

// gate is a Storage that can hold an Append until released, and counts
// the Appends and their sizes.
type gate struct {
	*audit.MemStorage
	mu      sync.Mutex
	hold    chan struct{} // when non-nil, the next Append waits on it
	entered chan struct{} // closed when a held Append has started
	batches []int
	sizeErr error
}

func newGate() *gate { return &gate{MemStorage: audit.NewMemStorage()} }

// holdNext makes the next Append wait until the returned func is called;
// it returns after that Append has started only when waitEntered is used.
func (g *gate) holdNext() (release func(), entered <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = make(chan struct{})
	g.entered = make(chan struct{})
	h := g.hold
	return func() { close(h) }, g.entered
}

func (g *gate) Append(ctx context.Context, start int64, leaves [][]byte, hs int64, hashes []tlog.Hash) error {
	g.mu.Lock()
	hold, entered := g.hold, g.entered
	g.hold = nil
	g.batches = append(g.batches, len(leaves))
	g.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	return g.MemStorage.Append(ctx, start, leaves, hs, hashes)
}

func (g *gate) Size(ctx context.Context) (int64, error) {
	g.mu.Lock()
	err := g.sizeErr
	g.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return g.MemStorage.Size(ctx)
}

func (g *gate) appends() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.batches...)
}

// waitPending spins until n appends are queued behind the held batch.
func waitPending(l *audit.Log, n int) {
	for l.Pending() < n {
		runtime.Gosched()
	}
}

type result struct {
	idx int64
	err error
}

// appendN starts n concurrent appends of events base..base+n-1.
func appendN(ctx context.Context, l *audit.Log, base, n int) <-chan result {
	out := make(chan result, n)
	for i := range n {
		go func() {
			idx, err := l.Append(ctx, audittest.Event(base+i))
			out <- result{idx, err}
		}()
	}
	return out
}

func TestGroupCommitOneAppendPerBatch(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	l := audittest.MustLog(t, g)
	release, entered := g.holdNext()
	first := appendN(ctx, l, 0, 1)
	<-entered
	const n = 50
	rest := appendN(ctx, l, 1, n)
	waitPending(l, n)
	release()
	if r := <-first; r.err != nil || r.idx != 0 {
		t.Fatalf("first append = %d, %v; want 0, nil", r.idx, r.err)
	}
	seen := map[int64]bool{}
	for range n {
		r := <-rest
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.idx < 1 || r.idx > n || seen[r.idx] {
			t.Fatalf("index %d out of range or repeated", r.idx)
		}
		seen[r.idx] = true
	}
	if got := g.appends(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Fatalf("storage appends = %v, want [1 %d]: the %d waiting events in one transaction", got, n, n)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, g, audittest.TestKey(t).Verifier, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestGroupCommitMaxBatch(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	signer, _ := audit.NewSigner(audittest.TestKey(t).Signer)
	l := audit.NewLog(g, signer)
	l.MaxBatch = 8
	if err := l.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release, entered := g.holdNext()
	first := appendN(ctx, l, 0, 1)
	<-entered
	rest := appendN(ctx, l, 1, 20)
	waitPending(l, 20)
	release()
	<-first
	for range 20 {
		if r := <-rest; r.err != nil {
			t.Fatal(r.err)
		}
	}
	for _, b := range g.appends() {
		if b > 8 {
			t.Fatalf("a storage append carried %d events, MaxBatch is 8", b)
		}
	}
}

func TestFailedBatchFailsAllItsCallers(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	l := audittest.MustLog(t, g)
	boom := errors.New("disk full")
	release, entered := g.holdNext()
	first := appendN(ctx, l, 0, 1)
	<-entered
	g.FailAppend = func(start int64, n int) error {
		if start == 1 {
			return boom
		}
		return nil
	}
	rest := appendN(ctx, l, 1, 10)
	waitPending(l, 10)
	release()
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	for range 10 {
		if r := <-rest; !errors.Is(r.err, boom) {
			t.Fatalf("caller of the failed batch got %d, %v; want the storage error", r.idx, r.err)
		}
	}
	if l.Size() != 1 {
		t.Fatalf("Size after a failed batch = %d, want 1", l.Size())
	}
	// The log goes on from where storage is.
	g.FailAppend = nil
	idx, err := l.Append(ctx, audittest.Event(99))
	if err != nil || idx != 1 {
		t.Fatalf("append after the failure = %d, %v; want 1, nil", idx, err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, g, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if err != nil || rep.Size != 2 {
		t.Fatalf("Verify = %+v, %v; want 2 events", rep, err)
	}
}

func TestErrBrokenWhenStorageCannotBeReread(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	l := audittest.MustLog(t, g)
	g.FailAppend = func(int64, int) error { return errors.New("io error") }
	g.mu.Lock()
	g.sizeErr = errors.New("database gone")
	g.mu.Unlock()
	if _, err := l.Append(ctx, audittest.Event(0)); err == nil {
		t.Fatal("append on a failing storage succeeded")
	}
	g.FailAppend = nil
	if _, err := l.Append(ctx, audittest.Event(1)); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("append after losing track of storage: err = %v, want ErrBroken", err)
	}
}

func TestCloseFlushesQueuedAppends(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	signer, _ := audit.NewSigner(audittest.TestKey(t).Signer)
	l := audit.NewLog(g, signer)
	if err := l.Open(ctx); err != nil {
		t.Fatal(err)
	}
	release, entered := g.holdNext()
	first := appendN(ctx, l, 0, 1)
	<-entered
	rest := appendN(ctx, l, 1, 30)
	waitPending(l, 30)
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	<-first
	for range 30 {
		if r := <-rest; r.err != nil {
			t.Fatalf("queued append lost at Close: %v", r.err)
		}
	}
	rep, err := audit.Verify(ctx, g, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 31 || rep.CheckpointSize != 31 {
		t.Fatalf("after Close: %d events, checkpoint %d; want 31 and a final checkpoint", rep.Size, rep.CheckpointSize)
	}
	if _, err := l.Append(ctx, audittest.Event(0)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("append after Close: err = %v, want ErrClosed", err)
	}
}

func TestCanceledWhileQueuedIsNotWritten(t *testing.T) {
	g := newGate()
	l := audittest.MustLog(t, g)
	release, entered := g.holdNext()
	first := appendN(context.Background(), l, 0, 1)
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	queued := appendN(ctx, l, 1, 1)
	waitPending(l, 1)
	cancel()
	if r := <-queued; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled append: err = %v", r.err)
	}
	release()
	<-first
	// The next append is acknowledged after the dropped one was handled.
	if idx, err := l.Append(context.Background(), audittest.Event(2)); err != nil || idx != 1 {
		t.Fatalf("next append = %d, %v; want 1 (the canceled event was dropped)", idx, err)
	}
}

func TestLogStampsTimeFromClock(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	signer, _ := audit.NewSigner(audittest.TestKey(t).Signer)
	l := audit.NewLog(s, signer)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	l.Now = func() time.Time { return now }
	if err := l.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := audittest.Event(1)
	e.Time = time.Time{}
	if _, err := l.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	kept := audittest.Event(2)
	if _, err := l.AppendBatch(ctx, []audit.Event{e, kept}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Leaves(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Time{now, now, kept.Time} {
		ev, err := audit.DecodeEvent(got[i])
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Time.Equal(want) {
			t.Fatalf("event %d time = %v, want %v", i, ev.Time, want)
		}
	}
}

func TestAppendBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	l := audittest.MustLog(t, s)
	bad := audittest.Event(2)
	bad.Actor = ""
	_, err := l.AppendBatch(ctx, []audit.Event{audittest.Event(1), bad})
	if _, ok := errors.AsType[*audit.EventError](err); !ok {
		t.Fatalf("err = %v, want *audit.EventError", err)
	}
	if n, _ := s.Size(ctx); n != 0 {
		t.Fatalf("a refused batch wrote %d events", n)
	}
	first, err := l.AppendBatch(ctx, []audit.Event{audittest.Event(1), audittest.Event(2), audittest.Event(3)})
	if err != nil || first != 0 || l.Size() != 3 {
		t.Fatalf("AppendBatch = %d, %v (size %d); want 0, nil, 3", first, err, l.Size())
	}
}

func TestReopenAndProveGrowth(t *testing.T) {
	ctx := context.Background()
	k := audittest.TestKey(t)
	s := audit.NewMemStorage()
	l := audittest.Fill(t, s, 50)
	saved, _ := s.LatestCheckpoint(ctx)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := audittest.MustLog(t, s)
	for i := 50; i < 80; i++ {
		if idx, err := l2.Append(ctx, audittest.Event(i)); err != nil || idx != int64(i) {
			t.Fatalf("append after reopen = %d, %v; want %d", idx, err, i)
		}
	}
	latest, err := l2.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, s, k.Verifier, audit.VerifyOptions{Checkpoint: saved})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 80 || rep.SavedSize != 50 {
		t.Fatalf("report = %+v", rep)
	}
	p, err := l2.ConsistencyProof(ctx, 50, 80)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(p, saved, latest, k.Verifier); err != nil {
		t.Fatal(err)
	}

	t.Run("ErrTamperedForkedLog", func(t *testing.T) {
		// Another log under the same key whose event 20 differs: its
		// checkpoint at 50 must not be accepted as a prefix of this log.
		other := audit.NewMemStorage()
		ol := audittest.MustLog(t, other)
		for i := range 50 {
			e := audittest.Event(i)
			if i == 20 {
				e.Decision = audit.Allow
				e.Reason = "rewritten"
			}
			if _, err := ol.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		forked, err := ol.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = audit.Verify(ctx, s, k.Verifier, audit.VerifyOptions{Checkpoint: forked})
		if !errors.Is(err, audit.ErrTampered) {
			t.Fatalf("Verify against a forked saved checkpoint: err = %v, want ErrTampered", err)
		}
		if err := audit.VerifyConsistency(p, forked, latest, k.Verifier); !errors.Is(err, audit.ErrProof) {
			t.Fatalf("VerifyConsistency from a fork: err = %v, want ErrProof", err)
		}
	})
}

func TestOpenAfterCrashSignsTheStoredTail(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	l := audittest.Fill(t, s, 20)
	// Events appended but never checkpointed, as before a kill -9.
	for i := 20; i < 35; i++ {
		if _, err := l.Append(ctx, audittest.Event(i)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if err != nil || rep.Unsigned != 15 {
		t.Fatalf("before reopening: %+v, %v; want 15 unsigned events", rep, err)
	}
	audittest.MustLog(t, s) // a new process opens the same storage
	rep, err = audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{})
	if err != nil || rep.Unsigned != 0 || rep.CheckpointSize != 35 {
		t.Fatalf("after reopening: %+v, %v; want a checkpoint over all 35", rep, err)
	}
}

func TestOpenRefusesStoreThatDisagreesWithItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	l := audittest.Fill(t, s, 16)
	l.Close()
	// The root of 16 leaves is the level-4 stored hash.
	if err := s.TamperSetHash(ctx, tlog.StoredHashIndex(4, 0), tlog.Hash{9}); err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(audittest.TestKey(t).Signer)
	err := audit.NewLog(s, signer).Open(ctx)
	if !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("Open on a store whose hashes contradict its checkpoint: err = %v, want ErrTampered", err)
	}
}

func TestPeriodicCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	signer, _ := audit.NewSigner(audittest.TestKey(t).Signer)
	l := audit.NewLog(s, signer)
	l.CheckpointInterval = time.Millisecond
	if err := l.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, audittest.Event(0)); err != nil {
		t.Fatal(err)
	}
	for {
		cp, _ := s.LatestCheckpoint(ctx)
		if c, err := audit.OpenCheckpoint(cp, audittest.TestKey(t).Verifier); err == nil && c.Size == 1 {
			return
		}
		runtime.Gosched()
	}
}

func TestVerifyWhileAppending(t *testing.T) {
	ctx := context.Background()
	s := audit.NewMemStorage()
	l := audittest.Fill(t, s, 100)
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for i := 100; ; i++ {
			if i == 3000 { // bounded, whatever the machine's speed
				<-stop
				done <- nil
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := l.Append(ctx, audittest.Event(i)); err != nil {
				done <- err
				return
			}
			if i%50 == 0 {
				if _, err := l.Checkpoint(ctx); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	for range 20 {
		if _, err := audit.Verify(ctx, s, audittest.TestKey(t).Verifier, audit.VerifyOptions{}); err != nil {
			t.Errorf("Verify during appends: %v", err)
			break
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
