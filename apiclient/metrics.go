package apiclient

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts every HTTP exchange with the CDN API. Pass its Observe
// method as Options.OnAttempt.
type Metrics struct {
	Attempts *prometheus.CounterVec
	Retries  *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
}

// NewMetrics creates the API metrics and registers them with reg (nil
// registers nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_api_requests_total",
			Help: "HTTP requests to the CDN API, by action, outcome (ok or error class) and error code."},
			[]string{"action", "outcome", "code", "status"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_api_retries_total",
			Help: "Requests that were a retry (attempt 2 and later), by action."}, []string{"action"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cdnpurge_api_request_seconds",
			Help: "Time of one HTTP request to the CDN API.", Buckets: prometheus.DefBuckets}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.Attempts, m.Retries, m.Latency)
	}
	return m
}

// Observe records one attempt.
func (m *Metrics) Observe(a Attempt) {
	outcome := "ok"
	if a.Err != nil {
		outcome = Classify(a.Err).String()
	}
	m.Attempts.WithLabelValues(a.Action, outcome, a.Code, strconv.Itoa(a.HTTPStatus)).Inc()
	if a.Attempt > 1 {
		m.Retries.WithLabelValues(a.Action).Inc()
	}
	m.Latency.WithLabelValues(a.Action).Observe(a.Duration.Seconds())
}
