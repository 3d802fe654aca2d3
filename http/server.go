// Package http is Ethos's JSON API: net/http ServeMux routes under
// /api/v1/, Bearer token authentication, request ids, structured logs,
// Prometheus metrics on its own registry, body size limits, strict JSON
// decoding, timeouts and graceful shutdown. Handlers only translate: every
// operation goes through app.App, which asks the access policy and writes
// the audit log. Error codes map to statuses in one place (status).
package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/app"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBody bounds request bodies (413 above it).
const DefaultMaxBody = 1 << 20

// Server serves the API.
type Server struct {
	App    *app.App
	Policy *policy.Policy
	Logger *slog.Logger
	// MaxBody bounds request bodies. Default DefaultMaxBody.
	MaxBody int64
	// ShutdownTimeout bounds the wait for requests in flight on shutdown.
	ShutdownTimeout time.Duration

	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

// NewServer returns a server over a.
func NewServer(a *app.App, p *policy.Policy, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{App: a, Policy: p, Logger: logger, MaxBody: DefaultMaxBody, ShutdownTimeout: 10 * time.Second}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethos_http_requests_total",
		Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ethos_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", Buckets: prometheus.DefBuckets}, []string{"route"})
	auditSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ethos_audit_events",
		Help: "Events in the audit log."}, func() float64 { return float64(a.Log.Size()) })
	s.registry.MustRegister(s.requests, s.duration, auditSize)

	mux := http.NewServeMux()
	for _, rt := range routes(s) {
		h := rt.handler
		if rt.auth {
			h = s.authenticate(h)
		}
		mux.Handle(rt.method+" "+rt.path, s.instrument(rt.path, h))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	mux.Handle("/", s.instrument("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, ethos.Errorf(ethos.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})))
	s.handler = s.requestID(mux)
	return s
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, waits up to ShutdownTimeout for requests in flight, and
// returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
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
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestID gives every request an id (a well-formed incoming
// X-Request-Id is kept) carried in the context, the response, the logs
// and the audit events.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(ethos.NewContextWithRequestID(r.Context(), id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// instrument logs, counts and times each request, and turns a panic into
// a 500 (logged once, never shown).
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.Logger.Error("panic", "request_id", ethos.RequestIDFromContext(r.Context()), "route", route, "panic", v)
				if sw.code == 0 {
					s.error(sw, r, errors.New("panic"))
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			s.requests.WithLabelValues(route, http.StatusText(code)).Inc()
			s.duration.WithLabelValues(route).Observe(d.Seconds())
			s.Logger.Info("request", "request_id", ethos.RequestIDFromContext(r.Context()), "method", r.Method,
				"route", route, "status", code, "duration_ms", float64(d.Microseconds())/1000, "user", userID(r.Context()))
		}()
		next.ServeHTTP(sw, r)
	})
}

func userID(ctx context.Context) string {
	if u := ethos.UserFromContext(ctx); u != nil {
		return u.ID
	}
	return ""
}

// authenticate requires a valid Bearer token; failures are 401 and are
// audited by app.Authenticate (a missing token too).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || secret == "" {
			e := ethos.NewAuditEvent(r.Context(), "auth.token", "token/none")
			e.Decision, e.Reason = ethos.AuditDeny, "auth.token: no bearer token"
			if err := s.App.Record(r.Context(), e); err != nil {
				s.error(w, r, err)
				return
			}
			s.error(w, r, ethos.Errorf(ethos.EUNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)"))
			return
		}
		u, err := s.App.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			s.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ethos.NewContextWithUser(r.Context(), u)))
	})
}
