package checks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditLogVerifier is the AuditVerifier of a stored audit log (QC-COL-2): a log that does not
// verify is a finding, not an error.
//
// A full verification (audit.Verify) re-reads and re-hashes every event,
// about 1 CPU-s per 100k events, and every checks answer needs one. So the
// verifier remembers the size and root of the last tree it verified and,
// while that is recent, verifies only what was appended since: the new
// events are re-read, checked to be canonical and re-hashed against their
// stored leaf hashes; the current root is computed from the stored hashes;
// a consistency proof shows the current tree extends the remembered one;
// and the latest signed checkpoint is checked (signature, and its root
// proven consistent with the current tree). Events before the remembered
// size are not re-read: an edit to an old row behind the log's back shows
// only at the next full verification. That happens at the first answer,
// after any mismatch, every fullEvery answers and whenever fullAfter has
// passed since the last one.
type AuditLogVerifier struct {
	Storage     audit.Storage
	VerifierKey string
	// FullEvery and FullAfter bound how stale the last full verification
	// may be: every FullEvery-th answer is a full one (0 or 1: all of
	// them), and so is the first answer FullAfter after the last full one.
	FullEvery int
	FullAfter time.Duration
	Now       func() time.Time

	mu       sync.Mutex
	verified *verifiedTree // nil until a full verification succeeds
}

// verifiedTree is the last tree verified, and when the last full
// verification happened.
type verifiedTree struct {
	size    int64
	root    tlog.Hash
	fullAt  time.Time
	answers int // incremental answers since the last full one
}

// NewAuditLogVerifier returns a verifier that verifies in full at least every 50 answers and every 10
// minutes.
func NewAuditLogVerifier(st audit.Storage, verifierKey string) *AuditLogVerifier {
	return &AuditLogVerifier{Storage: st, VerifierKey: verifierKey, FullEvery: 50, FullAfter: 10 * time.Minute, Now: time.Now}
}

func (v *AuditLogVerifier) VerifyAuditLog(ctx context.Context) (*AuditVerification, error) {
	// One verification at a time: answers in parallel would only repeat
	// the same work.
	v.mu.Lock()
	defer v.mu.Unlock()
	if t := v.verified; t != nil && t.answers+1 < v.FullEvery && v.Now().Sub(t.fullAt) < v.FullAfter {
		av, err := v.incremental(ctx, t)
		if err != nil {
			return nil, err
		}
		if av != nil {
			t.answers++
			t.size = av.Size
			t.root, _ = tlog.ParseHash(av.Root)
			return av, nil
		}
		// Any mismatch: fall back to a full verification, which names
		// the first bad event.
	}
	v.verified = nil
	rep, err := audit.Verify(ctx, v.Storage, v.VerifierKey, audit.VerifyOptions{})
	if ve, ok := errors.AsType[*audit.VerifyError](err); ok {
		return &AuditVerification{Problem: ve.Error(), Mode: "full"}, nil
	}
	if err != nil {
		return nil, err
	}
	v.verified = &verifiedTree{size: rep.Size, root: rep.Root, fullAt: v.Now()}
	return &AuditVerification{OK: true, Size: rep.Size, CheckpointSize: rep.CheckpointSize, Unsigned: rep.Unsigned,
		Root: rep.Root.String(), Mode: "full"}, nil
}

