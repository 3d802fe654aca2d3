// Package audittest is the conformance suite for audit.Storage
// implementations. Every store (the in-memory one, SQLite, PostgreSQL)
// runs the same suite:
//
//	func TestAuditStorage(t *testing.T) {
//		audittest.Run(t, func(t *testing.T) audit.Storage { return openStore(t) })
//	}
//
// and, when the test can reach the store's rows behind its back (as an
// attacker with database access would), the tamper suite:
//
//	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) { … })
package audittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// Tamperer edits a store's rows directly, bypassing the Storage API, the
// way someone with the database file and the sqlite3 tool could.
type Tamperer interface {
	// SetLeaf overwrites the leaf row at index (UPDATE).
	SetLeaf(ctx context.Context, index int64, leaf []byte) error
	// DeleteLeaf removes the leaf row at index (DELETE).
	DeleteLeaf(ctx context.Context, index int64) error
	// InsertLeaf renumbers the leaf rows at index and above one up and
	// puts leaf at index.
	InsertLeaf(ctx context.Context, index int64, leaf []byte) error
	// SetHash overwrites the stored-hash row at a stored-hash index.
	SetHash(ctx context.Context, index int64, h tlog.Hash) error
}

// MemTamperer adapts audit.MemStorage's Tamper methods to Tamperer.
type MemTamperer struct{ M *audit.MemStorage }

func (t MemTamperer) SetLeaf(ctx context.Context, i int64, l []byte) error {
	return t.M.TamperSetLeaf(ctx, i, l)
}
func (t MemTamperer) DeleteLeaf(ctx context.Context, i int64) error {
	return t.M.TamperDeleteLeaf(ctx, i)
}
func (t MemTamperer) InsertLeaf(ctx context.Context, i int64, l []byte) error {
	return t.M.TamperInsertLeaf(ctx, i, l)
}
func (t MemTamperer) SetHash(ctx context.Context, i int64, h tlog.Hash) error {
	return t.M.TamperSetHash(ctx, i, h)
}

// Key is a signer/verifier key pair for tests.
type Key struct {
	Signer   string
	Verifier string
}

var (
	keyOnce sync.Once
	key     Key
)

// TestKey returns a key pair generated once per test binary.
func TestKey(tb testing.TB) Key {
	tb.Helper()
	keyOnce.Do(func() {
		s, v, err := audit.GenerateKey("ethos-audit-test")
		if err != nil {
			panic(err)
		}
		key = Key{s, v}
	})
	return key
}

// Event returns a deterministic event number i (no patient data: ids
// are synthetic).
func Event(i int) audit.Event {
	decision := audit.Allow
	if i%3 == 0 {
		decision = audit.Deny
	}
	return audit.Event{
		Time:      time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1001 * time.Microsecond),
		Actor:     fmt.Sprintf("user-%d", i%17),
		Party:     fmt.Sprintf("party-%d", i%5),
		Action:    "access.decide",
		Resource:  fmt.Sprintf("project/p%d", i%7),
		Stage:     "training",
		Purpose:   "ai-training",
		Decision:  decision,
		Reason:    "matrix:training/private=limited; DUA d-42 covers stage and purpose",
		RequestID: fmt.Sprintf("req-%08d", i),
	}
}

// MustLog opens a Log over s with the test key, a fixed clock and a
// silent logger; it is closed when the test ends.
func MustLog(tb testing.TB, s audit.Storage) *audit.Log {
	tb.Helper()
	signer, err := audit.NewSigner(TestKey(tb).Signer)
	if err != nil {
		tb.Fatal(err)
	}
	l := audit.NewLog(s, signer)
	l.Now = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	l.Logger = slog.New(slog.DiscardHandler)
	if err := l.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// Fill appends events 0..n-1 through a Log in batches of 100, signs a
// checkpoint and returns the Log.
func Fill(tb testing.TB, s audit.Storage, n int) *audit.Log {
	tb.Helper()
	ctx := context.Background()
	l := MustLog(tb, s)
	for i := 0; i < n; i += 100 {
		var evs []audit.Event
		for j := i; j < min(n, i+100); j++ {
			evs = append(evs, Event(j))
		}
		if _, err := l.AppendBatch(ctx, evs); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		tb.Fatal(err)
	}
	return l
}

func leaf(tb testing.TB, i int) []byte {
	tb.Helper()
	e := Event(i)
	b, err := e.MarshalCanonical()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// storedHashes computes the tlog stored hashes of leaves [0, n) of the
// test events, with tlog itself, as the reference for the store.
func storedHashes(tb testing.TB, n int) []tlog.Hash {
	tb.Helper()
	var all []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = all[x]
		}
		return out, nil
	})
	for i := 0; i < n; i++ {
		hs, err := tlog.StoredHashes(int64(i), leaf(tb, i), r)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, hs...)
	}
	return all
}

