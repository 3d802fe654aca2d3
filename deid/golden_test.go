package deid_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden returns the contents of the golden file at path, first
// rewriting it with got under -update.
func golden(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	return want
}

// TestEffectiveTableGolden pins the effective table of the Basic Profile
// and of a common option set, as `ethos deid profile show` prints them:
// a change to the generated table, the type table or the option logic
// shows up as a diff here.
func TestEffectiveTableGolden(t *testing.T) {
	tests := []struct {
		name string
		opts deid.Options
	}{
		{"basic", 0},
		{"research", deid.Options(0).With(deid.RetainPatientCharacteristics, deid.RetainLongitudinalModifiedDates, deid.CleanDescriptors, deid.RetainSafePrivate)},
		{"clean", deid.Options(0).With(deid.CleanGraphics, deid.CleanStructuredContent, deid.CleanDescriptors, deid.CleanPixelData)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := deid.NewConfig(nil, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := cfg.WriteEffective(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "effective_"+tt.name+".golden")
			if want := golden(t, path, got.Bytes()); !bytes.Equal(got.Bytes(), want) {
				t.Errorf("effective table differs from %s (run with -update after checking the change)", path)
			}
		})
	}
}
