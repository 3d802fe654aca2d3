package http_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/app"
	"github.com/ethos-imaging/ethos/audit"
	ethoshttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
)

// clock is a settable clock shared by the store and the app.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	srv      *httptest.Server
	server   *ethoshttp.Server
	app      *app.App
	store    *sqlite.AuditStorage
	verifier string
	admin    string // admin token secret
	clock    *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "ethos.db"))
	db.Now = clk.Now
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sk, vk, err := audit.GenerateKey("ethos-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(sk)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewAuditStorage(db)
	log := audit.NewLog(store, signer)
	if err := log.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	a := &app.App{Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Tokens: sqlite.NewTokenService(db),
		Projects: sqlite.NewProjectService(db), Records: sqlite.NewStageRecordService(db), DUAs: sqlite.NewDUAService(db),
		Decider: policy.Default(), Log: log, Storage: store, VerifierKey: vk, Now: clk.Now}
	p := &ethos.Party{Name: "Administration", Type: ethos.PartyPublic}
	if err := a.Parties.CreateParty(ctx, p); err != nil {
		t.Fatal(err)
	}
	u := &ethos.User{PartyID: p.ID, Name: "admin", Roles: []ethos.Role{ethos.RoleAdmin}}
	if err := a.Users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, hash := ethos.NewTokenSecret()
	if err := a.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "test", Hash: hash, ExpiresAt: clk.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := ethoshttp.NewServer(a, policy.Default(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	s.MaxBody = 64 << 10
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &fixture{srv: ts, server: s, app: a, store: store, verifier: vk, admin: secret, clock: clk}
}

// do sends a request and decodes the JSON answer into out (if not nil).
func (f *fixture) do(t *testing.T, token, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error struct{ Code, Message, Request_ID string } `json:"error"`
}

// member creates a party of type pt with one user holding role and
// returns the user's token and ids.
func (f *fixture) member(t *testing.T, name string, pt ethos.PartyType, roles ...ethos.Role) (token, partyID, userID string) {
	t.Helper()
	var p ethos.Party
	if st := f.do(t, f.admin, "POST", "/api/v1/parties", map[string]any{"name": name, "type": pt}, &p); st != 201 {
		t.Fatalf("create party: %d", st)
	}
	var u ethos.User
	if st := f.do(t, f.admin, "POST", "/api/v1/users", map[string]any{"party_id": p.ID, "name": name + " user", "roles": roles}, &u); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	var tc ethoshttp.TokenCreated
	if st := f.do(t, f.admin, "POST", "/api/v1/tokens", map[string]any{"user_id": u.ID, "name": "t"}, &tc); st != 201 {
		t.Fatalf("create token: %d", st)
	}
	return tc.Secret, p.ID, u.ID
}

// projectIn creates a project and moves it to stage.
func (f *fixture) projectIn(t *testing.T, name string, stage ethos.Stage) string {
	t.Helper()
	var p ethos.Project
	if st := f.do(t, f.admin, "POST", "/api/v1/projects", map[string]any{"name": name, "intended_use": "triage", "modality": "CT"}, &p); st != 201 {
		t.Fatalf("create project: %d", st)
	}
	for _, s := range ethos.Stages[1 : stage.Index()+1] {
		if st := f.do(t, f.admin, "POST", "/api/v1/projects/"+p.ID+"/stage", map[string]any{"stage": s, "reason": "signed off"}, nil); st != 200 {
			t.Fatalf("move to %s: %d", s, st)
		}
	}
	return p.ID
}

func frameworkMatrix(t *testing.T) map[[2]string]ethos.Level {
	data, err := os.ReadFile(filepath.Join(testenv.Shared(t), "framework", "access-matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Stages []map[string]string }
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]ethos.Level{}
	for _, s := range m.Stages {
		for _, pt := range []string{"public", "private", "third_party"} {
			out[[2]string{s["stage"], pt}] = ethos.Level(s[pt])
		}
	}
	return out
}

func writerFor(s ethos.Stage) ethos.Role {
	switch s {
	case ethos.StageCollection, ethos.StageProcessing:
		return ethos.RoleDataSteward
	case ethos.StageDeployment:
		return ethos.RoleClinician
	}
	return ethos.RoleMLEngineer
}

// TestAccessMatrixThroughAPI checks every cell of the framework's matrix
// (5 stages × 3 party types) through the HTTP API, reading and writing
// stage records, without and then with a data-use agreement.
func TestAccessMatrixThroughAPI(t *testing.T) {
	f := newFixture(t)
	matrix := frameworkMatrix(t)
	projects := map[ethos.Stage]string{}
	for _, s := range ethos.Stages {
		projects[s] = f.projectIn(t, "project in "+string(s), s)
	}
	for _, s := range ethos.Stages {
		for _, pt := range ethos.PartyTypes {
			level := matrix[[2]string{string(s), string(pt)}]
			t.Run(string(s)+"/"+string(pt)+"="+string(level), func(t *testing.T) {
				tok, partyID, _ := f.member(t, string(s)+"-"+string(pt), pt, writerFor(s))
				pid := projects[s]
				records := "/api/v1/projects/" + pid + "/stages/" + string(s) + "/records"
				read := records + "?purpose=research&view=deidentified"
				rec := map[string]any{"kind": "datasheet", "title": "site A", "view": "deidentified", "purpose": "research", "body": map[string]int{"studies": 120}}

				wantNoDUA := map[ethos.Level]int{ethos.LevelYes: 200, ethos.LevelLimited: 403, ethos.LevelNo: 403}[level]
				var e apiError
				if st := f.do(t, tok, "GET", read, nil, &e); st != wantNoDUA {
					t.Fatalf("read without agreement: %d, want %d (%s)", st, wantNoDUA, e.Error.Message)
				}
				if wantNoDUA == 403 && (e.Error.Code != "forbidden" || !strings.Contains(e.Error.Message, "rule ")) {
					t.Errorf("403 body does not carry the rule: %+v", e.Error)
				}
				wantWrite := map[ethos.Level]int{ethos.LevelYes: 201, ethos.LevelLimited: 403, ethos.LevelNo: 403}[level]
				if st := f.do(t, tok, "POST", records, rec, nil); st != wantWrite {
					t.Fatalf("write without agreement: %d, want %d", st, wantWrite)
				}

				dua := map[string]any{"party_id": partyID, "project_id": pid, "stages": []ethos.Stage{s}, "purposes": []string{"research"},
					"views": []string{"deidentified"}, "expires_at": f.clock.Now().Add(30 * 24 * time.Hour), "approved_by": "IRB 2026-17"}
				if st := f.do(t, f.admin, "POST", "/api/v1/duas", dua, nil); st != 201 {
					t.Fatalf("create agreement: %d", st)
				}
				wantDUA := map[ethos.Level]int{ethos.LevelYes: 200, ethos.LevelLimited: 200, ethos.LevelNo: 403}[level]
				var got ethoshttp.List[ethos.StageRecord]
				if st := f.do(t, tok, "GET", read, nil, &got); st != wantDUA {
					t.Fatalf("read with agreement: %d, want %d", st, wantDUA)
				}
				wantWrite = map[ethos.Level]int{ethos.LevelYes: 201, ethos.LevelLimited: 201, ethos.LevelNo: 403}[level]
				if st := f.do(t, tok, "POST", records, rec, nil); st != wantWrite {
					t.Fatalf("write with agreement: %d, want %d", st, wantWrite)
				}
				if level == ethos.LevelLimited {
					// Only the views the agreement grants.
					if st := f.do(t, tok, "GET", records+"?purpose=research&view=aggregate", nil, nil); st != 403 {
						t.Errorf("aggregate view not granted: %d, want 403", st)
					}
					if st := f.do(t, tok, "GET", records+"?purpose=research&view=identified", nil, nil); st != 403 {
						t.Errorf("identified view under limited: %d, want 403", st)
					}
					if st := f.do(t, tok, "GET", records+"?purpose=marketing&view=deidentified", nil, nil); st != 403 {
						t.Errorf("purpose not covered: %d, want 403", st)
					}
					if st := f.do(t, tok, "GET", records+"?purpose=research&view=deidentified", nil, &got); st != 200 || got.Total == 0 {
						t.Errorf("read back under agreement: %d, %d records, want 200 with some", st, got.Total)
					}
					for _, r := range got.Items {
						if r.View != ethos.ViewDeidentified {
							t.Errorf("record %s with view %s returned under a deidentified-only agreement", r.ID, r.View)
						}
					}
				}
			})
		}
	}
	// Every decision is in the audit log, allow and deny alike.
	var allow, deny int
	err := f.store.ScanLeaves(context.Background(), 0, 1<<40, func(_ int64, leaf []byte) error {
		e, err := audit.DecodeEvent(leaf)
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Action, "access.read") || strings.HasPrefix(e.Action, "access.write") {
			switch e.Decision {
			case "allow":
				allow++
			case "deny":
				deny++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if allow == 0 || deny == 0 {
		t.Errorf("audit log holds %d allowed and %d denied stage accesses, want both", allow, deny)
	}
}

func TestRoleAndStageRules(t *testing.T) {
	f := newFixture(t)
	pid := f.projectIn(t, "p", ethos.StageTraining)
	tok, _, _ := f.member(t, "hospital", ethos.PartyPublic, ethos.RoleClinician)
	var e apiError
	if st := f.do(t, tok, "POST", "/api/v1/projects/"+pid+"/stages/training/records",
		map[string]any{"kind": "k", "title": "t", "view": "aggregate"}, &e); st != 403 || !strings.Contains(e.Error.Message, "role.write.training") {
		t.Errorf("clinician writing in training: %d %s, want 403 by role.write.training", st, e.Error.Message)
	}
	tok2, _, _ := f.member(t, "hospital ml", ethos.PartyPublic, ethos.RoleMLEngineer)
	if st := f.do(t, tok2, "POST", "/api/v1/projects/"+pid+"/stages/processing/records",
		map[string]any{"kind": "k", "title": "t", "view": "aggregate"}, &e); st != 403 {
		t.Errorf("write outside the current stage: %d, want 403", st)
	}
	if st := f.do(t, tok2, "POST", "/api/v1/parties", map[string]any{"name": "x", "type": "public"}, &e); st != 403 || !strings.Contains(e.Error.Message, "role.manage") {
		t.Errorf("non-admin creating a party: %d %s", st, e.Error.Message)
	}
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	tok, _, uid := f.member(t, "lab", ethos.PartyPublic, ethos.RoleResearcher)
	var me ethos.User
	if st := f.do(t, tok, "GET", "/api/v1/me", nil, &me); st != 200 || me.ID != uid {
		t.Fatalf("me: %d %s", st, me.ID)
	}
	var list ethoshttp.List[ethos.Token]
	f.do(t, tok, "GET", "/api/v1/tokens", nil, &list)
	if list.Total != 1 || list.Items[0].LastUsedAt == nil {
		t.Fatalf("own tokens: %+v", list)
	}
	// A user makes a short-lived token of their own.
	var tc ethoshttp.TokenCreated
	if st := f.do(t, tok, "POST", "/api/v1/tokens", map[string]any{"name": "script", "ttl_hours": 1}, &tc); st != 201 || tc.Secret == "" {
		t.Fatalf("create own token: %d", st)
	}
	if st := f.do(t, tc.Secret, "GET", "/api/v1/me", nil, nil); st != 200 {
		t.Fatalf("new token: %d", st)
	}
	var e apiError
	if st := f.do(t, "", "GET", "/api/v1/me", nil, &e); st != 401 {
		t.Errorf("missing token: %d, want 401", st)
	}
	if st := f.do(t, "ethos_"+strings.Repeat("A", 43), "GET", "/api/v1/me", nil, &e); st != 401 || !strings.Contains(e.Error.Message, "unknown") {
		t.Errorf("unknown token: %d %s", st, e.Error.Message)
	}
	if st := f.do(t, tok, "POST", "/api/v1/tokens/"+list.Items[0].ID+"/revoke", nil, nil); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st := f.do(t, tok, "GET", "/api/v1/me", nil, &e); st != 401 || !strings.Contains(e.Error.Message, "revoked") {
		t.Errorf("revoked token: %d %s, want 401 revoked", st, e.Error.Message)
	}
	f.clock.Add(2 * time.Hour)
	if st := f.do(t, tc.Secret, "GET", "/api/v1/me", nil, &e); st != 401 || !strings.Contains(e.Error.Message, "expired") {
		t.Errorf("expired token: %d %s, want 401 expired", st, e.Error.Message)
	}
	// The failures are audited, without the secret.
	var denied int
	f.store.ScanLeaves(context.Background(), 0, 1<<40, func(_ int64, leaf []byte) error {
		if bytes.Contains(leaf, []byte(tok)) || bytes.Contains(leaf, []byte(tc.Secret)) {
			t.Error("a token secret reached the audit log")
		}
		e, _ := audit.DecodeEvent(leaf)
		if e.Action == "auth.token" && e.Decision == "deny" {
			denied++
		}
		return nil
	})
	if denied != 4 {
		t.Errorf("%d denied authentications audited, want 4", denied)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"ErrMalformedJSON", `{"name": "x", "type": }`, 400, "malformed JSON at byte"},
		{"ErrUnknownField", `{"name": "x", "type": "public", "kind": "hospital"}`, 400, `unknown field "kind"`},
		{"ErrWrongType", `{"name": 42, "type": "public"}`, 400, "field name"},
		{"ErrEmptyBody", ``, 400, "empty"},
		{"ErrTrailingData", `{"name": "x", "type": "public"} {}`, 400, "after the JSON"},
		{"ErrBadPartyType", `{"name": "x", "type": "gov"}`, 400, "party type"},
		{"ErrTooLarge", `{"name": "` + strings.Repeat("x", 70<<10) + `", "type": "public"}`, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if st := f.do(t, f.admin, "POST", "/api/v1/parties", tt.body, &e); st != tt.status || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("got %d %q, want %d containing %q", st, e.Error.Message, tt.status, tt.want)
			}
			if e.Error.Request_ID == "" {
				t.Error("error without request id")
			}
		})
	}
	var list ethoshttp.List[ethos.Party]
	f.do(t, f.admin, "GET", "/api/v1/parties", nil, &list)
	if list.Total != 1 {
		t.Errorf("%d parties after bad requests, want 1 (nothing written)", list.Total)
	}
	var e apiError
	if st := f.do(t, f.admin, "GET", "/api/v1/parties?limit=abc", nil, &e); st != 400 || !strings.Contains(e.Error.Message, "limit") {
		t.Errorf("bad query parameter: %d %s", st, e.Error.Message)
	}
	if st := f.do(t, f.admin, "GET", "/api/v1/projects/prj_x/stages/marketing/records", nil, &e); st != 400 {
		t.Errorf("unknown stage: %d", st)
	}
}

func TestOpenAPIInSync(t *testing.T) {
	f := newFixture(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if st := f.do(t, "", "GET", "/api/v1/openapi.json", nil, &doc); st != 200 {
		t.Fatalf("openapi: %d", st)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	routes := f.server.Routes()
	slices.Sort(documented)
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		for _, r := range routes {
			if !slices.Contains(documented, r) {
				t.Errorf("route %s is not in openapi.json", r)
			}
		}
		for _, d := range documented {
			if !slices.Contains(routes, d) {
				t.Errorf("openapi.json documents %s, which is not a route", d)
			}
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	if st := f.do(t, "", "GET", "/healthz", nil, nil); st != 200 {
		t.Errorf("healthz: %d", st)
	}
	f.do(t, f.admin, "GET", "/api/v1/me", nil, nil)
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ethos_http_requests_total{code="OK",route="/api/v1/me"} 1`, "ethos_audit_events", "go_goroutines"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestAuditProofsIndependent checks the API's checkpoint and inclusion
// and consistency proofs with a verifier written here from RFC 6962 and
// the note format, using crypto/sha256 and crypto/ed25519 only.
func TestAuditProofsIndependent(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.do(t, f.admin, "POST", "/api/v1/parties", map[string]any{"name": "p" + strconv.Itoa(i), "type": "public"}, nil)
	}
	// First checkpoint (the auditor keeps it), more events, second one.
	cp1 := f.checkpoint(t)
	size1, root1 := checkNote(t, cp1, f.verifier)
	for i := range 7 {
		f.do(t, f.admin, "POST", "/api/v1/parties", map[string]any{"name": "q" + strconv.Itoa(i), "type": "private"}, nil)
	}
	cp2 := f.checkpoint(t)
	size2, root2 := checkNote(t, cp2, f.verifier)
	if size2 <= size1 {
		t.Fatalf("sizes %d then %d", size1, size2)
	}
	for _, idx := range []int64{0, 1, size1 - 1, size2 / 2, size2 - 1} {
		var raw struct {
			Proof struct {
				Index    int64    `json:"index"`
				TreeSize int64    `json:"tree_size"`
				Hashes   []string `json:"hashes"`
			} `json:"proof"`
			Leaf string `json:"leaf"`
		}
		if st := f.do(t, f.admin, "GET", fmt.Sprintf("/api/v1/audit/proof/inclusion?index=%d&tree_size=%d", idx, size2), nil, &raw); st != 200 {
			t.Fatalf("inclusion proof %d: %d", idx, st)
		}
		path := decodeHashes(t, raw.Proof.Hashes)
		if got := rootFromInclusion(idx, size2, leafHash([]byte(raw.Leaf)), path); got != root2 {
			t.Errorf("inclusion of %d: recomputed root differs from the signed one", idx)
		}
		// A changed leaf must not verify.
		if got := rootFromInclusion(idx, size2, leafHash([]byte(raw.Leaf+" ")), path); got == root2 {
			t.Errorf("inclusion of a modified leaf %d verified", idx)
		}
	}
	var cons struct {
		OldSize int64    `json:"old_size"`
		NewSize int64    `json:"new_size"`
		Hashes  []string `json:"hashes"`
	}
	if st := f.do(t, f.admin, "GET", fmt.Sprintf("/api/v1/audit/proof/consistency?old_size=%d&new_size=%d", size1, size2), nil, &cons); st != 200 {
		t.Fatalf("consistency proof: %d", st)
	}
	o, n, ok := rootsFromConsistency(size1, size2, root1, decodeHashes(t, cons.Hashes))
	if !ok || o != root1 || n != root2 {
		t.Errorf("consistency %d→%d does not verify", size1, size2)
	}
	// Non-auditors may not read the log.
	tok, _, _ := f.member(t, "ml", ethos.PartyPublic, ethos.RoleMLEngineer)
	if st := f.do(t, tok, "GET", "/api/v1/audit/checkpoint", nil, nil); st != 403 {
		t.Errorf("checkpoint by an ml-engineer: %d, want 403", st)
	}
}

func (f *fixture) checkpoint(t *testing.T) []byte {
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, b)
	}
	return b
}

type hash [32]byte

func decodeHashes(t *testing.T, ss []string) []hash {
	out := make([]hash, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("hash %q: %v", s, err)
		}
		copy(out[i][:], b)
	}
	return out
}

func leafHash(b []byte) hash { return sha256.Sum256(append([]byte{0}, b...)) }

func nodeHash(l, r hash) hash { return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...)) }

// rootFromInclusion follows RFC 9162 section 2.1.3.2.
func rootFromInclusion(index, size int64, leaf hash, path []hash) hash {
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return hash{}
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return hash{}
	}
	return r
}

// rootsFromConsistency follows RFC 9162 section 2.1.4.2.
func rootsFromConsistency(first, second int64, firstRoot hash, path []hash) (hash, hash, bool) {
	if first == second {
		return firstRoot, firstRoot, len(path) == 0
	}
	if first&(first-1) == 0 {
		path = append([]hash{firstRoot}, path...)
	}
	if len(path) == 0 {
		return hash{}, hash{}, false
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return hash{}, hash{}, false
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = nodeHash(c, fr), nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return fr, sr, sn == 0
}

// checkNote verifies a signed checkpoint with crypto/ed25519 directly:
// the verifier key is name+hash+base64(0x01 ‖ public key); the signature
// line is "— name base64(key hash ‖ signature)" over the note text.
func checkNote(t *testing.T, note []byte, verifier string) (int64, hash) {
	t.Helper()
	parts := strings.SplitN(verifier, "+", 3)
	kb, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(kb) != 33 || kb[0] != 1 {
		t.Fatalf("verifier key: %v", err)
	}
	pub := ed25519.PublicKey(kb[1:])
	text, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		t.Fatalf("note without signatures: %q", note)
	}
	text += "\n"
	verified := false
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "— "))
		if len(f) != 2 || f[0] != parts[0] {
			continue
		}
		sb, err := base64.StdEncoding.DecodeString(f[1])
		if err == nil && len(sb) == 68 && ed25519.Verify(pub, []byte(text), sb[4:]) {
			verified = true
		}
	}
	if !verified {
		t.Fatalf("checkpoint signature does not verify")
	}
	lines := strings.Split(text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != 32 {
		t.Fatal("root hash")
	}
	var root hash
	copy(root[:], rb)
	return size, root
}
