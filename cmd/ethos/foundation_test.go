package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// initData runs "ethos init" in a fresh data directory and returns the
// directory and the admin token.
func initData(t *testing.T) (dir, token string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	out, stderr, code := runCLI(t, "init", "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	var res struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !ethos.WellFormedTokenSecret(res.Secret) {
		t.Fatalf("init --json: %v %q", err, out)
	}
	return dir, res.Secret
}

func TestInit(t *testing.T) {
	dir, _ := initData(t)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, signerKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("signer key: %v %v; want mode 0600", fi, err)
	}
	t.Run("ErrAlreadyInitialised", func(t *testing.T) {
		_, stderr, code := runCLI(t, "init", "--data", dir)
		if code != 1 || !strings.Contains(stderr, "already initialised") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("second init: code %d, stderr %q; want 1 and one line", code, stderr)
		}
	})
	t.Run("UsageBadPartyType", func(t *testing.T) {
		_, _, code := runCLI(t, "init", "--data", t.TempDir(), "--party-type", "charity")
		if code != 2 {
			t.Errorf("code %d, want 2", code)
		}
	})
	t.Run("OKVerify", func(t *testing.T) {
		out, stderr, code := runCLI(t, "audit", "verify", "--data", dir)
		if code != 0 || !strings.Contains(out, "OK: 3 events verified") {
			t.Errorf("verify: %d %q %q", code, out, stderr)
		}
	})
	t.Run("OKExportVerify", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "export.jsonl")
		if _, stderr, code := runCLI(t, "audit", "export", "--data", dir, "-o", file); code != 0 {
			t.Fatalf("export: %d %s", code, stderr)
		}
		out, stderr, code := runCLI(t, "audit", "verify", "--export", file, "--key", filepath.Join(dir, verifierKeyFile))
		if code != 0 || !strings.Contains(out, "OK: 3 events") {
			t.Errorf("verify --export: %d %q %q", code, out, stderr)
		}
	})
	t.Run("ErrVerifyMissingDir", func(t *testing.T) {
		_, stderr, code := runCLI(t, "audit", "verify", "--data", filepath.Join(t.TempDir(), "none"), "--key", "x")
		if code != 1 || !strings.Contains(stderr, "no Ethos database") {
			t.Errorf("code %d, stderr %q", code, stderr)
		}
	})
}

func TestCommandsUsage(t *testing.T) {
	for _, args := range [][]string{{"party"}, {"user", "frob"}, {"token", "revoke"}, {"project", "show"}, {"audit", "proof"}, {"access", "check", "--bogus"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if _, stderr, code := runCLI(t, args...); code != 2 {
				t.Errorf("code %d (stderr %q), want 2", code, stderr)
			}
		})
	}
	for _, args := range [][]string{{"party", "--help"}, {"serve", "--help"}, {"audit", "verify", "--help"}, {"access", "show", "--help"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if _, stderr, code := runCLI(t, args...); code != 0 {
				t.Errorf("code %d (stderr %q), want 0", code, stderr)
			}
		})
	}
}

