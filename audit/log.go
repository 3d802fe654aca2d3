package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Log appends events to a Storage as leaves of a Merkle tree and signs
// checkpoints of it. Use NewLog, set the optional fields, call Open, then
// Append from any number of goroutines, and Close at the end.
//
// Appends are group-committed: one goroutine (the committer) takes every
// event waiting when the previous write finished, up to MaxBatch, and
// writes them in one Storage.Append — one transaction, one fsync. Each
// caller is answered only after the transaction committed. Under load the
// batches grow by themselves, with no timer adding latency when idle.
//
// When a Storage.Append fails, every caller of that batch gets the error
// and the Log re-reads its size and tree edge from storage before taking
// the next batch, so its memory agrees with what is stored. If even that
// read fails, the Log refuses all further appends (ErrBroken) until it is
// opened again.
type Log struct {
	// Now stamps events whose Time is zero. Default time.Now.
	Now func() time.Time
	// MaxBatch bounds the number of events in one Storage.Append.
	// Default 4096.
	MaxBatch int
	// CheckpointInterval, when positive, makes the Log sign and store a
	// checkpoint every interval if the tree grew. Checkpoints are also
	// signed on demand (Checkpoint), at Open when the stored tree is ahead
	// of the latest checkpoint (after a crash), and at Close.
	CheckpointInterval time.Duration
	// Logger receives operator messages (failed batches, failed periodic
	// checkpoints). Default slog.Default(). Events are never logged.
	Logger *slog.Logger

	storage Storage
	signer  note.Signer

	sendMu sync.RWMutex // held for reading while sending on reqs; for writing by Close
	closed bool
	reqs   chan *request
	quit   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	opened   bool
	size     int64
	frontier map[int64]tlog.Hash // stored hashes of the maximal complete subtrees of [0, size)
	broken   error
	cpSize   int64 // size of the latest checkpoint stored, -1 if none
}

// ErrClosed is returned by appends on a Log that is not open.
var ErrClosed = errors.New("audit: log is not open")

// ErrBroken is wrapped by appends after the Log lost track of its
// storage (a failed write followed by a failed re-read); reopen it.
var ErrBroken = errors.New("audit: log lost track of storage")

type request struct {
	ctx    context.Context
	leaves [][]byte
	first  int64
	err    error
	done   chan struct{}
}

// NewLog returns a Log over storage that signs checkpoints with signer.
func NewLog(storage Storage, signer note.Signer) *Log {
	return &Log{storage: storage, signer: signer}
}

// Open reads the log's size and the right edge of its tree from storage,
// checks that the latest checkpoint agrees with the stored hashes (a
// cheap check of O(log n) hashes; Verify is the full one), signs a fresh
// checkpoint if the stored tree is ahead of it, and starts the committer.
func (l *Log) Open(ctx context.Context) error {
	if l.storage == nil || l.signer == nil {
		return errors.New("audit: NewLog needs a storage and a signer")
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = 4096
	}
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	l.mu.Lock()
	if l.opened {
		l.mu.Unlock()
		return errors.New("audit: log already open")
	}
	err := l.loadLocked(ctx)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	signed, err := l.storage.LatestCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("audit: open: latest checkpoint: %w", err)
	}
	l.cpSize = -1
	if signed != nil {
		cp, err := unverifiedCheckpoint(signed)
		if err != nil {
			return fmt.Errorf("audit: open: latest checkpoint: %w", err)
		}
		if cp.Origin != l.signer.Name() {
			return fmt.Errorf("audit: open: latest checkpoint was signed by %q, this log signs as %q", cp.Origin, l.signer.Name())
		}
		if cp.Size > l.size {
			return &VerifyError{Index: l.size, Reason: fmt.Sprintf("event missing: the latest checkpoint covers %d events, storage holds %d", cp.Size, l.size)}
		}
		root, err := tlog.TreeHash(cp.Size, l.storageReader(ctx))
		if err != nil {
			return fmt.Errorf("audit: open: tree hash at %d: %w", cp.Size, err)
		}
		if root != cp.Root {
			return &VerifyError{Index: -1, Reason: fmt.Sprintf("stored hashes do not match the latest checkpoint (size %d); run Verify", cp.Size)}
		}
		l.cpSize = cp.Size
	}
	l.sendMu.Lock()
	l.reqs = make(chan *request, 1024)
	l.quit = make(chan struct{})
	l.closed = false
	l.sendMu.Unlock()
	l.mu.Lock()
	l.opened = true
	l.mu.Unlock()
	if l.cpSize < l.size {
		if _, err := l.Checkpoint(ctx); err != nil {
			l.stop()
			l.mu.Lock()
			l.opened = false
			l.mu.Unlock()
			return err
		}
	}
	l.wg.Add(1)
	go l.commitLoop()
	if l.CheckpointInterval > 0 {
		l.wg.Add(1)
		go l.checkpointLoop()
	}
	return nil
}

