// Package http serves Ethos's JSON API under /api/v1/, with Bearer token
// authentication, every data path decided by the access policy and every
// decision and state change recorded in the audit log. It also serves
// /healthz, /metrics (Prometheus, on a registry of its own) and the
// OpenAPI 3 document of the API at /api/v1/openapi.json, built from the
// same route table the mux is built from, and a server-rendered web UI
// under /ui/ whose pages and forms call those same API handlers
// (http/ui.go, docs/ui.md).
//
// Error codes map to HTTP statuses in one place (statusOf). Request bodies
// are limited in size, decoded strictly (unknown fields and wrong types are
// a 400 naming the field) and nothing is written unless the whole body is
// valid.
package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the HTTP server. Create it with NewServer, set the services,
// then Serve.
type Server struct {
	Addr    string
	Logger  *slog.Logger
	Now     func() time.Time
	Version string

	Policy   *policy.Policy
	Auditor  ethos.Auditor
	AuditLog *audit.Log    // checkpoints and proofs
	AuditDB  audit.Storage // export and event look-up
	// VerifierKey is the audit log's note verifier key (checkpoints).
	VerifierKey string
	Parties     ethos.PartyService
	Users       ethos.UserService
	Tokens      ethos.TokenService
	Projects    ethos.ProjectService
	DUAs        ethos.DUAService
	Records     ethos.RecordService
	Ingest      ethos.InstanceIngester // DICOMweb STOW-RS (http/collection.go); nil: not offered

	// Web UI under /ui/ (http/ui*.go, docs/ui.md). UISessionKey signs the
	// session cookies and CSRF tokens (32 bytes or more; nil: the UI is
	// not offered); UISessionLifetime bounds a session (default 8 h).
	UISessionKey      []byte
	UISessionLifetime time.Duration
	uiAPI             *http.ServeMux // the API's routes, for the UI's in-process calls
	uiSignedOut       uiSignedOut    // sessions ended by sign-out, until they expire

	// Processing stage (http/processing.go); nil: not offered.
	ProcessingRuns ethos.ProcessingService
	Datasets       ethos.DatasetService
	DatasetWork    ethos.DatasetWorkflow
	// Processing runs started through the API and dataset exports for
	// training (http/processing.go); nil: those endpoints answer 501.
	ProcessingWork ethos.ProcessingWorkflow
	DatasetExport  ethos.DatasetExporter
	// Jobs of processing runs started through the API, as kept in the
	// database (http/processing.go, GET …/processing-jobs); nil: 501.
	ProcessingJobs ethos.ProcessingJobStore

	// Training stage (http/training.go): the workflow, the register,
	// lineage and withdrawal obligations; any nil: not offered.
	Training     ethos.TrainingService
	TrainingRuns ethos.TrainingStore
	Lineage      ethos.LineageService
	Obligations  ethos.ObligationService
	// Deployment monitoring (http/monitor.go, QC-DEP-1); nil: not offered.
	Monitor      ethos.MonitorService
	MonitorStore ethos.MonitorStore

	// Evaluation stage (http/evaluation.go): plans, attempts, reports,
	// sign-off. nil: the endpoints answer 501. MaxPredictionsBytes bounds
	// an upload (0: MaxPredictionsBytes, 1 GiB).
	Evaluations         ethos.EvaluationService
	MaxPredictionsBytes int64

	// Collection stage (http/collection.go): collection rules, the consent
	// registry, withdrawal and disposal. Nil: those endpoints answer 501.
	Instances  ethos.InstanceService
	Consents   ethos.ConsentService
	Collection ethos.CollectionAdmin

	// Deployment stage (http/deployment.go): registry, risk, incidents,
	// compliance, inference events and labels; nil: not offered.
	Deployments ethos.DeploymentService
	Events      ethos.EventIngester
	// DeferEventSync, when set, marks the context of a batch of events
	// whose audit entry is then appended durably to the same database
	// (sqlstore.DeferSync): the events' commit skips its own flush and
	// the audit entry's flush covers both. Nil: each is flushed.
	DeferEventSync func(context.Context) context.Context

	// Quality checks (http/checks.go): the eleven checks of a project
	// answered from recorded evidence; nil: not offered.
	Checks ethos.QualityChecker

	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// ShutdownTimeout bounds the graceful shutdown (default 15 s).
	ShutdownTimeout time.Duration

	mux      *http.ServeMux
	registry *prometheus.Registry
	metrics  *metrics
	handler  http.Handler
}

