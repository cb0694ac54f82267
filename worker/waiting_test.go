package worker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// With 3,000 URLs queued and quota for 100, the waiting gauge counts all
// 2,900 paths that wait, not the last batch that did: first while the
// batches wait in memory, then while their jobs are handed back.
func TestWorkerWaitingGaugeCountsEveryPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		hold time.Duration
	}{
		{"in memory", time.Hour},
		{"handed back", 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{emu: cdnemu.Options{URLQuota: 100}})
			h.metrics = NewMetrics(prometheus.NewRegistry())
			events := h.watchStatus()
			var ids []string
			for i := range 3 {
				ids = append(ids, h.publish(refreshJob(urls("example.com", i*1000, 1000)...)))
			}
			cfg := fastConfig()
			cfg.QuotaHold = tc.hold
			cfg.DeferMax = time.Hour // handed-back jobs stay away
			h.runWorker(cfg, "w1")
			gauge := func() float64 {
				var m dto.Metric
				if err := h.metrics.PathsWaiting.WithLabelValues("url", "cdn").Write(&m); err != nil {
					t.Fatal(err)
				}
				return m.GetGauge().GetValue()
			}
			h.waitFor("100 paths sent", 20*time.Second, func() bool {
				return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 100
			})
			if tc.hold < time.Minute {
				h.waitFor("every job handed back", 20*time.Second, func() bool {
					for _, id := range ids {
						if !events.Has(id, jobs.StateDeferred) {
							return false
						}
					}
					return true
				})
			}
			h.waitFor("2,900 paths counted as waiting", 20*time.Second, func() bool { return gauge() == 2900 })
		})
	}
}

// waitingInMemory is the number of CDN paths of kind k waiting for quota
// in memory.
func (w *Worker) waitingInMemory(k quota.Kind) int {
	wp := w.ledger.waiting
	wp.mu.Lock()
	defer wp.mu.Unlock()
	return wp.memory[quotaPool{target: apiclient.ProductCDN, kind: k}]
}

// A batch yields only to more urgent paths of its quota handed back until
// a quota reset that has come, while they are due back and not here yet.
func TestWaitingComingBackCountsUrgentDueAtTheReset(t *testing.T) {
	t.Parallel()
	isReset, reset, url := atAReset()
	wall := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	w := newWaitingPaths(time.Minute, nil)
	w.handBack("urgent", url, 3, wall.Add(time.Second), 0, reset)
	w.handBack("normal", url, 50, wall, 1, reset)
	w.handBack("retry", url, 7, wall.Add(time.Second), 0, reset.Add(200*time.Millisecond)) // a mirror that failed
	w.handBack("dir", quotaPool{kind: quota.KindDir}, 5, wall.Add(time.Second), 0, reset)
	for _, tc := range []struct {
		name      string
		rank      int
		now, wall time.Time
		want      int
	}{
		{"before the reset", 1, reset.Add(-time.Second), wall, 0},
		{"after it, due back", 1, reset.Add(time.Second), wall, 3},
		{"the most urgent yields to none", 0, reset.Add(time.Second), wall, 0},
		{"low yields to urgent and normal", 2, reset.Add(time.Second), wall, 53},
		{"past its redelivery and the grace: another replica's", 1, reset.Add(time.Second), wall.Add(time.Second + comeBackGrace + time.Millisecond), 0},
	} {
		if got := w.comingBack(url, tc.rank, tc.now, tc.wall, isReset); got != tc.want {
			t.Errorf("%s: %d paths coming back, want %d", tc.name, got, tc.want)
		}
	}
	w.delivered("urgent")
	if got := w.comingBack(url, 1, reset.Add(time.Second), wall, isReset); got != 0 {
		t.Errorf("%d paths coming back once the urgent job was delivered again, want 0", got)
	}
}

// The heartbeat's prune forgets a handed-back job only once no batch would
// still yield to it: with an ack wait shorter than comeBackGrace (3 s in
// the tests), it forgot urgent jobs that were 3 s late, and the normal
// backlog went first at the reset.
func TestWaitingPruneKeepsWhatBatchesStillYieldTo(t *testing.T) {
	t.Parallel()
	isReset, reset, url := atAReset()
	due := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	w := newWaitingPaths(3*time.Second, nil)
	w.handBack("urgent", url, 3, due, 0, reset)
	late := due.Add(comeBackGrace - time.Millisecond)
	w.prune(late)
	if got := w.comingBack(url, 1, reset.Add(time.Second), late, isReset); got != 3 {
		t.Fatalf("%d paths coming back %v after their redelivery, once pruned: want 3 (comeBackGrace is %v)", got, late.Sub(due), comeBackGrace)
	}
	w.prune(due.Add(comeBackGrace + time.Millisecond))
	w.mu.Lock()
	n := len(w.back)
	w.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d handed-back jobs still counted past their redelivery and the grace, want 0", n)
	}
}

// atAReset is what the hand-back tests share: the quota calendar's test
// for a reset, a reset (00:00 Asia/Shanghai), and the URL quota.
func atAReset() (isReset func(time.Time) bool, reset time.Time, url quotaPool) {
	cal := quota.Calendar{}
	isReset = func(at time.Time) bool { return cal.NextReset(at.Add(-time.Nanosecond)).Equal(at) }
	return isReset, time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), quotaPool{kind: quota.KindURL}
}
