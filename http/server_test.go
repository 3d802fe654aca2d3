package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
)

// clock is a settable clock shared by the server and the stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t       testing.TB
	clock   *clock
	db      *sqlite.DB
	log     *audit.Log
	key     audittest.Key
	url     string
	parties *sqlite.PartyService
	users   *sqlite.UserService
	tokens  *sqlite.TokenService
	records *sqlite.RecordService
	// projects and auditor are the ones the server uses, for services
	// a test wires in.
	projects *sqlite.ProjectService
	auditor  ehttp.LogAuditor
	owner    *ethos.Party
	admin    string // token secret of the owner party's admin
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureAt(t, time.Now().UTC(), nil)
}

// newFixtureAt opens a fresh SQLite database and audit log, builds a
// server with the foundation services (parties, users, tokens, projects,
// DUAs, records; the default policy; every decision audited), lets wire
// add the services a test needs, and serves it. The clock starts at start.
func newFixtureAt(t testing.TB, start time.Time, wire func(f *fixture, s *ehttp.Server)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, clock: &clock{t: start}, key: audittest.TestKey(t)}
	f.db = sqlite.NewDB(filepath.Join(t.TempDir(), "data"))
	f.db.Now = f.clock.Now
	if err := f.db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(f.key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	auditDB := sqlite.NewAuditStorage(f.db)
	f.log = audit.NewLog(auditDB, signer)
	if err := f.log.Open(ctx); err != nil {
		t.Fatal(err)
	}
	f.auditor = ehttp.LogAuditor{Log: f.log}
	f.parties, f.users, f.tokens, f.records = sqlite.NewPartyService(f.db), sqlite.NewUserService(f.db), sqlite.NewTokenService(f.db), sqlite.NewRecordService(f.db)
	f.projects = sqlite.NewProjectService(f.db)
	s := ehttp.NewServer()
	s.Now, s.Logger = f.clock.Now, slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = policy.Default(), f.auditor, f.log, auditDB, f.key.Verifier
	s.Parties, s.Users, s.Tokens = f.parties, f.users, f.tokens
	s.Projects, s.DUAs, s.Records = f.projects, sqlite.NewDUAService(f.db), f.records
	s.MaxBodyBytes = 64 << 10
	if wire != nil {
		wire(f, s)
	}
	hs := httptest.NewServer(s.Handler())
	f.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		f.log.Close()
		f.db.Close()
	})
	f.owner = f.party("St. Elsewhere University Hospital", ethos.PartyPublic)
	f.admin = f.user(f.owner, ethos.RoleAdmin)
	return f
}