// NewServer returns a server with defaults; set the services before
// calling Handler or Serve.
func NewServer() *Server {
	return &Server{Addr: "127.0.0.1:8080", Logger: slog.Default(), Now: time.Now, MaxBodyBytes: 1 << 20, ShutdownTimeout: 15 * time.Second}
}

// Handler returns the server's handler, building the mux on first use.
func (s *Server) Handler() http.Handler {
	if s.handler == nil {
		s.mux = http.NewServeMux()
		s.registry = prometheus.NewRegistry()
		s.metrics = newMetrics(s.registry, s)
		methods := map[string][]string{} // path pattern -> methods served
		s.uiAPI = s.apiMux()
		for _, rt := range append(s.routes(), s.uiRoutes()...) {
			s.mux.Handle(rt.Method+" "+rt.Path, s.instrument(rt, rt.handle))
			methods[rt.Path] = append(methods[rt.Path], rt.Method)
		}
		// Requests no route matches get the same JSON error body as every
		// other failure (the mux alone answers in plain text): 405 with
		// an Allow header when the path exists under other methods, 404
		// otherwise. paths matches on the path alone to tell them apart.
		paths := http.NewServeMux()
		for p, ms := range methods {
			allow := strings.Join(ms, ", ")
			if slices.Contains(ms, "GET") {
				allow += ", HEAD"
			}
			paths.Handle(p, s.instrument(route{Method: "*", Path: "unmatched"}, func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Allow", allow)
				return &fieldError{code: codeMethodNotAllowed, msg: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)}
			}))
		}
		unmatched := s.instrument(route{Method: "*", Path: "unmatched"}, func(w http.ResponseWriter, r *http.Request) error {
			return ethos.Errorf(ethos.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path)
		})
		s.handler = s.withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, pattern := s.mux.Handler(r); pattern != "" {
				s.mux.ServeHTTP(w, r)
				return
			}
			if _, pattern := paths.Handler(r); pattern != "" {
				paths.ServeHTTP(w, r)
				return
			}
			unmatched.ServeHTTP(w, r)
		}))
	}
	return s.handler
}

// Serve listens on s.Addr and serves until ctx ends, then shuts down
// gracefully: it stops accepting, lets requests in flight finish (up to
// ShutdownTimeout) and returns. ready, if not nil, receives the bound
// address once listening.
func (s *Server) Serve(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Logger.Info("shutting down", "timeout", s.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keyUIPrincipal // set only on the web UI's in-process API calls
)

// principal is the authenticated caller.
type principal struct {
	User  *ethos.User
	Party *ethos.Party
	Token *ethos.Token
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// validRequestID accepts a caller's X-Request-Id of 1–64 safe characters.
func validRequestID(s string) bool { return ethos.ValidID(s) }

func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument wraps a route: panics become a 500, every request is logged
// once (method, route, status, duration, request id; never a body or a
// token) and counted.
func (s *Server) instrument(rt route, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Now()
		sw := &statusWriter{ResponseWriter: w}
		func() {
			defer func() {
				if v := recover(); v != nil {
					s.Logger.Error("panic in handler", "route", rt.Path, "panic", fmt.Sprint(v), "request_id", requestID(r.Context()))
					if sw.status == 0 {
						s.writeError(sw, r, ethos.Errorf(ethos.EINTERNAL, "internal error"))
					}
				}
			}()
			if err := h(sw, r); err != nil {
				s.writeError(sw, r, err)
			}
		}()
		d := s.Now().Sub(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.observe(rt, status, d)
		attrs := []any{"method", r.Method, "route", rt.Path, "status", status, "duration_ms", float64(d.Microseconds()) / 1000, "request_id", requestID(r.Context())}
		if p, ok := r.Context().Value(keyPrincipal).(*principal); ok {
			attrs = append(attrs, "user", p.User.ID)
		}
		s.Logger.Info("request", attrs...)
	})
}

// statusOf maps an error code to an HTTP status: the one place it is done.
func statusOf(code string) int {
	switch code {
	case ethos.EINVALID, ethos.ECONSENT:
		return http.StatusBadRequest
	case ethos.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case ethos.EFORBIDDEN:
		return http.StatusForbidden
	case ethos.ENOTFOUND:
		return http.StatusNotFound
	case ethos.ECONFLICT:
		return http.StatusConflict
	case ethos.ENOTIMPLEMENTED:
		return http.StatusNotImplemented
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// codeTooLarge is the code of an over-long request body.
const codeTooLarge = "too_large"

// codeMethodNotAllowed is the code of a request whose path exists but not
// with its method.
const codeMethodNotAllowed = "method_not_allowed"

// errorBody is the JSON form of every error response.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{RequestID: requestID(r.Context())}
	if fe, ok := errors.AsType[*fieldError](err); ok {
		body.Error, body.Message, body.Field = fe.code, fe.msg, fe.field
	} else {
		body.Error, body.Message = ethos.ErrorCode(err), ethos.ErrorMessage(err)
	}
	if body.Error == ethos.EINTERNAL {
		s.Logger.Error("internal error", "err", err.Error(), "request_id", body.RequestID, "route", r.Pattern)
	}
	if body.Error == ethos.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ethos"`)
	}
	writeJSON(w, statusOf(body.Error), body)
}

// bearer returns the token secret of an Authorization header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// authenticate checks the Bearer token. A failure is recorded in the audit
// log (without the secret) and answered 401. A call the web UI makes in
// process carries the principal its session was checked for (uiCall).
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	if p, ok := r.Context().Value(keyUIPrincipal).(*principal); ok && p != nil {
		return p, nil
	}
	secret, ok := bearer(r)
	return s.authenticateSecret(r.Context(), secret, ok, routeResource(r))
}

