package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// MemStorage is a Storage held in memory, for tests and benchmarks. Like a
// database it refuses calls whose context is done. It
// keeps rows the way a database table does (one entry per index, possibly
// with gaps), so the Tamper methods can simulate someone editing the
// database directly.
//
// FailAppend, when set, is called at the start of every Append; a non-nil
// result makes that Append fail without writing anything (fault
// injection for the Log's tests).
type MemStorage struct {
	FailAppend func(start int64, leaves int) error

	mu          sync.RWMutex
	leaves      []memRow[[]byte] // by index; len is one more than the largest index
	hashes      []memRow[tlog.Hash]
	checkpoints map[int64][]byte
}

// memRow is one row; ok is false where a row was deleted.
type memRow[T any] struct {
	v  T
	ok bool
}

// get returns rows[i] if it is stored.
func get[T any](rows []memRow[T], i int64) (T, bool) {
	if i < 0 || i >= int64(len(rows)) || !rows[i].ok {
		var zero T
		return zero, false
	}
	return rows[i].v, true
}

// put stores v at i, growing rows with missing rows as needed.
func put[T any](rows []memRow[T], i int64, v T) []memRow[T] {
	for int64(len(rows)) <= i {
		rows = append(rows, memRow[T]{})
	}
	rows[i] = memRow[T]{v, true}
	return rows
}

var _ Storage = (*MemStorage)(nil)

// NewMemStorage returns an empty MemStorage.
func NewMemStorage() *MemStorage {
	return &MemStorage{checkpoints: make(map[int64][]byte)}
}

// Size returns one more than the largest stored leaf index.
func (m *MemStorage) Size(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.leaves)), nil
}

// Append implements Storage.
func (m *MemStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.FailAppend != nil {
		if err := m.FailAppend(start, len(leaves)); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if start != int64(len(m.leaves)) {
		return fmt.Errorf("append at leaf %d, log has %d: %w", start, len(m.leaves), ErrConflict)
	}
	if hashStart != int64(len(m.hashes)) {
		return fmt.Errorf("append at stored hash %d, log has %d: %w", hashStart, len(m.hashes), ErrConflict)
	}
	for _, l := range leaves {
		m.leaves = append(m.leaves, memRow[[]byte]{slices.Clone(l), true})
	}
	for _, h := range hashes {
		m.hashes = append(m.hashes, memRow[tlog.Hash]{h, true})
	}
	return nil
}

// Leaves implements Storage.
func (m *MemStorage) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if start < 0 || end < start {
		return nil, fmt.Errorf("leaves [%d, %d): bad range", start, end)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([][]byte, 0, min(end-start, int64(len(m.leaves))))
	for i := start; i < end; i++ {
		l, ok := get(m.leaves, i)
		if !ok {
			return nil, fmt.Errorf("leaf %d: %w", i, ErrNotFound)
		}
		out = append(out, slices.Clone(l))
	}
	return out, nil
}

// Hashes implements Storage.
func (m *MemStorage) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := get(m.hashes, x)
		if !ok {
			return nil, fmt.Errorf("stored hash %d: %w", x, ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// ScanLeaves implements Storage. It holds the lock for chunks of rows,
// never while fn runs.
func (m *MemStorage) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	return scanRows(ctx, &m.mu, func() []memRow[[]byte] { return m.leaves }, start, end, fn)
}

// ScanHashes implements Storage, like ScanLeaves.
func (m *MemStorage) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	return scanRows(ctx, &m.mu, func() []memRow[tlog.Hash] { return m.hashes }, start, end, fn)
}

// scanRows calls fn for the present rows in [start, end) of the table
// rows returns (read under mu, a chunk of rows at a time; never locked
// while fn runs).
func scanRows[T any](ctx context.Context, mu *sync.RWMutex, rows func() []memRow[T], start, end int64, fn func(int64, T) error) error {
	type row struct {
		i int64
		v T
	}
	buf := make([]row, 0, 1024)
	for i := max(start, 0); i < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		mu.RLock()
		t := rows()
		stop := min(end, int64(len(t)))
		for ; i < stop && len(buf) < cap(buf); i++ {
			if v, ok := get(t, i); ok {
				buf = append(buf, row{i, v})
			}
		}
		mu.RUnlock()
		for _, r := range buf {
			if err := fn(r.i, r.v); err != nil {
				return err
			}
		}
		if i >= stop {
			return nil
		}
	}
	return nil
}

// PutCheckpoint implements Storage.
func (m *MemStorage) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[n] = slices.Clone(signed)
	return nil
}

// LatestCheckpoint implements Storage.
func (m *MemStorage) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	best := int64(-1)
	for n := range m.checkpoints {
		best = max(best, n)
	}
	if best < 0 {
		return nil, nil
	}
	return slices.Clone(m.checkpoints[best]), nil
}

// TamperSetLeaf overwrites the leaf stored at index, as an UPDATE of one
// row would, leaving the stored hashes alone.
func (m *MemStorage) TamperSetLeaf(ctx context.Context, index int64, leaf []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaves = put(m.leaves, index, slices.Clone(leaf))
	return nil
}

// TamperDeleteLeaf removes the leaf at index, as a DELETE of one row would.
func (m *MemStorage) TamperDeleteLeaf(ctx context.Context, index int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if index >= 0 && index < int64(len(m.leaves)) {
		m.leaves[index] = memRow[[]byte]{}
	}
	for len(m.leaves) > 0 && !m.leaves[len(m.leaves)-1].ok {
		m.leaves = m.leaves[:len(m.leaves)-1]
	}
	return nil
}

// TamperInsertLeaf moves every leaf at index or above up by one and puts
// leaf at index, as renumbering rows to slip one in would.
func (m *MemStorage) TamperInsertLeaf(ctx context.Context, index int64, leaf []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if index < int64(len(m.leaves)) {
		m.leaves = slices.Insert(m.leaves, int(index), memRow[[]byte]{slices.Clone(leaf), true})
		return nil
	}
	m.leaves = put(m.leaves, index, slices.Clone(leaf))
	return nil
}

// TamperSetHash overwrites the stored hash at a stored-hash index.
func (m *MemStorage) TamperSetHash(ctx context.Context, index int64, h tlog.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashes = put(m.hashes, index, h)
	return nil
}
