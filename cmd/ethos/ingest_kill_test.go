package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

const killIssuer = "urn:oid:2.999.4711.9"

// makeIngestCorpus writes n instances built from the canary CT and MR:
// two per patient (KILLnnnnn), each with a new SOP Instance UID, and a
// FHIR Bundle of consents permitting research for every patient.
func makeIngestCorpus(t *testing.T, dir string, n int) (consents string) {
	t.Helper()
	canary := filepath.Join(testenv.DICOMDir(t), "canary", "shard0")
	var templates []*dicom.File
	for _, name := range []string{"ct_00000.dcm", "mr_00002.dcm"} {
		f, err := dicom.ParseFile(filepath.Join(canary, name))
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, f)
	}
	var entries []string
	for i := range n {
		pid := fmt.Sprintf("KILL%05d", i/2)
		if i%2 == 0 {
			entries = append(entries, fmt.Sprintf(`{"resource": {"resourceType": "Consent", "id": "kill-%d", "status": "active",
 "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
 "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
 "patient": {"identifier": {"system": %q, "value": %q}}, "dateTime": "2000-01-01T00:00:00Z",
 "policy": [{"uri": "https://irb.example.org/protocols/KILL-TEST"}],
 "provision": {"type": "permit", "period": {"start": "1900-01-01"},
  "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}}}`, i/2, killIssuer, pid))
		}
		f := templates[i%2]
		uid, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		if err != nil {
			t.Fatal(err)
		}
		sop := "2.25." + uid.String()
		for _, set := range []struct {
			ds  *dicom.Dataset
			tag tag.Tag
			vr  vr.VR
			v   string
		}{
			{&f.Dataset, tag.PatientID, vr.LO, pid},
			{&f.Dataset, tag.IssuerOfPatientID, vr.LO, killIssuer},
			{&f.Dataset, tag.SOPInstanceUID, vr.UI, sop},
			{f.Meta, tag.MediaStorageSOPInstanceUID, vr.UI, sop},
		} {
			if err := set.ds.SetText(set.tag, set.vr, set.v); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := dicom.Write(&buf, f); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprintf("p%05d", i/2))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("%d.dcm", i%2)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	consents = filepath.Join(filepath.Dir(dir), "consents.json")
	bundle := `{"resourceType": "Bundle", "type": "collection", "entry": [` + strings.Join(entries, ",\n") + "]}"
	if err := os.WriteFile(consents, []byte(bundle), 0o600); err != nil {
		t.Fatal(err)
	}
	return consents
}

// TestKill9MidIngest kills a real "ethos ingest" process with SIGKILL
// after some instances were acknowledged, runs it again over the same
// corpus and checks that every acknowledged instance is stored, that no
// SOP Instance UID is stored twice, that every stored record's blob
// decrypts to its source file, that no blob is left without a record and
// that the audit log verifies.
func TestKill9MidIngest(t *testing.T) {
	f := newCollectionFixture(t, "")
	corpus := filepath.Join(t.TempDir(), "corpus")
	const n = 160
	consents := makeIngestCorpus(t, corpus, n)
	for _, args := range [][]string{
		{"ingest", "rules", "--data", f.dir, "--user", f.steward, "--project", f.project, "--purpose", "research", "--modalities", "CT,MR"},
		{"consent", "import", "--data", f.dir, "--user", f.steward, "--project", f.project, consents},
	} {
		if _, stderr, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
	bin := ethosBinary(t)
	ingest := func() *exec.Cmd {
		return exec.Command(bin, "ingest", "--data", f.dir, "--user", f.steward, "--project", f.project, "--json", corpus)
	}
	// First run: kill -9 after 10 acknowledgements.
	cmd := ingest()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		Source   string         `json:"source"`
		Instance ethos.Instance `json:"instance"`
	}
	var acked []ack
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var a ack
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ingest output %q: %v", sc.Text(), err)
		}
		if a.Instance.Status != ethos.InstanceStored {
			t.Fatalf("%s: %s %s", a.Source, a.Instance.Status, a.Instance.Detail)
		}
		acked = append(acked, a)
		if len(acked) == 10 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if len(acked) != 10 {
		t.Fatalf("the first run acknowledged %d instances before it ended (%s); want it killed after 10", len(acked), stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the first run was not killed: %v", cmd.ProcessState)
	}
	// Second run over the whole corpus.
	out, err := ingest().Output()
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	dups := 0
	for line := range strings.Lines(string(out)) {
		var a struct {
			Duplicate bool           `json:"duplicate"`
			Instance  ethos.Instance `json:"instance"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("second run output %q: %v", line, err)
		}
		if a.Instance.Status != ethos.InstanceStored {
			t.Fatalf("second run: %s %s", a.Instance.Status, a.Instance.Detail)
		}
		if a.Duplicate {
			dups++
		}
	}
	if dups < len(acked) {
		t.Errorf("second run found %d duplicates, want at least the %d acknowledged", dups, len(acked))
	}

	ctx := context.Background()
	c, err := openCollection(ctx, f.dir, "", f.steward)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stored := ethos.InstanceStored
	ins, total, err := c.instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &f.project, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if total != n {
		t.Fatalf("%d instance records, want %d (one per SOP Instance UID, no quarantine)", total, n)
	}
	byID := map[string]*ethos.Instance{}
	uids := map[string]bool{}
	blobs := map[string]bool{}
	for _, in := range ins {
		if in.Status != stored {
			t.Errorf("%s: %s", in.ID, in.Status)
		}
		if uids[in.SOPInstanceUID] {
			t.Errorf("SOP Instance UID %s stored twice", in.SOPInstanceUID)
		}
		uids[in.SOPInstanceUID] = true
		byID[in.ID] = in
		blobs[in.Blob.Digest] = true
		rc, err := c.blobs.Open(ctx, *in.Blob)
		if err != nil {
			t.Errorf("%s: blob does not open: %v", in.ID, err)
			continue
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		want, _ := os.ReadFile(filepath.Join(corpus, strings.TrimPrefix(in.Source, "file:")))
		if err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: blob does not decrypt to %s (%v)", in.ID, in.Source, err)
		}
	}
	for _, a := range acked {
		if in := byID[a.Instance.ID]; in == nil || in.SOPInstanceUID != a.Instance.SOPInstanceUID {
			t.Errorf("acknowledged instance %s (%s) lost", a.Instance.ID, a.Source)
		}
	}
	var files []string
	filepath.WalkDir(filepath.Join(f.dir, blobDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.Base(p))
		}
		return nil
	})
	if len(files) != len(blobs) {
		t.Errorf("%d files in the blob store, %d blobs referenced: %v", len(files), len(blobs), files[:min(len(files), 5)])
	}
	for _, name := range files {
		if !blobs[name] {
			t.Errorf("blob file %s has no instance record", name)
		}
	}
	if out, stderr, code := runCLI(t, "audit", "verify", "--data", f.dir); code != 0 {
		t.Errorf("audit verify after kill -9: %d %s %s", code, out, stderr)
	}
}
