package quota

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the mirror to Prometheus: per kind the API's daily
// total and what remains and is reserved, and the state of the sync. It
// reads a Snapshot at each scrape.
type Collector struct {
	m        *Mirror
	total    *prometheus.Desc
	remain   *prometheus.Desc
	reserved *prometheus.Desc
	commit   *prometheus.Desc
	lastSync *prometheus.Desc
	stale    *prometheus.Desc
	down     *prometheus.Desc
	failures *prometheus.Desc
}

// NewCollector returns a collector of m; register it with a registry.
func NewCollector(m *Mirror) *Collector {
	kind := []string{"kind"}
	return &Collector{
		m:        m,
		total:    prometheus.NewDesc("cdnpurge_quota_total", "Daily quota DescribeRefreshQuota reported, by kind.", kind, nil),
		remain:   prometheus.NewDesc("cdnpurge_quota_remaining", "Quota the mirror can still grant today, by kind.", kind, nil),
		reserved: prometheus.NewDesc("cdnpurge_quota_reserved", "Quota reserved by calls in flight, by kind.", kind, nil),
		commit:   prometheus.NewDesc("cdnpurge_quota_committed", "Quota spent today through the mirror, by kind.", kind, nil),
		lastSync: prometheus.NewDesc("cdnpurge_quota_last_sync_timestamp_seconds", "When the mirror was last set from DescribeRefreshQuota.", nil, nil),
		stale:    prometheus.NewDesc("cdnpurge_quota_sync_failing", "1 while the last sync failed and the mirror gates from older values.", nil, nil),
		down:     prometheus.NewDesc("cdnpurge_quota_store_down", "1 while the quota store (Redis) cannot be reached; nothing is granted.", nil, nil),
		failures: prometheus.NewDesc("cdnpurge_quota_sync_failures_total", "Failed syncs from DescribeRefreshQuota.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.remain, c.reserved, c.commit, c.lastSync, c.stale, c.down, c.failures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Stats()
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.SyncFailures))
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, boolFloat(st.LastSyncError != ""))
	ch <- prometheus.MustNewConstMetric(c.down, prometheus.GaugeValue, boolFloat(st.StoreDown))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	snap, err := c.m.Snapshot(ctx)
	if err != nil {
		return
	}
	if !snap.LastSync.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastSync, prometheus.GaugeValue, float64(snap.LastSync.Unix()))
	}
	for _, k := range snap.Kinds {
		l := string(k.Kind)
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(k.Total), l)
		ch <- prometheus.MustNewConstMetric(c.remain, prometheus.GaugeValue, float64(k.Remaining), l)
		ch <- prometheus.MustNewConstMetric(c.reserved, prometheus.GaugeValue, float64(k.Reserved), l)
		ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(k.Committed), l)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
