package audit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos/audit"
)

// A server logs access decisions; an auditor, holding only the verifier
// key, checks one event's inclusion and the whole log.
func Example() {
	ctx := context.Background()
	signerKey, verifierKey, err := audit.GenerateKey("ethos-audit.example-hospital.org")
	if err != nil {
		panic(err)
	}
	signer, err := audit.NewSigner(signerKey)
	if err != nil {
		panic(err)
	}
	store := audit.NewMemStorage()
	log := audit.NewLog(store, signer)
	log.Now = func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }
	if err := log.Open(ctx); err != nil {
		panic(err)
	}
	for _, d := range []string{audit.Allow, audit.Deny, audit.Allow} {
		i, err := log.Append(ctx, audit.Event{
			Actor: "u-7", Party: "p-2", Action: "access.decide", Resource: "project/p1",
			Stage: "training", Purpose: "ai-training", Decision: d, Reason: "matrix:training/private=limited",
		})
		if err != nil {
			panic(err)
		}
		fmt.Println("logged event", i)
	}
	checkpoint, err := log.Checkpoint(ctx)
	if err != nil {
		panic(err)
	}

	// The auditor's side.
	proof, err := log.InclusionProof(ctx, 1, 3)
	if err != nil {
		panic(err)
	}
	leaf, event, err := log.Leaf(ctx, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("event 1:", event.Decision, event.Resource)
	fmt.Println("inclusion:", audit.VerifyInclusion(proof, leaf, checkpoint, verifierKey))
	rep, err := audit.Verify(ctx, store, verifierKey, audit.VerifyOptions{})
	fmt.Println("verified", rep.Size, "events, error:", err)
	// Output:
	// logged event 0
	// logged event 1
	// logged event 2
	// event 1: deny project/p1
	// inclusion: <nil>
	// verified 3 events, error: <nil>
}