// routeResource names the endpoint of an unauthenticated request for the
// audit log by its route ("api/deployments/{id}"), not by its path: the
// path is whatever the caller typed.
func routeResource(r *http.Request) string {
	_, path, found := strings.Cut(r.Pattern, " ")
	if !found {
		path = r.Pattern
	}
	return "api" + strings.TrimPrefix(path, "/api/v1")
}

// authenticateSecret checks a token secret (present: one was given at
// all); a failure is audited against resource, or against the token when
// the secret names one.
func (s *Server) authenticateSecret(ctx context.Context, secret string, present bool, resource string) (*principal, error) {
	var reason string
	switch {
	case !present:
		reason = "missing bearer token"
	case !ethos.WellFormedTokenSecret(secret):
		reason = "malformed token"
	default:
		return s.authenticateHash(ctx, ethos.HashTokenSecret(secret), resource)
	}
	return nil, s.authFailed(ctx, reason, resource)
}

// authenticateHash finds the token whose hash is hash and its user, the
// one path by which every credential is checked (expiry, revocation, a
// disabled user).
func (s *Server) authenticateHash(ctx context.Context, hash [32]byte, resource string) (*principal, error) {
	tok, user, err := s.Tokens.Authenticate(ctx, hash, s.Now())
	if err == nil {
		party, err := s.Parties.FindPartyByID(ctx, user.PartyID)
		if err != nil {
			return nil, err
		}
		return &principal{User: user, Party: party, Token: tok}, nil
	}
	if ethos.ErrorCode(err) != ethos.EUNAUTHORIZED {
		return nil, err
	}
	if tok != nil {
		resource = "token/" + tok.ID
	}
	return nil, s.authFailed(ctx, ethos.ErrorMessage(err), resource)
}

// authFailed audits a refused credential and returns the 401 error.
func (s *Server) authFailed(ctx context.Context, reason, resource string) error {
	if err := s.Auditor.Record(ctx, ethos.AuditEvent{Actor: "anonymous", Action: "auth.fail", Resource: resource,
		Decision: "deny", Reason: reason, RequestID: requestID(ctx)}); err != nil {
		return fmt.Errorf("audit auth failure: %w", err)
	}
	s.metrics.authFailures.Inc()
	return ethos.Errorf(ethos.EUNAUTHORIZED, "%s", reason)
}

// decide asks the policy, records the decision, and returns the decision
// (with a 403 error for a deny). No handler decides access on its own.
func (s *Server) decide(ctx context.Context, p *principal, req ethos.AccessRequest, resource string) (ethos.AccessDecision, error) {
	d, err := s.judge(p, &req)
	if err != nil {
		return d, err
	}
	return s.settle(ctx, p, req, d, resource)
}

// settle records decision d on req (judged by judge) for resource, notes
// the use of its data-use agreement and returns d with d.Err().
func (s *Server) settle(ctx context.Context, p *principal, req ethos.AccessRequest, d ethos.AccessDecision, resource string) (ethos.AccessDecision, error) {
	if !auditableResource(resource) {
		return d, ethos.Errorf(ethos.EINVALID, "the request names something that is not an Ethos id")
	}
	if err := s.recordDecision(ctx, p, "access."+string(req.Action), resource, req, d, d.Rule+": "+d.Reason); err != nil {
		return d, err
	}
	if err := s.touchDUA(ctx, d, req.Now); err != nil {
		return d, err
	}
	return d, d.Err()
}

