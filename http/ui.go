package http

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
)

// The web UI (docs/ui.md): server-rendered pages under /ui/ for the people
// who do not use a terminal — ethics committees, governance leads, data
// stewards. It holds no business rule of its own: every page and every
// form calls the JSON API's own handlers in process (uiCall), as the
// signed-in user, so the access policy decides and the audit log records
// exactly what the API would. The UI adds only what a browser needs:
//
//   - sign-in with an existing API token, pasted into a form; the server
//     answers with a session cookie that names the token's id (never the
//     secret), expires after UISessionLifetime and is signed with
//     UISessionKey (HMAC-SHA256). Every request re-checks the token through
//     the API's own authentication (expired, revoked, user disabled: the
//     session ends);
//   - CSRF defence for every form: a token derived from the session
//     (HMAC), and http.CrossOriginProtection refusing cross-origin POSTs;
//   - post/redirect/get with a one-time flash message.
//
// Pages work without JavaScript, load nothing from elsewhere and print.

//go:embed ui
var uiFiles embed.FS

const (
	uiCookie       = "ethos_session"
	uiFlashCookie  = "ethos_flash"
	uiCSRFField    = "csrf"
	uiDefaultLife  = 8 * time.Hour
	uiMinKeyLength = 32
)

// uiSession is the signed content of the session cookie.
type uiSession struct {
	TokenID string `json:"tid"`
	Nonce   string `json:"n"` // random per sign-in: CSRF tokens derive from it
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
}

// uiRequest is what a UI handler gets: the principal checked for this
// request and the session's CSRF token for the forms it renders.
type uiRequest struct {
	p    *principal
	csrf string
}

// uiHandler is a UI page or form handler.
type uiHandler func(w http.ResponseWriter, r *http.Request, u *uiRequest) error

// uiRoutes are the UI's routes. They are not part of the API (the OpenAPI
// document leaves them out) and answer HTML, never JSON.
func (s *Server) uiRoutes() []route {
	rt := func(method, path string, h func(w http.ResponseWriter, r *http.Request) error) route {
		return route{Method: method, Path: path, handle: h}
	}
	page, form := s.uiPage, s.uiForm
	return []route{
		rt("GET", "/ui/{$}", page(s.uiHome)),
		rt("GET", "/ui/", s.uiNotFound),
		rt("GET", "/ui", func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
			return nil
		}),
		rt("GET", "/ui/static/{file}", s.uiStatic),
		rt("GET", "/ui/signin", s.uiSignInPage),
		rt("POST", "/ui/signin", s.uiSignIn),
		rt("POST", "/ui/signout", form(s.uiSignOut)),

		rt("GET", "/ui/projects/{id}", page(s.uiProject)),
		rt("GET", "/ui/projects/{id}/obligations", page(s.uiObligations)),
		rt("GET", "/ui/obligations", page(s.uiObligations)),
		rt("POST", "/ui/obligations/{id}/resolve", form(s.uiResolveObligation)),
		rt("POST", "/ui/projects/{id}/training/runs/{run}/signoff", form(s.uiSignOffRun)),

		rt("GET", "/ui/projects/{id}/evaluations", page(s.uiEvaluations)),
		rt("GET", "/ui/evaluation/runs/{id}/report", page(s.uiEvaluationReport)),
		rt("GET", "/ui/evaluation/runs/{id}/model-card", page(s.uiModelCard)),
		rt("POST", "/ui/evaluation/runs/{id}/signoffs", form(s.uiEvaluationSignoff)),
		rt("POST", "/ui/projects/{id}/evaluation/plans", form(s.uiRegisterPlan)),
		rt("POST", "/ui/evaluation/plans/{id}/predictions", s.uiUploadForm(s.maxPredictions, s.uiUploadPredictions)),

		rt("GET", "/ui/projects/{id}/deployments", page(s.uiDeployments)),
		rt("GET", "/ui/deployments/{id}", page(s.uiDeployment)),
		rt("GET", "/ui/deployments/{id}/report", page(s.uiMonitoringReport)),
		rt("POST", "/ui/deployments/{id}/changes/{seq}/ack", form(s.uiAckChange)),
		rt("POST", "/ui/alerts/{alert}/ack", form(s.uiAckAlert)),
		rt("POST", "/ui/alerts/{alert}/triage", form(s.uiTriageAlert)),
		rt("POST", "/ui/cases/{case}/decision", form(s.uiDecideCase)),
	}
}

