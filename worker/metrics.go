package worker

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Metrics are the worker's Prometheus metrics. A nil *Metrics records
// nothing, so tests need not build one.
type Metrics struct {
	JobsReceived   *prometheus.CounterVec
	JobsInvalid    prometheus.Counter
	Duplicates     prometheus.Counter
	BatchSize      *prometheus.HistogramVec
	PathsSubmitted *prometheus.CounterVec
	Calls          *prometheus.CounterVec
	CallLatency    *prometheus.HistogramVec
	PathsWaiting   *prometheus.GaugeVec
	PathsDeferred  prometheus.Counter
	JobLatency     *prometheus.HistogramVec
	TasksFinished  *prometheus.CounterVec
	TaskCompletion prometheus.Histogram
	Paused         prometheus.Gauge
	Operations     *prometheus.CounterVec
	TrackedPending prometheus.Gauge
	MaxDeliveries  prometheus.Counter

	// actions is the fixed set of the operations' action label.
	actions map[string]bool
}

// NewMetrics creates the worker metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_jobs_received_total",
			Help: "Jobs taken from the queue, by kind and source kind (github, gitlab, generic, oss, cli, nats, schedule, other)."}, []string{"kind", "source"}),
		JobsInvalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "cdnpurge_jobs_invalid_total",
			Help: "Messages terminated because they were not valid jobs."}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "cdnpurge_paths_deduplicated_total",
			Help: "Paths not sent again because they were pending already (in a batch being filled, full, or waiting for quota)."}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cdnpurge_batch_paths",
			Help: "Paths per flushed batch.", Buckets: []float64{1, 10, 50, 100, 250, 500, 1000}}, []string{"group"}),
		PathsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_paths_submitted_total",
			Help: "Paths accepted by the API, by action, object type and target (cdn, dcdn)."}, []string{"action", "type", "target"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_worker_calls_total",
			Help: "Refresh and push calls after retries, by action, outcome, error code and target (cdn, dcdn)."}, []string{"action", "outcome", "code", "target"}),
		CallLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cdnpurge_worker_call_seconds",
			Help: "Time of a refresh or push call including retries, by action and target.", Buckets: prometheus.DefBuckets}, []string{"action", "target"}),
		PathsWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_paths_waiting_for_quota",
			Help: "Paths waiting for quota, by quota kind and target (cdn, dcdn): in batches waiting in memory and in jobs handed back, until they are delivered again."}, []string{"kind", "target"}),
		PathsDeferred: prometheus.NewCounter(prometheus.CounterOpts{Name: "cdnpurge_paths_deferred_total",
			Help: "Paths handed back to the queue with a delay (quota, pause, API unreachable)."}),
		JobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cdnpurge_job_submit_seconds",
			Help: "Time from taking a job to the API accepting all its paths.", Buckets: prometheus.DefBuckets}, []string{"kind"}),
		TasksFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_tasks_finished_total",
			Help: "Tasks followed to their end, by final status and target (cdn, dcdn)."}, []string{"status", "target"}),
		TaskCompletion: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cdnpurge_task_completion_seconds",
			Help: "Time from submission to the last task of a submission finishing.", Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 900, 1800}}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cdnpurge_account_paused",
			Help: "1 while submissions are paused (account, credentials or financial lock)."}),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_operations_total",
			Help: "Operation jobs run or refused, by action (known actions, else other) and outcome (ok, rejected, deferred, retry, refused)."}, []string{"action", "outcome"}),
		TrackedPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cdnpurge_submissions_tracked",
			Help: "Submissions whose tasks are still being followed."}),
	}
	if reg != nil {
		reg.MustRegister(m.JobsReceived, m.JobsInvalid, m.Duplicates, m.BatchSize, m.PathsSubmitted, m.Calls,
			m.CallLatency, m.PathsWaiting, m.PathsDeferred, m.JobLatency, m.TasksFinished, m.TaskCompletion,
			m.Paused, m.Operations, m.TrackedPending)
	}
	return m
}

func (m *Metrics) jobReceived(j *jobs.Job) {
	if m != nil {
		m.JobsReceived.WithLabelValues(string(j.Kind), sourceLabel(j.Source)).Inc()
	}
}

