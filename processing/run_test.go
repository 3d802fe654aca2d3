package processing_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/processing"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	run, err := f.proc.Run(ctx, f.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RecordComplete", func(t *testing.T) {
		if run.Inputs != len(testFiles) || run.Written+run.Quarantined != run.Inputs {
			t.Fatalf("inputs %d written %d quarantined %d, want %d inputs", run.Inputs, run.Written, run.Quarantined, len(testFiles))
		}
		if run.KeyFingerprint == "" || strings.Contains(run.KeyFingerprint, "project-secret") {
			t.Errorf("key fingerprint %q", run.KeyFingerprint)
		}
		if len(run.Profile.Hash) < 16 || run.Software != "ethos test" || run.StartedBy != f.access.UserID {
			t.Errorf("profile %+v software %q by %q", run.Profile, run.Software, run.StartedBy)
		}
		for _, a := range []string{"remove", "uid", "dummy"} {
			if run.Actions[a] == 0 {
				t.Errorf("no %q actions counted: %v", a, run.Actions)
			}
		}
		got, err := f.runs.ProcessingRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(run)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("stored record differs from the returned one:\n%s\n%s", a, b)
		}
	})
	t.Run("BurnedInTextQuarantined", func(t *testing.T) {
		// Secondary captures and XA without BurnedInAnnotation = NO, and
		// instances that declare burned-in text, may show identifiers in
		// the pixels: without a Clean Pixel Data region they are held back.
		quarantined := map[string]bool{
			"pydicom/image_dfl.dcm": true, "pydicom/GDCMJ2K_TextGBR.dcm": true, "pydicom/SC_rgb_small_odd.dcm": true,
			"canary/shard0/ctsmall_00010.dcm": true, "canary/shard0/ct_00000.dcm": true,
			"canary/shard0/xa_00006.dcm": true, "canary/shard1/xa_00007.dcm": true,
		}
		for _, rel := range testFiles {
			it := item(t, run, f.byFile[rel].ID)
			if got := it.Status == ethos.ItemQuarantined; got != quarantined[rel] {
				t.Errorf("%s: status %s, reasons %v", rel, it.Status, it.Reasons)
				continue
			}
			if quarantined[rel] && (it.Output != nil || !strings.Contains(strings.Join(it.Reasons, ";"), "burned-in")) {
				t.Errorf("%s: quarantined with output or without the reason: %+v", rel, it)
			}
		}
	})
	t.Run("OutputsUnderSubjectKeyAndHashesTrue", func(t *testing.T) {
		for _, it := range run.Items {
			in := f.instanceByID(t, it.InstanceID)
			if got := blobSHA(t, f, *in.Blob); got != it.InputSHA256 {
				t.Errorf("%s: input sha256 %s, stored bytes hash %s", it.InstanceID, it.InputSHA256, got)
			}
			if it.Status != ethos.ItemWritten {
				continue
			}
			if it.Output.Subject != in.Subject {
				t.Errorf("%s: output under another subject", it.InstanceID)
			}
			if got := blobSHA(t, f, *it.Output); got != it.OutputSHA256 {
				t.Errorf("%s: output sha256 %s, stored bytes hash %s", it.InstanceID, it.OutputSHA256, got)
			}
			if it.OutputSHA256 == it.InputSHA256 || !strings.HasPrefix(it.OutputUID, "2.25.") || it.PseudoID == "" {
				t.Errorf("%s: output not de-identified: %+v", it.InstanceID, it)
			}
			if it.PixelCheck != ethos.PixelCheckIdentical || it.PixelCleaned || it.PixelSHA256 != "" {
				t.Errorf("%s: pixel check %q cleaned %v digest %q", it.InstanceID, it.PixelCheck, it.PixelCleaned, it.PixelSHA256)
			}
			// What the record says was checked holds: the stored
			// input's and output's pixel data, parsed again here.
			if in, out := processing.PixelSum(blobBytes(t, f, *in.Blob)), processing.PixelSum(blobBytes(t, f, *it.Output)); in == "" || in != out {
				t.Errorf("%s: recorded pixels identical, but stored input's pixel sha256 %.12s, output's %.12s", it.InstanceID, in, out)
			}
		}
	})
	t.Run("Lineage", func(t *testing.T) {
		rn := ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: run.ID}
		if !f.lineage.has(rn, ethos.RelWasAssociatedWith, ethos.LineageNode{Kind: ethos.LineageAgent, ID: f.access.UserID}) {
			t.Error("run not associated with its agent")
		}
		for _, it := range run.Items {
			src := ethos.LineageNode{Kind: ethos.LineageInstance, ID: it.InstanceID}
			if !f.lineage.has(rn, ethos.RelUsed, src) {
				t.Errorf("run did not use %s", it.InstanceID)
			}
			out := ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: processing.DeidNodeID(run.ID, it.InstanceID)}
			written := it.Status == ethos.ItemWritten
			if f.lineage.has(out, ethos.RelWasDerivedFrom, src) != written || f.lineage.has(out, ethos.RelWasGeneratedBy, rn) != written {
				t.Errorf("%s: output lineage does not match status %s", it.InstanceID, it.Status)
			}
		}
	})
	t.Run("AuditedWithoutIdentifiers", func(t *testing.T) {
		b, _ := json.Marshal(f.audit.events)
		if !strings.Contains(string(b), "processing-run/"+run.ID) {
			t.Errorf("run not audited: %s", b)
		}
		for _, s := range []string{"CompressedSamples", "phantom", "2.25.31415926"} {
			if strings.Contains(string(b), s) {
				t.Errorf("audit log contains %q", s)
			}
		}
	})
	t.Run("SameKeySamePseudonyms", func(t *testing.T) {
		again, err := f.proc.Run(ctx, f.request(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range again.Items {
			if it.OutputUID != run.Items[i].OutputUID || it.PseudoID != run.Items[i].PseudoID {
				t.Errorf("%s: pseudonyms differ between runs with one key", it.InstanceID)
			}
		}
	})
}

func TestRunRetainPatientCharacteristics(t *testing.T) {
	f := setup(t, "canary/shard0/ct_00000.dcm", "pydicom/CT_small.dcm")
	run, err := f.proc.Run(context.Background(), f.request(t, "retain-patient-characteristics"))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range run.Items {
		if it.Status == ethos.ItemWritten && it.Attributes["sex"] == "" {
			t.Errorf("%s: sex not kept under Retain Patient Characteristics: %v", it.InstanceID, it.Attributes)
		}
	}
	basic, err := f.proc.Run(context.Background(), f.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range basic.Items {
		if len(it.Attributes) != 0 {
			t.Errorf("%s: basic profile kept %v", it.InstanceID, it.Attributes)
		}
	}
}

func TestRunRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("EFORBIDDEN", func(t *testing.T) {
		f := setup(t, "pydicom/CT_small.dcm")
		req := f.request(t, "")
		req.Access.Roles = nil
		_, err := f.proc.Run(ctx, req)
		if ethos.ErrorCode(err) != ethos.EFORBIDDEN {
			t.Fatalf("err %v, want forbidden", err)
		}
		if n := f.recordedRuns(t); n != 0 {
			t.Errorf("%d runs recorded after a refusal", n)
		}
		if len(f.audit.events) != 1 || f.audit.events[0].Decision != "deny" {
			t.Errorf("refusal not audited: %+v", f.audit.events)
		}
	})
	t.Run("EINVALIDWithoutInstances", func(t *testing.T) {
		f := setup(t, "pydicom/CT_small.dcm")
		other := *f.project
		other.ID = ethos.NewID("prj")
		req := f.request(t, "")
		req.Project = &other
		if _, err := f.proc.Run(ctx, req); ethos.ErrorCode(err) != ethos.EINVALID {
			t.Fatalf("err %v, want invalid", err)
		}
	})
}

// TestPixelMismatchFailsRun alters the pixel data of the engine's output
// (through a test hook between the engine and the check): the run fails
// and nothing is stored, recorded or linked.
// TestRunPathsAgree runs the same instances through each path: in
// memory with the input digest recorded at ingest (the engine hashing
// nothing, the output sharing the input's pixel data), in memory with the
// engine hashing the input (instances stored before the digest was
// recorded), and staged in files (instances above MaxInMemory). The
// items recorded, digests and stored outputs included, are the same.
func TestRunPathsAgree(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	paths := []struct {
		name  string
		limit int64
		hash  bool
	}{{"InMemoryDigestKnown", 0, false}, {"InMemoryEngineHashes", 0, true}, {"Staged", -1, false}}
	var items []string
	for _, p := range paths {
		f.proc.MaxInMemory = p.limit
		if p.hash {
			processing.HashInputs(f.proc)
		}
		run, err := f.proc.Run(ctx, f.request(t, ""))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if run.Written == 0 {
			t.Fatalf("%s: nothing written", p.name)
		}
		b, _ := json.Marshal(run.Items)
		items = append(items, string(b))
	}
	for i := 1; i < len(items); i++ {
		if items[i] != items[0] {
			t.Errorf("%s and %s runs recorded different items:\n%s\n%s", paths[0].name, paths[i].name, items[0], items[i])
		}
	}
}

// TestRunInputDigest: a run records the input digest ingest recorded
// when the blob's address confirms it, hashes inputs recorded without
// one, and fails on a recorded digest the blob's address refutes.
func TestRunInputDigest(t *testing.T) {
	ctx := context.Background()
	root := testenv.DICOMDir(t)
	t.Run("NotRecordedHashed", func(t *testing.T) {
		f := setup(t, "canary/shard0/mr_00002.dcm")
		in := f.putDigest(t, root, "pydicom/CT_small.dcm", func(string) string { return "" })
		run, err := f.proc.Run(ctx, f.request(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		if it := item(t, run, in.ID); it.InputSHA256 != blobSHA(t, f, *in.Blob) {
			t.Errorf("input sha256 %s, stored bytes hash %s", it.InputSHA256, blobSHA(t, f, *in.Blob))
		}
		for _, it := range run.Items {
			if rec := f.instanceByID(t, it.InstanceID).SHA256; rec != "" && rec != it.InputSHA256 {
				t.Errorf("%s: input sha256 %s, recorded at ingest %s", it.InstanceID, it.InputSHA256, rec)
			}
		}
	})
	t.Run("ErrRefutedByAddress", func(t *testing.T) {
		f := setup(t, "canary/shard0/mr_00002.dcm")
		other := sha256.Sum256([]byte("another file"))
		f.putDigest(t, root, "pydicom/CT_small.dcm", func(string) string { return hex.EncodeToString(other[:]) })
		_, err := f.proc.Run(ctx, f.request(t, ""))
		if err == nil || !strings.Contains(err.Error(), "recorded at ingest") {
			t.Fatalf("err %v, want the recorded digest refuted", err)
		}
		if n := f.recordedRuns(t); n != 0 {
			t.Errorf("%d runs recorded", n)
		}
	})
}

func TestPixelMismatchFailsRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		hash  bool
	}{{"InMemoryDigestKnown", 0, false}, {"InMemoryEngineHashes", 0, true}, {"Staged", -1, false}} {
		t.Run(tc.name, func(t *testing.T) { pixelMismatchFailsRun(t, tc.limit, tc.hash) })
	}
}

func pixelMismatchFailsRun(t *testing.T, maxInMemory int64, hashInputs bool) {
	ctx := context.Background()
	f := setup(t, "canary/shard0/ct_00000.dcm", "pydicom/CT_small.dcm")
	f.proc.MaxInMemory = maxInMemory
	if hashInputs {
		processing.HashInputs(f.proc)
	}
	processing.SetTamper(f.proc, flipLastByte)
	_, err := f.proc.Run(ctx, f.request(t, ""))
	if pe, ok := errors.AsType[*processing.PixelError](err); !ok || !errors.Is(err, processing.ErrPixelMismatch) {
		t.Fatalf("err %v, want a pixel error", err)
	} else if !strings.Contains(pe.Detail, "(7FE0,0010)") || !strings.Contains(pe.Detail, "differs from byte") {
		t.Errorf("pixel error does not say where: %v", pe)
	}
	if n := f.recordedRuns(t); n != 0 {
		t.Errorf("%d runs recorded after a failed run", n)
	}
	if len(f.lineage.edges) != 0 {
		t.Errorf("%d lineage edges recorded after a failed run", len(f.lineage.edges))
	}
}

// TestShiftedPixelsFailRun: an engine that writes its output's pixel
// data from the wrong place in the input (2 bytes back, still the
// input's own memory, which the output then shares) fails the check on both
// in-memory paths.
func TestShiftedPixelsFailRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash bool
	}{{"InMemoryDigestKnown", false}, {"InMemoryEngineHashes", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, "canary/shard1/ct_00001.dcm", "canary/shard0/mrbig_00004.dcm")
			if tc.hash {
				processing.HashInputs(f.proc)
			}
			processing.SetShift(f.proc, -2)
			_, err := f.proc.Run(context.Background(), f.request(t, ""))
			if _, ok := errors.AsType[*processing.PixelError](err); !ok {
				t.Fatalf("err %v, want a pixel error", err)
			}
			if n := f.recordedRuns(t); n != 0 {
				t.Errorf("%d runs recorded after a failed run", n)
			}
		})
	}
}

