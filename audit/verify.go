package audit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions tunes Verify and VerifyExport.
type VerifyOptions struct {
	// Checkpoint is a signed checkpoint the auditor saved earlier (from
	// this log). When set, the verifier proves the log only grew since:
	// the recomputed tree over its first Checkpoint.Size events must have
	// the saved root.
	Checkpoint []byte
	// SkipDecode skips checking that every leaf is a canonical event
	// (DecodeEvent); the hashes are checked either way.
	SkipDecode bool
	// Deep compares every stored hash (leaf and interior) with the one
	// recomputed from the events, not only those after the latest
	// checkpoint and on the tree edge. It reads about three rows per
	// event instead of one.
	Deep bool
}

// Report describes a log that verified.
type Report struct {
	// Size is the number of events read and verified.
	Size int64 `json:"size"`
	// Checkpoint is the latest signed checkpoint, whose signature and root
	// matched. Zero (Size 0, empty Origin) when the log is empty and was
	// never checkpointed.
	Checkpoint Checkpoint `json:"-"`
	// CheckpointSize is Checkpoint.Size, for JSON.
	CheckpointSize int64 `json:"checkpoint_size"`
	// Unsigned counts the events after the latest checkpoint: they match
	// the stored hashes but no signature covers them yet.
	Unsigned int64 `json:"unsigned"`
	// Saved is the auditor's saved checkpoint when one was given; the log
	// was proven to extend it.
	Saved *Checkpoint `json:"-"`
	// SavedSize is Saved.Size, or -1 without one.
	SavedSize int64 `json:"saved_size"`
	// Root is the recomputed root hash over all Size events.
	Root tlog.Hash `json:"root"`
}

// ErrTampered is matched (errors.Is) by every VerifyError.
var ErrTampered = errors.New("audit: log does not verify")

// VerifyError reports the first place where a log does not verify.
type VerifyError struct {
	// Index is the first event found bad (modified, missing, inserted,
	// reordered), or -1 when the damage cannot be placed on one event
	// (for example leaves and stored hashes rewritten together: only the
	// signed root tells, and it covers the whole tree).
	Index int64
	// Reason says what was found, without quoting event contents.
	Reason string
	// Err is an underlying error, such as a *DecodeError.
	Err error
}

func (e *VerifyError) Error() string {
	msg := "audit: verify: "
	if e.Index >= 0 {
		msg += fmt.Sprintf("event %d: ", e.Index)
	}
	msg += e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTampered) true for every VerifyError.
func (e *VerifyError) Is(target error) bool { return target == ErrTampered }

func badf(index int64, format string, args ...any) *VerifyError {
	return &VerifyError{Index: index, Reason: fmt.Sprintf(format, args...)}
}

// treeBuilder recomputes an RFC 6962 tree leaf by leaf, producing the tlog
// stored hashes in stored-hash order, with O(log n) memory.
type treeBuilder struct {
	n     int64 // leaves added
	next  int64 // stored-hash index of the next hash produced
	stack []treeNode
	// stored, if set, is called with every stored hash produced: its
	// stored-hash index, level, the leaf that completed it and its value.
	stored func(idx int64, level int, leaf int64, h tlog.Hash) error
}

type treeNode struct {
	level int
	h     tlog.Hash
}

func (b *treeBuilder) add(leafHash tlog.Hash) error {
	leaf := b.n
	b.n++
	b.stack = append(b.stack, treeNode{0, leafHash})
	if b.stored != nil {
		if err := b.stored(b.next, 0, leaf, leafHash); err != nil {
			return err
		}
	}
	b.next++
	for len(b.stack) >= 2 {
		r, l := b.stack[len(b.stack)-1], b.stack[len(b.stack)-2]
		if l.level != r.level {
			break
		}
		p := treeNode{l.level + 1, tlog.NodeHash(l.h, r.h)}
		b.stack = append(b.stack[:len(b.stack)-2], p)
		if b.stored != nil {
			if err := b.stored(b.next, p.level, leaf, p.h); err != nil {
				return err
			}
		}
		b.next++
	}
	return nil
}

// root returns the RFC 6962 root over the leaves added so far.
func (b *treeBuilder) root() tlog.Hash {
	if len(b.stack) == 0 {
		return tlog.RecordHash(nil) // never used: an empty tree is tlog's SHA-256("")
	}
	h := b.stack[len(b.stack)-1].h
	for i := len(b.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.stack[i].h, h)
	}
	return h
}