// loadLocked reads the size and the frontier hashes from storage.
func (l *Log) loadLocked(ctx context.Context) error {
	n, err := l.storage.Size(ctx)
	if err != nil {
		return fmt.Errorf("audit: storage size: %w", err)
	}
	idx := frontierIndexes(n)
	hs, err := l.storage.Hashes(ctx, idx)
	if err != nil {
		return fmt.Errorf("audit: read tree edge at size %d: %w", n, err)
	}
	if len(hs) != len(idx) {
		return fmt.Errorf("audit: read tree edge at size %d: got %d hashes for %d indexes", n, len(hs), len(idx))
	}
	// A storage holding n leaves must hold exactly StoredHashCount(n)
	// hashes: check the last one exists and the next one does not.
	if n > 0 {
		if _, err := l.storage.Hashes(ctx, []int64{tlog.StoredHashCount(n) - 1}); err != nil {
			return fmt.Errorf("audit: storage holds %d leaves but not their stored hashes: %w", n, err)
		}
	}
	if _, err := l.storage.Hashes(ctx, []int64{tlog.StoredHashCount(n)}); err == nil {
		return fmt.Errorf("audit: storage holds stored hashes beyond its %d leaves", n)
	}
	l.size = n
	l.frontier = make(map[int64]tlog.Hash, len(idx))
	for i, x := range idx {
		l.frontier[x] = hs[i]
	}
	l.broken = nil
	return nil
}

// frontierIndexes returns the stored-hash indexes of the maximal complete
// subtrees that make up a tree of n leaves, left to right. They are all a
// Log needs to append leaf n and to compute the tree hash at n.
func frontierIndexes(n int64) []int64 {
	var idx []int64
	for level := 63 - bits.LeadingZeros64(uint64(n)); level >= 0; level-- {
		if n>>level&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return idx
}

// storageReader reads stored hashes from storage.
func (l *Log) storageReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return l.storage.Hashes(ctx, idx)
	})
}

// Size returns the number of durable events.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Pending returns the number of appends waiting for the committer (not
// counting the batch being written): the queue depth, for metrics.
func (l *Log) Pending() int {
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.reqs == nil {
		return 0
	}
	return len(l.reqs)
}

// Append adds e to the log and returns its index once it is durable. A
// zero e.Time is set from Now. If ctx ends while the event waits for its
// batch, Append returns ctx's error and the event may or may not be in
// the log (like any write whose answer was lost).
func (l *Log) Append(ctx context.Context, e Event) (int64, error) {
	if e.Time.IsZero() {
		e.Time = l.Now()
	}
	leaf, err := e.MarshalCanonical()
	if err != nil {
		return 0, err
	}
	return l.submit(ctx, [][]byte{leaf})
}

// AppendBatch adds events in order, with consecutive indexes, in one
// transaction (all or none), and returns the index of the first. Events
// with a zero Time are stamped from Now.
func (l *Log) AppendBatch(ctx context.Context, events []Event) (int64, error) {
	if len(events) == 0 {
		return l.Size(), nil
	}
	leaves := make([][]byte, len(events))
	now := time.Time{}
	for i := range events {
		e := events[i]
		if e.Time.IsZero() {
			if now.IsZero() {
				now = l.Now()
			}
			e.Time = now
		}
		leaf, err := e.MarshalCanonical()
		if err != nil {
			return 0, fmt.Errorf("event %d of the batch: %w", i, err)
		}
		leaves[i] = leaf
	}
	return l.submit(ctx, leaves)
}

func (l *Log) submit(ctx context.Context, leaves [][]byte) (int64, error) {
	r := &request{ctx: ctx, leaves: leaves, done: make(chan struct{})}
	l.sendMu.RLock()
	if l.closed || l.reqs == nil {
		l.sendMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return 0, ctx.Err()
	}
	l.sendMu.RUnlock()
	select {
	case <-r.done:
		return r.first, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (l *Log) commitLoop() {
	defer l.wg.Done()
	for {
		r, ok := <-l.reqs
		if !ok {
			return
		}
		batch := []*request{r}
		n := len(r.leaves)
	gather:
		for n < l.MaxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				n += len(r.leaves)
			default:
				break gather
			}
		}
		l.commit(batch)
	}
}

