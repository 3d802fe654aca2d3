package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/processing"
)

// TestUnpackExport checks the client side of a streamed export: what the
// archive must hold for the directory to be kept.
func TestUnpackExport(t *testing.T) {
	version := strings.Repeat("ab", 32)
	file := []byte("not really DICOM but bytes with a hash")
	sum := sha256.Sum256(file)
	manifest := func(entries ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"format": processing.ManifestFormat, "version": version, "entries": entries})
		return b
	}
	entry := map[string]any{"id": "2.25.1", "path": "files/1/2/3.dcm", "sha256": hex.EncodeToString(sum[:]), "size": len(file)}
	type member = tarMember
	archive := func(ms ...member) *tar.Reader { return tar.NewReader(bytes.NewReader(tarOf(ms...))) }
	good := []member{{"manifest.json", manifest(entry)}, {"manifest.csv", []byte("id\n2.25.1\n")}, {"files/1/2/3.dcm", file}}
	t.Run("Complete", func(t *testing.T) {
		res, err := unpackExport(archive(good...), t.TempDir(), version)
		if err != nil || res.Files != 1 || res.Bytes != int64(len(file)) {
			t.Fatalf("%+v %v", res, err)
		}
	})
	for _, tc := range []struct {
		name string
		ms   []member
		want string
	}{
		{"ErrMissingFile", good[:2], "1 files received"},
		{"ErrNoManifest", []member{good[2]}, "before manifest.json"},
		{"ErrOtherVersion", []member{{"manifest.json", bytes.Replace(manifest(entry), []byte(version), []byte(strings.Repeat("cd", 32)), 1)}}, "not abab"},
		{"ErrBadHash", []member{good[0], good[1], {"files/1/2/3.dcm", bytes.ToUpper(file)}}, "content hash"},
		{"ErrWrongSize", []member{good[0], good[1], {"files/1/2/3.dcm", file[1:]}}, "the manifest says"},
		{"ErrExtraMember", append(append([]member{}, good...), member{"files/x.dcm", nil}), "not in the manifest"},
		{"ErrTraversal", []member{good[0], {"../evil", nil}}, "unexpected member"},
		{"ErrDuplicate", append(append([]member{}, good...), good[2]), "unexpected member"},
		{"ErrNoCSV", []member{good[0], good[2]}, "no manifest.csv"},
		{"ErrEntryWithoutHash", []member{{"manifest.json", manifest(map[string]any{"id": "2.25.1", "path": "files/1/2/3.dcm", "size": len(file)})}, good[1], good[2]}, "sha256 is not"},
		{"ErrEntryListedTwice", []member{{"manifest.json", manifest(entry, entry)}, good[1], good[2]}, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unpackExport(archive(tc.ms...), t.TempDir(), version)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("ErrTruncatedStream", func(t *testing.T) {
		b := tarOf(good...)
		cut := b[:len(b)-1024-512+10] // inside the last file
		if _, err := unpackExport(tar.NewReader(bytes.NewReader(cut)), t.TempDir(), version); err == nil {
			t.Error("a truncated archive was accepted")
		}
	})
}

// tarMember is a regular file of a test archive.
type tarMember struct {
	name string
	body []byte
}

// tarOf writes the members as a tar archive, in order.
func tarOf(ms ...tarMember) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Size: int64(len(m.body)), Mode: 0o644})
		tw.Write(m.body)
	}
	tw.Close()
	return b.Bytes()
}