// emptyRoot is the RFC 6962 hash of an empty tree, SHA-256 of nothing.
func emptyRoot() tlog.Hash {
	h, _ := tlog.TreeHash(0, nil)
	return h
}

// checkpoints holds the signed heads a verifier compares the recomputed
// tree with, as it passes their sizes.
type checkpoints struct {
	latest *Checkpoint
	saved  *Checkpoint
}

// at is called once the builder holds exactly n leaves.
func (c *checkpoints) at(n int64, root func() tlog.Hash) error {
	if c.saved != nil && c.saved.Size == n {
		if root() != c.saved.Root {
			return badf(-1, "the log does not extend the saved checkpoint: its first %d events hash to another root (events before index %d were rewritten, or the log was forked)", n, n)
		}
	}
	if c.latest != nil && c.latest.Size == n {
		if root() != c.latest.Root {
			lo := int64(0)
			if c.saved != nil && c.saved.Size < n {
				lo = c.saved.Size
			}
			return badf(-1, "the first %d events do not match the latest signed checkpoint although they match the stored hashes: events and stored hashes were rewritten together, somewhere in [%d, %d)", n, lo, n)
		}
	}
	return nil
}

func (c *checkpoints) load(latest []byte, saved []byte, verifierKey string) error {
	if latest != nil {
		cp, err := OpenCheckpoint(latest, verifierKey)
		if err != nil {
			return &VerifyError{Index: -1, Reason: "latest checkpoint", Err: err}
		}
		c.latest = &cp
	}
	if saved != nil {
		cp, err := OpenCheckpoint(saved, verifierKey)
		if err != nil {
			return &VerifyError{Index: -1, Reason: "saved checkpoint", Err: err}
		}
		c.saved = &cp
		if c.latest != nil && c.latest.Size < cp.Size {
			return badf(c.latest.Size, "the saved checkpoint covers %d events but the latest signed checkpoint only %d: the log was truncated or rolled back", cp.Size, c.latest.Size)
		}
	}
	return nil
}

// leafChunk is a run of leaves on its way through Verify's pipeline.
type leafChunk struct {
	idx    []int64
	data   []byte
	ends   []int
	hashes []tlog.Hash
	bad    int // position of the first leaf that is not canonical, or -1
	badErr error
	done   chan struct{}
}

const (
	chunkLeaves = 1024
	chunkBytes  = 1 << 20
)

func (c *leafChunk) work(check bool) {
	c.hashes = c.hashes[:len(c.idx)]
	c.bad = -1
	start := 0
	for j, end := range c.ends {
		leaf := c.data[start:end]
		start = end
		if check && c.bad < 0 {
			if err := checkCanonical(leaf); err != nil {
				c.bad, c.badErr = j, err
			}
		}
		c.hashes[j] = tlog.RecordHash(leaf)
	}
	close(c.done)
}

// scanLeavesParallel streams the leaves [lo, hi) of s through workers
// that check and hash them and hands the chunks to consume in index
// order. The first error (from consume, the scan or ctx) is returned.
func scanLeavesParallel(ctx context.Context, cancel context.CancelCauseFunc, s Storage, lo, hi int64, check bool, consume func(*leafChunk) error) error {
	work := make(chan *leafChunk, 8)
	ordered := make(chan *leafChunk, 8)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for c := range work {
				c.work(check)
			}
		})
	}
	// Consumed chunks are recycled: at most cap(work)+cap(ordered)+2
	// exist at once, whatever the size of the log.
	free := make(chan *leafChunk, 20)
	consumed := make(chan error, 1)
	go func() {
		var first error
		for c := range ordered {
			<-c.done
			if first == nil {
				if err := consume(c); err != nil {
					first = err
					cancel(err)
				}
			}
			select {
			case free <- c:
			default:
			}
		}
		consumed <- first
	}()
	newChunk := func() *leafChunk {
		select {
		case c := <-free:
			c.idx, c.data, c.ends, c.hashes = c.idx[:0], c.data[:0], c.ends[:0], c.hashes[:0]
			c.bad, c.badErr, c.done = -1, nil, make(chan struct{})
			return c
		default:
		}
		return &leafChunk{
			idx:    make([]int64, 0, chunkLeaves),
			data:   make([]byte, 0, chunkBytes+MaxLeafSize),
			ends:   make([]int, 0, chunkLeaves),
			hashes: make([]tlog.Hash, 0, chunkLeaves),
			done:   make(chan struct{}),
		}
	}
	send := func(c *leafChunk) error {
		select {
		case work <- c:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		ordered <- c // the consumer drains ordered until it is closed
		return nil
	}
	cur := newChunk()
	scanErr := s.ScanLeaves(ctx, lo, hi, func(idx int64, leaf []byte) error {
		if len(leaf) > MaxLeafSize {
			leaf = leaf[:MaxLeafSize+1] // still refused by the check, bounded in memory
		}
		cur.idx = append(cur.idx, idx)
		cur.data = append(cur.data, leaf...)
		cur.ends = append(cur.ends, len(cur.data))
		if len(cur.idx) == chunkLeaves || len(cur.data) >= chunkBytes {
			if err := send(cur); err != nil {
				return err
			}
			cur = newChunk()
		}
		return nil
	})
	if scanErr == nil && len(cur.idx) > 0 {
		scanErr = send(cur)
	}
	close(work)
	close(ordered)
	wg.Wait()
	if err := <-consumed; err != nil {
		return err
	}
	return scanErr
}