// commit writes one batch and answers its callers.
func (l *Log) commit(batch []*request) {
	// Callers that gave up before their batch was formed are dropped.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var leaves [][]byte
	for _, r := range live {
		leaves = append(leaves, r.leaves...)
	}
	first, err := l.write(leaves)
	for _, r := range live {
		r.first, r.err = first, err
		first += int64(len(r.leaves))
		close(r.done)
	}
}

// write appends leaves to storage and advances the in-memory tree; it
// returns the index of the first.
func (l *Log) write(leaves [][]byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return 0, l.broken
	}
	n := l.size
	hashStart := tlog.StoredHashCount(n)
	hashes := make([]tlog.Hash, 0, 2*len(leaves)+1)
	ctx := context.Background()
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		var missing []int64
		for i, x := range idx {
			switch h, ok := l.frontier[x]; {
			case x >= hashStart:
				out[i] = hashes[x-hashStart]
			case ok:
				out[i] = h
			default:
				missing = append(missing, x)
			}
		}
		if len(missing) == 0 {
			return out, nil
		}
		// Not reached when the frontier is right; kept as a fallback.
		hs, err := l.storage.Hashes(ctx, missing)
		if err != nil {
			return nil, err
		}
		j := 0
		for i, x := range idx {
			if _, ok := l.frontier[x]; x < hashStart && !ok {
				out[i] = hs[j]
				j++
			}
		}
		return out, nil
	})
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashes(n+int64(i), leaf, read)
		if err != nil {
			return 0, fmt.Errorf("audit: hash leaf %d: %w", n+int64(i), err)
		}
		hashes = append(hashes, hs...)
	}
	if err := l.storage.Append(ctx, n, leaves, hashStart, hashes); err != nil {
		l.Logger.Error("audit: batch append failed", "start", n, "events", len(leaves), "err", err)
		if lerr := l.loadLocked(ctx); lerr != nil {
			l.broken = fmt.Errorf("%w: %w", ErrBroken, lerr)
		}
		return 0, fmt.Errorf("audit: append %d events at %d: %w", len(leaves), n, err)
	}
	newSize := n + int64(len(leaves))
	frontier := make(map[int64]tlog.Hash, 64)
	for _, x := range frontierIndexes(newSize) {
		if x >= hashStart {
			frontier[x] = hashes[x-hashStart]
		} else {
			frontier[x] = l.frontier[x]
		}
	}
	l.size, l.frontier = newSize, frontier
	return n, nil
}

// Checkpoint signs the current tree head, stores it, and returns the
// signed note text. The head covers every event whose Append returned.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	l.mu.Lock()
	if !l.opened {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	n := l.size
	root, err := tlog.TreeHash(n, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := l.frontier[x]
			if !ok {
				return nil, fmt.Errorf("audit: stored hash %d not on the tree edge", x)
			}
			out[i] = h
		}
		return out, nil
	}))
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	signed, err := SignCheckpoint(Checkpoint{Origin: l.signer.Name(), Size: n, Root: root}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	if err := l.storage.PutCheckpoint(ctx, n, signed); err != nil {
		return nil, fmt.Errorf("audit: store checkpoint %d: %w", n, err)
	}
	l.mu.Lock()
	l.cpSize = max(l.cpSize, n)
	l.mu.Unlock()
	return signed, nil
}

func (l *Log) checkpointLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			l.mu.Lock()
			grew := l.size > l.cpSize
			l.mu.Unlock()
			if grew {
				if _, err := l.Checkpoint(context.Background()); err != nil {
					l.Logger.Error("audit: periodic checkpoint failed", "err", err)
				}
			}
		}
	}
}

// stop ends the goroutines after draining queued appends.
func (l *Log) stop() {
	l.sendMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.reqs)
		close(l.quit)
	}
	l.sendMu.Unlock()
	l.wg.Wait()
}

// Close writes every queued event, signs a final checkpoint if the tree
// grew since the last one, and stops the Log.
func (l *Log) Close() error {
	l.mu.Lock()
	opened := l.opened
	l.mu.Unlock()
	if !opened {
		return nil
	}
	l.stop()
	var err error
	l.mu.Lock()
	grew := l.size > l.cpSize && l.broken == nil
	l.mu.Unlock()
	if grew {
		_, err = l.Checkpoint(context.Background())
	}
	l.mu.Lock()
	l.opened = false
	l.mu.Unlock()
	return err
}
