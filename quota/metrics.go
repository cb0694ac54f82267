package quota

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the mirrors to Prometheus: per target and kind the
// API's daily total and what remains and is reserved, and per target the
// state of the sync. It reads a Snapshot of each mirror at each scrape.
// The target label takes the values of Targets() only.
type Collector struct {
	mirrors  []*Mirror
	total    *prometheus.Desc
	remain   *prometheus.Desc
	reserved *prometheus.Desc
	commit   *prometheus.Desc
	lastSync *prometheus.Desc
	stale    *prometheus.Desc
	down     *prometheus.Desc
	failures *prometheus.Desc
}

// NewCollector returns a collector of the mirrors, one per target; register
// it with a registry. It panics when two mirrors have the same target (their
// series would collide): a wiring mistake.
func NewCollector(mirrors ...*Mirror) *Collector {
	seen := map[string]bool{}
	for _, m := range mirrors {
		t := string(m.Target())
		if seen[t] {
			panic(fmt.Sprintf("quota.NewCollector: two mirrors of target %s", t))
		}
		seen[t] = true
	}
	kind := []string{"target", "kind"}
	target := []string{"target"}
	return &Collector{
		mirrors:  mirrors,
		total:    prometheus.NewDesc("cdnpurge_quota_total", "Daily quota DescribeRefreshQuota (DescribeDcdnRefreshQuota) reported, by target and kind.", kind, nil),
		remain:   prometheus.NewDesc("cdnpurge_quota_remaining", "Quota the mirror can still grant today, by target and kind.", kind, nil),
		reserved: prometheus.NewDesc("cdnpurge_quota_reserved", "Quota reserved by calls in flight, by target and kind.", kind, nil),
		commit:   prometheus.NewDesc("cdnpurge_quota_committed", "Quota spent today through the mirror, by target and kind.", kind, nil),
		lastSync: prometheus.NewDesc("cdnpurge_quota_last_sync_timestamp_seconds", "When the mirror was last set from the API, by target.", target, nil),
		stale:    prometheus.NewDesc("cdnpurge_quota_sync_failing", "1 while the last sync failed and the mirror gates from older values, by target.", target, nil),
		down:     prometheus.NewDesc("cdnpurge_quota_store_down", "1 while the quota store (Redis) cannot be reached; nothing is granted.", target, nil),
		failures: prometheus.NewDesc("cdnpurge_quota_sync_failures_total", "Failed syncs from the API, by target.", target, nil),
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, m := range c.mirrors {
		c.collect(ctx, m, ch)
	}
}

func (c *Collector) collect(ctx context.Context, m *Mirror, ch chan<- prometheus.Metric) {
	st := m.Stats()
	t := string(st.Target)
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.SyncFailures), t)
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, boolFloat(st.LastSyncError != ""), t)
	ch <- prometheus.MustNewConstMetric(c.down, prometheus.GaugeValue, boolFloat(st.StoreDown), t)
	snap, err := m.Snapshot(ctx)
	if err != nil {
		return
	}
	if !snap.LastSync.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastSync, prometheus.GaugeValue, float64(snap.LastSync.Unix()), t)
	}
	for _, k := range snap.Kinds {
		l := string(k.Kind)
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(k.Total), t, l)
		ch <- prometheus.MustNewConstMetric(c.remain, prometheus.GaugeValue, float64(k.Remaining), t, l)
		ch <- prometheus.MustNewConstMetric(c.reserved, prometheus.GaugeValue, float64(k.Reserved), t, l)
		ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(k.Committed), t, l)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
