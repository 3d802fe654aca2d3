package http

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	decisions    *prometheus.CounterVec
	authFailures prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethos_http_requests_total", Help: "HTTP requests by route and status."},
			[]string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ethos_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"method", "route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethos_access_decisions_total", Help: "Access decisions by outcome."},
			[]string{"decision"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ethos_auth_failures_total", Help: "Requests refused for a missing, unknown, expired or revoked token."}),
	}
	reg.MustRegister(m.requests, m.duration, m.decisions, m.authFailures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ethos_audit_events", Help: "Durable events in the audit log."}, func() float64 {
			if s.AuditLog == nil {
				return 0
			}
			return float64(s.AuditLog.Size())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ethos_audit_queue_depth", Help: "Audit appends waiting for the group commit."}, func() float64 {
			if s.AuditLog == nil {
				return 0
			}
			return float64(s.AuditLog.Pending())
		}),
		prometheus.NewGoCollector(),
	)
	return m
}

func (m *metrics) observe(rt route, status int, d time.Duration) {
	m.requests.WithLabelValues(rt.Method, rt.Path, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(rt.Method, rt.Path).Observe(d.Seconds())
}
