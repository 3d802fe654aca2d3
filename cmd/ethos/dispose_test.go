package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

// TestRetentionTicker checks that the sweep "ethos serve" starts disposes
// of an instance past its project's retention period at once (the first
// sweep runs at start), crypto-shreds its subject (nothing else is kept)
// and logs what it did without identifiers.
func TestRetentionTicker(t *testing.T) {
	f := newCollectionFixture(t, "")
	ctx := context.Background()
	c, err := openCollection(ctx, f.dir, "", f.steward)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: f.project, Purpose: ethos.PurposeResearch, RetentionDays: 1}); err != nil {
		t.Fatal(err)
	}
	k := ethos.SubjectKey(strings.Repeat("7", 64))
	keep := ethos.SubjectKey(strings.Repeat("8", 64))
	mk := func(subject ethos.SubjectKey, uid string, age time.Duration) *ethos.Instance {
		ref, err := c.blobs.Put(ctx, subject, strings.NewReader("bytes of "+uid))
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.instances.CreateInstance(ctx, &ethos.Instance{ProjectID: f.project, SOPInstanceUID: uid, Subject: subject, Status: ethos.InstanceStored,
			Blob: &ref, Source: "file:" + uid, ReceivedAt: time.Now().Add(-age), ReceivedBy: f.steward})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	old := mk(k, "1.2.3.1", 72*time.Hour)
	fresh := mk(keep, "1.2.3.2", time.Hour)
	var logs syncBuffer
	stop := startRetention(ctx, c.registry(), time.Hour, slog.New(slog.NewJSONHandler(&logs, nil)))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "retention sweep") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if !strings.Contains(logs.String(), `"instances":1`) || !strings.Contains(logs.String(), `"subjects_shredded":1`) {
		t.Fatalf("sweep log: %s", logs.String())
	}
	erased, stored := ethos.InstanceErased, ethos.InstanceStored
	if got, _, _ := c.instances.FindInstances(ctx, ethos.InstanceFilter{ID: &old.ID, Status: &erased}); len(got) != 1 {
		t.Errorf("the expired instance is not erased")
	}
	if got, _, _ := c.instances.FindInstances(ctx, ethos.InstanceFilter{ID: &fresh.ID, Status: &stored}); len(got) != 1 {
		t.Errorf("the instance within its period was disposed of")
	}
	if _, err := c.blobs.Open(ctx, *old.Blob); err == nil {
		t.Error("the expired blob still opens")
	}
	if rc, err := c.blobs.Open(ctx, *fresh.Blob); err != nil {
		t.Errorf("the kept blob: %v", err)
	} else {
		rc.Close()
	}
}