// Run runs the conformance suite. newStorage must return a new, empty
// store each time it is called.
func Run(t *testing.T, newStorage func(t *testing.T) audit.Storage) {
	ctx := context.Background()

	t.Run("EmptyStore", func(t *testing.T) {
		s := newStorage(t)
		n, err := s.Size(ctx)
		if err != nil || n != 0 {
			t.Fatalf("Size = %d, %v; want 0, nil", n, err)
		}
		cp, err := s.LatestCheckpoint(ctx)
		if err != nil || cp != nil {
			t.Fatalf("LatestCheckpoint = %q, %v; want nil, nil", cp, err)
		}
		if _, err := s.Leaves(ctx, 0, 1); !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("Leaves(0,1) on empty store: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Hashes(ctx, []int64{0}); !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("Hashes([0]) on empty store: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("AppendReadsBack", func(t *testing.T) {
		s := newStorage(t)
		const n = 37
		want := storedHashes(t, n)
		// Two appends, the second starting where the first ended.
		var leaves [][]byte
		for i := range n {
			leaves = append(leaves, leaf(t, i))
		}
		h10 := tlog.StoredHashCount(10)
		if err := s.Append(ctx, 0, leaves[:10], 0, want[:h10]); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, 10, leaves[10:], h10, want[h10:]); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Size(ctx); err != nil || got != n {
			t.Fatalf("Size = %d, %v; want %d", got, err, n)
		}
		got, err := s.Leaves(ctx, 3, 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 27 {
			t.Fatalf("Leaves(3,30) returned %d leaves, want 27", len(got))
		}
		for i, l := range got {
			if !bytes.Equal(l, leaves[3+i]) {
				t.Fatalf("leaf %d differs after read back", 3+i)
			}
		}
		if _, err := s.Leaves(ctx, 30, n+1); !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("Leaves past the end: err = %v, want ErrNotFound", err)
		}
		idx := []int64{5, 0, int64(len(want) - 1), 17}
		hs, err := s.Hashes(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range idx {
			if hs[i] != want[x] {
				t.Fatalf("stored hash %d differs after read back", x)
			}
		}
		if _, err := s.Hashes(ctx, []int64{int64(len(want))}); !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("Hashes past the end: err = %v, want ErrNotFound", err)
		}

		var scanned []int64
		err = s.ScanLeaves(ctx, 4, 9, func(i int64, l []byte) error {
			if !bytes.Equal(l, leaves[i]) {
				return fmt.Errorf("scanned leaf %d differs", i)
			}
			scanned = append(scanned, i)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(scanned) != "[4 5 6 7 8]" {
			t.Fatalf("ScanLeaves(4,9) visited %v", scanned)
		}
		var nh int64
		err = s.ScanHashes(ctx, 0, 1<<40, func(i int64, h tlog.Hash) error {
			if i != nh || h != want[i] {
				return fmt.Errorf("scanned stored hash %d (expected index %d) differs", i, nh)
			}
			nh++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if nh != int64(len(want)) {
			t.Fatalf("ScanHashes visited %d hashes, want %d", nh, len(want))
		}
		stop := errors.New("stop")
		calls := 0
		err = s.ScanLeaves(ctx, 0, n, func(int64, []byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ScanLeaves with a failing callback: err = %v after %d calls, want stop after 1", err, calls)
		}
	})

	t.Run("ErrConflictWritesNothing", func(t *testing.T) {
		s := newStorage(t)
		want := storedHashes(t, 6)
		l := [][]byte{leaf(t, 0), leaf(t, 1), leaf(t, 2)}
		h3 := tlog.StoredHashCount(3)
		if err := s.Append(ctx, 0, l, 0, want[:h3]); err != nil {
			t.Fatal(err)
		}
		more := [][]byte{leaf(t, 3), leaf(t, 4), leaf(t, 5)}
		for _, tc := range []struct {
			name             string
			start, hashStart int64
		}{
			{"LeafStartBehind", 2, h3},
			{"LeafStartAhead", 4, h3},
			{"HashStartWrong", 3, h3 + 1},
			{"RetryOfCommitted", 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := s.Append(ctx, tc.start, more, tc.hashStart, want[h3:])
				if !errors.Is(err, audit.ErrConflict) {
					t.Fatalf("Append(start=%d, hashStart=%d): err = %v, want ErrConflict", tc.start, tc.hashStart, err)
				}
				if n, _ := s.Size(ctx); n != 3 {
					t.Fatalf("Size after a refused append = %d, want 3", n)
				}
				if _, err := s.Hashes(ctx, []int64{h3}); !errors.Is(err, audit.ErrNotFound) {
					t.Fatalf("a refused append left a stored hash behind (err = %v)", err)
				}
				for _, i := range []int64{3, 4, 5} {
					if _, err := s.Leaves(ctx, i, i+1); !errors.Is(err, audit.ErrNotFound) {
						t.Fatalf("a refused append left leaf %d behind (err = %v)", i, err)
					}
				}
			})
		}
		if err := s.Append(ctx, 3, more, h3, want[h3:]); err != nil {
			t.Fatalf("the right append after refused ones: %v", err)
		}
	})

	t.Run("CheckpointsLatestBySize", func(t *testing.T) {
		s := newStorage(t)
		for _, n := range []int64{3, 9, 5} {
			if err := s.PutCheckpoint(ctx, n, fmt.Appendf(nil, "cp %d", n)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LatestCheckpoint(ctx)
		if err != nil || string(got) != "cp 9" {
			t.Fatalf("LatestCheckpoint = %q, %v; want \"cp 9\"", got, err)
		}
		if err := s.PutCheckpoint(ctx, 9, []byte("cp 9 again")); err != nil {
			t.Fatal(err)
		}
		got, err = s.LatestCheckpoint(ctx)
		if err != nil || string(got) != "cp 9 again" {
			t.Fatalf("after replacing: LatestCheckpoint = %q, %v", got, err)
		}
	})

	t.Run("LogVerifiesAndProves", func(t *testing.T) {
		s := newStorage(t)
		k := TestKey(t)
		l := Fill(t, s, 300)
		rep, err := audit.Verify(ctx, s, k.Verifier, audit.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != 300 || rep.CheckpointSize != 300 || rep.Unsigned != 0 {
			t.Fatalf("report = %+v, want 300 events all signed", rep)
		}
		cp, _ := s.LatestCheckpoint(ctx)
		p, err := l.InclusionProof(ctx, 123, 300)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(p, leaf(t, 123), cp, k.Verifier); err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(p, leaf(t, 124), cp, k.Verifier); !errors.Is(err, audit.ErrProof) {
			t.Fatalf("inclusion of the wrong event: err = %v, want ErrProof", err)
		}
	})

	t.Run("ConcurrentAppends", func(t *testing.T) {
		s := newStorage(t)
		l := MustLog(t, s)
		const workers, each = 8, 40
		var wg sync.WaitGroup
		seen := make([]bool, workers*each)
		var mu sync.Mutex
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					idx, err := l.Append(ctx, Event(w*each+i))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seen[idx] {
						mu.Unlock()
						errs <- fmt.Errorf("index %d acknowledged twice", idx)
						return
					}
					seen[idx] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Verify(ctx, s, TestKey(t).Verifier, audit.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// RunTamper runs the tampering suite: each case fills a fresh store with
// 100 signed events and 10 more not yet covered by a checkpoint, edits
// rows with the Tamperer, and expects Verify to fail naming the first bad
// index.
func RunTamper(t *testing.T, newStorage func(t *testing.T) (audit.Storage, Tamperer)) {
	ctx := context.Background()
	const signed, n = 100, 110
	forged := func(t *testing.T) []byte {
		e := Event(7)
		e.Reason = "forged"
		b, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, tm Tamperer) error
		deep   bool  // run Verify with Deep
		index  int64 // first bad index expected
	}{
		{"ModifiedEvent", func(t *testing.T, tm Tamperer) error { return tm.SetLeaf(ctx, 42, forged(t)) }, false, 42},
		{"ModifiedFirstEvent", func(t *testing.T, tm Tamperer) error { return tm.SetLeaf(ctx, 0, forged(t)) }, false, 0},
		{"ModifiedLastSignedEvent", func(t *testing.T, tm Tamperer) error { return tm.SetLeaf(ctx, signed-1, forged(t)) }, false, signed - 1},
		{"ModifiedUnsignedEvent", func(t *testing.T, tm Tamperer) error { return tm.SetLeaf(ctx, 104, forged(t)) }, false, 104},
		{"DeletedEvent", func(t *testing.T, tm Tamperer) error { return tm.DeleteLeaf(ctx, 57) }, false, 57},
		{"DeletedLastEvent", func(t *testing.T, tm Tamperer) error { return tm.DeleteLeaf(ctx, n-1) }, false, n - 1},
		{"DeletedSignedTail", func(t *testing.T, tm Tamperer) error {
			for i := int64(n - 1); i >= signed-3; i-- {
				if err := tm.DeleteLeaf(ctx, i); err != nil {
					return err
				}
			}
			return nil
		}, false, signed - 3},
		{"InsertedEvent", func(t *testing.T, tm Tamperer) error { return tm.InsertLeaf(ctx, 13, forged(t)) }, false, 13},
		{"AppendedEventWithoutHash", func(t *testing.T, tm Tamperer) error { return tm.SetLeaf(ctx, n, forged(t)) }, false, n},
		{"ReorderedEvents", func(t *testing.T, tm Tamperer) error {
			if err := tm.SetLeaf(ctx, 61, leaf(t, 70)); err != nil {
				return err
			}
			return tm.SetLeaf(ctx, 70, leaf(t, 61))
		}, false, 61},
		{"NotCanonicalEvent", func(t *testing.T, tm Tamperer) error {
			return tm.SetLeaf(ctx, 30, append(leaf(t, 30), ' '))
		}, false, 30},
		{"ModifiedInteriorHashDeep", func(t *testing.T, tm Tamperer) error {
			return tm.SetHash(ctx, tlog.StoredHashIndex(2, 5), tlog.Hash{1})
		}, true, 20},
		{"ModifiedTreeEdgeHash", func(t *testing.T, tm Tamperer) error {
			// The 110-event tree's edge holds the subtree over events 96..103.
			return tm.SetHash(ctx, tlog.StoredHashIndex(3, 12), tlog.Hash{1})
		}, false, 96},
		{"EventAndLeafHashRewritten", func(t *testing.T, tm Tamperer) error {
			// Rewriting a leaf and its leaf hash still leaves the parent
			// hashes stale: the first stale parent names the subtree.
			f := forged(t)
			if err := tm.SetLeaf(ctx, 8, f); err != nil {
				return err
			}
			return tm.SetHash(ctx, tlog.StoredHashIndex(0, 8), tlog.RecordHash(f))
		}, false, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, tm := newStorage(t)
			l := Fill(t, s, signed)
			for i := signed; i < n; i++ {
				if _, err := l.Append(ctx, Event(i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := audit.Verify(ctx, s, TestKey(t).Verifier, audit.VerifyOptions{Deep: true}); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if err := tc.tamper(t, tm); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(ctx, s, TestKey(t).Verifier, audit.VerifyOptions{Deep: tc.deep})
			ve, ok := errors.AsType[*audit.VerifyError](err)
			if !ok {
				t.Fatalf("Verify after tampering: err = %v, want a *audit.VerifyError", err)
			}
			if ve.Index != tc.index {
				t.Fatalf("Verify named index %d (%v), want %d", ve.Index, err, tc.index)
			}
			if !errors.Is(err, audit.ErrTampered) {
				t.Fatalf("err = %v does not match ErrTampered", err)
			}
		})
	}
}