// incremental verifies the events appended since t and the consistency of
// the current tree with t. It returns nil (and no error) when anything
// does not match, so the caller verifies in full; errors are read
// failures.
func (v *AuditLogVerifier) incremental(ctx context.Context, t *verifiedTree) (*AuditVerification, error) {
	signed, err := v.Storage.LatestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	if signed == nil || t.size == 0 {
		return nil, nil
	}
	cp, err := audit.OpenCheckpoint(signed, v.VerifierKey)
	if err != nil {
		return nil, nil
	}
	n, err := v.Storage.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: size: %w", err)
	}
	if n < t.size || cp.Size > n || cp.Size < 1 {
		return nil, nil // shrunk, or a checkpoint beyond the events
	}
	if n-t.size > maxIncremental {
		return nil, nil // a full verification reads as fast, with less memory
	}
	// The remembered tree's frontier (its maximal complete subtrees), as
	// stored, must give the remembered root: the new part builds on it.
	var stack []treeNode
	var idx []int64
	for off, k := int64(0), 62; k >= 0; k-- {
		if t.size&(1<<k) != 0 {
			stack = append(stack, treeNode{level: k})
			idx = append(idx, tlog.StoredHashIndex(k, off>>k))
			off += 1 << k
		}
	}
	frontier, err := v.Storage.Hashes(ctx, idx)
	if errors.Is(err, audit.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: read stored hashes: %w", err)
	}
	for i := range stack {
		stack[i].h = frontier[i]
	}
	if rootOf(stack) != t.root {
		return nil, nil
	}
	// The new events: in order, canonical, re-hashed; the tree is rebuilt
	// over them and every stored hash they added is compared with the
	// recomputed one.
	var added []tlog.Hash
	want := t.size
	err = v.Storage.ScanLeaves(ctx, t.size, n, func(i int64, leaf []byte) error {
		if i != want {
			return errStop
		}
		if _, err := audit.DecodeEvent(leaf); err != nil {
			return errStop
		}
		want++
		stack = append(stack, treeNode{0, tlog.RecordHash(leaf)})
		added = append(added, stack[len(stack)-1].h)
		for len(stack) >= 2 && stack[len(stack)-1].level == stack[len(stack)-2].level {
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			stack = append(stack[:len(stack)-2], treeNode{l.level + 1, tlog.NodeHash(l.h, r.h)})
			added = append(added, stack[len(stack)-1].h)
		}
		return nil
	})
	if errors.Is(err, errStop) || err == nil && want != n {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: read events: %w", err)
	}
	lo, hi := tlog.StoredHashCount(t.size), tlog.StoredHashCount(n)
	if int64(len(added)) != hi-lo {
		return nil, nil
	}
	next := lo
	err = v.Storage.ScanHashes(ctx, lo, hi, func(i int64, h tlog.Hash) error {
		if i != next || h != added[i-lo] {
			return errStop
		}
		next++
		return nil
	})
	if errors.Is(err, errStop) || err == nil && next != hi {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: read stored hashes: %w", err)
	}
	root := t.root
	if n > t.size {
		root = rootOf(stack)
	}
	// The recomputed current tree, proven by the stored hashes to extend
	// the tree verified before and the latest signed checkpoint.
	for _, old := range []struct {
		size int64
		root tlog.Hash
	}{{t.size, t.root}, {cp.Size, cp.Root}} {
		if old.size == n {
			if old.root != root {
				return nil, nil
			}
			continue
		}
		p, err := audit.ProveConsistency(ctx, v.Storage, old.size, n)
		if err != nil || tlog.CheckTree(p.Hashes, n, root, old.size, old.root) != nil {
			return nil, nil
		}
	}
	return &AuditVerification{OK: true, Size: n, CheckpointSize: cp.Size, Unsigned: n - cp.Size, Root: root.String(),
		Mode: "incremental", VerifiedFrom: t.size}, nil
}

var errStop = errors.New("stop")

// maxIncremental bounds the events an incremental verification re-reads
// (it keeps their recomputed hashes, 64 bytes per event); beyond it the
// verification is a full one.
const maxIncremental = 1 << 16

type treeNode struct {
	level int
	h     tlog.Hash
}

// rootOf is the RFC 6962 root over a tree's frontier (complete subtrees,
// largest first).
func rootOf(stack []treeNode) tlog.Hash {
	h := stack[len(stack)-1].h
	for i := len(stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(stack[i].h, h)
	}
	return h
}

var _ AuditVerifier = (*AuditLogVerifier)(nil)
