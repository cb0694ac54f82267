package worker

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

var benchURLs = flag.Int("worker.urls", 1_000_000, "URL events BenchmarkWorkerThroughput publishes")

// latencyAPI measures, for a sample of paths, the time from publish (which
// the path carries) to the API call that sends it.
type latencyAPI struct {
	API
	calls   atomic.Int64
	paths   atomic.Int64
	mu      sync.Mutex
	samples []time.Duration
	// want is the number of paths after which all is closed.
	want int64
	all  chan struct{}
}

func (l *latencyAPI) Refresh(ctx context.Context, tg apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	now := time.Now()
	l.mu.Lock()
	for _, p := range r.Paths {
		// .../<seq>-<publish unix ns>.js; every 50th path is sampled.
		name := p[strings.LastIndexByte(p, '/')+1:]
		seq, ts, ok := strings.Cut(strings.TrimSuffix(name, ".js"), "-")
		if n, _ := strconv.Atoi(seq); ok && n%50 == 0 {
			if ns, err := strconv.ParseInt(ts, 10, 64); err == nil {
				l.samples = append(l.samples, now.Sub(time.Unix(0, ns)))
			}
		}
	}
	l.mu.Unlock()
	res, err := l.API.Refresh(ctx, tg, r)
	if err == nil {
		l.calls.Add(1)
		// Exactly one call crosses want.
		n := int64(len(r.Paths))
		if after := l.paths.Add(n); after >= l.want && after-n < l.want {
			close(l.all)
		}
	}
	return res, err
}

// BenchmarkWorkerThroughput publishes -worker.urls URL events (messages of
// 100 URLs on 3 domains) through JetStream to the emulator with its
// calls/s limits on, and reports URLs per second, calls made against the
// minimum, publish-to-call latency and the process's peak heap.
func BenchmarkWorkerThroughput(b *testing.B) {
	total := *benchURLs
	for b.Loop() {
		h := newHarness(b, harnessOpts{emu: cdnemu.Options{URLQuota: int64(total) * 2, NoRecordPaths: true,
			RecordRequests: -1, Domains: []string{"example.com", "*.example.com"}}})
		api := &latencyAPI{API: h.client, want: int64(total / 100 * 100), all: make(chan struct{})}
		cfg := Config{Linger: 200 * time.Millisecond, Tracker: TrackerConfig{Disabled: true}}
		var peak atomic.Uint64
		stopMem := make(chan struct{})
		go func() {
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			var ms runtime.MemStats
			for {
				select {
				case <-stopMem:
					return
				case <-t.C:
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
				}
			}
		}()
		start := time.Now()
		_, stop := h.runWorkerWith(cfg, "bench", h.js, h.kv, api)
		// Publish concurrently with the worker, as producers do.
		var pubWG sync.WaitGroup
		const perMsg = 100
		msgs := total / perMsg
		next := atomic.Int64{}
		for range 8 {
			pubWG.Go(func() {
				for {
					m := int(next.Add(1)) - 1
					if m >= msgs {
						return
					}
					host := []string{"example.com", "a.example.com", "b.example.com"}[m%3]
					paths := make([]string, perMsg)
					ts := time.Now().UnixNano()
					for i := range paths {
						paths[i] = fmt.Sprintf("https://%s/p/%d-%d.js", host, m*perMsg+i, ts)
					}
					j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: paths}}
					j.Prepare("bench", time.Now())
					if _, err := h.pub.Publish(context.Background(), j, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		pubWG.Wait()
		published := time.Since(start)
		select {
		case <-api.all:
		case <-time.After(10 * time.Minute):
		}
		elapsed := time.Since(start)
		stop()
		close(stopMem)
		sent := api.paths.Load()
		per := int64(apiclient.CDN().Caps.URLsPerRefresh)
		minCalls := (sent + per - 1) / per
		slices.Sort(api.samples)
		pct := func(p float64) time.Duration {
			if len(api.samples) == 0 {
				return 0
			}
			return api.samples[int(p*float64(len(api.samples)-1))]
		}
		b.ReportMetric(float64(sent)/elapsed.Seconds(), "urls/s")
		b.ReportMetric(float64(api.calls.Load()), "calls")
		b.ReportMetric(float64(minCalls), "min-calls")
		b.ReportMetric(float64(pct(0.5).Milliseconds()), "p50-ms")
		b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.Logf("%d URLs in %s (published in %s): %.0f URLs/s; %d calls, minimum %d; publish-to-call p50 %s p99 %s; peak heap %d MiB (worker, embedded NATS and emulator in one process); max %d refresh calls in one second at the emulator",
			sent, elapsed.Round(time.Millisecond), published.Round(time.Millisecond), float64(sent)/elapsed.Seconds(),
			api.calls.Load(), minCalls, pct(0.5), pct(0.99), peak.Load()>>20, h.emu.MaxPerSecond(apiclient.CDN().Actions.Refresh))
		if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "Throttling.User"); n > 0 {
			b.Logf("the emulator throttled %d calls", n)
		}
	}
}