// Verify checks a stored log end to end and returns a Report, or an error
// that is a *VerifyError (errors.Is ErrTampered) naming the first bad
// event when the log does not verify; other errors are read failures.
//
// It checks the latest stored checkpoint's signature against verifierKey;
// reads every leaf once (Storage.ScanLeaves; logs of 2^16 events or more
// in two ranges read concurrently), checks that indexes run 0, 1, 2…
// without gaps and that each leaf is a canonical event; recomputes the
// tree and compares its root at the checkpoint's size with the signed
// root; compares the events after the checkpoint with their stored hashes
// (nothing signs them yet); checks that the stored hashes on the tree's
// right edge, which future appends build on, give the recomputed root;
// and, with opts.Checkpoint, compares the root at the saved size with the
// saved root, which proves the log only grew.
//
// When anything does not match, a second pass compares every stored hash
// with the recomputed one (Storage.ScanHashes), in index order, to name
// the first event that differs. opts.Deep makes that comparison part of the
// first pass, which also catches stored hashes damaged under intact
// events (they would spoil proofs, not the events).
//
// A modified, reordered or inserted event shows as a leaf hash that
// differs from its stored hash; a deleted one as a gap in the indexes or
// as fewer events than signed. Events appended after Verify started are
// not examined.
func Verify(ctx context.Context, s Storage, verifierKey string, opts VerifyOptions) (*Report, error) {
	latest, err := s.LatestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: latest checkpoint: %w", err)
	}
	size, err := s.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: size: %w", err)
	}
	var cps checkpoints
	if err := cps.load(latest, opts.Checkpoint, verifierKey); err != nil {
		return nil, err
	}
	if cps.latest == nil && size > 0 {
		return nil, badf(-1, "no signed checkpoint is stored for a log of %d events", size)
	}
	rep, err := verifyPass(ctx, s, size, &cps, opts, opts.Deep)
	if err != nil && !opts.Deep {
		if _, ok := errors.AsType[*VerifyError](err); ok {
			// The fast pass knows something is wrong but may not see the
			// first bad event: a signed event shows only in the signed
			// root (no index), or in a tail hash whose subtree covers it.
			// The deep pass compares everything in index order.
			_, err2 := verifyPass(ctx, s, size, &cps, opts, true)
			if ve2, ok := errors.AsType[*VerifyError](err2); ok && ve2.Index >= 0 {
				return nil, err2
			}
		}
	}
	return rep, err
}

// splitAt is the log size from which Verify reads two ranges at once
// (a variable so tests can split small logs).
var splitAt int64 = 1 << 16

// segment is one range of leaves [lo, hi) verified by its own pipeline.
// The second segment starts at K, the largest power of two below the
// size: every tree size m in (K, size] then has root
// NodeHash(MTH[0, K), MTH[K, m)), and the segment produces exactly the
// stored hashes [StoredHashCount(K), StoredHashCount(size)).
type segment struct {
	lo, hi int64
	b      treeBuilder
	want   int64
	// for the second segment: MTH[lo, m) at the sizes checkpoints need
	roots map[int64]tlog.Hash
	err   error
}

