package audit

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/tlog"
)

// Storage persists the log: the leaves (canonical event bytes, one per
// index), the tlog stored hashes of the Merkle tree, and the signed
// checkpoints. The sqlite adapter implements it (one row per leaf index, so
// an auditor can see and a test can tamper with single rows); audit ships
// MemStorage for tests and the package audittest holds the conformance
// suite every implementation must pass.
//
// Implementations must be safe for concurrent use. The Log is the only
// writer; Verify, the proofs and the exporter only read.
//
// Indexes are zero-based. "Stored hashes" are the hashes of
// golang.org/x/mod/sumdb/tlog: for n leaves there are tlog.StoredHashCount(n)
// of them, and appending leaf n adds the hashes
// [tlog.StoredHashCount(n), tlog.StoredHashCount(n+1)).
type Storage interface {
	// Size returns the number of leaves stored, which is also the index
	// the next Append must start at. Compute it as one more than the
	// largest stored leaf index (MAX(idx)+1), not as a row count, so a
	// row deleted behind the log's back shows as a gap, not a shift.
	Size(ctx context.Context) (int64, error)

	// Append stores leaves [start, start+len(leaves)) and the stored hashes
	// [hashStart, hashStart+len(hashes)) in ONE durable transaction: when it
	// returns nil, all of it survives a crash (fsync done); when it returns
	// an error, nothing of it was written. It fails with an error wrapping
	// ErrConflict, writing nothing, when start != Size or hashStart is not
	// the number of stored hashes.
	Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error

	// Leaves returns the raw leaves [start, end). It fails with an error
	// wrapping ErrNotFound if any index in the range is not stored.
	Leaves(ctx context.Context, start, end int64) ([][]byte, error)

	// Hashes returns the stored hashes at the given stored-hash indexes, in
	// the order asked. It fails with an error wrapping ErrNotFound if any is
	// not stored.
	Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)

	// ScanLeaves streams the leaves stored at indexes in [start, end), in
	// increasing index order, calling fn with the index each is stored
	// under. It exists for speed: Verify reads 10^6 leaves through it in
	// one pass (one SQL query), where Leaves would materialise them all.
	//
	// It must report what is really stored: a missing row is skipped (the
	// next call carries a larger index), never filled in, so Verify can
	// name the missing index. fn must not keep leaf after it returns (the
	// implementation may reuse the buffer). A non-nil error from fn stops
	// the scan and is returned as is.
	ScanLeaves(ctx context.Context, start, end int64, fn func(index int64, leaf []byte) error) error

	// ScanHashes streams the stored hashes at stored-hash indexes in
	// [start, end), in increasing index order, with the same rules as
	// ScanLeaves (missing rows skipped, fn's error returned as is).
	ScanHashes(ctx context.Context, start, end int64, fn func(index int64, h tlog.Hash) error) error

	// PutCheckpoint durably stores a signed checkpoint (the note text, as
	// produced by Log.Checkpoint) for tree size n. Storing a second
	// checkpoint for the same n replaces the first.
	PutCheckpoint(ctx context.Context, n int64, signed []byte) error

	// LatestCheckpoint returns the signed checkpoint with the largest tree
	// size, or nil (and no error) if none was stored.
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

// Errors a Storage returns (wrapped, with detail); callers test them with
// errors.Is.
var (
	// ErrConflict: an Append did not start at the current size (another
	// writer, or a retry of a batch that did commit). Nothing was written.
	ErrConflict = errors.New("audit: append does not start at the end of the log")
	// ErrNotFound: a leaf or stored hash asked for is not stored.
	ErrNotFound = errors.New("audit: not stored")
)
