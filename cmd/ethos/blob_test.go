package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

func runCLIEnv(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	err := Run(context.Background(), env, args)
	code = exitCode(env, err)
	return out.String(), errb.String(), code
}

func TestBlobCommands(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "blobs")
	mk := filepath.Join(dir, "master.key")
	subject := strings.Repeat("5", 64)
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("ethos %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	must("blob", "keygen", mk)
	if _, _, code := runCLI(t, "blob", "keygen", mk); code != 1 {
		t.Fatal("keygen overwrote an existing key file")
	}
	files := []string{
		filepath.Join(testenv.DICOMDir(t), "pydicom", "CT_small.dcm"),
		filepath.Join(testenv.DICOMDir(t), "pydicom", "MR_small.dcm"),
	}
	out := must(append([]string{"blob", "put", "--store", store, "--master-key-file", mk, "--subject", subject}, files...)...)
	var digests []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ref struct {
			File   string `json:"file"`
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, ref.Digest)
	}
	if len(digests) != 2 {
		t.Fatalf("put printed %d refs", len(digests))
	}
	got := filepath.Join(dir, "out.dcm")
	must("blob", "get", "--store", store, "--master-key-file", mk, "--subject", subject, "--digest", digests[0], "--out", got)
	want, _ := os.ReadFile(files[0])
	if b, _ := os.ReadFile(got); !bytes.Equal(b, want) {
		t.Fatal("get returned other bytes")
	}
	must("blob", "verify", "--store", store, "--master-key-file", mk)

	// Rotate the master key, then use only the new one (from the
	// environment).
	mk2 := filepath.Join(dir, "master2.key")
	must("blob", "keygen", mk2)
	must("blob", "rewrap", "--store", store, "--master-key-file", mk, "--new-master-key-file", mk2)
	key2, _ := os.ReadFile(mk2)
	vars := map[string]string{"ETHOS_MASTER_KEY": strings.TrimSpace(string(key2))}
	if out, stderr, code := runCLIEnv(t, vars, "blob", "get", "--store", store, "--subject", subject, "--digest", digests[1]); code != 0 || out == "" {
		t.Fatalf("get with the new master key: exit %d: %s", code, stderr)
	}
	if _, _, code := runCLI(t, "blob", "get", "--store", store, "--master-key-file", mk, "--subject", subject, "--digest", digests[1]); code != 1 {
		t.Fatal("the old master key still opens the rewrapped keys")
	}

	out, stderr, code := runCLIEnv(t, vars, "blob", "shred", "--store", store, "--subject", subject)
	if code != 0 || !strings.Contains(out, `"blobs_deleted":2`) {
		t.Fatalf("shred: exit %d, %s %s", code, out, stderr)
	}
	if _, stderr, code := runCLIEnv(t, vars, "blob", "get", "--store", store, "--subject", subject, "--digest", digests[0]); code != 1 || !strings.Contains(stderr, "crypto-shredded") {
		t.Fatalf("get after shred: exit %d, %s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"UsageNoStore", []string{"blob", "verify"}},
		{"UsageBadSubject", []string{"blob", "put", "--store", store, "--master-key-file", mk2, "--subject", "p1", files[0]}},
		{"UsageUnknown", []string{"blob", "frob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, code := runCLI(t, tc.args...); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
}
