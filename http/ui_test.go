package http_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/deployment/monitor/sim"
	"github.com/ethos-imaging/ethos/evaluation"
	"github.com/ethos-imaging/ethos/evaluation/evaltest"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
	"github.com/ethos-imaging/ethos/training"
)

// uiFixture is a server with the UI and the stages it shows wired in:
// training (obligations), evaluation, and deployment monitoring over
// simulated events with two alerts and a stop-rule case.
type uiFixture struct {
	*fixture
	srv      *ehttp.Server
	training *training.Service
	monStore ethos.MonitorStore
	project  ethos.Project
	run      ethos.TrainingRun
	dep      ethos.Deployment // registered; monitoring runs on dep-sim
	// tokens by role
	steward, reviewer, engineer, clinician, researcher, auditor string
}

func newUIFixture(t testing.TB, checks ethos.QualityChecker) *uiFixture {
	t.Helper()
	ctx := context.Background()
	now, evs := simulatedMonitoring(t)
	var (
		s      *ehttp.Server
		tr     *training.Service
		mstore ethos.MonitorStore
	)
	f := newFixtureAt(t, now, func(f *fixture, srv *ehttp.Server) {
		s = srv
		var logs bytes.Buffer
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		t.Cleanup(func() {
			// The UI's upload form extends its request's deadlines; the
			// API handler it calls in process finds nothing to extend.
			if strings.Contains(logs.String(), "cannot extend") {
				t.Errorf("server warnings:\n%s", logs.String())
			}
		})
		store := f.db.Store()
		tr = &training.Service{Runs: sqlstore.NewTrainingStore(store), Obligations: sqlstore.NewObligationService(store), Lineage: sqlstore.NewLineageService(store),
			Members: datasetMap{}, Instances: sqlite.NewInstanceService(f.db), Consents: sqlite.NewConsentService(f.db), Auditor: f.auditor, Now: f.clock.Now}
		s.Training, s.TrainingRuns, s.Lineage, s.Obligations = tr, tr.Runs, tr.Lineage, tr.Obligations
		ev := evaluation.New(sqlstore.NewEvaluationStore(store), f.auditor)
		ev.Now, ev.Projects, ev.Workers = f.clock.Now, f.projects, 1
		s.Evaluations, s.MaxPredictionsBytes = ev, 1<<20
		ms := sqlstore.NewMonitorService(store)
		mstore = ms
		s.Monitor, s.MonitorStore = &monitor.Monitor{Store: ms, Events: sim.NewReader(evs), Auditor: f.auditor, Now: f.clock.Now}, ms
		dst := sqlstore.NewDeploymentStore(store)
		t.Cleanup(func() { dst.Close() })
		reg := &deployment.Registry{Store: dst, Users: f.users, Evaluations: storetest.Evaluations{"mv-1": "eval-1"}, Now: f.clock.Now}
		s.Deployments, s.Events = reg, reg
		s.Checks = checks
		s.UISessionKey = []byte("0123456789abcdef0123456789abcdef")
	})
	u := &uiFixture{fixture: f, srv: s, training: tr, monStore: mstore}
	u.steward, u.reviewer, u.engineer = f.user(f.owner, ethos.RoleDataSteward), f.user(f.owner, ethos.RoleEthicsReviewer), f.user(f.owner, ethos.RoleMLEngineer)
	u.clinician, u.researcher, u.auditor = f.user(f.owner, ethos.RoleClinician), f.user(f.owner, ethos.RoleResearcher), f.user(f.owner, ethos.RoleAuditor)
	if code, m := f.do("POST", "/api/v1/projects", u.steward, map[string]string{"name": "Lung nodule CAD", "intended_use": "triage", "modality": "CT", "clinical_setting": "radiology"}, &u.project); code != 201 {
		t.Fatalf("create project: %d %v", code, m)
	}
	for _, st := range []string{"processing", "training"} {
		if code, m := f.do("POST", "/api/v1/projects/"+u.project.ID+"/stage", u.steward, map[string]string{"stage": st, "reason": "data set frozen"}, nil); code != 200 {
			t.Fatalf("move stage: %d %v", code, m)
		}
	}
	// A training run over an empty dataset version (no consent to check)
	// and an obligation on it, as a withdrawal would open.
	k := ethos.SubjectKey(strings.Repeat("a", 64))
	if err := tr.Consents.CreateConsent(ctx, &ethos.Consent{ID: "cns-a", Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: k,
		DateTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
		Provision: ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeAITraining}}}); err != nil {
		t.Fatal(err)
	}
	in := &ethos.Instance{ProjectID: u.project.ID, SOPInstanceUID: "1.2.3.4", Subject: k, Modality: "CT", BodyPart: "CHEST",
		Status: ethos.InstanceStored, Blob: &ethos.BlobRef{Subject: k, Digest: strings.Repeat("1", 64), Size: 1}, Source: "stow-rs", ReceivedBy: "usr_x"}
	if _, err := sqlite.NewInstanceService(f.db).CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	tr.Members.(datasetMap)["dsv_1"] = map[string]ethos.SubjectKey{in.ID: k}
	if code, m := f.do("POST", "/api/v1/projects/"+u.project.ID+"/training/runs", u.engineer, map[string]any{"dataset_version": "dsv_1", "split": "train",
		"code_version": "1a2b3c4d5e6f", "model_sha256": strings.Repeat("d", 64), "model_name": "nodule-cad"}, &u.run); code != 201 {
		t.Fatalf("register run: %d %v", code, m)
	}
	if _, err := tr.Obligations.OpenObligations(ctx, []*ethos.Obligation{
		{ProjectID: u.project.ID, Target: ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_1"}, Subject: ethos.SubjectKey(strings.Repeat("a", 64)), Cause: "consent-withdrawal", OpenedBy: "usr_steward"},
		{ProjectID: u.project.ID, Target: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: u.run.ModelVersion}, Subject: ethos.SubjectKey(strings.Repeat("a", 64)), Cause: "consent-withdrawal", OpenedBy: "usr_steward"},
	}); err != nil {
		t.Fatal(err)
	}
	// Monitoring of deployment dep-sim: two alerts, one stop-rule case.
	plan, err := os.ReadFile("../deployment/monitor/testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	planBody := strings.Replace(string(plan), `"project_id": "prj-lung"`, `"project_id": "`+u.project.ID+`"`, 1)
	if code, m := f.do("PUT", "/api/v1/deployments/dep-sim/monitoring/plan", u.engineer, planBody, nil); code != 200 {
		t.Fatalf("monitoring plan: %d %v", code, m)
	}
	if code, m := f.do("POST", "/api/v1/deployments/dep-sim/monitoring/runs", u.clinician, nil, nil); code != 200 {
		t.Fatalf("monitoring run: %d %v", code, m)
	}
	var clin struct {
		User ethos.User `json:"user"`
	}
	f.do("GET", "/api/v1/whoami", u.clinician, nil, &clin)
	if code, m := f.do("POST", "/api/v1/deployments", u.engineer, map[string]any{"project_id": u.project.ID, "model_version_id": "mv-1", "site": "Main ED",
		"intended_use": "flag nodules", "threshold": 0.5, "responsible_user_id": clin.User.ID,
		"plan": map[string]any{"stakeholder_roles": []string{"clinician", "ethics-reviewer"}}}, &u.dep); code != 201 {
		t.Fatalf("register deployment: %d %v", code, m)
	}
	return u
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func (f *uiFixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: f.t, base: f.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

// post submits a form; headers are name, value pairs.
func (b *browser) post(path string, form url.Values, headers ...string) page {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// follow GETs path and follows redirects within the UI.
func (b *browser) follow(path string) page {
	b.t.Helper()
	for range 5 {
		p := b.get(path)
		if p.location == "" {
			return p
		}
		path = p.location
	}
	b.t.Fatalf("too many redirects from %s", path)
	return page{}
}

func (b *browser) signIn(secret string) page {
	b.t.Helper()
	p := b.post("/ui/signin", url.Values{"token": {secret}, "next": {"/ui/"}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in: %d %s", p.status, p.body)
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms of a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no csrf field on %s (%d)", path, p.status)
	}
	return m[1]
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base + "/ui/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestUISignIn(t *testing.T) {
	f := newUIFixture(t, nil)
	t.Run("NoCookieRedirectsToSignIn", func(t *testing.T) {
		p := f.browser().get("/ui/projects/" + f.project.ID)
		if p.status != http.StatusSeeOther || p.location != "/ui/signin?next="+url.QueryEscape("/ui/projects/"+f.project.ID) {
			t.Fatalf("got %d → %q", p.status, p.location)
		}
	})
	t.Run("SignInPageRenders", func(t *testing.T) {
		p := f.browser().get("/ui/signin?next=//evil.example/")
		if p.status != 200 || !strings.Contains(p.body, `name="token"`) || strings.Contains(p.body, "evil.example") {
			t.Fatalf("%d %s", p.status, p.body)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
	})
	t.Run("BadTokenRefused", func(t *testing.T) {
		b := f.browser()
		for _, tok := range []string{"not-a-token", "ethos_" + strings.Repeat("A", 43), ""} {
			n := f.log.Size()
			p := b.post("/ui/signin", url.Values{"token": {tok}})
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/signin") {
				t.Fatalf("%q: %d → %q", tok, p.status, p.location)
			}
			if b.cookie("ethos_session") != nil {
				t.Fatalf("%q: a session cookie was set", tok)
			}
			if ev := f.lastEvents(1)[0]; f.log.Size() != n+1 || ev.Action != "auth.fail" || ev.Resource != "ui/signin" {
				t.Errorf("%q: failure not audited: %+v", tok, ev)
			}
			if pg := b.follow(p.location); !strings.Contains(pg.body, "Sign-in refused") {
				t.Errorf("%q: no message on the sign-in page", tok)
			}
		}
	})
	t.Run("SessionCookieNamesTokenNotSecret", func(t *testing.T) {
		b := f.browser()
		req, _ := http.NewRequest("POST", f.url+"/ui/signin", strings.NewReader(url.Values{"token": {f.reviewer}, "next": {"/ui/projects/" + f.project.ID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p := b.do(req)
		if p.status != http.StatusSeeOther || p.location != "/ui/projects/"+f.project.ID {
			t.Fatalf("%d → %q", p.status, p.location)
		}
		raw := p.header.Get("Set-Cookie")
		for _, want := range []string{"ethos_session=", "Path=/ui", "HttpOnly", "SameSite=Strict", "Max-Age="} {
			if !strings.Contains(raw, want) {
				t.Errorf("Set-Cookie %q lacks %q", raw, want)
			}
		}
		if strings.Contains(raw, "Secure") {
			t.Errorf("Secure cookie over plain HTTP: %q", raw)
		}
		c := b.cookie("ethos_session")
		payload, _, _ := strings.Cut(c.Value, ".")
		dec, _ := base64URL(payload)
		if strings.Contains(c.Value, f.reviewer) || strings.Contains(dec, f.reviewer) || strings.Contains(dec, f.reviewer[len("ethos_"):]) {
			t.Fatal("the cookie carries the token secret")
		}
		var who struct {
			Token ethos.Token `json:"token"`
		}
		f.do("GET", "/api/v1/whoami", f.reviewer, nil, &who)
		if !strings.Contains(dec, who.Token.ID) {
			t.Errorf("cookie payload %s does not name token %s", dec, who.Token.ID)
		}
		if ev := f.lastEvents(2); ev[0].Action != "ui.signin" && ev[1].Action != "ui.signin" {
			t.Errorf("sign-in not audited: %+v", ev)
		}
		pg := b.get("/ui/")
		if pg.status != 200 || !strings.Contains(pg.body, "Lung nodule CAD") {
			t.Fatalf("home: %d %s", pg.status, pg.body)
		}
		if p := b.get("/ui/signin?next=/ui/obligations"); p.status != http.StatusSeeOther || p.location != "/ui/obligations" {
			t.Errorf("sign-in page while signed in: %d → %q", p.status, p.location)
		}
	})
	t.Run("TamperedCookieRefused", func(t *testing.T) {
		b := f.browser()
		b.signIn(f.reviewer)
		c := b.cookie("ethos_session")
		payload, sig, _ := strings.Cut(c.Value, ".")
		dec, _ := base64URL(payload)
		var who struct {
			Token ethos.Token `json:"token"`
		}
		f.do("GET", "/api/v1/whoami", f.admin, nil, &who)
		forged := strings.Replace(dec, `"tid":"`, `"tid":"`+who.Token.ID+`","x":"`, 1)
		u, _ := url.Parse(f.url + "/ui/")
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ethos_session", Value: base64URLEncode(forged) + "." + sig, Path: "/ui"}})
		if p := b.get("/ui/"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/signin") {
			t.Fatalf("forged session: %d → %q", p.status, p.location)
		}
	})
	t.Run("RevokedTokenEndsSession", func(t *testing.T) {
		tok := f.user(f.owner, ethos.RoleEthicsReviewer)
		b := f.browser()
		b.signIn(tok)
		if p := b.get("/ui/"); p.status != 200 {
			t.Fatalf("before revoking: %d", p.status)
		}
		var who struct {
			Token ethos.Token `json:"token"`
		}
		f.do("GET", "/api/v1/whoami", tok, nil, &who)
		if code, m := f.do("DELETE", "/api/v1/tokens/"+who.Token.ID, tok, nil, nil); code != 200 {
			t.Fatalf("revoke: %d %v", code, m)
		}
		p := b.get("/ui/")
		if p.status != http.StatusSeeOther || p.location != "/ui/signin" {
			t.Fatalf("after revoking: %d → %q", p.status, p.location)
		}
		if ev := f.lastEvents(1)[0]; ev.Action != "auth.fail" || ev.Resource != "token/"+who.Token.ID {
			t.Errorf("refusal not audited: %+v", ev)
		}
		if c := b.cookie("ethos_session"); c != nil {
			t.Errorf("session cookie kept: %v", c)
		}
		if pg := b.follow("/ui/signin"); !strings.Contains(pg.body, "session ended") || !strings.Contains(pg.body, "revoked") {
			t.Errorf("no reason shown: %s", pg.body)
		}
	})
	t.Run("SessionExpires", func(t *testing.T) {
		b := f.browser()
		b.signIn(f.reviewer)
		f.clock.Add(8*time.Hour + time.Second)
		defer f.clock.Add(-(8*time.Hour + time.Second))
		if p := b.get("/ui/"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/signin") {
			t.Fatalf("expired session: %d → %q", p.status, p.location)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		b := f.browser()
		b.signIn(f.reviewer)
		csrf := b.csrf("/ui/")
		if p := b.post("/ui/signout", url.Values{"csrf": {"wrong"}}); p.status != http.StatusForbidden {
			t.Fatalf("sign-out without the CSRF token: %d", p.status)
		}
		copied := b.cookie("ethos_session").Value
		if p := b.post("/ui/signout", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther || p.location != "/ui/signin" {
			t.Fatalf("sign-out: %d → %q", p.status, p.location)
		}
		// A copy of the cookie taken before sign-out no longer opens pages.
		thief := f.browser()
		u, _ := url.Parse(f.url + "/ui/")
		thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ethos_session", Value: copied, Path: "/ui"}})
		if p := thief.get("/ui/"); p.status != http.StatusSeeOther {
			t.Fatalf("copied cookie after sign-out: %d", p.status)
		}
		if b.cookie("ethos_session") != nil {
			t.Fatal("session cookie kept after sign-out")
		}
		if p := b.get("/ui/"); p.status != http.StatusSeeOther {
			t.Fatalf("after sign-out: %d", p.status)
		}
	})
}

func TestUINotConfigured(t *testing.T) {
	f := newFixture(t) // no session key
	for _, path := range []string{"/ui/signin", "/ui/"} {
		resp, err := http.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestUIForms(t *testing.T) {
	f := newUIFixture(t, nil)
	ctx := context.Background()
	open := ethos.ObligationOpen
	obs, _, err := f.training.Obligations.FindObligations(ctx, ethos.ObligationFilter{ProjectID: &f.project.ID, Status: &open})
	if err != nil || len(obs) != 2 {
		t.Fatalf("obligations %v %v", obs, err)
	}
	ob := obs[0]
	resolve := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "project": {f.project.ID}, "action": {"exemption"}, "reference": {"IRB-2026-114"}, "note": {"legal basis other than consent"}}
	}
	stillOpen := func(t *testing.T) {
		t.Helper()
		got, err := f.training.Obligations.FindObligationByID(ctx, ob.ID)
		if err != nil || got.Status != ethos.ObligationOpen {
			t.Fatalf("obligation changed: %+v %v", got, err)
		}
	}
	b := f.browser()
	b.signIn(f.reviewer)
	csrf := b.csrf("/ui/projects/" + f.project.ID + "/obligations")

	t.Run("CSRFMissingForbidden", func(t *testing.T) {
		v := resolve("")
		v.Del("csrf")
		if p := b.post("/ui/obligations/"+ob.ID+"/resolve", v); p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
			t.Fatalf("%d %s", p.status, p.body)
		}
		stillOpen(t)
	})
	t.Run("CSRFWrongForbidden", func(t *testing.T) {
		other := f.browser()
		other.signIn(f.steward)
		theirs := other.csrf("/ui/")
		for _, bad := range []string{"x", theirs, csrf[:len(csrf)-1]} {
			if p := b.post("/ui/obligations/"+ob.ID+"/resolve", resolve(bad)); p.status != http.StatusForbidden {
				t.Fatalf("csrf %q: %d", bad, p.status)
			}
		}
		stillOpen(t)
	})
	t.Run("CrossOriginForbidden", func(t *testing.T) {
		for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			if p := b.post("/ui/obligations/"+ob.ID+"/resolve", resolve(csrf), h...); p.status != http.StatusForbidden {
				t.Fatalf("%v: %d", h, p.status)
			}
		}
		stillOpen(t)
	})
	t.Run("NoSessionForbidden", func(t *testing.T) {
		if p := f.browser().post("/ui/obligations/"+ob.ID+"/resolve", resolve(csrf)); p.status != http.StatusForbidden {
			t.Fatalf("%d", p.status)
		}
		stillOpen(t)
	})
	t.Run("RefusedByPolicyShownAndUnchanged", func(t *testing.T) {
		r := f.browser()
		r.signIn(f.researcher)
		p := r.post("/ui/obligations/"+ob.ID+"/resolve", resolve(r.csrf("/ui/")))
		if p.status != http.StatusSeeOther {
			t.Fatalf("%d %s", p.status, p.body)
		}
		if ev := f.lastEvents(1)[0]; ev.Action != "access.approve" || ev.Decision != "deny" {
			t.Errorf("refusal not audited as the API would: %+v", ev)
		}
		if pg := r.follow(p.location); !strings.Contains(pg.body, `class="flash error"`) {
			t.Errorf("no error shown: %s", pg.body)
		}
		stillOpen(t)
	})
	t.Run("InvalidResolutionShown", func(t *testing.T) {
		v := resolve(csrf)
		v.Set("reference", "")
		p := b.post("/ui/obligations/"+ob.ID+"/resolve", v)
		if pg := b.follow(p.location); !strings.Contains(pg.body, "reference") || !strings.Contains(pg.body, "flash error") {
			t.Errorf("no validation message: %s", pg.body)
		}
		stillOpen(t)
	})
	t.Run("ResolveObligation", func(t *testing.T) {
		p := b.post("/ui/obligations/"+ob.ID+"/resolve", resolve(csrf))
		if p.status != http.StatusSeeOther || p.location != "/ui/projects/"+f.project.ID+"/obligations" {
			t.Fatalf("%d → %q %s", p.status, p.location, p.body)
		}
		got, err := f.training.Obligations.FindObligationByID(ctx, ob.ID)
		if err != nil || got.Status != ethos.ObligationResolved || got.Resolution.Action != ethos.ResolveExemption || got.Resolution.Reference != "IRB-2026-114" {
			t.Fatalf("not resolved: %+v %v", got, err)
		}
		var who struct {
			User ethos.User `json:"user"`
		}
		f.do("GET", "/api/v1/whoami", f.reviewer, nil, &who)
		if got.Resolution.By != who.User.ID {
			t.Errorf("resolved by %s, want the signed-in reviewer %s", got.Resolution.By, who.User.ID)
		}
		found := false
		for _, ev := range f.lastEvents(6) {
			found = found || (ev.Action == "obligation.resolve" && ev.Actor == who.User.ID)
		}
		if !found {
			t.Errorf("resolution not audited: %+v", f.lastEvents(6))
		}
		pg := b.follow(p.location)
		if !strings.Contains(pg.body, "resolved (exemption)") {
			t.Errorf("no confirmation: %s", pg.body)
		}
		if strings.Contains(pg.body, `action="/ui/obligations/`+ob.ID+`/resolve"`) {
			t.Errorf("resolved obligation still listed as open")
		}
		if pg := b.get("/ui/projects/" + f.project.ID + "/obligations?status=resolved"); !strings.Contains(pg.body, ob.ID) || !strings.Contains(pg.body, "IRB-2026-114") {
			t.Errorf("resolved list: %s", pg.body)
		}
	})
	t.Run("AlertAckAndTriage", func(t *testing.T) {
		c := f.browser()
		c.signIn(f.clinician)
		pg := c.get("/ui/deployments/dep-sim?alerts=all")
		ids := regexp.MustCompile(`action="/ui/alerts/([^/]+)/ack"`).FindAllStringSubmatch(pg.body, -1)
		if pg.status != 200 || len(ids) != 2 {
			t.Fatalf("deployment page: %d, %d ack forms\n%s", pg.status, len(ids), pg.body)
		}
		alert := ids[0][1]
		csrf := csrfField.FindStringSubmatch(pg.body)[1]
		if p := c.post("/ui/alerts/"+alert+"/ack", url.Values{"csrf": {csrf}, "deployment": {"dep-sim"}}); p.status != http.StatusSeeOther || p.location != "/ui/deployments/dep-sim" {
			t.Fatalf("ack: %d → %q", p.status, p.location)
		}
		a, err := f.monStore.FindAlertByID(ctx, alert)
		if err != nil || a.AckBy == "" {
			t.Fatalf("not acknowledged: %+v %v", a, err)
		}
		if p := c.post("/ui/alerts/"+alert+"/triage", url.Values{"csrf": {csrf}, "deployment": {"dep-sim"}, "decision": {ethos.TriageAction}, "reason": {"confirmed on reviewed cases"}}); p.status != http.StatusSeeOther {
			t.Fatalf("triage: %d", p.status)
		}
		if a, _ := f.monStore.FindAlertByID(ctx, alert); a.Triage != ethos.TriageAction {
			t.Errorf("not triaged: %+v", a)
		}
	})
	t.Run("CaseDecision", func(t *testing.T) {
		e := f.browser()
		e.signIn(f.reviewer)
		pg := e.get("/ui/deployments/dep-sim")
		m := regexp.MustCompile(`action="/ui/cases/([^/]+)/decision"`).FindStringSubmatch(pg.body)
		if m == nil {
			t.Fatalf("no case form:\n%s", pg.body)
		}
		csrf := csrfField.FindStringSubmatch(pg.body)[1]
		p := e.post("/ui/cases/"+m[1]+"/decision", url.Values{"csrf": {csrf}, "deployment": {"dep-sim"}, "decision": {"continue-with-conditions"}, "reason": {"second reader for patients over 75"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("decide: %d %s", p.status, p.body)
		}
		sc, err := f.monStore.FindCaseByID(ctx, m[1])
		if err != nil || sc.Decision != "continue-with-conditions" {
			t.Fatalf("case not decided: %+v %v", sc, err)
		}
	})
	t.Run("DeploymentChangeAcknowledged", func(t *testing.T) {
		action := "/ui/deployments/" + f.dep.ID + "/changes/1/ack"
		if p := b.post(action, url.Values{"csrf": {csrf}, "role": {"clinician"}}); p.status != http.StatusSeeOther {
			t.Fatalf("ack: %d", p.status)
		} else if pg := b.follow(p.location); !strings.Contains(pg.body, "flash error") {
			t.Errorf("acknowledging in a role the user lacks was not refused")
		}
		if p := b.post(action, url.Values{"csrf": {csrf}, "role": {"ethics-reviewer"}}); p.status != http.StatusSeeOther {
			t.Fatalf("ack: %d", p.status)
		}
		var changes struct {
			Items []ethos.DeploymentChange `json:"items"`
		}
		if code, m := f.do("GET", "/api/v1/deployments/"+f.dep.ID+"/changes", f.reviewer, nil, &changes); code != 200 || len(changes.Items) == 0 {
			t.Fatalf("changes: %d %v", code, m)
		}
		if c := changes.Items[0]; len(c.Acks) != 1 || c.Acks[0].Role != ethos.RoleEthicsReviewer {
			t.Errorf("change %+v", c)
		}
		if pg := b.get("/ui/deployments/" + f.dep.ID); strings.Contains(pg.body, "Acknowledge as ethics-reviewer") {
			t.Errorf("acknowledged change still offers the form")
		}
	})
	t.Run("TrainingSignOff", func(t *testing.T) {
		pg := b.get("/ui/projects/" + f.project.ID)
		action := "/ui/projects/" + f.project.ID + "/training/runs/" + f.run.ID + "/signoff"
		if !strings.Contains(pg.body, `action="`+action+`"`) {
			t.Fatalf("no sign-off form:\n%s", pg.body)
		}
		signOff := url.Values{"csrf": {csrf}, "decision": {"approved"}, "note": {"reviewed the data sheet"}}
		// An open obligation on the run's dataset version blocks it, and
		// the page says so.
		p := b.post(action, signOff)
		if pg := b.follow(p.location); !strings.Contains(pg.body, "open withdrawal obligations") {
			t.Fatalf("refusal not shown:\n%s", pg.body)
		}
		obs, _, _ := f.training.Obligations.FindObligations(ctx, ethos.ObligationFilter{ProjectID: &f.project.ID, Status: &open})
		for _, o := range obs {
			if p := b.post("/ui/obligations/"+o.ID+"/resolve", resolve(csrf)); p.status != http.StatusSeeOther {
				t.Fatalf("resolve: %d", p.status)
			}
		}
		if p := b.post(action, signOff); p.status != http.StatusSeeOther {
			t.Fatalf("sign-off: %d", p.status)
		}
		run, err := f.training.Runs.FindTrainingRunByID(ctx, f.run.ID)
		if err != nil || run.Status != ethos.RunSignedOff {
			t.Fatalf("run %+v %v", run, err)
		}
		if pg := b.get("/ui/projects/" + f.project.ID); strings.Contains(pg.body, `action="`+action+`"`) || !strings.Contains(pg.body, "reviewed the data sheet") {
			t.Errorf("signed-off run still offers the form")
		}
	})
}

func TestUIPages(t *testing.T) {
	f := newUIFixture(t, nil)
	b := f.browser()
	b.signIn(f.reviewer)
	subject := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"Home", "/ui/", []string{"Lung nodule CAD", "training", "<td>2</td>"}},
		{"Project", "/ui/projects/" + f.project.ID, []string{"Stage history", "data set frozen", "Quality checks: not available on this server", f.run.ID, "nodule-cad", "registered"}},
		{"Obligations", "/ui/projects/" + f.project.ID + "/obligations", []string{"2 obligation(s)", "dataset-version", "model-version", `name="action"`}},
		{"Evaluations", "/ui/projects/" + f.project.ID + "/evaluations", []string{"No evaluation plans registered."}},
		{"Deployments", "/ui/projects/" + f.project.ID + "/deployments", []string{f.dep.ID, "Main ED", "mv-1", "registered", "Monitoring not shown:"}},
		{"RegisteredDeployment", "/ui/deployments/" + f.dep.ID, []string{"flag nodules", "Go-live blockers", "Monitoring report", "Change log", "Acknowledge as ethics-reviewer", "Compliance checklist (QC-DEP-2)"}},
		{"MonitoredDeployment", "/ui/deployments/dep-sim?alerts=all", []string{"Monitoring status (QC-DEP-1)", "1 active, 2 untriaged", "sensitivity-subgroup", "Stop-rule cases", "1 open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get(tc.path)
			if p.status != 200 {
				t.Fatalf("%d\n%s", p.status, p.body)
			}
			if testing.Verbose() {
				t.Log(p.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("page lacks %q\n%s", w, p.body)
				}
			}
			if strings.Contains(p.body, subject) || strings.Contains(p.body, "<script") {
				t.Error("page shows a subject key or carries a script")
			}
		})
	}
	t.Run("AllObligationsForAuditRolesOnly", func(t *testing.T) {
		a := f.browser()
		a.signIn(f.auditor)
		p := a.get("/ui/obligations")
		if p.status != 200 || !strings.Contains(p.body, "2 obligation(s)") || !strings.Contains(p.body, `href="/ui/projects/`+f.project.ID+`"`) {
			t.Fatalf("auditor: %d\n%s", p.status, p.body)
		}
		e := f.browser()
		e.signIn(f.engineer)
		if p := e.get("/ui/obligations"); p.status != 200 || !strings.Contains(p.body, "Obligations not shown:") || strings.Contains(p.body, "obl_") {
			t.Fatalf("engineer: %d\n%s", p.status, p.body)
		}
	})
	t.Run("UnknownProjectNotFound", func(t *testing.T) {
		if p := b.get("/ui/projects/prj_nope"); p.status != 404 || !strings.Contains(p.body, "prj_nope") {
			t.Fatalf("%d %s", p.status, p.body)
		}
	})
	t.Run("ForbiddenSectionsSayWhy", func(t *testing.T) {
		r := f.browser()
		r.signIn(f.user(f.party("Vendor Ltd", ethos.PartyPrivate), ethos.RoleMLEngineer)) // training is "limited" for a private party: no agreement, no access
		p := r.get("/ui/projects/" + f.project.ID)
		if p.status != 200 || !strings.Contains(p.body, "Not shown:") || strings.Contains(p.body, f.run.ID) {
			t.Fatalf("%d\n%s", p.status, p.body)
		}
		if ev := f.lastEvents(1)[0]; ev.Decision != "deny" {
			t.Errorf("refusal not audited: %+v", ev)
		}
	})
	t.Run("MonitoringReportPassedThrough", func(t *testing.T) {
		p := b.get("/ui/deployments/dep-sim/report")
		if p.status != 200 || !strings.Contains(p.body, "<svg") || !strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("%d %q", p.status, p.header)
		}
	})
	t.Run("StaticCSS", func(t *testing.T) {
		p := b.get("/ui/static/ui.css")
		if p.status != 200 || !strings.Contains(p.body, "@media print") {
			t.Fatalf("%d", p.status)
		}
		if p := b.get("/ui/static/../server.go"); p.status == 200 {
			t.Fatal("served a file outside the stylesheet")
		}
	})
	t.Run("UINotInOpenAPI", func(t *testing.T) {
		var doc struct {
			Paths map[string]any `json:"paths"`
		}
		f.do("GET", "/api/v1/openapi.json", "", nil, &doc)
		for p := range doc.Paths {
			if strings.HasPrefix(p, "/ui") {
				t.Errorf("UI path %s in the API document", p)
			}
		}
	})
}

// TestUIEvaluation uploads predictions and records an acknowledgement of
// the plain-language page through the UI.
func TestUIEvaluation(t *testing.T) {
	f := newUIFixture(t, nil)
	planIn := evaltest.FLChainPlan(f.project.ID)
	var plan ethos.EvaluationPlan
	if code, m := f.do("POST", "/api/v1/evaluation/plans", f.engineer, map[string]any{"project_id": f.project.ID, "model_version_id": planIn.ModelVersionID,
		"dataset_version_id": planIn.DatasetVersionID, "title": planIn.Title, "intended_use": planIn.IntendedUse, "label_column": "death", "score_column": "score",
		"patient_column": "person", "attributes": planIn.Attributes, "group_labels": planIn.GroupLabels, "threshold": 0.5, "prevalence": 0.1,
		"criteria": json.RawMessage(evaltest.FLChainCriteria)}, &plan); code != 201 {
		t.Fatalf("plan: %d %v", code, m)
	}
	code, _, body := f.raw("POST", "/api/v1/evaluation/plans/"+plan.ID+"/predictions", f.engineer, "text/csv", evaltest.FLChainCSV(t))
	if code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	var run ethos.EvaluationRun
	json.Unmarshal(body, &run)
	advocate := f.user(f.owner, ethos.RolePatientAdvocate)
	b := f.browser()
	b.signIn(advocate)
	pg := b.get("/ui/projects/" + f.project.ID + "/evaluations")
	for _, want := range []string{planIn.Title, run.ID, "/ui/evaluation/runs/" + run.ID + "/report?format=plain", "/ui/evaluation/runs/" + run.ID + "/model-card", "I have read it"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("evaluation page lacks %q", want)
		}
	}
	for _, doc := range []string{"/report", "/report?format=plain", "/model-card"} {
		if p := b.get("/ui/evaluation/runs/" + run.ID + doc); p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", doc, p.status, p.header.Get("Content-Type"))
		}
	}
	csrf := csrfField.FindStringSubmatch(pg.body)[1]
	p := b.post("/ui/evaluation/runs/"+run.ID+"/signoffs", url.Values{"csrf": {csrf}, "project": {f.project.ID}, "kind": {"acknowledgement"}, "reason": {"read the plain page"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d %s", p.status, p.body)
	}
	var st ethos.EvaluationStatus
	if code, m := f.do("GET", "/api/v1/evaluation/runs/"+run.ID+"/status", f.steward, nil, &st); code != 200 || !st.Acknowledged {
		t.Fatalf("not acknowledged: %d %v %+v", code, m, st)
	}
	if pg := b.follow(p.location); !strings.Contains(pg.body, "acknowledgement recorded") {
		t.Errorf("no confirmation")
	}

	// The engineer uploads a second attempt through the UI's file form.
	eb := f.browser()
	eb.signIn(f.engineer)
	upload := func(name string, data []byte, csrf string) page {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("csrf", csrf)
		mw.WriteField("project", f.project.ID)
		if name != "" {
			fw, _ := mw.CreateFormFile("predictions", name)
			fw.Write(data)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", eb.base+"/ui/evaluation/plans/"+plan.ID+"/predictions", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return eb.do(req)
	}
	ecsrf := eb.csrf("/ui/projects/" + f.project.ID + "/evaluations")
	t.Run("upload_predictions_makes_a_new_attempt", func(t *testing.T) {
		p := upload("flchain.csv", evaltest.FLChainCSV(t), ecsrf)
		if p.status != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", p.status, p.body)
		}
		var runs struct {
			Items []*ethos.EvaluationRun `json:"items"`
		}
		if code, m := f.do("GET", "/api/v1/evaluation/plans/"+plan.ID+"/runs", f.steward, nil, &runs); code != 200 || len(runs.Items) != 2 {
			t.Fatalf("runs after the UI upload: %d %v, %d attempts, want 2", code, m, len(runs.Items))
		}
		if pg := eb.follow(p.location); !strings.Contains(pg.body, "attempt #2") {
			t.Errorf("no confirmation of attempt #2")
		}
	})
	t.Run("ErrInvalid_bad_file_is_flashed_and_stores_nothing", func(t *testing.T) {
		p := upload("bad.csv", []byte("person,death,score\n1,2,0.5\n"), ecsrf)
		if p.status != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", p.status, p.body)
		}
		pg := eb.follow(p.location)
		m := regexp.MustCompile(`<p class="flash error" role="status">([^<]*)</p>`).FindStringSubmatch(pg.body)
		if m == nil || !strings.Contains(m[1], "line") {
			t.Errorf("after a bad upload the page shows no error naming the line: %v", m)
		}
		var runs struct {
			Items []*ethos.EvaluationRun `json:"items"`
		}
		if f.do("GET", "/api/v1/evaluation/plans/"+plan.ID+"/runs", f.steward, nil, &runs); len(runs.Items) != 2 {
			t.Errorf("%d attempts after a bad upload, want still 2", len(runs.Items))
		}
	})
	t.Run("ErrForbidden_upload_without_csrf", func(t *testing.T) {
		if p := upload("flchain.csv", evaltest.FLChainCSV(t), "wrong"); p.status != http.StatusForbidden {
			t.Fatalf("upload without CSRF: %d, want 403", p.status)
		}
	})
	t.Run("plan_pre_registered_through_the_form", func(t *testing.T) {
		form := url.Values{"csrf": {ecsrf}, "title": {"Second look, same model"}, "intended_use": {planIn.IntendedUse},
			"model_version_id": {planIn.ModelVersionID}, "dataset_version_id": {planIn.DatasetVersionID},
			"label_column": {"death"}, "score_column": {"score"}, "patient_column": {"person"}, "attributes": {"sex, age_band"},
			"intersect": {"1"}, "threshold": {"0.5"}, "prevalence": {"0.1"}, "criteria": {evaltest.FLChainCriteria},
			"group_labels": {`{"sex=F": "women"}`}}
		p := eb.post("/ui/projects/"+f.project.ID+"/evaluation/plans", form)
		if p.status != http.StatusSeeOther {
			t.Fatalf("register: %d %s", p.status, p.body)
		}
		if pg := eb.follow(p.location); !strings.Contains(pg.body, "pre-registered (audit event") {
			t.Errorf("no confirmation naming the audit event")
		}
		var plans struct {
			Items []*ethos.EvaluationPlan `json:"items"`
		}
		if code, m := f.do("GET", "/api/v1/evaluation/plans?project_id="+f.project.ID, f.steward, nil, &plans); code != 200 || len(plans.Items) != 2 {
			t.Fatalf("plans after the UI registration: %d %v, %d plans, want 2", code, m, len(plans.Items))
		}
		var got *ethos.EvaluationPlan
		for _, pl := range plans.Items {
			if pl.Title == "Second look, same model" {
				got = pl
			}
		}
		if got == nil || !got.Intersect || len(got.Attributes) != 2 || got.Attributes[1] != "age_band" || got.Threshold != 0.5 ||
			got.GroupLabels["sex=F"] != "women" || got.PatientColumn != "person" || got.AuditIndex <= 0 {
			t.Errorf("registered plan %+v does not hold the form's values", got)
		}
		for _, bad := range []struct{ field, value, want string }{
			{"criteria", "[{", "criteria: not valid JSON"},
			{"threshold", "half", "not a number: threshold"},
			{"group_labels", "women", "group labels: not a JSON object"},
		} {
			f2 := url.Values{}
			for k, v := range form {
				f2[k] = v
			}
			f2.Set(bad.field, bad.value)
			p := eb.post("/ui/projects/"+f.project.ID+"/evaluation/plans", f2)
			if pg := eb.follow(p.location); !strings.Contains(pg.body, bad.want) {
				t.Errorf("%s=%q: page lacks %q", bad.field, bad.value, bad.want)
			}
		}
		if f.do("GET", "/api/v1/evaluation/plans?project_id="+f.project.ID, f.steward, nil, &plans); len(plans.Items) != 2 {
			t.Errorf("%d plans after bad forms, want still 2", len(plans.Items))
		}
	})
	t.Run("ErrInvalid_no_file", func(t *testing.T) {
		p := upload("", nil, ecsrf)
		if pg := eb.follow(p.location); p.status != http.StatusSeeOther || !strings.Contains(pg.body, "choose one predictions file") {
			t.Errorf("no file: %d, page lacks the message", p.status)
		}
	})
	t.Run("upload_gzip_predictions_makes_a_new_attempt", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(evaltest.FLChainCSV(t))
		zw.Close()
		p := upload("flchain.csv.gz", gz.Bytes(), ecsrf)
		if pg := eb.follow(p.location); p.status != http.StatusSeeOther || !strings.Contains(pg.body, "attempt #3") {
			t.Errorf("gzip upload: %d, page lacks attempt #3", p.status)
		}
	})
}

func base64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

func base64URLEncode(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fakeChecks answers the quality checks with fixed results.
type fakeChecks struct{ at time.Time }

func (c fakeChecks) ProjectChecks(ctx context.Context, projectID string) (*ethos.ProjectChecks, error) {
	idx := int64(42)
	return &ethos.ProjectChecks{ProjectID: projectID, Stage: ethos.StageTraining, CheckedAt: c.at, Checks: []*ethos.QualityCheck{
		{ID: "QC-COL-1", Stage: ethos.StageCollection, Aspect: "fairness", Status: ethos.CheckPass, Summary: "every declared group meets its floor",
			Evidence: []ethos.EvidenceRef{{Kind: "representation-report", ID: "rep_1", AuditIndex: &idx}}, CheckedAt: c.at},
		{ID: "QC-TRA-1", Stage: ethos.StageTraining, Aspect: "accountability", Status: ethos.CheckFail, Summary: "a training run lacks its sign-off",
			Problems: []string{"run trn_x is not signed off"}, Evidence: []ethos.EvidenceRef{{Kind: "training-run", ID: "trn_x"}}, CheckedAt: c.at},
	}}, nil
}

func TestUIQualityChecks(t *testing.T) {
	f := newUIFixture(t, fakeChecks{at: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)})
	if code, m := f.do("GET", "/api/v1/projects/"+f.project.ID+"/checks", f.reviewer, nil, nil); code != http.StatusOK {
		t.Fatalf("GET …/checks: %d %v", code, m)
	}
	b := f.browser()
	b.signIn(f.reviewer)
	p := b.get("/ui/projects/" + f.project.ID)
	for _, want := range []string{"QC-COL-1", "s-pass", "QC-TRA-1", "s-fail", "run trn_x is not signed off", "audit #42", "2026-03-29 01:00 UTC"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("project page lacks %q", want)
		}
	}
}

// FuzzUISessionCookie sends arbitrary session cookies and CSRF fields.
// Only the cookie the server signed opens a page; nothing else gets past
// the sign-in redirect, and no form is accepted without the right token.
func FuzzUISessionCookie(f *testing.F) {
	fx := newUIFixture(f, nil)
	br := fx.browser()
	br.signIn(fx.reviewer)
	valid := br.cookie("ethos_session").Value
	csrf := br.csrf("/ui/")
	payload, sig, _ := strings.Cut(valid, ".")
	for _, s := range []string{valid, payload, payload + ".", "." + sig, payload + "." + sig + "x", "x" + valid, base64URLEncode(`{"tid":"tok_x","n":"n","iat":0,"exp":9999999999}`) + "." + sig, "", "."} {
		f.Add(s, csrf)
		f.Add(s, "")
	}
	h := fx.srv.Handler()
	f.Fuzz(func(t *testing.T, cookie, token string) {
		req := httptest.NewRequest("GET", "/ui/", nil)
		req.AddCookie(&http.Cookie{Name: "ethos_session", Value: url.QueryEscape(cookie)})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		opened := url.QueryEscape(cookie) == valid
		switch {
		case rec.Code == 200 && !opened:
			t.Fatalf("cookie %q opened a page", cookie)
		case rec.Code != 200 && rec.Code != http.StatusSeeOther:
			t.Fatalf("cookie %q: status %d", cookie, rec.Code)
		}
		form := url.Values{"csrf": {token}, "project": {fx.project.ID}, "action": {"bogus"}}
		req = httptest.NewRequest("POST", "/ui/obligations/obl_none/resolve", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "ethos_session", Value: url.QueryEscape(cookie)})
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// (Under -fuzz each worker builds its own fixture, so a seed's
		// cookie may name another process's token and is refused with a
		// redirect to sign-in.)
		accepted := rec.Code == http.StatusSeeOther && !strings.HasPrefix(rec.Header().Get("Location"), "/ui/signin")
		if accepted != (opened && token == csrf) {
			t.Fatalf("cookie %q, csrf %q: form answered %d", cookie, token, rec.Code)
		}
	})
}