// apiMux routes the API's endpoints for the UI's in-process calls; the
// handlers are the API's own (with their authentication wrapper), not
// instrumented a second time.
func (s *Server) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := rt.handle
		mux.Handle(rt.Method+" "+rt.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := h(w, r)
			if rec, ok := w.(*uiRecorder); ok {
				rec.err = err
			}
		}))
	}
	return mux
}

// uiRecorder collects an in-process API response.
type uiRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	err    error
}

func (w *uiRecorder) Header() http.Header { return w.header }

// SetReadDeadline and SetWriteDeadline answer the API's upload handler
// (through http.ResponseController): an in-process call has no connection
// of its own, and the UI's upload form has already extended the deadlines
// of the browser's request it serves (uiUploadForm).
func (w *uiRecorder) SetReadDeadline(time.Time) error  { return nil }
func (w *uiRecorder) SetWriteDeadline(time.Time) error { return nil }
func (w *uiRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *uiRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// errNotOffered is the error of an API endpoint this server does not have.
var errNotOffered = ethos.Errorf(ethos.ENOTIMPLEMENTED, "not offered by this server")

// uiCall calls the API endpoint method target (a path with its query) as
// u's principal, with in (if not nil) as the JSON body, and returns the
// recorded response; an error the handler returned is returned as is.
func (s *Server) uiCall(ctx context.Context, u *uiRequest, method, target string, in any) (*uiRecorder, error) {
	if in == nil {
		return s.uiCallRaw(ctx, u, method, target, "", nil)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode %s body: %w", target, err)
	}
	return s.uiCallRaw(ctx, u, method, target, "application/json", bytes.NewReader(b))
}

// uiCallRaw is uiCall with a body of the given content type read as it is
// (nil: no body).
func (s *Server) uiCallRaw(ctx context.Context, u *uiRequest, method, target, contentType string, in io.Reader) (*uiRecorder, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		body = in
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, keyUIPrincipal, u.p), method, target, body)
	if err != nil {
		return nil, fmt.Errorf("ui call %s: %w", target, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if _, pattern := s.uiAPI.Handler(req); pattern == "" {
		return nil, errNotOffered
	}
	rec := &uiRecorder{header: http.Header{}}
	s.uiAPI.ServeHTTP(rec, req)
	if rec.err != nil {
		return rec, rec.err
	}
	if rec.status >= 400 {
		var eb errorBody
		if json.Unmarshal(rec.body.Bytes(), &eb) == nil && eb.Error != "" {
			return rec, ethos.Errorf(eb.Error, "%s", eb.Message)
		}
		return rec, ethos.Errorf(ethos.EINTERNAL, "%s %s answered %d", method, target, rec.status)
	}
	return rec, nil
}

// uiGet calls a GET endpoint and decodes its JSON reply into out.
func (s *Server) uiGet(ctx context.Context, u *uiRequest, target string, out any) error {
	rec, err := s.uiCall(ctx, u, "GET", target, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode reply of %s: %w", target, err)
	}
	return nil
}

// Sessions

func (s *Server) uiKey(purpose string) []byte {
	m := hmac.New(sha256.New, s.UISessionKey)
	m.Write([]byte("ethos ui " + purpose))
	return m.Sum(nil)
}

func (s *Server) uiSign(purpose string, payload []byte) string {
	m := hmac.New(sha256.New, s.uiKey(purpose))
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// uiOpen checks a value uiSign made and returns its payload.
func (s *Server) uiOpen(purpose, v string) ([]byte, bool) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	m := hmac.New(sha256.New, s.uiKey(purpose))
	m.Write(payload)
	return payload, hmac.Equal(mac, m.Sum(nil))
}

// uiCSRF derives the CSRF token of a session.
func (s *Server) uiCSRF(sess *uiSession) string {
	m := hmac.New(sha256.New, s.uiKey("csrf"))
	m.Write([]byte(sess.TokenID + "\x00" + sess.Nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) uiEnabled() error {
	if len(s.UISessionKey) < uiMinKeyLength {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "the web UI is not configured on this server")
	}
	return nil
}

func (s *Server) uiLifetime() time.Duration {
	if s.UISessionLifetime > 0 {
		return s.UISessionLifetime
	}
	return uiDefaultLife
}

func uiCookieFor(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// uiSignedOut remembers the sessions ended by sign-out until they would
// have expired, so a copy of the cookie does not outlive the sign-out (in
// this process: a restart forgets them; revoking the token ends them for
// good).
type uiSignedOut struct {
	mu sync.Mutex
	m  map[string]int64 // nonce -> expiry (Unix seconds)
}

func (o *uiSignedOut) add(sess *uiSession, now int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]int64{}
	}
	for n, exp := range o.m {
		if exp <= now {
			delete(o.m, n)
		}
	}
	o.m[sess.Nonce] = sess.Expires
}

func (o *uiSignedOut) has(sess *uiSession) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.m[sess.Nonce]
	return ok
}

