package collection_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/google/go-cmp/cmp"
)

// corpusCSV writes the attributes of the DICOM corpus as an instances CSV:
// the real values the fuzzers start from.
func corpusCSV(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	cols := append([]string{"instance"}, ethos.StandardAttributes...)
	w.Write(cols)
	for _, p := range corpusFiles(tb) {
		f, err := dicom.ParseFile(p, dicom.SkipPixelData())
		if err != nil {
			continue
		}
		ia := collection.DICOMAttributes{}.AttributesFromDICOM(&f.Dataset)
		row := []string{ia.Instance}
		for _, a := range ethos.StandardAttributes {
			row = append(row, ia.Attributes[a])
		}
		w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}

// FuzzReadInstancesCSV: any input is read or refused with a coded error;
// what is read yields a report whose JSON form reads back equal.
func FuzzReadInstancesCSV(f *testing.F) {
	f.Add(corpusCSV(f))
	if b, err := os.ReadFile(filepath.Join("testdata", "instances.csv")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("sex,age,label\nF,45,1\n"))
	_, ref := mustInputs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := collection.ReadInstancesCSV(bytes.NewReader(data))
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		r, err := collection.Represent(recs, ref)
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var back collection.Report
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, &back); diff != "" {
			t.Fatalf("JSON round trip (-want +got):\n%s", diff)
		}
		if err := r.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteHTML(&b); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzReadReference: a reference that reads is valid, and writing it as
// JSON reads back equal.
func FuzzReadReference(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "reference.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"name":"x","floor":0.8,"small_group":3,"expected":{"sex":{"F":0.5,"M":0.5}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, err := collection.ReadReference(bytes.NewReader(data))
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID && !strings.Contains(err.Error(), "read reference") {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		if err := ref.Validate(); err != nil {
			t.Fatalf("read but invalid: %v", err)
		}
		b, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		back, err := collection.ReadReference(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if diff := cmp.Diff(ref, back); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// FuzzIngestBytes: whatever bytes arrive, ingest decides without an error
// of its own: the instance is stored, and its blob reads back as the
// bytes, or quarantined with a reason. Seeds: the canary files (every
// outcome of the fixture's rules) and their headers cut short.
func FuzzIngestBytes(f *testing.F) {
	fx := setupTB(f)
	for _, name := range []string{"shard0/ct_00000.dcm", "shard0/mr_00002.dcm", "shard0/xa_00006.dcm", "shard0/ctsmall_00010.dcm", "shard1/ct_00001.dcm"} {
		b, err := os.ReadFile(filepath.Join(fx.canary, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:min(len(b), 600)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		res, err := fx.ing.IngestBatch(ctx, fx.batch, []collection.Item{{Source: "fuzz", Data: data}})
		if err != nil {
			t.Fatalf("ingest failed on its own: %v", err)
		}
		in := res[0].Instance
		switch in.Status {
		case ethos.InstanceStored:
			if in.Blob == nil {
				t.Fatal("stored without a blob")
			}
			if res[0].Duplicate {
				return // an earlier input's blob
			}
			rc, err := fx.blobs.Open(ctx, *in.Blob)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob reads back %d bytes (%v), want the %d ingested", len(got), err, len(data))
			}
		case ethos.InstanceQuarantined:
			if in.Reason == "" {
				t.Fatalf("quarantined without a reason: %s", in.Detail)
			}
		default:
			t.Fatalf("status %s", in.Status)
		}
	})
}
