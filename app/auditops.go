package app

import (
	"context"
	"io"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
)

// Checkpoint signs and stores the current tree head and returns it
// (auditor, ethics reviewer or admin).
func (a *App) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return nil, err
	}
	return a.Log.Checkpoint(ctx)
}

// LatestCheckpoint returns the latest stored signed checkpoint, signing
// one first if none exists or the log grew since.
func (a *App) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	return a.Checkpoint(ctx)
}

// InclusionProof proves the event at index is in the tree of treeSize
// events; it also returns the event's leaf bytes.
func (a *App) InclusionProof(ctx context.Context, index, treeSize int64) (*audit.InclusionProof, []byte, error) {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return nil, nil, err
	}
	if treeSize <= 0 {
		treeSize = a.Log.Size()
	}
	if index < 0 || index >= treeSize || treeSize > a.Log.Size() {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "index %d is not in a tree of %d events (log size %d)", index, treeSize, a.Log.Size())
	}
	p, err := a.Log.InclusionProof(ctx, index, treeSize)
	if err != nil {
		return nil, nil, err
	}
	leaves, err := a.Storage.Leaves(ctx, index, index+1)
	if err != nil {
		return nil, nil, err
	}
	return p, leaves[0], nil
}

// ConsistencyProof proves the tree of oldSize events is a prefix of the
// tree of newSize events.
func (a *App) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (*audit.ConsistencyProof, error) {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return nil, err
	}
	if newSize <= 0 {
		newSize = a.Log.Size()
	}
	if oldSize < 1 || oldSize > newSize || newSize > a.Log.Size() {
		return nil, ethos.Errorf(ethos.EINVALID, "sizes %d..%d are not within the log (size %d)", oldSize, newSize, a.Log.Size())
	}
	return a.Log.ConsistencyProof(ctx, oldSize, newSize)
}

// Export writes the whole log as JSON lines (see audit.Export).
func (a *App) Export(ctx context.Context, w io.Writer) error {
	if err := a.system(ctx, ethos.ActionAuditRead); err != nil {
		return err
	}
	// Export stops at the latest checkpoint: sign one so it covers every
	// event recorded so far.
	if _, err := a.Log.Checkpoint(ctx); err != nil {
		return err
	}
	return audit.Export(ctx, a.Storage, w)
}