func TestAccessShow(t *testing.T) {
	out, _, code := runCLI(t, "access", "show")
	if code != 0 || !strings.Contains(out, "No cell is more open than the framework") {
		t.Fatalf("access show: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(file, []byte(`{"cells":[{"stage":"processing","party_type":"private","level":"limited","note":"IRB-2026-14"}]}`), 0o644)
	_, stderr, code := runCLI(t, "access", "show", "--policy", file)
	if code != 1 || !strings.Contains(stderr, "--allow-wider-than-framework") {
		t.Errorf("wider policy without the flag: %d %q", code, stderr)
	}
	out, _, code = runCLI(t, "access", "show", "--policy", file, "--allow-wider-than-framework")
	if code != 0 || !strings.Contains(out, "limited (WIDENED from no)") || !strings.Contains(out, "processing/private: limited instead of no  IRB-2026-14") {
		t.Errorf("access show with a widened cell: %d %q", code, out)
	}
}

// fillAudit appends n events through the same path the server uses.
func fillAudit(t *testing.T, dir string, n int) {
	t.Helper()
	a, err := openApp(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := a.auditor.Record(context.Background(), ethos.AuditEvent{Actor: "usr_test", Party: "pty_test", Action: "access.read",
			Resource: fmt.Sprintf("project/prj_%d", i), Stage: ethos.StageTraining, Purpose: ethos.PurposeResearch, Decision: "allow", Reason: "matrix/training/public"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTamperWithSQLite3 edits the audit table with the sqlite3 tool, as
// someone with the database file could, and checks that "ethos audit
// verify" fails naming the first bad index.
func TestTamperWithSQLite3(t *testing.T) {
	sqlite3 := testenv.Tool(t, "sqlite3")
	tests := []struct {
		name  string
		sql   string
		index string
		flags []string
	}{
		{"Modified", `UPDATE audit_leaves SET data = CAST(replace(CAST(data AS TEXT), '"allow"', '"deny"') AS BLOB) WHERE idx = 17;`, "index 17", nil},
		{"Deleted", `DELETE FROM audit_leaves WHERE idx = 12;`, "index 12", nil},
		{"Reordered", `UPDATE audit_leaves SET idx = -1 WHERE idx = 20; UPDATE audit_leaves SET idx = 20 WHERE idx = 21; UPDATE audit_leaves SET idx = 21 WHERE idx = -1;`, "index 20", nil},
		{"Inserted", `UPDATE audit_leaves SET idx = -idx - 1 WHERE idx >= 9; UPDATE audit_leaves SET idx = -idx WHERE idx < 0; INSERT INTO audit_leaves (idx, data) SELECT 9, data FROM audit_leaves WHERE idx = 3;`, "index 9", nil},
		{"LastDeleted", `DELETE FROM audit_leaves WHERE idx = (SELECT MAX(idx) FROM audit_leaves);`, "index 32", nil},
		// Stored tree hashes are derived data; --deep compares each one.
		{"StoredHashDeep", `UPDATE audit_hash_chunks SET hashes = zeroblob(32) || substr(hashes, 33) WHERE chunk = 0;`, "index 0", []string{"--deep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := initData(t)
			fillAudit(t, dir, 30) // 3 from init + 30 = 33 events, all signed at Close
			if out, stderr, code := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
				t.Fatalf("verify before tampering: %d %q %q", code, out, stderr)
			}
			cmd := exec.Command(sqlite3, filepath.Join(dir, "ethos.db"), tt.sql)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sqlite3: %v %s", err, out)
			}
			_, stderr, code := runCLI(t, append([]string{"audit", "verify", "--data", dir}, tt.flags...)...)
			if code != 1 || !strings.Contains(stderr, "does NOT verify") || !strings.Contains(stderr, tt.index) {
				t.Errorf("verify after tampering: code %d, stderr %q; want 1 naming %s", code, stderr, tt.index)
			}
		})
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// ethosBinary builds the ethos binary once for the process tests.
func ethosBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ethos-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "ethos")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// startServer runs "ethos serve" on a free loopback port and returns the
// process and its base URL.
// killWhen sends SIGKILL to srv once enough reports true (or after 20
// seconds, whichever comes first) and reaps it.
func killWhen(t *testing.T, srv *exec.Cmd, enough func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !enough() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	srv.Wait()
}

func startServer(t *testing.T, bin, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && !sent {
				addr <- line.Addr
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start listening")
	}
	return nil, ""
}

func post(url, token string, body any) (int, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestKill9DuringBurst kills a real server process with SIGKILL in the
// middle of a burst of concurrent writes. After a restart every write
// that was acknowledged (201) must be there, with its audit event, and
// "ethos audit verify" must pass.
func TestKill9DuringBurst(t *testing.T) {
	bin := ethosBinary(t)
	dir, token := initData(t)
	srv, base := startServer(t, bin, dir)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("party-%d-%d", g, i)
				code, err := post(base+"/api/v1/parties", token, map[string]string{"name": name, "type": "private"})
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusCreated {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		}()
	}
	killWhen(t, srv, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	close(stop)
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	srv2, base2 := startServer(t, bin, dir)
	req, _ := http.NewRequest("GET", base2+"/api/v1/parties?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []ethos.Party `json:"items"`
		Total int           `json:"total"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	have := map[string]bool{}
	for _, p := range list.Items {
		have[p.Name] = true
	}
	missing := 0
	for _, name := range acked {
		if !have[name] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes are missing after kill -9", missing, len(acked))
	}
	srv2.Process.Signal(os.Interrupt)
	srv2.Wait()

	out, stderr, code := runCLI(t, "audit", "verify", "--data", dir)
	if code != 0 {
		t.Fatalf("audit verify after kill -9: %d %q %q", code, out, stderr)
	}
	// Every acknowledged creation has its audit event.
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if _, stderr, code := runCLI(t, "audit", "export", "--data", dir, "-o", file); code != 0 {
		t.Fatal(stderr)
	}
	b, _ := os.ReadFile(file)
	if got := strings.Count(string(b), `"action":"party.create"`); got < len(acked)+1 {
		t.Errorf("%d party.create events, want at least %d (acknowledged + the initial party)", got, len(acked)+1)
	}
	t.Logf("%d writes acknowledged before SIGKILL; %d parties after restart; %s", len(acked), list.Total, strings.TrimSpace(out))
}

// TestPostgresStore runs init, appends through the app and verifies with
// the records in PostgreSQL ($ETHOS_TEST_POSTGRES, a fresh schema).
func TestPostgresStore(t *testing.T) {
	dsn := os.Getenv("ETHOS_TEST_POSTGRES")
	if dsn == "" {
		testenv.Missing(t, "ETHOS_TEST_POSTGRES is not set (scripts/test.sh starts a server and sets it)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("ethos_cli_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pg := u.String()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, stderr, code := runCLI(t, "init", "--data", dir, "--postgres", pg); code != 0 {
		t.Fatalf("init --postgres: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ethos.db")); err == nil {
		t.Error("init --postgres created a SQLite database")
	}
	a, err := openApp(context.Background(), dir, pg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		a.auditor.Record(context.Background(), ethos.AuditEvent{Actor: "usr_t", Action: "access.read", Resource: fmt.Sprintf("project/p%d", i), Decision: "allow"})
	}
	a.Close()
	out, stderr, code := runCLI(t, "audit", "verify", "--data", dir, "--postgres", pg, "--deep")
	if code != 0 || !strings.Contains(out, "OK: 43 events verified") {
		t.Errorf("verify --postgres: %d %q %q", code, out, stderr)
	}
	if _, err := admin.Exec("UPDATE " + schema + ".audit_leaves SET data = convert_to(replace(convert_from(data, 'UTF8'), 'p17', 'p71'), 'UTF8') WHERE idx = 20"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, "audit", "verify", "--data", dir, "--postgres", pg)
	if code != 1 || !strings.Contains(stderr, "index 20") {
		t.Errorf("verify after tampering: %d %q", code, stderr)
	}
}