// TestProcessRunRemotePolls checks the client side of a long run: a 202
// with the job, polled (with the project's purpose) until the record
// comes, progress on standard error.
func TestProcessRunRemotePolls(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		job := ethos.ProcessingJob{ID: "prc_1", ProjectID: "prj_1", Purpose: ethos.PurposeResearch, State: ethos.JobRunning, Total: 3}
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/projects/prj_1/processing-runs":
			var in map[string]any
			json.NewDecoder(r.Body).Decode(&in)
			if in["secret"] != "a project secret of enough length" || r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(400)
				w.Write([]byte(`{"error":"invalid","message":"bad request"}`))
				return
			}
			w.WriteHeader(202)
			json.NewEncoder(w).Encode(map[string]any{"job": job})
		case r.Method == "GET" && r.URL.Path == "/api/v1/projects/prj_1/processing-runs/prc_1" && r.URL.Query().Get("purpose") == "research":
			if n := polls.Add(1); n < 3 {
				job.Done = int(n)
				w.WriteHeader(202)
				json.NewEncoder(w).Encode(map[string]any{"job": job})
				return
			}
			json.NewEncoder(w).Encode(ethos.ProcessingRun{ID: "prc_1", ProjectID: "prj_1", Inputs: 3, Written: 3, KeyFingerprint: "fp"})
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"error":"not_found","message":"no route"}`))
		}
	}))
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte("a project secret of enough length\n"), 0o600)
	out, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_TOKEN": "tok", "ETHOS_SERVER": srv.URL}, "process", "run", "--project", "prj_1", "--key-file", keyFile, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var run ethos.ProcessingRun
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.ID != "prc_1" || run.Written != 3 {
		t.Errorf("run %+v (%v)", run, err)
	}
	if polls.Load() != 3 || !strings.Contains(stderr, "prc_1: 0 of 3 instances done") || !strings.Contains(stderr, "2 of 3") {
		t.Errorf("%d polls, stderr:\n%s", polls.Load(), stderr)
	}
}

// FuzzUnpackExport feeds arbitrary archives to the client's unpacking:
// never a panic, and whatever it accepts holds exactly the files the
// manifest lists, with their hashes. Seeded with an archive of a real
// DICOM file of the shared corpus and cut-off and altered copies of it.
func FuzzUnpackExport(f *testing.F) {
	dcm, err := os.ReadFile(filepath.Join(testenv.DICOMDir(f), "canary", "shard0", "ct_00000.dcm"))
	if err != nil {
		f.Fatal(err)
	}
	version := strings.Repeat("ab", 32)
	sum := sha256.Sum256(dcm)
	manifest, _ := json.Marshal(map[string]any{"format": processing.ManifestFormat, "version": version,
		"entries": []map[string]any{{"id": "2.25.1", "path": "files/1/2/3.dcm", "sha256": hex.EncodeToString(sum[:]), "size": len(dcm)}}})
	good := tarOf(tarMember{"manifest.json", manifest}, tarMember{"manifest.csv", []byte("id,path\n2.25.1,files/1/2/3.dcm\n")}, tarMember{"files/1/2/3.dcm", dcm})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:1024])
	bad := bytes.Clone(good)
	bad[len(bad)-2048] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		res, err := unpackExport(tar.NewReader(bytes.NewReader(data)), dir, version)
		if err != nil {
			return
		}
		var m exportedManifest
		mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil || json.Unmarshal(mb, &m) != nil {
			t.Fatalf("accepted without a readable manifest: %v", err)
		}
		if res.Files != len(m.Entries) {
			t.Fatalf("%d files for %d entries", res.Files, len(m.Entries))
		}
		for _, e := range m.Entries {
			got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
			if err != nil {
				t.Fatal(err)
			}
			if s := sha256.Sum256(got); hex.EncodeToString(s[:]) != e.SHA256 {
				t.Fatalf("%s: hash differs from the manifest", e.Path)
			}
		}
	})
}

// TestRemoteNeedsProject checks that every dataset and process command
// run against a server asks for --project before it calls the server, as
// the same command does offline.
func TestRemoteNeedsProject(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	env := map[string]string{"ETHOS_TOKEN": "tok", "ETHOS_SERVER": srv.URL}
	v := strings.Repeat("ab", 32)
	for _, args := range [][]string{
		{"dataset", "create", "--run", "prc_1"},
		{"dataset", "list"},
		{"dataset", "show", v},
		{"dataset", "diff", v, v},
		{"dataset", "labels", "--version", v, "--file", "labels.csv"},
		{"dataset", "split", "--version", v},
		{"dataset", "datasheet", "--version", v},
		{"dataset", "export", "--version", v, "--out", filepath.Join(t.TempDir(), "out")},
		{"process", "jobs"},
	} {
		t.Run(strings.Join(args[:2], "_"), func(t *testing.T) {
			_, stderr, code := runCLIEnv(t, env, args...)
			if code != 2 || !strings.Contains(stderr, "--project is required") {
				t.Errorf("exit %d: %s", code, stderr)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d calls reached the server", n)
	}
}