// uiSessionOf reads and checks the session cookie: signature, expiry and
// sign-out here, the token itself in uiAuthenticate.
func (s *Server) uiSessionOf(r *http.Request) (*uiSession, bool) {
	c, err := r.Cookie(uiCookie)
	if err != nil {
		return nil, false
	}
	payload, ok := s.uiOpen("session", c.Value)
	if !ok {
		return nil, false
	}
	var sess uiSession
	if json.Unmarshal(payload, &sess) != nil || sess.TokenID == "" || sess.Nonce == "" {
		return nil, false
	}
	if now := s.Now().Unix(); now >= sess.Expires || now < sess.Issued-60 {
		return nil, false
	}
	if s.uiSignedOut.has(&sess) {
		return nil, false
	}
	return &sess, true
}

// uiAuthenticate re-checks the session's token through the API's
// authentication path (expired, revoked or disabled: refused and audited).
func (s *Server) uiAuthenticate(r *http.Request, sess *uiSession) (*principal, error) {
	tok, err := s.Tokens.FindTokenByID(r.Context(), sess.TokenID)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return nil, s.authFailed(r.Context(), "session names an unknown token", "ui/session")
		}
		return nil, err
	}
	return s.authenticateHash(r.Context(), tok.Hash, "token/"+tok.ID)
}

// uiPage wraps a GET page: no valid session sends the browser to sign-in.
func (s *Server) uiPage(h uiHandler) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.uiEnabled(); err != nil {
			return s.uiError(w, r, nil, err)
		}
		u, err := s.uiBegin(w, r)
		if err != nil || u == nil {
			return err
		}
		if err := h(w, r, u); err != nil {
			return s.uiError(w, r, u, err)
		}
		return nil
	}
}

// uiForm wraps a POST form: same-origin only, a valid session, and the
// session's CSRF token in the form; anything else is a 403 that changes
// nothing.
func (s *Server) uiForm(h uiHandler) func(w http.ResponseWriter, r *http.Request) error {
	return s.uiFormOf(0, h)
}

// uiUploadForm is uiForm for a multipart/form-data form carrying a file
// of at most limit bytes; the file is in r.MultipartForm, the other fields
// in r.PostForm.
//
// A large file takes longer to arrive, and the API to evaluate, than the
// server's default timeouts allow: the request's deadlines are extended
// to UploadTimeout first (extendForUpload), as the API's own upload endpoint does.
func (s *Server) uiUploadForm(limit func() int64, h uiHandler) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s.extendForUpload(w, r)
		return s.uiFormOf(limit(), h)(w, r)
	}
}

// uiFormOf reads a URL-encoded form of at most 64 KiB (upload 0) or a
// multipart form with a file of at most upload bytes, then checks it as
// uiForm says.
func (s *Server) uiFormOf(upload int64, h uiHandler) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.uiEnabled(); err != nil {
			return s.uiError(w, r, nil, err)
		}
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			return s.uiError(w, r, nil, ethos.Errorf(ethos.EFORBIDDEN, "cross-origin form submissions are refused"))
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10+upload)
		var err error
		if upload > 0 {
			// The file is held in memory (at most upload bytes), never
			// spilled to a temporary file.
			err = r.ParseMultipartForm(64<<10 + upload)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return s.uiError(w, r, nil, &fieldError{code: codeTooLarge, msg: fmt.Sprintf("the form is larger than %d bytes", 64<<10+upload)})
			}
			return s.uiError(w, r, nil, ethos.Errorf(ethos.EINVALID, "cannot read the form"))
		}
		sess, ok := s.uiSessionOf(r)
		if !ok {
			return s.uiError(w, r, nil, ethos.Errorf(ethos.EFORBIDDEN, "no valid session: sign in again and resubmit"))
		}
		want := s.uiCSRF(sess)
		if got := r.PostForm.Get(uiCSRFField); !hmac.Equal([]byte(got), []byte(want)) {
			return s.uiError(w, r, nil, ethos.Errorf(ethos.EFORBIDDEN, "the form's CSRF token is missing or wrong: reload the page and resubmit"))
		}
		p, err := s.uiAuthenticate(r, sess)
		if err != nil {
			if ethos.ErrorCode(err) == ethos.EUNAUTHORIZED {
				s.uiEnd(w, r, "Your session ended: "+ethos.ErrorMessage(err))
				return nil
			}
			return s.uiError(w, r, nil, err)
		}
		*r = *r.WithContext(withPrincipal(r.Context(), p))
		u := &uiRequest{p: p, csrf: want}
		if err := h(w, r, u); err != nil {
			return s.uiError(w, r, u, err)
		}
		return nil
	}
}

