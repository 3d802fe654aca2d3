package audit

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProof shows that the event at Index is the leaf at that index
// of the tree of TreeSize events. In JSON the hashes are standard base64
// strings:
//
//	{"index":5,"tree_size":8,"leaf_hash":"…","hashes":["…","…","…"]}
//
// Hashes is the RFC 6962 audit path from the leaf up, the order
// tlog.ProveRecord returns and RFC 6962 section 2.1.1 defines.
type InclusionProof struct {
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	Hashes   []tlog.Hash `json:"hashes"`
}

// ConsistencyProof shows that the tree of OldSize events is a prefix of
// the tree of NewSize events: the log only grew. Hashes is the RFC 6962
// consistency proof (section 2.1.2), the order tlog.ProveTree returns.
//
//	{"old_size":5,"new_size":8,"hashes":["…","…"]}
type ConsistencyProof struct {
	OldSize int64       `json:"old_size"`
	NewSize int64       `json:"new_size"`
	Hashes  []tlog.Hash `json:"hashes"`
}

// ErrProof marks a proof that does not check out.
var ErrProof = errors.New("audit: proof does not verify")

// ProveInclusion builds the inclusion proof of the event at index in the
// tree of treeSize events from the stored hashes.
func ProveInclusion(ctx context.Context, s Storage, index, treeSize int64) (*InclusionProof, error) {
	n, err := s.Size(ctx)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= treeSize || treeSize > n {
		return nil, fmt.Errorf("audit: inclusion of event %d in a tree of %d events: out of range (log has %d)", index, treeSize, n)
	}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.Hashes(ctx, idx) })
	hs, err := tlog.ProveRecord(treeSize, index, r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove event %d in tree %d: %w", index, treeSize, err)
	}
	leaf, err := s.Hashes(ctx, []int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return nil, err
	}
	return &InclusionProof{Index: index, TreeSize: treeSize, LeafHash: leaf[0], Hashes: hs}, nil
}

// ProveConsistency builds the consistency proof from the tree of oldSize
// events to the tree of newSize events.
func ProveConsistency(ctx context.Context, s Storage, oldSize, newSize int64) (*ConsistencyProof, error) {
	n, err := s.Size(ctx)
	if err != nil {
		return nil, err
	}
	if oldSize < 1 || oldSize > newSize || newSize > n {
		return nil, fmt.Errorf("audit: consistency of %d with %d events: out of range (log has %d, old size must be at least 1)", oldSize, newSize, n)
	}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.Hashes(ctx, idx) })
	hs, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove %d consistent with %d: %w", oldSize, newSize, err)
	}
	return &ConsistencyProof{OldSize: oldSize, NewSize: newSize, Hashes: hs}, nil
}

// InclusionProof is ProveInclusion on the Log's storage.
func (l *Log) InclusionProof(ctx context.Context, index, treeSize int64) (*InclusionProof, error) {
	return ProveInclusion(ctx, l.storage, index, treeSize)
}

// ConsistencyProof is ProveConsistency on the Log's storage.
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (*ConsistencyProof, error) {
	return ProveConsistency(ctx, l.storage, oldSize, newSize)
}

// VerifyInclusion checks, with nothing but its arguments, that leaf (the
// canonical event bytes) is in the log whose signed checkpoint is given:
// the checkpoint's signature against verifierKey, the proof's tree size
// against the checkpoint's, the leaf against the proof's leaf hash, and
// the audit path against the signed root.
func VerifyInclusion(p *InclusionProof, leaf, signedCheckpoint []byte, verifierKey string) error {
	if p == nil {
		return fmt.Errorf("%w: no proof", ErrProof)
	}
	cp, err := OpenCheckpoint(signedCheckpoint, verifierKey)
	if err != nil {
		return err
	}
	if p.TreeSize != cp.Size {
		return fmt.Errorf("%w: proof is for a tree of %d events, the checkpoint signs %d", ErrProof, p.TreeSize, cp.Size)
	}
	h := tlog.RecordHash(leaf)
	if p.LeafHash != (tlog.Hash{}) && p.LeafHash != h {
		return fmt.Errorf("%w: event %d: the leaf does not hash to the proof's leaf hash", ErrProof, p.Index)
	}
	if err := tlog.CheckRecord(p.Hashes, cp.Size, cp.Root, p.Index, h); err != nil {
		return fmt.Errorf("%w: event %d in tree %d: %w", ErrProof, p.Index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks, with nothing but its arguments, that the log
// signed in newCheckpoint extends the log signed in oldCheckpoint: both
// signatures against verifierKey, the proof's sizes against the
// checkpoints', and the proof against both roots.
func VerifyConsistency(p *ConsistencyProof, oldCheckpoint, newCheckpoint []byte, verifierKey string) error {
	if p == nil {
		return fmt.Errorf("%w: no proof", ErrProof)
	}
	oldCp, err := OpenCheckpoint(oldCheckpoint, verifierKey)
	if err != nil {
		return fmt.Errorf("old checkpoint: %w", err)
	}
	newCp, err := OpenCheckpoint(newCheckpoint, verifierKey)
	if err != nil {
		return fmt.Errorf("new checkpoint: %w", err)
	}
	if p.OldSize != oldCp.Size || p.NewSize != newCp.Size {
		return fmt.Errorf("%w: proof is for sizes %d→%d, the checkpoints sign %d→%d", ErrProof, p.OldSize, p.NewSize, oldCp.Size, newCp.Size)
	}
	if oldCp.Size == newCp.Size {
		if oldCp.Root != newCp.Root {
			return fmt.Errorf("%w: two different trees signed for size %d (the log forked)", ErrProof, oldCp.Size)
		}
		return nil
	}
	if err := tlog.CheckTree(p.Hashes, newCp.Size, newCp.Root, oldCp.Size, oldCp.Root); err != nil {
		return fmt.Errorf("%w: %d→%d: %w", ErrProof, oldCp.Size, newCp.Size, err)
	}
	return nil
}

// Leaf returns the stored bytes of the event at index (the leaf an
// inclusion proof is about) and the event decoded from them.
func (l *Log) Leaf(ctx context.Context, index int64) ([]byte, Event, error) {
	ls, err := l.storage.Leaves(ctx, index, index+1)
	if err != nil {
		return nil, Event{}, err
	}
	e, err := DecodeEvent(ls[0])
	if err != nil {
		return ls[0], Event{}, &VerifyError{Index: index, Reason: "stored leaf is not a canonical event", Err: err}
	}
	return ls[0], e, nil
}
