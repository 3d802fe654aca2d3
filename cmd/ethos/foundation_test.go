package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// mustCLI runs the CLI and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("ethos %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func initData(t *testing.T) (dir string, init map[string]string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	if err := json.Unmarshal([]byte(mustCLI(t, "init", "--data", dir, "--log-name", "ethos-test", "--json")), &init); err != nil {
		t.Fatal(err)
	}
	return dir, init
}

func TestFoundationCLI(t *testing.T) {
	dir, init := initData(t)
	if !strings.HasPrefix(init["admin_token"], ethos.TokenPrefix) {
		t.Fatalf("init printed no token: %v", init)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	if db, _ := os.ReadFile(filepath.Join(dir, "ethos.db")); bytes.Contains(db, []byte(init["admin_token"])) {
		t.Error("the admin token secret is stored in the database")
	}
	if _, _, code := runCLI(t, "init", "--data", dir); code != 1 {
		t.Errorf("second init: exit %d, want 1", code)
	}
	d := []string{"--data", dir}
	with := func(args ...string) []string { return append(args, d...) }
	var party ethos.Party
	json.Unmarshal([]byte(mustCLI(t, with("party", "create", "--name", "Imaging CRO", "--type", "third_party", "--json")...)), &party)
	user := strings.TrimSpace(mustCLI(t, with("user", "create", "--party", party.ID, "--name", "Casey", "--roles", "data-steward")...))
	project := strings.TrimSpace(mustCLI(t, with("project", "create", "--name", "Stroke CT", "--intended-use", "detect large vessel occlusion", "--modality", "CT")...))

	// Without an agreement the third party is denied collection data.
	var dec ethos.AccessDecision
	json.Unmarshal([]byte(mustCLI(t, with("access", "check", "--user", user, "--project", project, "--stage", "collection",
		"--action", "read", "--purpose", "research", "--view", "aggregate", "--json")...)), &dec)
	if dec.Allow || dec.Rule != "dua.missing" {
		t.Errorf("check without agreement: %+v", dec)
	}
	grant := strings.TrimSpace(mustCLI(t, with("access", "grant", "--party", party.ID, "--project", project, "--stages", "collection",
		"--purposes", "research", "--views", "aggregate", "--expires", time.Now().AddDate(0, 6, 0).Format(time.DateOnly),
		"--approved-by", "IRB 2026-044")...))
	json.Unmarshal([]byte(mustCLI(t, with("access", "check", "--user", user, "--project", project, "--stage", "collection",
		"--action", "read", "--purpose", "research", "--view", "aggregate", "--json")...)), &dec)
	if !dec.Allow || dec.DUAID != grant {
		t.Errorf("check with agreement: %+v", dec)
	}
	if out := mustCLI(t, with("access", "grants")...); !strings.Contains(out, grant) {
		t.Errorf("grants list lacks %s", grant)
	}
	// The new user's token, used as that user, is refused admin work.
	var tc struct{ Token ethos.Token }
	json.Unmarshal([]byte(mustCLI(t, with("token", "create", "--user", user, "--name", "ci", "--json")...)), &tc)
	if _, errOut, code := runCLI(t, with("party", "create", "--as", user, "--name", "X", "--type", "public")...); code != 1 || !strings.Contains(errOut, "role.manage") {
		t.Errorf("non-admin party create: exit %d %s", code, errOut)
	}
	// Access review: nothing is older than one day yet.
	var rev struct {
		Tokens []ethos.Token
		DUAs   []ethos.DUA
	}
	json.Unmarshal([]byte(mustCLI(t, with("access", "review", "--unused-days", "1", "--json")...)), &rev)
	if len(rev.Tokens) != 0 || len(rev.DUAs) != 0 {
		t.Errorf("review lists fresh grants: %+v", rev)
	}
	mustCLI(t, with("token", "revoke", tc.Token.ID)...)
	if out := mustCLI(t, with("token", "list", "--all")...); !strings.Contains(out, "revoked") {
		t.Errorf("token list does not show the revocation:\n%s", out)
	}
	mustCLI(t, with("project", "stage", "--to", "processing", "--reason", "collection complete", project)...)
	if out := mustCLI(t, with("project", "show", project)...); !strings.Contains(out, "collection complete") {
		t.Errorf("history lacks the move:\n%s", out)
	}
	if _, errOut, code := runCLI(t, with("project", "stage", "--to", "deployment", "--reason", "skip", project)...); code != 1 || !strings.Contains(errOut, "one at a time") {
		t.Errorf("skipping stages: exit %d %s", code, errOut)
	}
	// Audit: checkpoint saved by an auditor, more events, proofs, verify.
	saved := filepath.Join(t.TempDir(), "cp.txt")
	mustCLI(t, with("audit", "checkpoint", "--out", saved)...)
	mustCLI(t, with("party", "create", "--name", "Later", "--type", "private")...)
	var proof struct {
		Proof struct{ Index int64 } `json:"proof"`
		Leaf  string                `json:"leaf"`
	}
	json.Unmarshal([]byte(mustCLI(t, with("audit", "proof", "--index", "2")...)), &proof)
	if proof.Proof.Index != 2 || !strings.Contains(proof.Leaf, `"v":1`) {
		t.Errorf("inclusion proof: %+v", proof)
	}
	mustCLI(t, with("audit", "proof", "--old", "3")...)
	if out := mustCLI(t, with("audit", "verify", "--checkpoint", saved)...); !strings.Contains(out, "audit log OK") || !strings.Contains(out, "extends the saved checkpoint") {
		t.Errorf("verify: %s", out)
	}
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	mustCLI(t, with("audit", "export", "--out", export)...)
	if out := mustCLI(t, "audit", "verify", "--export", export, "--key", filepath.Join(dir, "audit.pub")); !strings.Contains(out, "audit log OK") {
		t.Errorf("verify export: %s", out)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{{"token", "frob"}, with("party", "create", "--type", "gov"), with("audit", "proof")} {
		if _, _, code := runCLI(t, args...); code != 2 {
			t.Errorf("ethos %v: exit %d, want 2", args, code)
		}
	}
}

func TestAccessShowPolicyOverride(t *testing.T) {
	f := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(f, []byte(`{"cells":[{"stage":"collection","party_type":"public","level":"yes","note":"hospital stewards curate their own data"}]}`), 0o600)
	if _, errOut, code := runCLI(t, "access", "show", "--policy", f); code != 1 || !strings.Contains(errOut, "--allow-wider-than-framework") {
		t.Errorf("widened without flag: exit %d %s", code, errOut)
	}
	out := mustCLI(t, "access", "show", "--policy", f, "--allow-wider-than-framework")
	if !strings.Contains(out, "WIDENED") || !strings.Contains(out, "hospital stewards") {
		t.Errorf("access show does not report the widened cell:\n%s", out)
	}
}

// sqlite3 runs the sqlite3 tool on the data directory's database.
func sqlite3(t *testing.T, dir, sql string) {
	t.Helper()
	bin := testenv.Tool(t, "sqlite3")
	if out, err := exec.Command(bin, filepath.Join(dir, "ethos.db"), sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
}

func TestTamperedAuditRow(t *testing.T) {
	tests := []struct {
		name  string
		sql   string
		index string
	}{
		{"ModifiedEvent", `UPDATE audit_leaves SET data = CAST(replace(CAST(data AS TEXT), '"party.create"', '"party.delete"') AS BLOB) WHERE idx = 5`, "index 5"},
		{"DeletedEvent", `DELETE FROM audit_leaves WHERE idx = 4`, "index 4"},
		{"ReorderedEvents", `UPDATE audit_leaves SET idx = -1 WHERE idx = 3; UPDATE audit_leaves SET idx = 3 WHERE idx = 6; UPDATE audit_leaves SET idx = 6 WHERE idx = -1`, "index 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := initData(t)
			for i := range 4 {
				mustCLI(t, "party", "create", "--data", dir, "--name", fmt.Sprint("party ", i), "--type", "public")
			}
			mustCLI(t, "audit", "verify", "--data", dir)
			sqlite3(t, dir, tt.sql)
			_, errOut, code := runCLI(t, "audit", "verify", "--data", dir)
			if code != 1 || !strings.Contains(errOut, "does NOT verify") || !strings.Contains(errOut, tt.index) {
				t.Errorf("verify after tampering: exit %d %q, want exit 1 naming %s", code, errOut, tt.index)
			}
		})
	}
}

// TestKill9DuringWrites starts a real server, kills it with SIGKILL in
// the middle of a burst of writes, and checks that every acknowledged
// write survived and the audit log verifies.
func TestKill9DuringWrites(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ethos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, init := initData(t)
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" {
				addr <- m["addr"].(string)
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("burst-%d-%d", w, i)
				req, _ := http.NewRequest("POST", base+"/api/v1/parties", strings.NewReader(`{"name":"`+name+`","type":"private"}`))
				req.Header.Set("Authorization", "Bearer "+init["admin_token"])
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	for n.Load() < 150 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	// The log verifies as left by the crash (read-only), then after a
	// restart (which signs a checkpoint over the unsigned tail).
	mustCLI(t, "audit", "verify", "--data", dir)
	var parties []ethos.Party
	if err := json.Unmarshal([]byte(mustCLI(t, "party", "list", "--data", dir, "--json")), &parties); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range parties {
		have[p.Name] = true
	}
	for _, name := range acked {
		if !have[name] {
			t.Errorf("acknowledged party %s is missing after the crash", name)
		}
	}
	out := mustCLI(t, "audit", "verify", "--data", dir)
	if !strings.Contains(out, "(0 recorded after it)") {
		t.Errorf("after restart the checkpoint should cover the log: %s", out)
	}
}