// uiBegin authenticates a page request; nil, nil: the browser was sent
// to sign in.
func (s *Server) uiBegin(w http.ResponseWriter, r *http.Request) (*uiRequest, error) {
	sess, ok := s.uiSessionOf(r)
	if !ok {
		http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, nil
	}
	p, err := s.uiAuthenticate(r, sess)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.EUNAUTHORIZED {
			s.uiEnd(w, r, "Your session ended: "+ethos.ErrorMessage(err))
			return nil, nil
		}
		return nil, s.uiError(w, r, nil, err)
	}
	*r = *r.WithContext(withPrincipal(r.Context(), p))
	return &uiRequest{p: p, csrf: s.uiCSRF(sess)}, nil
}

// uiEnd clears the session and sends the browser to sign in with why.
func (s *Server) uiEnd(w http.ResponseWriter, r *http.Request, why string) {
	http.SetCookie(w, uiCookieFor(r, uiCookie, "", -1))
	s.uiFlash(w, r, "error", why)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination only when it is a UI path on
// this server.
func safeNext(v string) string {
	if !strings.HasPrefix(v, "/ui/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return "/ui/"
	}
	return v
}

func (s *Server) uiSignInPage(w http.ResponseWriter, r *http.Request) error {
	if err := s.uiEnabled(); err != nil {
		return s.uiError(w, r, nil, err)
	}
	next := safeNext(r.URL.Query().Get("next"))
	if sess, ok := s.uiSessionOf(r); ok {
		// Already signed in (and still valid): go on.
		if _, err := s.uiAuthenticate(r, sess); err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return nil
		}
	}
	return s.uiRender(w, r, nil, http.StatusOK, "signin", "Sign in", map[string]string{"Next": next})
}

// uiSignIn checks a pasted token through the API's authentication and
// starts a session naming the token's id.
func (s *Server) uiSignIn(w http.ResponseWriter, r *http.Request) error {
	if err := s.uiEnabled(); err != nil {
		return s.uiError(w, r, nil, err)
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return s.uiError(w, r, nil, ethos.Errorf(ethos.EFORBIDDEN, "cross-origin form submissions are refused"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return s.uiError(w, r, nil, ethos.Errorf(ethos.EINVALID, "cannot read the form"))
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	p, err := s.authenticateSecret(r.Context(), secret, secret != "", "ui/signin")
	if err != nil {
		if ethos.ErrorCode(err) != ethos.EUNAUTHORIZED {
			return s.uiError(w, r, nil, err)
		}
		s.uiFlash(w, r, "error", "Sign-in refused: "+ethos.ErrorMessage(err)+".")
		http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	now := s.Now()
	exp := now.Add(s.uiLifetime())
	if p.Token.ExpiresAt.Before(exp) {
		exp = p.Token.ExpiresAt
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	sess := uiSession{TokenID: p.Token.ID, Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]), Issued: now.Unix(), Expires: exp.Unix()}
	payload, _ := json.Marshal(sess)
	if err := s.recordChange(r.Context(), p, "ui.signin", "token/"+p.Token.ID, "session until "+exp.UTC().Format(time.RFC3339), ""); err != nil {
		return s.uiError(w, r, nil, err)
	}
	http.SetCookie(w, uiCookieFor(r, uiCookie, s.uiSign("session", payload), int(exp.Sub(now).Seconds())))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) uiSignOut(w http.ResponseWriter, r *http.Request, u *uiRequest) error {
	if err := s.recordChange(r.Context(), u.p, "ui.signout", "token/"+u.p.Token.ID, "session ended by the user", ""); err != nil {
		return err
	}
	if sess, ok := s.uiSessionOf(r); ok {
		s.uiSignedOut.add(sess, s.Now().Unix())
	}
	http.SetCookie(w, uiCookieFor(r, uiCookie, "", -1))
	s.uiFlash(w, r, "ok", "Signed out.")
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
	return nil
}

// Flash messages: one message, signed, read once.

type uiFlashMsg struct {
	Kind string `json:"k"` // ok | error
	Text string `json:"t"`
}

func (s *Server) uiFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	if len(text) > 600 {
		cut := 600
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut-- // not inside a character
		}
		text = text[:cut] + "…"
	}
	b, _ := json.Marshal(uiFlashMsg{Kind: kind, Text: text})
	http.SetCookie(w, uiCookieFor(r, uiFlashCookie, s.uiSign("flash", b), 60))
}

func (s *Server) uiTakeFlash(w http.ResponseWriter, r *http.Request) *uiFlashMsg {
	c, err := r.Cookie(uiFlashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, uiCookieFor(r, uiFlashCookie, "", -1))
	b, ok := s.uiOpen("flash", c.Value)
	if !ok {
		return nil
	}
	var m uiFlashMsg
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
}

// uiDone ends a form: flash the outcome and redirect (post/redirect/get).
// A refusal or invalid input is reported on the page, not as an error
// page; other errors are returned.
func (s *Server) uiDone(w http.ResponseWriter, r *http.Request, back string, err error, ok string) error {
	if err != nil {
		switch ethos.ErrorCode(err) {
		case ethos.EINVALID, ethos.EFORBIDDEN, ethos.ECONFLICT, ethos.ECONSENT, ethos.ENOTFOUND, codeTooLarge:
			s.uiFlash(w, r, "error", uiErrorText(err))
		default:
			if fe, isField := errors.AsType[*fieldError](err); isField {
				s.uiFlash(w, r, "error", fe.msg)
				break
			}
			return err
		}
	} else {
		s.uiFlash(w, r, "ok", ok)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// uiErrorCode is the code the API would answer err with: a field error's
// own, else the error's.
func uiErrorCode(err error) string {
	if fe, ok := errors.AsType[*fieldError](err); ok {
		return fe.code
	}
	return ethos.ErrorCode(err)
}

func uiErrorText(err error) string {
	if fe, ok := errors.AsType[*fieldError](err); ok {
		return fe.msg
	}
	return ethos.ErrorMessage(err)
}

// Rendering

// uiLayout is what every page template gets.
type uiLayout struct {
	Title string
	User  *ethos.User
	Party *ethos.Party
	CSRF  string
	Flash *uiFlashMsg
	Data  any
}

var uiFuncs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:12] + "…"
		}
		return s
	},
	"join":    func(xs []string) string { return strings.Join(xs, "; ") },
	"hasRole": func(roles []ethos.Role, r ethos.Role) bool { return slices.Contains(roles, r) },
	"num": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.3g", *v)
	},
}