// flipLastByte changes the last byte of an output (inside the pixel data
// of an instance whose Pixel Data is its last element).
func flipLastByte(b []byte) { b[len(b)-1] ^= 0xff }

func item(t *testing.T, run *ethos.ProcessingRun, id string) *ethos.ProcessingItem {
	t.Helper()
	for i := range run.Items {
		if run.Items[i].InstanceID == id {
			return &run.Items[i]
		}
	}
	t.Fatalf("no item for %s", id)
	return nil
}

func (f *fixture) instanceByID(t *testing.T, id string) *ethos.Instance {
	t.Helper()
	ins, _, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ID: &id})
	if err != nil || len(ins) != 1 {
		t.Fatalf("instance %s: %v", id, err)
	}
	return ins[0]
}

func blobBytes(t *testing.T, f *fixture, ref ethos.BlobRef) []byte {
	t.Helper()
	rc, err := f.blobs.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobSHA(t *testing.T, f *fixture, ref ethos.BlobRef) string {
	t.Helper()
	rc, err := f.blobs.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordedRuns is the number of processing runs recorded; a failed read
// fails the test rather than counting as none.
func (f *fixture) recordedRuns(t *testing.T) int {
	t.Helper()
	_, n, err := f.runs.FindProcessingRuns(context.Background(), ethos.ProcessingRunFilter{})
	if err != nil {
		t.Fatalf("find processing runs: %v", err)
	}
	return n
}
