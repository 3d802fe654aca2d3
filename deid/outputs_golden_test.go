package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/deid/batch"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestCorpusOutputsGolden pins every output byte: each input of the shared
// corpus is de-identified under a fixed key, as `ethos deid` runs it (the
// output created by the engine once named, no digests), and the status,
// output name and SHA-256 of each written file must match
// testdata/outputs_<name>.golden. A change that should not change any
// output (speed work in the reader, the engine or the writer) must leave
// these files alone; one that should is checked file by file and then
// rewritten with -update.
func TestCorpusOutputsGolden(t *testing.T) {
	dir := testenv.DICOMDir(t)
	tests := []struct {
		name string
		opts deid.Options
	}{
		{"basic", 0},
		{"research", deid.Options(0).With(deid.RetainPatientCharacteristics, deid.RetainLongitudinalModifiedDates, deid.CleanDescriptors, deid.RetainSafePrivate, deid.CleanStructuredContent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := deid.NewConfig(nil, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := deid.NewKeys([]byte(corpusSecret))
			if err != nil {
				t.Fatal(err)
			}
			e := deid.NewEngine(cfg, keys)
			e.Software = "ethos golden"
			out := filepath.Join(t.TempDir(), "out")
			res, err := batch.Run(context.Background(), batch.Options{In: dir, Out: out, Processor: toProcessor{engineProcessor: engineProcessor{e}},
				Sync: batch.SyncNone, NoHash: true, NoRecord: true, Workers: 1}) // one worker: of duplicate instances, the first in walk order is written
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for _, f := range res.Files {
				sum := "-"
				if f.Status == batch.Written {
					b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Output)))
					if err != nil {
						t.Fatal(err)
					}
					s := sha256.Sum256(b)
					sum = hex.EncodeToString(s[:])
				}
				fmt.Fprintf(&got, "%s %s %s %s\n", f.Input, f.Status, orDash(f.Output), sum)
			}
			want := golden(t, filepath.Join("testdata", "outputs_"+tt.name+".golden"), got.Bytes())
			if !bytes.Equal(got.Bytes(), want) {
				gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
				for i := range max(len(gl), len(wl)) {
					var g, w []byte
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if !bytes.Equal(g, w) {
						t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
					}
				}
			}
		})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