// uiTemplates parses the embedded page templates once: each page is the
// layout plus its own file.
var uiTemplates = sync.OnceValues(func() (map[string]*template.Template, error) {
	names, err := fs.Glob(uiFiles, "ui/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "ui/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(uiFuncs).ParseFS(uiFiles, "ui/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
})

// uiRender renders page into a buffer, then writes it with the UI's
// security headers.
func (s *Server) uiRender(w http.ResponseWriter, r *http.Request, u *uiRequest, status int, page, title string, data any) error {
	pages, err := uiTemplates()
	if err != nil {
		return err
	}
	t, ok := pages[page]
	if !ok {
		return fmt.Errorf("no ui template %q", page)
	}
	l := uiLayout{Title: title, Data: data, Flash: s.uiTakeFlash(w, r)}
	if u != nil {
		l.User, l.Party, l.CSRF = u.p.User, u.p.Party, u.csrf
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, l); err != nil {
		return fmt.Errorf("render ui page %s: %w", page, err)
	}
	uiHeaders(w, "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

func uiHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// uiError renders an error page with the status the API would answer.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, u *uiRequest, err error) error {
	code, msg := uiErrorCode(err), uiErrorText(err)
	if code == ethos.EINTERNAL {
		s.Logger.Error("internal error", "err", err.Error(), "request_id", requestID(r.Context()), "route", r.Pattern)
		msg = "internal error (request " + requestID(r.Context()) + ")"
	}
	status := statusOf(code)
	if rerr := s.uiRender(w, r, u, status, "error", http.StatusText(status), map[string]string{"Message": msg, "RequestID": requestID(r.Context())}); rerr != nil {
		s.Logger.Error("render ui error page", "err", rerr.Error(), "request_id", requestID(r.Context()))
		http.Error(w, http.StatusText(status), status)
	}
	return nil
}

func (s *Server) uiNotFound(w http.ResponseWriter, r *http.Request) error {
	return s.uiError(w, r, nil, ethos.Errorf(ethos.ENOTFOUND, "no such page: %s", r.URL.Path))
}

func (s *Server) uiStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	if name != "ui.css" {
		return s.uiNotFound(w, r)
	}
	b, err := uiFiles.ReadFile("ui/" + name)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
	return nil
}