// judge completes req with p's identity (and the time, when unset), asks
// the policy and counts the decision. It records nothing: decide records
// at once, decideBatch with the outcome of the batch. A request whose
// action, stage, purpose or view is not a known value is refused here
// (handlers check what users send first; this is the backstop), since the
// audit entry would carry it.
func (s *Server) judge(p *principal, req *ethos.AccessRequest) (ethos.AccessDecision, error) {
	if !req.Action.Valid() {
		return ethos.AccessDecision{}, &fieldError{code: ethos.EINVALID, field: "action", msg: "action: not a known action"}
	}
	if err := checkRequestValues(req); err != nil {
		return ethos.AccessDecision{}, err
	}
	req.UserID, req.PartyID, req.PartyType, req.Roles = p.User.ID, p.Party.ID, p.Party.Type, p.User.Roles
	if req.Now.IsZero() {
		req.Now = s.Now()
	}
	d := s.Policy.Decide(req)
	s.metrics.decisions.WithLabelValues(d.Decision()).Inc()
	return d, nil
}

// checkRequestValues refuses a request whose stage, purpose or view is
// set to something that is not a known value: the audit entry of its
// decision would carry it.
func checkRequestValues(req *ethos.AccessRequest) error {
	switch {
	case req.Stage != "" && !req.Stage.Valid():
		return badStage()
	case req.Purpose != "" && !req.Purpose.Valid():
		return &fieldError{code: ethos.EINVALID, field: "purpose", msg: "purpose: not a known purpose of use"}
	case req.View != "" && !req.View.Valid():
		return &fieldError{code: ethos.EINVALID, field: "view", msg: "view: want full, deidentified or aggregate"}
	}
	return nil
}

// badStage refuses a stage parameter that names no lifecycle stage,
// without quoting it.
func badStage() error {
	return &fieldError{code: ethos.EINVALID, field: "stage", msg: "stage: want collection, processing, training, evaluation or deployment"}
}

// auditableResource reports whether resource is made of Ethos ids only
// ("deployment/dep_…/changes/3"), the one shape the resource of an audit
// entry may have: nothing a user typed gets into the log that way.
func auditableResource(resource string) bool {
	for seg := range strings.SplitSeq(resource, "/") {
		if !ethos.ValidNodeID(seg) {
			return false
		}
	}
	return true
}

// recordDecision writes the audit entry of decision d on req under action.
func (s *Server) recordDecision(ctx context.Context, p *principal, action, resource string, req ethos.AccessRequest, d ethos.AccessDecision, reason string) error {
	if err := s.Auditor.Record(ctx, ethos.AuditEvent{Actor: p.User.ID, Party: p.Party.ID, Action: action, Resource: resource,
		Stage: req.Stage, Purpose: req.Purpose, Decision: d.Decision(), Reason: reason, RequestID: requestID(ctx)}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// touchDUA notes the use of the data-use agreement an allow rests on.
func (s *Server) touchDUA(ctx context.Context, d ethos.AccessDecision, at time.Time) error {
	if d.Allow && d.DUAID != "" {
		return s.DUAs.TouchDUA(ctx, d.DUAID, at)
	}
	return nil
}

// recordChange writes a state-change event; the change is already stored.
func (s *Server) recordChange(ctx context.Context, p *principal, action, resource, reason string, stage ethos.Stage) error {
	if !auditableResource(resource) {
		return fmt.Errorf("audit %s: resource is not made of Ethos ids", action)
	}
	if err := s.Auditor.Record(ctx, ethos.AuditEvent{Actor: p.User.ID, Party: p.Party.ID, Action: action, Resource: resource,
		Stage: stage, Reason: reason, RequestID: requestID(ctx)}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// LogAuditor records ethos.AuditEvents in an audit.Log.
type LogAuditor struct{ Log *audit.Log }

// Record appends e and returns once it is durable.
func (a LogAuditor) Record(ctx context.Context, e ethos.AuditEvent) error {
	_, err := a.Log.Append(ctx, audit.Event{Time: e.Time, Actor: e.Actor, Party: e.Party, Action: e.Action, Resource: e.Resource,
		Stage: string(e.Stage), Purpose: string(e.Purpose), Decision: e.Decision, Reason: e.Reason, RequestID: e.RequestID})
	return err
}

var _ ethos.Auditor = LogAuditor{}
