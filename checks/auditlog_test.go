package checks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/checks"
	"golang.org/x/mod/sumdb/tlog"
)

// auditFixture is a signed log in memory with n events and a checkpoint.
type auditFixture struct {
	st  *audit.MemStorage
	log *audit.Log
	key string
	now time.Time
}

func newAuditFixture(t *testing.T, n int) *auditFixture {
	t.Helper()
	sk, vk, err := audit.GenerateKey("ethos-audit.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(sk)
	if err != nil {
		t.Fatal(err)
	}
	f := &auditFixture{st: audit.NewMemStorage(), key: vk, now: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)}
	f.log = audit.NewLog(f.st, signer)
	if err := f.log.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.log.Close() })
	f.append(t, n, true)
	return f
}

// append logs n events and, when sign, a checkpoint over them.
func (f *auditFixture) append(t *testing.T, n int, sign bool) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := f.log.Append(ctx, audit.Event{Actor: "u-1", Party: "p-1", Action: "access.decide",
			Resource: fmt.Sprintf("project/p%d", i), Stage: "collection", Purpose: "research", Decision: audit.Allow, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if sign {
		if _, err := f.log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *auditFixture) verifier(every int) *checks.AuditLogVerifier {
	v := checks.NewAuditLogVerifier(f.st, f.key)
	v.FullEvery = every
	v.Now = func() time.Time { return f.now }
	return v
}

func verifyOnce(t *testing.T, v *checks.AuditLogVerifier) *checks.AuditVerification {
	t.Helper()
	av, err := v.VerifyAuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return av
}

func TestAuditLogVerifier(t *testing.T) {
	ctx := context.Background()
	t.Run("IncrementalAgreesWithFull", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			first, add int
			sign       bool
		}{
			{"NothingNew", 7, 0, false},
			{"NewSigned", 7, 9, true},
			{"NewUnsigned", 5, 3, false},
			{"FromOneEvent", 1, 30, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newAuditFixture(t, tc.first)
				v := f.verifier(100)
				if av := verifyOnce(t, v); !av.OK || av.Mode != "full" || av.Size != int64(tc.first) {
					t.Fatalf("first answer %+v, want a full verification of %d events", av, tc.first)
				}
				f.append(t, tc.add, tc.sign)
				av := verifyOnce(t, v)
				full, err := audit.Verify(ctx, f.st, f.key, audit.VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !av.OK || av.Mode != "incremental" || av.VerifiedFrom != int64(tc.first) || av.Size != full.Size ||
					av.Root != full.Root.String() || av.CheckpointSize != full.CheckpointSize || av.Unsigned != full.Unsigned {
					t.Fatalf("incremental answer %+v, full verification %+v", av, full)
				}
			})
		}
	})
	t.Run("NewEventTamperedFallsBackToFull", func(t *testing.T) {
		f := newAuditFixture(t, 6)
		v := f.verifier(100)
		verifyOnce(t, v)
		f.append(t, 4, false)
		if err := f.st.TamperSetLeaf(ctx, 8, []byte("not an event")); err != nil {
			t.Fatal(err)
		}
		av := verifyOnce(t, v)
		if av.OK || av.Mode != "full" || !strings.Contains(av.Problem, "event 8") {
			t.Fatalf("answer %+v, want a full verification naming event 8", av)
		}
	})
	t.Run("NewEventRewrittenWithLeafHashFallsBackToFull", func(t *testing.T) {
		// A new event and its stored leaf hash rewritten together: the
		// interior hashes above it no longer match the rebuilt tree.
		f := newAuditFixture(t, 6)
		v := f.verifier(100)
		verifyOnce(t, v)
		f.append(t, 4, false)
		e := audit.Event{Actor: "u-9", Party: "p-1", Action: "access.decide", Resource: "project/other", Stage: "collection",
			Purpose: "research", Decision: audit.Deny, Reason: "test", Time: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)}
		leaf, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.TamperSetLeaf(ctx, 8, leaf); err != nil {
			t.Fatal(err)
		}
		if err := f.st.TamperSetHash(ctx, tlog.StoredHashIndex(0, 8), tlog.RecordHash(leaf)); err != nil {
			t.Fatal(err)
		}
		if av := verifyOnce(t, v); av.OK || av.Mode != "full" {
			t.Fatalf("answer %+v, want a failed full verification", av)
		}
	})
	t.Run("ForgedCheckpointFallsBackToFull", func(t *testing.T) {
		f := newAuditFixture(t, 6)
		v := f.verifier(100)
		verifyOnce(t, v)
		v.VerifierKey = "other+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // no longer the log's key
		if av := verifyOnce(t, v); av.OK || av.Mode != "full" {
			t.Fatalf("answer %+v, want a failed full verification", av)
		}
	})
	t.Run("OldEventTamperedFoundByNextFull", func(t *testing.T) {
		const every = 3 // a full verification every third answer
		f := newAuditFixture(t, 10)
		v := f.verifier(every)
		if av := verifyOnce(t, v); !av.OK || av.Mode != "full" {
			t.Fatalf("first answer %+v", av)
		}
		// An old event (already verified) is rewritten behind the log's
		// back, stored hash untouched.
		if err := f.st.TamperSetLeaf(ctx, 2, []byte("rewritten")); err != nil {
			t.Fatal(err)
		}
		f.append(t, 2, true)
		// The incremental answers do not re-read it: that is what they
		// save, and what docs/checks.md says they do not prove.
		for i := range every - 1 {
			if av := verifyOnce(t, v); av.Mode != "incremental" || !av.OK {
				t.Fatalf("answer %d: %+v, want an incremental one", i+2, av)
			}
		}
		if av := verifyOnce(t, v); av.Mode != "full" || av.OK || !strings.Contains(av.Problem, "event 2") {
			t.Fatalf("answer %d: %+v, want the full verification to find event 2", every+1, av)
		}
		// Until the log is repaired, every answer stays full and failing.
		if av := verifyOnce(t, v); av.OK || av.Mode != "full" {
			t.Fatalf("fourth answer %+v", av)
		}
	})
	t.Run("StaleFullVerificationRepeated", func(t *testing.T) {
		f := newAuditFixture(t, 4)
		v := f.verifier(100)
		verifyOnce(t, v)
		f.now = f.now.Add(v.FullAfter)
		if av := verifyOnce(t, v); av.Mode != "full" || !av.OK {
			t.Fatalf("answer %+v, want a full verification once fullAfter passed", av)
		}
	})
}