func (f *fixture) party(name string, typ ethos.PartyType) *ethos.Party {
	f.t.Helper()
	p := &ethos.Party{Name: name, Type: typ}
	if err := f.parties.CreateParty(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// user creates a user with roles and returns a fresh token secret for it.
func (f *fixture) user(p *ethos.Party, roles ...ethos.Role) string {
	f.t.Helper()
	u := &ethos.User{PartyID: p.ID, Name: "member of " + p.Name, Roles: roles}
	if err := f.users.CreateUser(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
	secret, hash := ethos.NewTokenSecret()
	if err := f.tokens.CreateToken(context.Background(), &ethos.Token{UserID: u.ID, Name: "test", Hash: hash, ExpiresAt: f.clock.Now().Add(48 * time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// do sends a JSON request and decodes the reply into out (if not nil).
func (f *fixture) do(method, path, token string, in any, out any) (int, map[string]any) {
	f.t.Helper()
	var body io.Reader
	if in != nil {
		switch v := in.(type) {
		case string:
			body = strings.NewReader(v)
		default:
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, f.url+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, m
}

// lastEvent returns the newest audit event.
func (f *fixture) lastEvents(n int) []audit.Event {
	f.t.Helper()
	size := f.log.Size()
	leaves, err := sqlite.NewAuditStorage(f.db).Leaves(context.Background(), max(0, size-int64(n)), size)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []audit.Event
	for _, l := range leaves {
		e, err := audit.DecodeEvent(l)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// fakePatient is text a user might type into a reason: a name, a medical
// record number and a birth date. No audit entry may hold any of them.
var fakePatient = []string{"DOE^JANE", "MRN 004417731", "1961-04-12"}

// withFakePatient is a plausible reason that names the fake patient.
func withFakePatient(reason string) string {
	return reason + " (seen on " + strings.Join(fakePatient, ", ") + ")"
}

// auditClean fails the test when any entry of the whole audit log holds a
// part of the fake patient's identity, read back from storage.
func (f *fixture) auditClean() {
	f.t.Helper()
	auditClean(f.t, sqlite.NewAuditStorage(f.db), f.log.Size())
}

// auditClean is fixture.auditClean over the first size entries of st.
func auditClean(t testing.TB, st audit.Storage, size int64) {
	t.Helper()
	if held := auditHolding(t, st, size, fakePatient); len(held) > 0 {
		t.Fatal(held[0])
	}
}

// auditHolding describes every place where one of parts occurs in a field
// of the first size entries of st.
func auditHolding(t testing.TB, st audit.Storage, size int64, parts []string) []string {
	t.Helper()
	leaves, err := st.Leaves(context.Background(), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, l := range leaves {
		e, err := audit.DecodeEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{e.Actor, e.Party, e.Action, e.Resource, e.Stage, e.Purpose, e.Decision, e.Reason, e.RequestID} {
			for _, id := range parts {
				if strings.Contains(v, id) {
					held = append(held, fmt.Sprintf("audit entry %s %s holds %q: %+v", e.Action, e.Resource, id, e))
				}
			}
		}
	}
	return held
}

// lastOf returns the newest of evs with action, failing without one.
func lastOf(t testing.TB, evs []audit.Event, action string) audit.Event {
	t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action {
			return evs[i]
		}
	}
	t.Fatalf("no %s among the last audit entries %+v", action, evs)
	return audit.Event{}
}

func (f *fixture) verify() *audit.Report {
	f.t.Helper()
	if _, err := f.log.Checkpoint(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), sqlite.NewAuditStorage(f.db), f.key.Verifier, audit.VerifyOptions{})
	if err != nil {
		f.t.Fatalf("audit log does not verify: %v", err)
	}
	return rep
}

// frameworkMatrix reads the framework's cells from the shared folder.
func frameworkMatrix(t *testing.T) map[[2]string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Shared(t), "framework", "access-matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Stages []map[string]string `json:"stages"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]string{}
	for _, row := range m.Stages {
		for _, pt := range []string{"public", "private", "third_party"} {
			out[[2]string{row["stage"], pt}] = row[pt]
		}
	}
	return out
}

// TestAccessMatrixThroughAPI reads every stage's records as a data steward
// of a party of each type that does not own the project, first without and
// then with a data-use agreement covering the stage and purpose, and
// checks each answer, and its audit event, against the framework's matrix.
func TestAccessMatrixThroughAPI(t *testing.T) {
	f := newFixture(t)
	var prj ethos.Project
	if code, m := f.do("POST", "/api/v1/projects", f.admin, map[string]string{"name": "Chest X-ray triage", "intended_use": "flag suspected pneumothorax",
		"modality": "DX", "clinical_setting": "emergency department"}, &prj); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	for _, st := range ethos.Stages {
		for i, kind := range []string{"dataset", "dataset", "note"} {
			r := &ethos.StageRecord{ProjectID: prj.ID, Stage: st, Kind: kind, Identifiable: i == 1, Body: json.RawMessage(`{"n":1}`), CreatedBy: "usr_setup"}
			if err := f.records.CreateRecord(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	matrix := frameworkMatrix(t)
	type reader struct {
		party *ethos.Party
		token string
	}
	readers := map[string]reader{}
	for _, pt := range ethos.PartyTypes {
		p := f.party("Reader "+string(pt), pt)
		readers[string(pt)] = reader{p, f.user(p, ethos.RoleDataSteward)}
	}
	read := func(r reader, st ethos.Stage) (int, map[string]any) {
		return f.do("GET", "/api/v1/projects/"+prj.ID+"/stages/"+string(st)+"/records?purpose=research&view=deidentified", r.token, nil, nil)
	}
	for _, withDUA := range []bool{false, true} {
		for key, level := range matrix {
			st, pt := ethos.Stage(key[0]), key[1]
			r := readers[pt]
			if withDUA {
				var d ethos.DUA
				in := map[string]any{"party_id": r.party.ID, "project_id": prj.ID, "stages": []string{key[0]}, "purposes": []string{"research"},
					"views": []string{"deidentified"}, "expires_at": f.clock.Now().Add(24 * time.Hour).Format(time.RFC3339)}
				if code, m := f.do("POST", "/api/v1/duas", f.admin, in, &d); code != 201 {
					t.Fatalf("create DUA: %d %v", code, m)
				}
			}
			name := key[0] + "/" + pt + "/withoutDUA"
			if withDUA {
				name = key[0] + "/" + pt + "/withDUA"
			}
			t.Run(name, func(t *testing.T) {
				code, body := read(r, st)
				want := http.StatusForbidden
				if level == "yes" || (level == "limited" && withDUA) {
					want = http.StatusOK
				}
				if code != want {
					t.Fatalf("level %s: status %d, want %d (%v)", level, code, want, body)
				}
				ev := f.lastEvents(1)[0]
				if ev.Action != "access.read" || ev.Stage != key[0] || ev.Purpose != "research" {
					t.Errorf("last audit event %+v is not this read", ev)
				}
				if want == http.StatusOK {
					if ev.Decision != "allow" {
						t.Errorf("audit decision %q, want allow", ev.Decision)
					}
					if total := body["total"].(float64); total != 2 {
						t.Errorf("deidentified view returned %v records, want the 2 not identifiable", total)
					}
					return
				}
				if ev.Decision != "deny" {
					t.Errorf("audit decision %q, want deny", ev.Decision)
				}
				msg, _ := body["message"].(string)
				if !strings.Contains(msg, "rule ") || !strings.Contains(ev.Reason, key[0]) {
					t.Errorf("403 message %q / audit reason %q do not carry the rule", msg, ev.Reason)
				}
			})
		}
	}
	// A limited cell allows only the views the agreement names: the
	// full view stays closed even with the agreement.
	if code, _ := f.do("GET", "/api/v1/projects/"+prj.ID+"/stages/training/records?purpose=research&view=full", readers["private"].token, nil, nil); code != 403 {
		t.Errorf("full view under a limited cell: %d, want 403", code)
	}
	// Writes are never allowed through a limited cell.
	if code, _ := f.do("POST", "/api/v1/projects/"+prj.ID+"/stages/collection/records", readers["third_party"].token,
		map[string]any{"purpose": "research", "kind": "dataset", "body": map[string]int{"n": 1}}, nil); code != 403 {
		t.Errorf("write under a limited cell: %d, want 403", code)
	}
	// The owner's steward works at collection, which is closed to every
	// other party.
	owner := f.user(f.owner, ethos.RoleDataSteward)
	if code, m := f.do("GET", "/api/v1/projects/"+prj.ID+"/stages/collection/records?purpose=research", owner, nil, nil); code != 200 {
		t.Errorf("owner's steward reading collection: %d %v", code, m)
	}
	f.verify()
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	researcher := f.user(f.owner, ethos.RoleResearcher)
	var who struct {
		User ethos.User `json:"user"`
	}
	if code, _ := f.do("GET", "/api/v1/whoami", researcher, nil, &who); code != 200 {
		t.Fatalf("whoami: %d", code)
	}
	var created struct {
		Token  ethos.Token `json:"token"`
		Secret string      `json:"secret"`
	}
	if code, m := f.do("POST", "/api/v1/tokens", researcher, map[string]any{"name": "laptop", "expires_in_days": 1}, &created); code != 201 {
		t.Fatalf("create own token: %d %v", code, m)
	}
	if !ethos.WellFormedTokenSecret(created.Secret) || created.Token.UserID != who.User.ID {
		t.Fatalf("created token %+v", created.Token)
	}
	// The secret is never stored: the database holds only its hash.
	var n int
	f.db.SQL().QueryRow("SELECT COUNT(*) FROM tokens WHERE instr(CAST(hash AS TEXT), ?) > 0", created.Secret).Scan(&n)
	if n != 0 {
		t.Fatal("the token secret is stored")
	}
	if code, _ := f.do("GET", "/api/v1/whoami", created.Secret, nil, nil); code != 200 {
		t.Fatalf("new token refused: %d", code)
	}
	var toks struct {
		Items []ethos.Token `json:"items"`
	}
	f.do("GET", "/api/v1/tokens", researcher, nil, &toks)
	var used bool
	for _, tk := range toks.Items {
		if tk.ID == created.Token.ID && tk.LastUsedAt != nil {
			used = true
		}
	}
	if !used {
		t.Error("token list does not show the last use")
	}
	// A researcher cannot make tokens for someone else.
	if code, _ := f.do("POST", "/api/v1/tokens", researcher, map[string]any{"user_id": "usr_other", "name": "x"}, nil); code != 403 {
		t.Errorf("token for another user: %d, want 403", code)
	}
	if code, _ := f.do("DELETE", "/api/v1/tokens/"+created.Token.ID, researcher, nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, m := f.do("GET", "/api/v1/whoami", created.Secret, nil, nil); code != 401 {
		t.Fatalf("revoked token: %d %v", code, m)
	}
	if ev := f.lastEvents(1)[0]; ev.Action != "auth.fail" || ev.Decision != "deny" || ev.Resource != "token/"+created.Token.ID || !strings.Contains(ev.Reason, "revoked") {
		t.Errorf("revoked token's refusal audited as %+v", ev)
	}
	// Expiry: the researcher's token lived 48 hours.
	f.clock.Add(49 * time.Hour)
	if code, _ := f.do("GET", "/api/v1/whoami", researcher, nil, nil); code != 401 {
		t.Errorf("expired token: %d, want 401", code)
	}
	if ev := f.lastEvents(1)[0]; !strings.Contains(ev.Reason, "expired") {
		t.Errorf("expired token's refusal audited as %+v", ev)
	}
	for name, tok := range map[string]string{"missing": "", "malformed": "abc", "unknown": "ethos_" + strings.Repeat("A", 43)} {
		if code, _ := f.do("GET", "/api/v1/whoami", tok, nil, nil); code != 401 {
			t.Errorf("%s token: %d, want 401", name, code)
		}
		if ev := f.lastEvents(1)[0]; ev.Action != "auth.fail" || ev.Actor != "anonymous" {
			t.Errorf("%s token not audited: %+v", name, ev)
		}
	}
	f.verify()
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	big := `{"name":"` + strings.Repeat("a", 70<<10) + `","type":"public"}`
	tests := []struct {
		name   string
		body   string
		status int
		field  string
		msg    string
	}{
		{"UnknownField", `{"name":"A","type":"public","owner":"x"}`, 400, "owner", "unknown field"},
		{"UnknownFieldNameNotShown", `{"name":"A","type":"public","DOE^JANE":"x"}`, 400, "", "name not shown"},
		{"WrongType", `{"name":5,"type":"public"}`, 400, "name", "want string"},
		{"Malformed", `{"name":"A",`, 400, "", "malformed JSON"},
		{"Trailing", `{"name":"A","type":"public"} {"x":1}`, 400, "", "data after"},
		{"Empty", ``, 400, "", "empty"},
		{"TooLarge", big, 413, "", "larger than"},
		{"InvalidValue", `{"name":"A","type":"charity"}`, 400, "", "party type"},
	}
	before := f.log.Size()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := f.do("POST", "/api/v1/parties", f.admin, tt.body, nil)
			if tt.body == "" {
				req, _ := http.NewRequest("POST", f.url+"/api/v1/parties", nil)
				req.Header.Set("Authorization", "Bearer "+f.admin)
				resp, _ := http.DefaultClient.Do(req)
				code = resp.StatusCode
				json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
			}
			if code != tt.status {
				t.Fatalf("status %d, want %d (%v)", code, tt.status, m)
			}
			if got, _ := m["field"].(string); got != tt.field {
				t.Errorf("field %q, want %q", got, tt.field)
			}
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.msg) || strings.Contains(msg, "DOE^JANE") {
				t.Errorf("message %q, want it to contain %q (and no typed name)", msg, tt.msg)
			}
		})
	}
	t.Run("TimeNotEchoed", func(t *testing.T) {
		code, m := f.do("POST", "/api/v1/duas", f.admin, `{"party_id":"x","project_id":"y","stages":["training"],"purposes":["research"],"views":["aggregate"],"expires_at":"DOE^JANE 1961-04-12"}`, nil)
		if msg, _ := m["message"].(string); code != 400 || !strings.Contains(msg, "RFC 3339") || strings.Contains(msg, "DOE^JANE") || strings.Contains(msg, "1961") {
			t.Errorf("bad time: %d %q", code, msg)
		}
	})
	if _, n, _ := f.parties.FindParties(context.Background(), ethos.PartyFilter{}); n != 1 {
		t.Errorf("%d parties after bad requests, want only the fixture's", n)
	}
	// Bad bodies are refused before the policy is asked: nothing but the
	// one allowed decision of the invalid-value case is logged.
	if got := f.log.Size() - before; got != 1 {
		t.Errorf("%d audit events for the bad requests, want 1", got)
	}
	code, m := f.do("GET", "/api/v1/projects/prj_x/stages/training/records", f.admin, nil, nil)
	if code != 400 || m["field"] != "purpose" {
		t.Errorf("records without purpose: %d %v", code, m)
	}
}

func TestForbiddenIsAuditedWithRule(t *testing.T) {
	f := newFixture(t)
	clin := f.user(f.owner, ethos.RoleClinician)
	code, m := f.do("POST", "/api/v1/parties", clin, map[string]string{"name": "X", "type": "private"}, nil)
	if code != 403 || !strings.Contains(m["message"].(string), "role/manage/party") {
		t.Fatalf("clinician creating a party: %d %v", code, m)
	}
	ev := f.lastEvents(1)[0]
	if ev.Decision != "deny" || !strings.HasPrefix(ev.Reason, "role/manage/party") || ev.RequestID == "" {
		t.Errorf("deny audited as %+v", ev)
	}
	if code, _ := f.do("GET", "/api/v1/audit/checkpoint", clin, nil, nil); code != 403 {
		t.Errorf("clinician reading the audit log: %d, want 403", code)
	}
}

func TestProjectStagesAndApprovals(t *testing.T) {
	f := newFixture(t)
	steward := f.user(f.owner, ethos.RoleDataSteward)
	irb := f.user(f.owner, ethos.RoleEthicsReviewer)
	var prj ethos.Project
	f.do("POST", "/api/v1/projects", steward, map[string]string{"name": "Mammo density", "intended_use": "density grading", "modality": "MG", "clinical_setting": "screening"}, &prj)
	if prj.ID == "" {
		t.Fatal("project not created")
	}
	code, m := f.do("POST", "/api/v1/projects/"+prj.ID+"/stage", steward, map[string]string{"stage": "training"}, nil)
	if code != 400 {
		t.Errorf("skipping a stage: %d %v", code, m)
	}
	code, _ = f.do("POST", "/api/v1/projects/"+prj.ID+"/stages/collection/approvals", steward, map[string]string{"purpose": "research", "decision": "approved"}, nil)
	if code != 403 {
		t.Errorf("steward approving collection: %d, want 403", code)
	}
	code, m = f.do("POST", "/api/v1/projects/"+prj.ID+"/stages/collection/approvals", irb, map[string]string{"purpose": "research", "decision": "approved", "reference": "IRB-2026-7"}, nil)
	if code != 201 {
		t.Errorf("IRB approving collection: %d %v", code, m)
	}
	var moved ethos.Project
	if code, m := f.do("POST", "/api/v1/projects/"+prj.ID+"/stage", steward, map[string]string{"stage": "processing", "reason": "IRB-2026-7 approved"}, &moved); code != 200 {
		t.Fatalf("move: %d %v", code, m)
	}
	if len(moved.StageHistory) != 2 || moved.StageHistory[1].Reason != "IRB-2026-7 approved" {
		t.Errorf("history %+v", moved.StageHistory)
	}
	f.verify()
}

func TestAuditEndpoints(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		f.do("GET", "/api/v1/whoami", f.admin, nil, nil)
		f.do("GET", "/api/v1/parties", f.admin, nil, nil)
	}
	req, _ := http.NewRequest("POST", f.url+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c, err := audit.OpenCheckpoint(cp, f.key.Verifier)
	if err != nil || c.Size < 5 {
		t.Fatalf("checkpoint %q: %v", cp, err)
	}
	var proof audit.InclusionProof
	if code, m := f.do("GET", "/api/v1/audit/proofs/inclusion?index=2", f.admin, nil, &proof); code != 200 {
		t.Fatalf("inclusion proof: %d %v", code, m)
	}
	var ev struct {
		Leaf []byte `json:"leaf"`
	}
	f.do("GET", "/api/v1/audit/events/2", f.admin, nil, &ev)
	if proof.TreeSize != c.Size {
		t.Errorf("proof for tree size %d, checkpoint %d", proof.TreeSize, c.Size)
	}
	if err := audit.VerifyInclusion(&proof, ev.Leaf, cp, f.key.Verifier); err != nil {
		t.Errorf("inclusion proof does not verify: %v", err)
	}
	// A changed leaf does not verify against the proof.
	bad := bytes.Replace(ev.Leaf, []byte("allow"), []byte("deny!"), 1)
	if err := audit.VerifyInclusion(&proof, bad, cp, f.key.Verifier); err == nil {
		t.Error("a modified leaf verified")
	}
	var cons audit.ConsistencyProof
	if code, m := f.do("GET", "/api/v1/audit/proofs/consistency?old_size=3", f.admin, nil, &cons); code != 200 || cons.NewSize != c.Size {
		t.Fatalf("consistency proof: %d %v %+v", code, m, cons)
	}
	req, _ = http.NewRequest("GET", f.url+"/api/v1/audit/export", nil)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rep, err := audit.VerifyExport(resp.Body, f.key.Verifier, audit.VerifyOptions{Checkpoint: cp})
	if err != nil || rep.Size < c.Size {
		t.Fatalf("export does not verify: %v", err)
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Paths) < 10 {
		t.Fatalf("document %q with %d paths", doc.OpenAPI, len(doc.Paths))
	}
	ops := 0
	for path, methods := range doc.Paths {
		concrete := strings.NewReplacer("{id}", "x1", "{stage}", "training", "{index}", "0").Replace(path)
		for method := range methods {
			ops++
			req, _ := http.NewRequest(strings.ToUpper(method), f.url+concrete, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// The mux routes every documented operation: a public one
			// answers, a protected one asks for a token. 404 or 405 would
			// mean the document names a route the mux does not serve.
			if resp.StatusCode == 404 || resp.StatusCode == 405 {
				t.Errorf("%s %s documented but not routed: %d", method, path, resp.StatusCode)
			}
		}
		// A method the document does not list is not routed.
		if _, ok := methods["put"]; !ok {
			req, _ := http.NewRequest("PUT", f.url+concrete, nil)
			resp, _ := http.DefaultClient.Do(req)
			resp.Body.Close()
			if resp.StatusCode != 405 {
				t.Errorf("PUT %s: %d, want 405 (undocumented method routed?)", path, resp.StatusCode)
			}
		}
	}
	if resp, _ := http.Get(f.url + "/api/v1/nothing"); resp.StatusCode != 404 {
		t.Errorf("undocumented path: %d, want 404", resp.StatusCode)
	}
	t.Logf("%d operations checked", ops)
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/api/v1/whoami", "", nil, nil)
	code, m := f.do("GET", "/healthz", "", nil, nil)
	if code != 200 || m["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, m)
	}
	resp, err := http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"ethos_http_requests_total{method=\"GET\",route=\"/api/v1/whoami\",status=\"401\"} 1", "ethos_auth_failures_total 1", "ethos_audit_events"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}
}

// TestUnmatchedRequestsAnswerJSON: requests no route serves get the JSON
// error body every other failure has, with 404 or, when the path exists
// under other methods, 405 and an Allow header.
func TestUnmatchedRequestsAnswerJSON(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"NotFoundUnknownPath", "GET", "/api/v1/nothing", 404, "not_found", ""},
		{"NotFoundOutsideAPI", "GET", "/index.html", 404, "not_found", ""},
		{"MethodNotAllowedOnCollection", "DELETE", "/api/v1/parties", 405, "method_not_allowed", "GET, POST, HEAD"},
		{"MethodNotAllowedOnItem", "PUT", "/api/v1/parties/pty_1", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.url+tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+f.admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error, Message, Request_ID string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || body.Error != tt.code || body.Request_ID == "" || !strings.Contains(body.Message, tt.path) {
				t.Errorf("got %d %+v, want %d %s naming %s", resp.StatusCode, body, tt.status, tt.code, tt.path)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}