func verifyPass(parent context.Context, s Storage, size int64, cps *checkpoints, opts VerifyOptions, deep bool) (*Report, error) {
	// Stored hashes below hashFrom are not compared in a fast pass: the
	// signed root covers what they cover.
	var hashFrom int64
	if !deep && cps.latest != nil {
		hashFrom = tlog.StoredHashCount(min(cps.latest.Size, size))
	}
	if err := cps.at(0, emptyRoot); err != nil {
		return nil, err
	}
	segs := []*segment{{lo: 0, hi: size}}
	if size >= splitAt && runtime.GOMAXPROCS(0) > 1 {
		k := int64(1) << (63 - bits.LeadingZeros64(uint64(size-1)))
		segs = []*segment{{lo: 0, hi: k}, {lo: k, hi: size, roots: map[int64]tlog.Hash{}}}
	}
	// Cancelling the first segment stops all; an error in the second only
	// stops the second (the first may still find an earlier one).
	ctx0, cancel0 := context.WithCancelCause(parent)
	defer cancel0(nil)
	ctx1, cancel1 := context.WithCancelCause(ctx0)
	defer cancel1(nil)
	var wg sync.WaitGroup
	for i, sg := range segs {
		ctx, cancel := ctx0, cancel0
		if i == 1 {
			ctx, cancel = ctx1, cancel1
		}
		wg.Go(func() {
			sg.err = sg.run(ctx, cancel, s, cps, opts, hashFrom, i == 0)
		})
	}
	wg.Wait()
	for _, sg := range segs {
		if sg.err != nil {
			return nil, sg.err
		}
	}
	// Checkpoints that fall in the second segment.
	if len(segs) == 2 {
		left := segs[0].b.root()
		for _, c := range []*Checkpoint{cps.latest, cps.saved} {
			if c == nil || c.Size <= segs[1].lo || c.Size > size {
				continue
			}
			right := segs[1].roots[c.Size]
			if err := cps.at(c.Size, func() tlog.Hash { return tlog.NodeHash(left, right) }); err != nil {
				return nil, err
			}
		}
	}
	if cps.latest != nil && cps.latest.Size > size {
		return nil, badf(size, "event missing: the latest signed checkpoint covers %d events, storage holds %d", cps.latest.Size, size)
	}
	if cps.saved != nil && cps.saved.Size > size {
		return nil, badf(size, "event missing: the saved checkpoint covers %d events, storage holds %d", cps.saved.Size, size)
	}
	root := emptyRoot()
	switch {
	case len(segs) == 2:
		root = tlog.NodeHash(segs[0].b.root(), segs[1].roots[size])
	case size > 0:
		root = segs[0].b.root()
	}
	// A leaf deleted from the end leaves its stored hashes behind (unless
	// the log grew while we read, which explains hashes beyond).
	nHashes := tlog.StoredHashCount(size)
	if now, err := s.Size(parent); err != nil {
		return nil, fmt.Errorf("audit: verify: size: %w", err)
	} else if _, err := s.Hashes(parent, []int64{nHashes}); err == nil && now == size {
		return nil, badf(size, "event missing: its stored hash is there but the leaf is not (deleted from the end)")
	}
	// The stored right edge must give the same root: appends and proofs
	// build on it.
	if !deep && size > 0 {
		edge, err := tlog.TreeHash(size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.Hashes(parent, idx) }))
		if errors.Is(err, ErrNotFound) {
			return nil, badf(-1, "stored hashes of the tree edge at %d events are missing", size)
		} else if err != nil {
			return nil, fmt.Errorf("audit: verify: tree edge: %w", err)
		}
		if edge != root {
			return nil, badf(-1, "the stored hashes of the tree edge at %d events do not give the recomputed root", size)
		}
	}
	rep := &Report{Size: size, SavedSize: -1, Root: root}
	if cps.latest != nil {
		rep.Checkpoint = *cps.latest
		rep.CheckpointSize = cps.latest.Size
		rep.Unsigned = size - cps.latest.Size
	}
	if cps.saved != nil {
		rep.Saved = cps.saved
		rep.SavedSize = cps.saved.Size
	}
	return rep, nil
}

// needed reports whether the root at tree size m is needed.
func (c *checkpoints) needed(m int64) bool {
	return (c.latest != nil && c.latest.Size == m) || (c.saved != nil && c.saved.Size == m)
}

