package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"golang.org/x/mod/sumdb/tlog"
)

// The RFC 6962 definitions, written from section 2.1 with crypto/sha256
// only, as the independent reference the proofs are checked against.

func refLeaf(d []byte) [32]byte {
	return sha256.Sum256(append([]byte{0}, d...))
}

func refNode(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// split returns the largest power of two smaller than n (n > 1).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// refMTH is MTH(D[n]).
func refMTH(d [][]byte) [32]byte {
	switch len(d) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return refLeaf(d[0])
	}
	k := split(len(d))
	return refNode(refMTH(d[:k]), refMTH(d[k:]))
}

// refPath is PATH(m, D[n]), the audit path of leaf m, leaf side first.
func refPath(m int, d [][]byte) [][32]byte {
	if len(d) <= 1 {
		return nil
	}
	k := split(len(d))
	if m < k {
		return append(refPath(m, d[:k]), refMTH(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refMTH(d[:k]))
}

// refSubproof is SUBPROOF(m, D[n], b).
func refSubproof(m int, d [][]byte, b bool) [][32]byte {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return [][32]byte{refMTH(d)}
	}
	k := split(n)
	if m <= k {
		return append(refSubproof(m, d[:k], b), refMTH(d[k:]))
	}
	return append(refSubproof(m-k, d[k:], false), refMTH(d[:k]))
}

// refCheckPath recomputes the root from a leaf and its path, by the same
// recursion as PATH, so it needs no index arithmetic from tlog.
func refCheckPath(m, n int, leaf [32]byte, path [][32]byte) ([32]byte, error) {
	if n == 1 {
		if len(path) != 0 {
			return [32]byte{}, errors.New("path too long")
		}
		return leaf, nil
	}
	if len(path) == 0 {
		return [32]byte{}, errors.New("path too short")
	}
	k := split(n)
	top, rest := path[len(path)-1], path[:len(path)-1]
	if m < k {
		l, err := refCheckPath(m, k, leaf, rest)
		return refNode(l, top), err
	}
	r, err := refCheckPath(m-k, n-k, leaf, rest)
	return refNode(top, r), err
}

func hashes(hs []tlog.Hash) [][32]byte {
	out := make([][32]byte, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

func leaves(tb testing.TB, n int) [][]byte {
	var d [][]byte
	for i := range n {
		e := audittest.Event(i)
		b, err := e.MarshalCanonical()
		if err != nil {
			tb.Fatal(err)
		}
		d = append(d, b)
	}
	return d
}

func TestProofsMatchIndependentRFC6962(t *testing.T) {
	ctx := context.Background()
	const n = 70
	d := leaves(t, n)
	s := audit.NewMemStorage()
	l := audittest.MustLog(t, s)
	k := audittest.TestKey(t)
	cps := map[int][]byte{}
	for i := range n {
		if _, err := l.Append(ctx, audittest.Event(i)); err != nil {
			t.Fatal(err)
		}
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cps[i+1] = cp
	}

	t.Run("RootsEqualMTH", func(t *testing.T) {
		for size := 1; size <= n; size++ {
			c, err := audit.OpenCheckpoint(cps[size], k.Verifier)
			if err != nil {
				t.Fatal(err)
			}
			if c.Size != int64(size) || [32]byte(c.Root) != refMTH(d[:size]) {
				t.Fatalf("checkpoint %d: root differs from MTH", size)
			}
		}
	})

	t.Run("InclusionEqualsPATH", func(t *testing.T) {
		for _, size := range []int{1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 70} {
			for m := range size {
				p, err := l.InclusionProof(ctx, int64(m), int64(size))
				if err != nil {
					t.Fatal(err)
				}
				want := refPath(m, d[:size])
				if fmt.Sprint(hashes(p.Hashes)) != fmt.Sprint(want) {
					t.Fatalf("PATH(%d, D[%d]) differs from the proof", m, size)
				}
				root, err := refCheckPath(m, size, refLeaf(d[m]), hashes(p.Hashes))
				if err != nil || root != refMTH(d[:size]) {
					t.Fatalf("independent check of inclusion %d in %d failed: %v", m, size, err)
				}
				if err := audit.VerifyInclusion(p, d[m], cps[size], k.Verifier); err != nil {
					t.Fatalf("VerifyInclusion(%d in %d): %v", m, size, err)
				}
			}
		}
	})

	t.Run("ConsistencyEqualsPROOF", func(t *testing.T) {
		for _, newSize := range []int{1, 2, 5, 8, 13, 16, 17, 64, 70} {
			for oldSize := 1; oldSize <= newSize; oldSize++ {
				p, err := l.ConsistencyProof(ctx, int64(oldSize), int64(newSize))
				if err != nil {
					t.Fatal(err)
				}
				want := refSubproof(oldSize, d[:newSize], true)
				if fmt.Sprint(hashes(p.Hashes)) != fmt.Sprint(want) {
					t.Fatalf("PROOF(%d, D[%d]) differs from the proof", oldSize, newSize)
				}
				if err := audit.VerifyConsistency(p, cps[oldSize], cps[newSize], k.Verifier); err != nil {
					t.Fatalf("VerifyConsistency(%d→%d): %v", oldSize, newSize, err)
				}
			}
		}
	})

	t.Run("ErrProofOnLies", func(t *testing.T) {
		p, err := l.InclusionProof(ctx, 10, 40)
		if err != nil {
			t.Fatal(err)
		}
		bad := *p
		bad.Hashes = append([]tlog.Hash(nil), p.Hashes...)
		bad.Hashes[2][0] ^= 1
		wrongIndex := *p
		wrongIndex.Index = 11
		wrongIndex.LeafHash = tlog.Hash{}
		cons, err := l.ConsistencyProof(ctx, 20, 40)
		if err != nil {
			t.Fatal(err)
		}
		badCons := *cons
		badCons.Hashes = append([]tlog.Hash(nil), cons.Hashes...)
		badCons.Hashes[0][5] ^= 1
		otherSigner := func() []byte {
			sk, _, err := audit.GenerateKey("ethos-audit-test")
			if err != nil {
				t.Fatal(err)
			}
			signer, _ := audit.NewSigner(sk)
			c, _ := audit.OpenCheckpoint(cps[40], k.Verifier)
			b, err := audit.SignCheckpoint(c, signer)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}()
		tests := []struct {
			name string
			err  error
			want error
		}{
			{"ErrProofFlippedHash", audit.VerifyInclusion(&bad, d[10], cps[40], k.Verifier), audit.ErrProof},
			{"ErrProofWrongEvent", audit.VerifyInclusion(p, d[11], cps[40], k.Verifier), audit.ErrProof},
			{"ErrProofWrongIndex", audit.VerifyInclusion(&wrongIndex, d[10], cps[40], k.Verifier), audit.ErrProof},
			{"ErrProofOtherTreeSize", audit.VerifyInclusion(p, d[10], cps[41], k.Verifier), audit.ErrProof},
			{"ErrCheckpointOtherKey", audit.VerifyInclusion(p, d[10], otherSigner, k.Verifier), audit.ErrCheckpoint},
			{"ErrCheckpointEdited", audit.VerifyInclusion(p, d[10], bytes.Replace(cps[40], []byte("\n40\n"), []byte("\n41\n"), 1), k.Verifier), audit.ErrCheckpoint},
			{"ErrProofConsistencyFlipped", audit.VerifyConsistency(&badCons, cps[20], cps[40], k.Verifier), audit.ErrProof},
			{"ErrProofConsistencySwappedCheckpoints", audit.VerifyConsistency(cons, cps[21], cps[40], k.Verifier), audit.ErrProof},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if !errors.Is(tc.err, tc.want) {
					t.Fatalf("err = %v, want %v", tc.err, tc.want)
				}
			})
		}
	})

	t.Run("LeafForProof", func(t *testing.T) {
		leaf, e, err := l.Leaf(ctx, 17)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, d[17]) || e.RequestID != audittest.Event(17).RequestID {
			t.Fatalf("Leaf(17) = %s", leaf)
		}
		if _, _, err := l.Leaf(ctx, n); !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("Leaf past the end: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("JSONRoundTrip", func(t *testing.T) {
		p, _ := l.InclusionProof(ctx, 3, 9)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back audit.InclusionProof
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(&back, d[3], cps[9], k.Verifier); err != nil {
			t.Fatalf("proof read back from %s: %v", b, err)
		}
		if !bytes.HasPrefix(b, []byte(`{"index":3,"tree_size":9,"leaf_hash":"`)) {
			t.Fatalf("JSON form = %s", b)
		}
	})
}
