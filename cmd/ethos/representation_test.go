package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestCollectionRepresentation(t *testing.T) {
	td := filepath.Join(testenv.RepoRoot(t), "collection", "testdata")
	ref := filepath.Join(td, "reference.json")
	in := filepath.Join(td, "instances.csv")
	t.Run("JSONFromCSV", func(t *testing.T) {
		out, stderr, code := runCLI(t, "collection", "representation", "--in", in, "--reference", ref)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rep struct {
			Version int    `json:"version"`
			Check   string `json:"check"`
			Unit    string `json:"unit"`
			Units   int    `json:"units"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Version != 1 || rep.Check != "QC-COL-1" || rep.Unit != "subject" || rep.Units != 34 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("CSVReferenceAndCSVOutput", func(t *testing.T) {
		out, stderr, code := runCLI(t, "collection", "representation", "--in", in, "--reference", filepath.Join(td, "reference.csv"), "--format", "csv", "--floor", "0.9")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) < 10 || rows[0][0] != "row" {
			t.Fatalf("csv: %v, %d rows", err, len(rows))
		}
	})
	t.Run("HTMLFromDICOMToFile", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "rep.html")
		_, stderr, code := runCLI(t, "collection", "representation", "--dicom", testenv.DICOMDir(t), "--reference", ref, "--format", "html", "--out", dst)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(dst)
		if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "QC-COL-1") {
			t.Fatalf("html: %v", err)
		}
		if !strings.Contains(stderr, "not readable DICOM") {
			t.Fatalf("skipped files not reported: %q", stderr)
		}
	})
	t.Run("StableWithKeyFile", func(t *testing.T) {
		key := filepath.Join(t.TempDir(), "key")
		os.WriteFile(key, []byte(strings.Repeat("z", 40)), 0o600)
		a, _, _ := runCLI(t, "collection", "representation", "--dicom", testenv.DICOMDir(t), "--reference", ref, "--key-file", key)
		b, _, _ := runCLI(t, "collection", "representation", "--dicom", testenv.DICOMDir(t), "--reference", ref, "--key-file", key)
		if a != b || a == "" {
			t.Fatal("two runs with the same key file differ")
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"UsageNoInput", []string{"--reference", ref}, 2, "exactly one of --in and --dicom"},
		{"UsageBothInputs", []string{"--in", in, "--dicom", ".", "--reference", ref}, 2, "exactly one"},
		{"UsageNoReference", []string{"--in", in}, 2, "--reference is required"},
		{"UsageBadFormat", []string{"--in", in, "--reference", ref, "--format", "pdf"}, 2, "--format"},
		{"ErrBadReference", []string{"--in", in, "--reference", in}, 1, "reference"},
		{"UsageRecordNoProject", []string{"--in", in, "--reference", ref, "--record", "--token", "t"}, 2, "--record needs --project"},
		{"UsageRecordNotJSON", []string{"--in", in, "--reference", ref, "--record", "--project", "prj_x", "--token", "t", "--format", "csv"}, 2, "JSON report"},
		{"UsageProjectWithoutRecord", []string{"--in", in, "--reference", ref, "--project", "prj_x"}, 2, "--project goes with --record"},
		{"UsageRecordNoToken", []string{"--in", in, "--reference", ref, "--record", "--project", "prj_x"}, 2, "no token"},
		{"ErrRecordServerDown", []string{"--in", in, "--reference", ref, "--record", "--project", "prj_x", "--token", "t", "--server", "http://127.0.0.1:1"}, 1, "cannot reach the server"},
		{"ErrMissingFile", []string{"--in", "/nonexistent.csv", "--reference", ref}, 1, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"collection", "representation"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	t.Run("UsageNoSubcommand", func(t *testing.T) {
		if _, _, code := runCLI(t, "collection"); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})
}
