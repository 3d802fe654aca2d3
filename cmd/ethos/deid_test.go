package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestDeidUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"UsageMissingDirs", []string{"deid"}, "--in and --out are required"},
		{"UsageUnknownOption", []string{"deid", "--in", "a", "--out", "b", "--option", "retain-all"}, "unknown option"},
		{"UsageBadSync", []string{"deid", "--in", "a", "--out", "b", "--sync", "sometimes"}, "sync mode"},
		{"UsageProfileWithoutShow", []string{"deid", "profile"}, "want 'show'"},
		{"UsageExclusiveDates", []string{"deid", "profile", "show", "--option", "retain-longitudinal-full-dates,retain-longitudinal-modified-dates"}, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("code %d stderr %q, want 2 and %q", code, stderr, tt.wantErr)
			}
		})
	}
}

func TestDeidProfileShow(t *testing.T) {
	t.Run("OKText", func(t *testing.T) {
		out, stderr, code := runCLI(t, "deid", "profile", "show")
		if code != 0 {
			t.Fatalf("code %d: %s", code, stderr)
		}
		for _, want := range []string{"(0010,0010)", "Patient's Name", "keyed pseudonym", "profile hash: sha256:", "(60xx,3000)"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
	t.Run("OKJSONWithOptionAndProfile", func(t *testing.T) {
		prof := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(prof, []byte(`{"overrides":[{"tag":"(0008,1030)","action":"keep","reason":"study label is coded"}]}`), 0o600)
		out, stderr, code := runCLI(t, "deid", "profile", "show", "--json", "--option", "retain-uids", "--profile", prof)
		if code != 0 {
			t.Fatalf("code %d: %s", code, stderr)
		}
		var v struct {
			Options string `json:"options"`
			Rows    []struct {
				Tag    string `json:"tag"`
				Action string `json:"action"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range v.Rows {
			got[r.Tag] = r.Action
		}
		if v.Options != "retain-uids" || got["(0020,000D)"] != "keep" || got["(0008,1030)"] != "keep" || got["(0010,0030)"] != "zero" {
			t.Errorf("options %q, study UID %q, study description %q, birth date %q", v.Options, got["(0020,000D)"], got["(0008,1030)"], got["(0010,0030)"])
		}
	})
	t.Run("ErrBadProfile", func(t *testing.T) {
		prof := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(prof, []byte(`{"overides":[]}`), 0o600)
		_, stderr, code := runCLI(t, "deid", "profile", "show", "--profile", prof)
		if code != 1 || !strings.Contains(stderr, "unknown field") {
			t.Errorf("code %d stderr %q", code, stderr)
		}
	})
}

// copyTree copies the canary shard and adds a file that is not DICOM.
func copyTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.DICOMDir(t), "canary", "shard1")
	dst := filepath.Join(t.TempDir(), "in")
	os.MkdirAll(filepath.Join(dst, "sub"), 0o755)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, "sub", e.Name()), b, 0o644)
	}
	os.WriteFile(filepath.Join(dst, "notes.txt"), []byte("not an image"), 0o644)
	return dst
}

type testReport struct {
	Software string `json:"software"`
	Profile  struct {
		Hash  string   `json:"hash"`
		Codes []string `json:"codes"`
	} `json:"profile"`
	Key struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"key"`
	Summary struct {
		Files, Written, Quarantined, Failed, Resumed int
	} `json:"summary"`
	Actions []struct {
		Tag    string         `json:"tag"`
		Counts map[string]int `json:"counts"`
	} `json:"actions"`
	Groups []struct {
		Sex, AgeBand                        string
		Files, Written, Quarantined, Failed int
	} `json:"groups"`
	Files []struct {
		Input, Output, Status string
		Reasons               []string
		InputSha256           string `json:"inputSha256"`
		OutputSha256          string `json:"outputSha256"`
		Group                 map[string]string
	} `json:"files"`
}

func TestDeidRun(t *testing.T) {
	in := copyTree(t)
	root := t.TempDir()
	out, quar, rep := filepath.Join(root, "out"), filepath.Join(root, "quar"), filepath.Join(root, "report.json")
	keyFile := filepath.Join(root, "key")
	secret := "the project secret for this test"
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"deid", "--in", in, "--out", out, "--quarantine", quar, "--report", rep, "--key-file", keyFile,
		"--option", "retain-patient-characteristics,clean-descriptors", "--workers", "3", "--sync", "none"}
	stdout, stderr, code := runCLI(t, args...)
	if code != 1 {
		t.Fatalf("exit code %d (a non-DICOM file must fail the run), stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "1 failed") {
		t.Errorf("summary line: %q", stdout)
	}
	raw, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) || strings.Contains(strings.ToUpper(string(raw)), "CANARY") {
		t.Fatal("report holds the key or an identifier")
	}
	var r testReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Files != 7 || r.Summary.Failed != 1 || r.Summary.Written+r.Summary.Quarantined != 6 {
		t.Errorf("summary %+v", r.Summary)
	}
	if !strings.HasPrefix(r.Key.Fingerprint, "hkdf-sha256:") || !strings.HasPrefix(r.Profile.Hash, "sha256:") || !strings.HasPrefix(r.Software, "ethos ") {
		t.Errorf("record header: %q %q %q", r.Key.Fingerprint, r.Profile.Hash, r.Software)
	}
	if strings.Join(r.Profile.Codes, ",") != "DCM 113100,DCM 113108,DCM 113105" {
		t.Errorf("codes %v", r.Profile.Codes)
	}
	total := 0
	for _, g := range r.Groups {
		total += g.Files
		if g.Written+g.Quarantined+g.Failed > g.Files {
			t.Errorf("group %+v does not add up", g)
		}
	}
	if total != r.Summary.Files || len(r.Groups) < 2 {
		t.Errorf("groups %+v cover %d of %d files", r.Groups, total, r.Summary.Files)
	}
	if len(r.Actions) < 20 {
		t.Errorf("only %d tags in the action counts", len(r.Actions))
	}
	for _, f := range r.Files {
		switch f.Status {
		case "written":
			if len(f.InputSha256) != 64 || len(f.OutputSha256) != 64 || f.Output == "" {
				t.Errorf("%s: record %+v", f.Input, f)
			}
			if _, err := os.Stat(filepath.Join(out, f.Output)); err != nil {
				t.Errorf("%s: output missing: %v", f.Input, err)
			}
			if f.Group["sex"] == "" || f.Group["ageBand"] == "" {
				t.Errorf("%s: no demographic group", f.Input)
			}
		case "quarantined":
			if len(f.Reasons) == 0 {
				t.Errorf("%s: quarantined without a reason", f.Input)
			}
			if _, err := os.Stat(filepath.Join(quar, f.Input)); err != nil {
				t.Errorf("%s: quarantine copy missing", f.Input)
			}
		case "failed":
			if f.Input != "notes.txt" || len(f.Reasons) == 0 {
				t.Errorf("unexpected failure %+v", f)
			}
		}
	}
	// Nothing under --out but de-identified instances and the journal.
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".dcm") && d.Name() != ".ethos-deid-journal.jsonl" {
			t.Errorf("unexpected file under --out: %s", p)
		}
		return nil
	})

	t.Run("ReRunResumes", func(t *testing.T) {
		if _, stderr, code := runCLI(t, args...); code != 1 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		raw, _ := os.ReadFile(rep)
		var r2 testReport
		if err := json.Unmarshal(raw, &r2); err != nil {
			t.Fatal(err)
		}
		if r2.Summary.Resumed != 6 {
			t.Errorf("resumed %d files, want 6", r2.Summary.Resumed)
		}
	})
	t.Run("KeyedPathsHideFileNames", func(t *testing.T) {
		rep2 := filepath.Join(root, "keyed.json")
		a := append(slices.Clone(args), "--report-paths", "keyed")
		a[slices.Index(a, rep)] = rep2
		if _, stderr, code := runCLI(t, a...); code != 1 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		raw, err := os.ReadFile(rep2)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"notes.txt", "ct_00001", "sub/", in} {
			if strings.Contains(string(raw), name) {
				t.Errorf("keyed report names %q", name)
			}
		}
		if !strings.Contains(string(raw), `"input": "hmac:`) {
			t.Error("no keyed input tokens in the report")
		}
	})
	t.Run("ErrOutputInsideInput", func(t *testing.T) {
		_, stderr, code := runCLI(t, "deid", "--in", in, "--out", filepath.Join(in, "out"))
		if code != 2 || !strings.Contains(stderr, "must not contain") {
			t.Errorf("code %d stderr %q", code, stderr)
		}
	})
}

// TestDeidDigestsOnlyWithReport checks that the two SHA-256 digests are
// computed when a processing record is asked for, and that a run resumed
// with --report after a run without one processes again the files whose
// journal lines lack digests, so the record is never incomplete.
func TestDeidDigestsOnlyWithReport(t *testing.T) {
	in := copyTree(t)
	root := t.TempDir()
	out := filepath.Join(root, "out")
	keyFile := filepath.Join(root, "key")
	if err := os.WriteFile(keyFile, []byte("the project secret for this test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"deid", "--in", in, "--out", out, "--key-file", keyFile, "--sync", "none"}
	if _, stderr, code := runCLI(t, base...); code != 1 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	journal, err := os.ReadFile(filepath.Join(out, ".ethos-deid-journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(journal), "Sha256") || strings.Contains(string(journal), `"counts"`) {
		t.Fatalf("a run without --report journalled digests or action counts: %s", journal)
	}
	rep := filepath.Join(root, "report.json")
	// --report --no-hash: the journal lines have no counts, so every file is
	// processed again and the record's action counts are complete.
	if _, stderr, code := runCLI(t, append(base, "--report", rep, "--no-hash")...); code != 1 {
		t.Fatalf("run with --no-hash: exit %d: %s", code, stderr)
	}
	var rn testReport
	if raw, err := os.ReadFile(rep); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &rn); err != nil {
		t.Fatal(err)
	}
	if rn.Summary.Resumed != 0 || len(rn.Actions) < 20 {
		t.Errorf("after a run without a record: resumed %d, %d tags counted", rn.Summary.Resumed, len(rn.Actions))
	}
	if _, stderr, code := runCLI(t, append(base, "--report", rep)...); code != 1 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var r testReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Resumed != 0 {
		t.Errorf("resumed %d files from a journal without digests", r.Summary.Resumed)
	}
	written := 0
	for _, f := range r.Files {
		if f.Status != "written" {
			continue
		}
		written++
		if len(f.InputSha256) != 64 || len(f.OutputSha256) != 64 {
			t.Errorf("%s: digests missing from the record: %+v", f.Input, f)
		}
	}
	if written == 0 {
		t.Fatal("no file written")
	}
	// A third run with --report resumes every file: the journal now has digests.
	if _, stderr, code := runCLI(t, append(base, "--report", rep)...); code != 1 {
		t.Fatalf("third run: exit %d: %s", code, stderr)
	}
	raw, _ = os.ReadFile(rep)
	var r3 testReport
	if err := json.Unmarshal(raw, &r3); err != nil {
		t.Fatal(err)
	}
	if r3.Summary.Resumed != r.Summary.Written+r.Summary.Quarantined {
		t.Errorf("third run resumed %d, want %d", r3.Summary.Resumed, r.Summary.Written+r.Summary.Quarantined)
	}
}
