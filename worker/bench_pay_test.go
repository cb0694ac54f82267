package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// payAPI measures hook-to-call latency per path and can be killed, as a
// process is.
type payAPI struct {
	API
	mu      sync.Mutex
	dead    bool
	pubAt   map[string]time.Time // path -> when a hook asked for it, until sent
	samples []time.Duration
	calls   int
}

func (p *payAPI) Refresh(ctx context.Context, tg apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return apiclient.RefreshResult{}, errKilled
	}
	p.mu.Unlock()
	res, err := p.API.Refresh(ctx, tg, r)
	if err == nil {
		now := time.Now()
		p.mu.Lock()
		p.calls++
		for _, path := range r.Paths {
			if at, ok := p.pubAt[path]; ok {
				p.samples = append(p.samples, now.Sub(at))
				delete(p.pubAt, path)
			}
		}
		p.mu.Unlock()
	}
	return res, err
}

func (p *payAPI) asked(paths []string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, path := range paths {
		if _, ok := p.pubAt[path]; !ok {
			p.pubAt[path] = at
		}
	}
}

// BenchmarkWhatUsersPay replays a generated day of deploys of a static
// site (300 deploys of 5 to 3,000 changed files over 3 domains, 10% of
// hooks fired twice, one crash half way) against the emulator with the
// real quotas and per-domain limits, its clock running 5,000 times faster
// than the wall clock, and prints the quota units spent against the
// distinct URLs asked for, what waits at the day's end, calls against the
// fewest that could carry what was sent, and hook-to-call latency.
func BenchmarkWhatUsersPay(b *testing.B) {
	for b.Loop() {
		h := newHarness(b, harnessOpts{clock: true, emu: cdnemu.Options{RecordRequests: -1,
			Domains: []string{"a.example.com", "b.example.com", "c.example.com"}}})
		// 00:10 Asia/Shanghai: the whole quota day ahead.
		dayStart := time.Date(2026, 11, 25, 16, 10, 0, 0, time.UTC)
		h.clock.Set(dayStart)
		// Reservations live a day of the fast clock (17 s of wall clock),
		// not 2 emulated minutes (24 ms).
		h.store = quota.NewMemoryStore(quota.Options{Now: h.clock.Now, ReservationTTL: 24 * time.Hour})
		h.mirror = quota.NewMirror(h.store, h.client, quota.MirrorConfig{Now: h.clock.Now, Logger: h.log})
		if err := h.mirror.SyncNow(h.ctx); err != nil {
			b.Fatal(err)
		}
		h.val, _ = jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"*.example.com"}})
		api := &payAPI{API: h.client, pubAt: map[string]time.Time{}}
		cfg := fastConfig()
		cfg.Tracker.Disabled = true
		nc, js := h.connect()
		kv, err := OpenKVStore(h.ctx, js, "", 1)
		if err != nil {
			b.Fatal(err)
		}
		_, stopA := h.runWorkerWith(cfg, "a", js, kv, api)

		// The emulated day passes at 5,000x: a day in about 17 seconds.
		const speed = 5000
		stopClock := make(chan struct{})
		var clockWG sync.WaitGroup
		clockWG.Go(func() {
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopClock:
					return
				case <-t.C:
					h.clock.Advance(speed * 10 * time.Millisecond)
				}
			}
		})
		r := rand.New(rand.NewPCG(7, 11))
		const deploys = 300
		day := 23*time.Hour + 40*time.Minute
		asked := map[string]bool{}
		unique := 0 // paths asked for by deploys, repeats of a hook left out
		start := time.Now()
		for i := range deploys {
			// Deploy i at its share of the day.
			at := start.Add(day / speed * time.Duration(i) / deploys)
			time.Sleep(time.Until(at))
			var n int
			switch x := r.IntN(100); {
			case x < 85:
				n = 5 + r.IntN(25)
			case x < 98:
				n = 30 + r.IntN(270)
			default:
				n = 300 + r.IntN(2700)
			}
			host := []string{"a", "b", "c"}[r.IntN(3)] + ".example.com"
			first := r.IntN(5000)
			paths := make([]string, n)
			for k := range paths {
				paths[k] = fmt.Sprintf("https://%s/assets/%05d.js", host, (first+k*7)%5000)
			}
			unique += n
			for _, p := range paths {
				asked[p] = true
			}
			api.asked(paths, time.Now())
			h.publish(refreshJob(paths...))
			if r.IntN(10) == 0 {
				h.publish(refreshJob(slices.Clone(paths)...)) // the hook fired twice
			}
			if i == deploys/2 {
				// kill -9 half way, and a new process on the same queue.
				api.mu.Lock()
				api.dead = true
				api.mu.Unlock()
				nc.Close()
				stopA()
				api.mu.Lock()
				api.dead = false
				api.mu.Unlock()
				h.runWorkerWith(cfg, "b", h.js, h.kv, api)
			}
		}
		// The rest of the day, then the day's end.
		end := start.Add(day / speed)
		time.Sleep(time.Until(end))
		close(stopClock)
		clockWG.Wait()

		sent := h.emu.Paths(apiclient.CDN().Actions.Refresh)
		distinctSent := uniq(sent)
		spent := h.emu.QuotaUsed().URL
		left := h.emu.QuotaRemaining().URL
		perDomain := map[string]int{}
		for _, p := range sent {
			perDomain[apiclient.PathDomain(p)]++
		}
		var counts []int
		for _, n := range perDomain {
			counts = append(counts, n)
		}
		minCalls := callsLowerBound(counts, apiclient.CDN().Caps.URLsPerRefresh, apiclient.CDN().Caps.DomainsPerRefresh)
		api.mu.Lock()
		waiting := len(api.pubAt)
		calls := api.calls
		slices.Sort(api.samples)
		pct := func(q float64) time.Duration {
			if len(api.samples) == 0 {
				return 0
			}
			return api.samples[int(q*float64(len(api.samples)-1))].Round(time.Millisecond)
		}
		p50, p99 := pct(0.5), pct(0.99)
		api.mu.Unlock()
		b.ReportMetric(float64(spent), "units-spent")
		b.ReportMetric(float64(len(distinctSent)), "distinct-sent")
		b.ReportMetric(float64(waiting), "urls-waiting")
		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(float64(minCalls), "min-calls")
		b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
		b.Logf("a day of %d deploys (%d URLs asked for, %d distinct, 10%% of hooks twice, one crash): "+
			"%d URL units spent on %d distinct URLs sent (%d sent more than once), %d URLs still waiting with %d units left; "+
			"%d calls, at least %d; hook-to-call p50 %s p99 %s (wall clock, the day at %dx)",
			deploys, unique, len(asked), spent, len(distinctSent), len(sent)-len(distinctSent), waiting, left,
			calls, minCalls, p50, p99, speed)
	}
}
