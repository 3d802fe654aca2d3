package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/checks"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/fileblob"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// checksService builds the quality checks (docs/checks.md) over the
// services "ethos serve" wired into s: each check reads the stage's
// records through the same stores the stage's endpoints use, and calls the
// stage's own judgements (evaluation criteria, compliance checklist,
// monitoring status).
func checksService(a *app, s *ehttp.Server, col *collectionServer) *checks.Service {
	evidence := sqlstore.NewCheckEvidence(a.store) // aggregate queries: instance counts, consents in batches
	cs := &checks.Service{
		Projects: a.projects, Records: a.records,
		Instances: col.instances, Summaries: evidence, Consents: col.consents, ConsentBatch: evidence,
		Audit:  newAuditVerifier(a.auditDB, a.verifierKey),
		Events: auditEvents{st: a.auditDB},

		Processing: s.ProcessingRuns, Datasets: s.Datasets,
		Training: s.TrainingRuns, Obligations: s.Obligations,
		Evaluations: s.Evaluations,
		CheckPlan: func(p *ethos.EvaluationPlan) error {
			_, err := evaluation.PlanCriteria(p)
			return err
		},
		Deployments: s.Deployments, Monitor: s.Monitor,
		Now: s.Now,
	}
	// Stored instances are sealed under their subject's data key by the
	// blob store; the checks read the wrapped keys it keeps.
	if fb, ok := col.registry.Blobs.(*fileblob.Store); ok && fb.Keys != nil {
		cs.Keys = fb.Keys
	}
	return cs
}

// auditVerifier verifies the audit log for QC-COL-2: a log that does not
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
type auditVerifier struct {
	st  audit.Storage
	key string
	// fullEvery and fullAfter bound how stale the last full verification
	// may be (zero: every answer is a full verification).
	fullEvery int
	fullAfter time.Duration
	now       func() time.Time

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

// newAuditVerifier verifies in full at least every 50 answers and every 10
// minutes.
func newAuditVerifier(st audit.Storage, key string) *auditVerifier {
	return &auditVerifier{st: st, key: key, fullEvery: 50, fullAfter: 10 * time.Minute, now: time.Now}
}

func (v *auditVerifier) VerifyAuditLog(ctx context.Context) (*checks.AuditVerification, error) {
	// One verification at a time: answers in parallel would only repeat
	// the same work.
	v.mu.Lock()
	defer v.mu.Unlock()
	if t := v.verified; t != nil && t.answers+1 < v.fullEvery && v.now().Sub(t.fullAt) < v.fullAfter {
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
	rep, err := audit.Verify(ctx, v.st, v.key, audit.VerifyOptions{})
	if ve, ok := errors.AsType[*audit.VerifyError](err); ok {
		return &checks.AuditVerification{Problem: ve.Error(), Mode: "full"}, nil
	}
	if err != nil {
		return nil, err
	}
	v.verified = &verifiedTree{size: rep.Size, root: rep.Root, fullAt: v.now()}
	return &checks.AuditVerification{OK: true, Size: rep.Size, CheckpointSize: rep.CheckpointSize, Unsigned: rep.Unsigned,
		Root: rep.Root.String(), Mode: "full"}, nil
}

// incremental verifies the events appended since t and the consistency of
// the current tree with t. It returns nil (and no error) when anything
// does not match, so the caller verifies in full; errors are read
// failures.
func (v *auditVerifier) incremental(ctx context.Context, t *verifiedTree) (*checks.AuditVerification, error) {
	signed, err := v.st.LatestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	if signed == nil || t.size == 0 {
		return nil, nil
	}
	cp, err := audit.OpenCheckpoint(signed, v.key)
	if err != nil {
		return nil, nil
	}
	n, err := v.st.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: size: %w", err)
	}
	if n < t.size || cp.Size > n || cp.Size < 1 {
		return nil, nil // shrunk, or a checkpoint beyond the events
	}
	hashes := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return v.st.Hashes(ctx, idx) })
	// The new events: in order, canonical, hashing to their stored leaf
	// hashes.
	want, bad := t.size, false
	var leafHashes []tlog.Hash
	var idx []int64
	check := func() error {
		if len(idx) == 0 {
			return nil
		}
		stored, err := v.st.Hashes(ctx, idx)
		if errors.Is(err, audit.ErrNotFound) {
			bad = true
			return nil
		} else if err != nil {
			return err
		}
		for i := range stored {
			if stored[i] != leafHashes[i] {
				bad = true
			}
		}
		idx, leafHashes = idx[:0], leafHashes[:0]
		return nil
	}
	err = v.st.ScanLeaves(ctx, t.size, n, func(i int64, leaf []byte) error {
		if i != want {
			bad = true
			return errStop
		}
		want++
		if _, err := audit.DecodeEvent(leaf); err != nil {
			bad = true
			return errStop
		}
		idx = append(idx, tlog.StoredHashIndex(0, i))
		leafHashes = append(leafHashes, tlog.RecordHash(leaf))
		if len(idx) == 1024 {
			return check()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("audit: read events: %w", err)
	}
	if err == nil {
		err = check()
		if err != nil {
			return nil, fmt.Errorf("audit: read stored hashes: %w", err)
		}
	}
	if bad || want != n {
		return nil, nil
	}
	// The current root from the stored hashes, proven to extend the tree
	// verified before and the latest signed checkpoint.
	root, err := tlog.TreeHash(n, hashes)
	if err != nil {
		return nil, nil
	}
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
		p, err := audit.ProveConsistency(ctx, v.st, old.size, n)
		if err != nil || tlog.CheckTree(p.Hashes, n, root, old.size, old.root) != nil {
			return nil, nil
		}
	}
	return &checks.AuditVerification{OK: true, Size: n, CheckpointSize: cp.Size, Unsigned: n - cp.Size, Root: root.String(),
		Mode: "incremental", VerifiedFrom: t.size}, nil
}

var errStop = errors.New("stop")

// auditEvents reads one audit event by index (QC-EVA-2 reads a plan's
// pre-registration event).
type auditEvents struct{ st audit.Storage }

func (e auditEvents) AuditEvent(ctx context.Context, index int64) (*ethos.AuditEvent, error) {
	size, err := e.st.Size(ctx)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= size {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "audit event %d not found (log of %d events)", index, size)
	}
	leaves, err := e.st.Leaves(ctx, index, index+1)
	if errors.Is(err, audit.ErrNotFound) {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "audit event %d not found", index)
	}
	if err != nil {
		return nil, err
	}
	ev, err := audit.DecodeEvent(leaves[0])
	if err != nil {
		return nil, fmt.Errorf("audit event %d: %w", index, err)
	}
	return &ethos.AuditEvent{Time: ev.Time, Actor: ev.Actor, Party: ev.Party, Action: ev.Action, Resource: ev.Resource, Stage: ethos.Stage(ev.Stage),
		Purpose: ethos.Purpose(ev.Purpose), Decision: ev.Decision, Reason: ev.Reason, RequestID: ev.RequestID}, nil
}

var (
	_ checks.AuditVerifier      = (*auditVerifier)(nil)
	_ checks.AuditEventReader   = auditEvents{}
	_ checks.InstanceReader     = (*sqlstore.InstanceService)(nil)
	_ checks.InstanceSummarizer = (*sqlstore.CheckEvidence)(nil)
	_ checks.ConsentBatchReader = (*sqlstore.CheckEvidence)(nil)
)

// exitError makes the process exit with code after printing its message
// (ethos project checks: 3 when a check fails).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