// sourceKinds are the values of the source label. A job's source is free
// text a producer may set, so only its kind up to the first ':' is used,
// and only when it is one of these; anything else counts as "other".
var sourceKinds = map[string]bool{"github": true, "gitlab": true, "generic": true, "cli": true, "nats": true, "schedule": true, "oss": true}

// sourceLabel keeps label cardinality bounded: "schedule:nightly" counts
// as "schedule", "github:org/repo@main" as "github", a source of no known
// kind as "other".
func sourceLabel(s string) string {
	if s == "" {
		return "nats"
	}
	kind, _, _ := strings.Cut(s, ":")
	if sourceKinds[kind] {
		return kind
	}
	return "other"
}

// OtherLabel is the label value of anything outside a label's fixed set.
const OtherLabel = "other"

// KnownActions sets the operation actions the action label of
// cdnpurge_operations_total may take (operations.KnownActions()); any
// other action, or all of them before this is called, counts as "other".
// Call it before the worker runs.
func (m *Metrics) KnownActions(names ...string) {
	if m == nil {
		return
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	m.actions = set
}

func (m *Metrics) actionLabel(a string) string {
	if m.actions[a] {
		return a
	}
	return OtherLabel
}

// codeLabel bounds the API error code label: codes are short tokens such
// as Throttling or InvalidParameter.ObjectPath; anything else is "other".
func codeLabel(code string) string {
	if len(code) > 64 {
		return OtherLabel
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return OtherLabel
		}
	}
	return code
}

func (m *Metrics) duplicate() {
	if m != nil {
		m.Duplicates.Inc()
	}
}

func (m *Metrics) batchFlushed(b *batch) {
	if m != nil {
		m.BatchSize.WithLabelValues(b.Key.String()).Observe(float64(b.Len()))
	}
}

func (m *Metrics) call(b *batch, err error, d time.Duration) {
	if m == nil {
		return
	}
	action, target := string(b.Key.Action), targetLabel(b.Key.product())
	m.CallLatency.WithLabelValues(action, target).Observe(d.Seconds())
	if err == nil {
		m.Calls.WithLabelValues(action, "ok", "", target).Inc()
		m.PathsSubmitted.WithLabelValues(action, string(b.Key.ObjectType), target).Add(float64(b.Len()))
		return
	}
	m.Calls.WithLabelValues(action, apiclient.Classify(err).String(), codeLabel(apiclient.Code(err)), target).Inc()
}

// targetLabel is a product as a label value, from a fixed set.
func targetLabel(p apiclient.Product) string {
	switch p {
	case "", apiclient.ProductCDN:
		return string(apiclient.ProductCDN)
	case apiclient.ProductDCDN:
		return string(apiclient.ProductDCDN)
	}
	// Every ESA site is labelled esa: the label set stays fixed.
	if apiclient.BaseProduct(p) == apiclient.ProductESA {
		return string(apiclient.ProductESA)
	}
	return "other"
}

// waiting sets the paths waiting for quota pool p.
func (m *Metrics) waiting(p quotaPool, n int) {
	if m != nil {
		m.PathsWaiting.WithLabelValues(string(p.kind), targetLabel(p.target)).Set(float64(n))
	}
}

func (m *Metrics) deferred(n int) {
	if m != nil && n > 0 {
		m.PathsDeferred.Add(float64(n))
	}
}

func (m *Metrics) jobDone(j *jobs.Job, d time.Duration) {
	if m != nil {
		m.JobLatency.WithLabelValues(string(j.Kind)).Observe(d.Seconds())
	}
}

func (m *Metrics) paused(on bool) {
	if m != nil {
		v := 0.0
		if on {
			v = 1
		}
		m.Paused.Set(v)
	}
}

func (m *Metrics) operation(action, outcome string) {
	if m != nil {
		m.Operations.WithLabelValues(m.actionLabel(action), outcome).Inc()
	}
}

func (m *Metrics) taskFinished(status string, p apiclient.Product, n int) {
	if m != nil && n > 0 {
		m.TasksFinished.WithLabelValues(status, targetLabel(p)).Add(float64(n))
	}
}

func (m *Metrics) submissionDone(d time.Duration) {
	if m != nil {
		m.TaskCompletion.Observe(d.Seconds())
	}
}

func (m *Metrics) tracked(n int) {
	if m != nil {
		m.TrackedPending.Set(float64(n))
	}
}

func (m *Metrics) invalid() {
	if m != nil {
		m.JobsInvalid.Inc()
	}
}
