package webhooks

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts webhook requests. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
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
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(hook string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(hook, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(hook).Observe(d.Seconds())
}