// run verifies the segment's leaves and, from hashFrom on, its stored
// hashes. The first segment checks checkpoints as it passes them; the
// second records the roots of its part.
func (sg *segment) run(ctx context.Context, cancel context.CancelCauseFunc, s Storage, cps *checkpoints, opts VerifyOptions, hashFrom int64, first bool) error {
	hashLo, hashHi := max(hashFrom, tlog.StoredHashCount(sg.lo)), tlog.StoredHashCount(sg.hi)
	sg.b = treeBuilder{n: sg.lo, next: tlog.StoredHashCount(sg.lo)}
	sg.want = sg.lo

	// Stored hashes stream in from another goroutine, in chunks.
	type hashRow struct {
		idx int64
		h   tlog.Hash
	}
	const chunk = 4096
	chunks := make(chan []hashRow, 8)
	scanErr := make(chan error, 1)
	if hashLo < hashHi {
		go func() {
			buf := make([]hashRow, 0, chunk)
			err := s.ScanHashes(ctx, hashLo, hashHi, func(idx int64, h tlog.Hash) error {
				buf = append(buf, hashRow{idx, h})
				if len(buf) == chunk {
					select {
					case chunks <- buf:
					case <-ctx.Done():
						return context.Cause(ctx)
					}
					buf = make([]hashRow, 0, chunk)
				}
				return nil
			})
			if err == nil && len(buf) > 0 {
				select {
				case chunks <- buf:
				case <-ctx.Done():
				}
			}
			close(chunks)
			scanErr <- err
		}()
	} else {
		close(chunks)
		scanErr <- nil
	}
	var cur []hashRow
	nextStored := func() (hashRow, bool) {
		if len(cur) == 0 {
			c, ok := <-chunks
			if !ok {
				return hashRow{}, false
			}
			cur = c
		}
		r := cur[0]
		cur = cur[1:]
		return r, true
	}
	sg.b.stored = func(idx int64, level int, leaf int64, h tlog.Hash) error {
		if idx < hashFrom {
			return nil
		}
		row, ok := nextStored()
		first := leaf + 1 - 1<<level
		switch {
		case !ok || row.idx > idx:
			if level == 0 {
				return badf(leaf, "no stored hash for this event (it was added outside the log, or its hash row deleted)")
			}
			return badf(first, "stored hash %d (level %d, events %d to %d) is missing", idx, level, first, leaf)
		case row.idx < idx:
			return fmt.Errorf("audit: verify: storage returned stored hash %d out of order", row.idx)
		case row.h != h:
			if level == 0 {
				return badf(leaf, "the event does not hash to its stored leaf hash (modified, inserted or reordered)")
			}
			return badf(first, "stored hash %d (level %d, over events %d to %d) differs from the one recomputed from the events", idx, level, first, leaf)
		}
		return nil
	}
	// Leaves flow scanner → workers (canonical check and leaf hash) →
	// this builder (order, tree, comparisons), in chunks.
	consume := func(c *leafChunk) error {
		for j, idx := range c.idx {
			if idx != sg.want {
				if idx > sg.want {
					return badf(sg.want, "event missing: no leaf is stored at this index (the next stored is %d)", idx)
				}
				return fmt.Errorf("audit: verify: storage returned leaf %d out of order", idx)
			}
			if j == c.bad {
				return &VerifyError{Index: idx, Reason: "leaf is not a canonical event", Err: c.badErr}
			}
			if err := sg.b.add(c.hashes[j]); err != nil {
				return err
			}
			sg.want++
			if first {
				if err := cps.at(sg.want, sg.b.root); err != nil {
					return err
				}
			} else if sg.want == sg.hi || cps.needed(sg.want) {
				sg.roots[sg.want] = sg.b.root()
			}
		}
		return nil
	}
	err := scanLeavesParallel(ctx, cancel, s, sg.lo, sg.hi, !opts.SkipDecode, consume)
	if err == nil && sg.want < sg.hi {
		err = badf(sg.want, "event missing: storage reports %d events, no leaf is stored from this index on", sg.hi)
	}
	if err != nil {
		cancel(err)
		<-scanErr
		return err
	}
	// Stored hashes the leaves did not account for.
	if row, ok := nextStored(); ok {
		cancel(nil)
		<-scanErr
		return fmt.Errorf("audit: verify: storage returned stored hash %d beyond its range", row.idx)
	}
	if serr := <-scanErr; serr != nil {
		return fmt.Errorf("audit: verify: scan stored hashes: %w", serr)
	}
	return nil
}
