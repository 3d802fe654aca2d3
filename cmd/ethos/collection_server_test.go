package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
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
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// pgSchema makes a fresh schema on $ETHOS_TEST_POSTGRES and returns a DSN
// whose search_path is that schema (dropped at the end of the test).
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("ETHOS_TEST_POSTGRES")
	if dsn == "" {
		testenv.Missing(t, "ETHOS_TEST_POSTGRES is not set (scripts/test.sh starts a server and sets it)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("ethos_col_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() })
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// collectionFixture is an initialised data directory (and database) with
// a data steward, a token for it and a project.
type collectionFixture struct {
	dir, pg, steward, token, project string
	outsiderToken                    string // a data steward of another (private) party, no agreement
	log                              syncBuffer
}

func newCollectionFixture(t *testing.T, pg string) *collectionFixture {
	t.Helper()
	f := &collectionFixture{dir: filepath.Join(t.TempDir(), "data"), pg: pg}
	args := []string{"init", "--data", f.dir}
	if pg != "" {
		args = append(args, "--postgres", pg)
	}
	if _, stderr, code := runCLI(t, args...); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	ctx := context.Background()
	a, err := openApp(ctx, f.dir, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ps, _, err := a.parties.FindParties(ctx, ethos.PartyFilter{Limit: 1})
	if err != nil || len(ps) != 1 {
		t.Fatalf("parties: %v %v", ps, err)
	}
	u := &ethos.User{PartyID: ps[0].ID, Name: "steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := a.users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, hash := ethos.NewTokenSecret()
	if err := a.tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "test", Hash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p := &ethos.Project{Name: "Chest CT research", IntendedUse: "nodule detection research", Modality: "CT", ClinicalSetting: "radiology", PartyID: ps[0].ID}
	if err := a.projects.CreateProject(ctx, p, u.ID); err != nil {
		t.Fatal(err)
	}
	f.steward, f.token, f.project = u.ID, secret, p.ID
	other := &ethos.Party{Name: "Vendor", Type: ethos.PartyPrivate}
	if err := a.parties.CreateParty(ctx, other); err != nil {
		t.Fatal(err)
	}
	ou := &ethos.User{PartyID: other.ID, Name: "vendor steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := a.users.CreateUser(ctx, ou); err != nil {
		t.Fatal(err)
	}
	osecret, ohash := ethos.NewTokenSecret()
	if err := a.tokens.CreateToken(ctx, &ethos.Token{UserID: ou.ID, Name: "test", Hash: ohash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.outsiderToken = osecret
	return f
}

// syncBuffer is a buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts the real binary on the fixture and returns its base URL;
// its log goes to f.log.
func (f *collectionFixture) serve(t *testing.T, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"serve", "--data", f.dir, "--addr", "127.0.0.1:0"}, extra...)
	if f.pg != "" {
		args = append(args, "--postgres", f.pg)
	}
	cmd := exec.Command(ethosBinary(t), args...)
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
			f.log.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && !sent {
				addr <- line.Addr
				sent = true
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start listening")
	}
	return nil, ""
}

// stowBody builds a STOW-RS multipart/related body of the files under
// root.
func stowBody(t *testing.T, root string) (body []byte, contentType string, n int) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		n++
		_, err = pw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mw.Close()
	return buf.Bytes(), `multipart/related; type="application/dicom"; boundary=` + mw.Boundary(), n
}

func stow(t *testing.T, base, token, project string, body []byte, ct string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/dicomweb/studies?project="+project, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]json.RawMessage
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// TestSTOWOnPostgres runs consent-gated STOW-RS ingest against the real
// server with its records in PostgreSQL.
func TestSTOWOnPostgres(t *testing.T) {
	pg := pgSchema(t)
	f := newCollectionFixture(t, pg)
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ETHOS_POSTGRES": pg}
	for _, args := range [][]string{
		{"ingest", "rules", "--data", f.dir, "--user", f.steward, "--project", f.project, "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1"},
		{"consent", "import", "--data", f.dir, "--user", f.steward, "--project", f.project, consents},
	} {
		if _, stderr, code := runCLIEnv(t, env, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
	_, base := f.serve(t)
	body, ct, n := stowBody(t, canary)
	status, resp := stow(t, base, f.token, f.project, body, ct)
	if status != http.StatusAccepted {
		t.Fatalf("STOW-RS: status %d, want 202 (some stored, some refused): %v", status, resp)
	}
	var ok, failed struct {
		Value []json.RawMessage `json:"Value"`
	}
	json.Unmarshal(resp["00081199"], &ok)
	json.Unmarshal(resp["00081198"], &failed)
	if len(ok.Value) != 2 || len(ok.Value)+len(failed.Value) != n {
		t.Fatalf("STOW-RS: %d stored, %d failed of %d parts; want 2 stored", len(ok.Value), len(failed.Value), n)
	}
	t.Run("same_body_again_stores_nothing_new", func(t *testing.T) {
		status, resp := stow(t, base, f.token, f.project, body, ct)
		json.Unmarshal(resp["00081199"], &ok)
		if status != http.StatusAccepted || len(ok.Value) != 2 {
			t.Fatalf("again: %d, %d successes", status, len(ok.Value))
		}
	})
	t.Run("records_are_in_postgres", func(t *testing.T) {
		db := postgres.NewDB(pg)
		if err := db.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ins := sqlstore.NewInstanceService(db.Store())
		stored := ethos.InstanceStored
		got, total, err := ins.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.project, Status: &stored})
		if err != nil || total != 2 {
			t.Fatalf("stored records: %d (%v), want 2", total, err)
		}
		for _, in := range got {
			if !strings.HasPrefix(in.Source, "stow-rs:") || in.ReceivedBy != f.steward || in.Blob == nil {
				t.Errorf("record %+v", in)
			}
		}
	})
	t.Run("ErrInvalid_wrong_content_type", func(t *testing.T) {
		status, _ := stow(t, base, f.token, f.project, body, "application/json")
		if status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", status)
		}
	})
}

// TestCollectionCommandsWhileServing runs the collection commands against
// a running server (the data directory's key store is locked by it):
// rules, consent import, STOW-RS, the consent as FHIR, withdrawal by the
// hospital's identifier and disposal, none of which may print or log a
// patient identifier.
func TestCollectionCommandsWhileServing(t *testing.T) {
	f := newCollectionFixture(t, "")
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	consents, err := filepath.Abs("../../collection/testdata/ingest/consents.json")
	if err != nil {
		t.Fatal(err)
	}
	_, base := f.serve(t, "--retention-interval", "1h")
	env := map[string]string{"ETHOS_TOKEN": f.token, "ETHOS_SERVER": base}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCLIEnv(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(out+stderr, "CANARY") {
			t.Fatalf("%v printed a patient identifier: %s %s", args, out, stderr)
		}
		return out
	}
	t.Run("ErrConflict_offline_while_serving_says_what_to_do", func(t *testing.T) {
		_, stderr, code := runCLI(t, "consent", "import", "--data", f.dir, "--user", f.steward, "--project", f.project, consents)
		if code == 0 || !strings.Contains(stderr, "ethos serve") || !strings.Contains(stderr, "--server") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	out := must("ingest", "rules", "--project", f.project, "--purpose", "research", "--modalities", "CT,MR", "--issuer", "urn:oid:2.999.4711.1", "--retention-days", "3650")
	if !strings.Contains(out, `"retention_days": 3650`) || !strings.Contains(out, `"updated_by": "`+f.steward) {
		t.Fatalf("ingest rules: %s", out)
	}
	t.Run("ErrInvalid_malformed_import_stores_nothing", func(t *testing.T) {
		b, _ := os.ReadFile(consents)
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(strings.Replace(string(b), `"status": "active"`, `"status": "sort-of"`, 1)), 0o600)
		_, stderr, code := runCLIEnv(t, env, "consent", "import", "--project", f.project, bad)
		if code != 1 || !strings.Contains(stderr, "status") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	out = must("consent", "import", "--project", f.project, consents)
	if !strings.Contains(out, "imported 3 consents (3 identifiers sealed") {
		t.Fatalf("import: %s", out)
	}
	id := strings.Fields(out)[0]
	// ethos ingest through the server: STOW-RS requests of the files.
	out = must("ingest", "--project", f.project, canary)
	if !strings.Contains(out, "done: stored 2, refused 11 (") {
		t.Fatalf("ingest through the server: %s", out)
	}
	// Each refused file is named with the server's reason code.
	if n := strings.Count(out, "refused\t"); n != 11 {
		t.Errorf("%d per-file refusal lines, want 11:\n%s", n, out)
	}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "refused\t") {
			continue
		}
		fields := strings.Split(strings.TrimSpace(line), "\t")
		if len(fields) != 3 || !strings.HasPrefix(fields[1], canary) || fields[2] == "" || strings.HasPrefix(fields[2], "failure 0x") {
			t.Errorf("refusal line %q: want refused, a file under %s, and a reason code", line, canary)
		}
	}
	t.Logf("ingest through the server:\n%s", out)
	t.Run("consent_as_FHIR", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/api/v1/projects/"+f.project+"/consents/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var c struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Status       string `json:"status"`
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/fhir+json" || json.Unmarshal(b, &c) != nil || c.ResourceType != "Consent" || c.ID != id || c.Status != "active" {
			t.Fatalf("GET consent: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		if strings.Contains(string(b), "CANARY") {
			t.Fatal("FHIR export names the patient by identifier")
		}
	})
	idFile := filepath.Join(t.TempDir(), "patient-id")
	if err := os.WriteFile(idFile, []byte("CANARYID000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrNotFound_withdraw_unknown_identifier", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other-id")
		os.WriteFile(other, []byte("CANARYID999999\n"), 0o600)
		_, stderr, code := runCLIEnv(t, env, "consent", "withdraw", "--project", f.project, "--issuer", "urn:oid:2.999.4711.1", "--patient-id-from", other)
		if code != 1 || !strings.Contains(stderr, "no subject is known") || strings.Contains(stderr, "CANARY") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	out = must("consent", "withdraw", "--project", f.project, "--issuer", "urn:oid:2.999.4711.1", "--patient-id-from", idFile, "--json")
	var w ethos.WithdrawalResult
	if err := json.Unmarshal([]byte(out), &w); err != nil || len(w.Consents) != 1 || w.Consents[0] != id || w.Instances != 2 || w.Shred != nil {
		t.Fatalf("withdraw: %v %s", err, out)
	}
	t.Run("withdrawn_subject_refused_at_once", func(t *testing.T) {
		one, ct1, _ := stowBody(t, filepath.Join(canary, "shard0"))
		_, resp := stow(t, base, f.token, f.project, one, ct1)
		var ok struct {
			Value []json.RawMessage `json:"Value"`
		}
		json.Unmarshal(resp["00081199"], &ok)
		// shard0's stored CT belongs to the withdrawn subject; it is a
		// duplicate of a withdrawn record, so it is not answered as stored.
		if len(ok.Value) != 0 {
			t.Fatalf("%d instances answered as stored after withdrawal", len(ok.Value))
		}
	})
	t.Run("ErrForbidden_other_party_without_agreement", func(t *testing.T) {
		outsider := map[string]string{"ETHOS_TOKEN": f.outsiderToken, "ETHOS_SERVER": base}
		for _, args := range [][]string{
			{"consent", "withdraw", "--project", f.project, "--subject", string(w.Subject), "--erase"},
			{"dispose", "--project", f.project, "--subject", string(w.Subject)},
			{"consent", "import", "--project", f.project, consents},
			{"ingest", "rules", "--project", f.project, "--purpose", "research"},
		} {
			_, stderr, code := runCLIEnv(t, outsider, args...)
			if code != 1 || !strings.Contains(stderr, "rule matrix/collection/private") {
				t.Errorf("%v: exit %d: %s", args[:2], code, stderr)
			}
		}
	})
	t.Run("ErrUsage_reason_shaped_like_an_identifier", func(t *testing.T) {
		_, stderr, code := runCLIEnv(t, map[string]string{"ETHOS_TOKEN": f.token, "ETHOS_SERVER": base},
			"dispose", "--project", f.project, "--subject", string(w.Subject), "--reason", "erasure asked by DOE^JANE born 1961-04-12")
		if code != 2 || !strings.Contains(stderr, "--reason") || strings.Contains(stderr, "DOE^JANE") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	out = must("dispose", "--project", f.project, "--subject", string(w.Subject), "--reason", "erasure request", "--json")
	var d ethos.Disposal
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Instances != 2 || len(d.Shredded) != 1 || d.Shredded[0].BlobsDeleted != 2 || d.Shredded[0].KeyID == "" {
		t.Fatalf("dispose: %v %s", err, out)
	}
	out = must("dispose", "--expired")
	if !strings.Contains(out, "disposed of 0 instances") {
		t.Fatalf("dispose --expired: %s", out)
	}
	if strings.Contains(f.log.String(), "CANARY") {
		t.Error("the server log names a patient identifier")
	}
}
