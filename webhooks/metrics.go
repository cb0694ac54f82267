package webhooks

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Metrics counts webhook requests. A nil *Metrics records nothing. Every
// label takes its values from a fixed set: hook is one of hookNames and
// code one of the statuses the server answers (anything else is "other"),
// so no request can add series.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	buffer   prometheus.Gauge
	trunc    *prometheus.CounterVec
}

// hookNames are the values of the hook label.
var hookNames = []string{"github", "gitlab", "generic", "oss"}

// statusCodes are the values of the code label besides "other".
var statusCodes = []int{
	http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized,
	http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
	http.StatusUnprocessableEntity, http.StatusInternalServerError, http.StatusServiceUnavailable,
}

// NewMetrics registers the webhook metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnpurge_webhook_requests_total",
			Help: "Webhook requests by hook and HTTP status.",
		}, []string{"hook", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdnpurge_webhook_duration_seconds",
			Help:    "Time to answer a webhook, durable publish included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"hook"}),
		buffer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cdnpurge_webhook_buffered_bytes",
			Help: "Bytes of request bodies reserved from webhooks.buffer_budget now.",
		}),
		trunc: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnpurge_webhook_truncated_pushes_total",
			Help: "Push events whose payload did not list every changed file, by hook (github, gitlab) and what the matching rules did (refresh, refuse, listed; a push counts once per action).",
		}, []string{"hook", "action"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.buffer, m.trunc} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// The label set is fixed: every series exists from the start, so an
	// alert on an increase sees the first truncated push.
	for _, hook := range []string{"github", "gitlab"} {
		for _, action := range []string{truncRefresh, truncRefuse, truncListed} {
			m.trunc.WithLabelValues(hook, action)
		}
	}
	return m, nil
}

// label returns v when it is one of known, else "other".
func label(v string, known []string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return "other"
}

func codeLabel(status int) string {
	for _, c := range statusCodes {
		if status == c {
			return strconv.Itoa(status)
		}
	}
	return "other"
}

func (m *Metrics) observe(hook string, status int, d time.Duration) {
	if m == nil {
		return
	}
	hook = label(hook, hookNames)
	m.requests.WithLabelValues(hook, codeLabel(status)).Inc()
	m.latency.WithLabelValues(hook).Observe(d.Seconds())
}

// buffered returns the budget's change hook that sets the gauge.
func (m *Metrics) buffered() func(int64) {
	if m == nil {
		return nil
	}
	return func(n int64) { m.buffer.Set(float64(n)) }
}

// truncated counts a truncated push once per action its rules took; a
// push no rule matched counts as "listed".
func (m *Metrics) truncated(hook string, t *jobs.Truncation) {
	if m == nil {
		return
	}
	seen := map[string]bool{}
	for _, r := range t.Rules {
		if !seen[r.Action] {
			seen[r.Action] = true
			m.trunc.WithLabelValues(hook, r.Action).Inc()
		}
	}
	if len(seen) == 0 {
		m.trunc.WithLabelValues(hook, truncListed).Inc()
	}
}
