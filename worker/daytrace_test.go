package worker

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
	"github.com/cdnpurge/cdnpurge/quota/ratelimit"
)

// The day trace: one generated day of a site's purges, the same for a
// seed, replayed through the real worker against the emulator
// (BenchmarkDayTrace) and through a model of a client that sends one call
// per URL as it is asked for (naiveDay), so that the two read side by side.

// traceDayStart is 00:00 Asia/Shanghai of the traced day (16:00 UTC the
// day before): the quota day and the trace begin together.
var traceDayStart = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)

// traceDomains are the site's domains; the emulator serves them all.
var traceDomains = []string{"www.example.com", "static.example.com", "m.example.com"}

const (
	traceSeed      = 22
	traceURLQuota  = 10000 // the API's default daily URL quota
	traceHotPaths  = 40    // per domain: pages and bundles most deploys change
	traceColdPaths = 4000  // per domain: assets a deploy changes now and then
)

// traceEvent is one job as a sender publishes it.
type traceEvent struct {
	At       time.Duration // since traceDayStart
	Source   string        // "deploy", "bulk-sync" or "hotfix"
	Priority jobs.Priority
	// Change names the change the job carries: a hook fired twice
	// publishes the same change twice.
	Change int
	Paths  []string
}

// dayTrace generates the day: a deploy every 2 to 8 minutes (more and
// larger ones in working hours, 09:00 to 19:00), each touching a few hot
// paths every deploy changes and a run of its domain's assets, one hook
// in ten fired twice within 30 s; the nightly bulk sync at 02:00 (4,000
// assets of the static domain in 8 jobs of 500); 16
// urgent fixes of 1 to 3 hot paths with priority high. Everything is
// asked for before 24:00.
func dayTrace(seed uint64) []traceEvent {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []traceEvent
	change := 0
	hot := func(domain string, i int) string {
		return fmt.Sprintf("https://%s/app/%02d.html", domain, i)
	}
	cold := func(domain string, i int) string {
		return fmt.Sprintf("https://%s/assets/%04d.js", domain, i%traceColdPaths)
	}
	for at := time.Duration(0); ; {
		h := at / time.Hour
		busy := h >= 9 && h < 19
		gap := 4*time.Minute + time.Duration(r.IntN(240))*time.Second
		if busy {
			gap = 2*time.Minute + time.Duration(r.IntN(180))*time.Second
		}
		at += gap
		if at >= 24*time.Hour {
			break
		}
		domain := traceDomains[r.IntN(len(traceDomains))]
		var paths []string
		for _, i := range r.Perm(traceHotPaths)[:2+r.IntN(6)] {
			paths = append(paths, hot(domain, i))
		}
		n := 5 + r.IntN(30)
		switch x := r.IntN(100); {
		case x < 2:
			n = 300 + r.IntN(500)
		case busy && x < 8:
			n = 100 + r.IntN(200)
		}
		first := r.IntN(traceColdPaths)
		for k := range n {
			paths = append(paths, cold(domain, first+k))
		}
		change++
		out = append(out, traceEvent{At: at, Source: "deploy", Change: change, Paths: paths})
		if r.IntN(10) == 0 {
			out = append(out, traceEvent{At: at + time.Duration(1+r.IntN(30))*time.Second,
				Source: "deploy", Change: change, Paths: slices.Clone(paths)})
		}
	}
	// The nightly bulk sync: every asset of the static domain, 8 jobs of
	// 500 within 40 s.
	change++
	for j := range traceColdPaths / 500 {
		paths := make([]string, 500)
		for k := range paths {
			paths[k] = cold("static.example.com", j*500+k)
		}
		out = append(out, traceEvent{At: 2*time.Hour + time.Duration(j*5)*time.Second, Source: "bulk-sync", Change: change, Paths: paths})
	}
	for range 16 {
		change++
		at := time.Duration(r.Int64N(int64(24 * time.Hour)))
		domain := traceDomains[r.IntN(len(traceDomains))]
		var paths []string
		for _, i := range r.Perm(traceHotPaths)[:1+r.IntN(3)] {
			paths = append(paths, hot(domain, i))
		}
		out = append(out, traceEvent{At: at, Source: "hotfix", Priority: jobs.PriorityHigh, Change: change, Paths: paths})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// traceAsk is one path of one published job, stamped when it was asked
// for: seq orders it against calls (an ask is covered by a call with a
// higher seq), at is the trace clock.
type traceAsk struct {
	path   string
	change int
	urgent bool
	seq    int64
	at     time.Time
}

// traceCall is one accepted refresh call, stamped when it was sent.
type traceCall struct {
	paths []string
	seq   int64
	at    time.Time
}

// dayFigures are what a day cost, computed the same way for the worker's
// calls and for the one-call-per-URL model.
type dayFigures struct {
	asks, distinct int // URLs asked for (every job's paths), distinct paths
	units          int // URL quota units spent (URLs in accepted calls)
	unitsByDay     map[int64]int
	spentAt        time.Duration // when the first day's quota was all spent, since traceDayStart
	dupUnits       int           // units of refreshes that covered no change not covered before
	// wasteUnits are the dupUnits that covered no ask at all: every ask of
	// the path was covered by an earlier call (paid twice for one ask).
	// The others are later deliveries of a change, asked for after its
	// call was sent, which a refresh by request time must pay again.
	wasteUnits       int
	calls, minCalls  int // accepted refresh calls; the fewest that carry the units spent
	refused          map[string]int
	uncovered        int // asks no later call covered
	urgent           int // urgent asks
	urgentSameDay    int // urgent asks covered before the quota reset
	urgentP50        time.Duration
	urgentP99        time.Duration
	urgentMax        time.Duration
	urgentNeverSent  int           // urgent asks never covered
	lastCoveredAfter time.Duration // last ask covered, since traceDayStart
	// Asks of the day that waited for the quota reset (covered after
	// it), the urgent ones among them, and how long after the reset the
	// last of each was covered.
	backlog, urgentBacklog       int
	backlogDrain, urgentDrainMax time.Duration
	// unitsBeforeUrgent are the units sent after the reset before the
	// call that covered the last urgent ask of the backlog: 0 when urgent
	// work goes first.
	unitsBeforeUrgent int
}

// figureDay matches asks with calls: an ask is covered by the first call
// of its path sent after it (a higher seq); a call's path is a duplicate
// paid when every change it covers was covered before.
func figureDay(asks []traceAsk, calls []traceCall, refused map[string]int) dayFigures {
	f := dayFigures{asks: len(asks), refused: refused, unitsByDay: map[int64]int{}}
	byPath := map[string][]traceAsk{}
	for _, a := range asks {
		byPath[a.path] = append(byPath[a.path], a)
	}
	f.distinct = len(byPath)
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b traceCall) int { return int(a.seq - b.seq) })
	type pathCall struct {
		seq int64
		at  time.Time
	}
	sentByPath := map[string][]pathCall{}
	perDomain := map[string]int{}
	for _, c := range calls {
		f.calls++
		f.units += len(c.paths)
		f.unitsByDay[shanghaiDay(c.at)] += len(c.paths)
		if d := shanghaiDay(c.at); d == shanghaiDay(traceDayStart) && f.unitsByDay[d] >= traceURLQuota && f.spentAt == 0 {
			f.spentAt = c.at.Sub(traceDayStart)
		}
		for _, p := range c.paths {
			sentByPath[p] = append(sentByPath[p], pathCall{c.seq, c.at})
			perDomain[apiclient.PathDomain(p)]++
		}
	}
	var counts []int
	for _, n := range perDomain {
		counts = append(counts, n)
	}
	f.minCalls = callsLowerBound(counts, apiclient.CDN().Caps.URLsPerRefresh, apiclient.CDN().Caps.DomainsPerRefresh)
	reset := traceDayStart.Add(24 * time.Hour)
	var urgentDelays []time.Duration
	var lastUrgentSeq int64
	for path, sent := range sentByPath {
		pending := byPath[path] // asks in seq order
		slices.SortFunc(pending, func(a, b traceAsk) int { return int(a.seq - b.seq) })
		covered := map[int]bool{}
		i := 0
		for _, s := range sent {
			fresh, asked := false, false
			for ; i < len(pending) && pending[i].seq < s.seq; i++ {
				a := pending[i]
				asked = true
				if a.urgent {
					urgentDelays = append(urgentDelays, s.at.Sub(a.at))
					if s.at.Before(reset) {
						f.urgentSameDay++
					}
				}
				if a.at.Before(reset) && !s.at.Before(reset) {
					f.backlog++
					f.backlogDrain = max(f.backlogDrain, s.at.Sub(reset))
					if a.urgent {
						f.urgentBacklog++
						f.urgentDrainMax = max(f.urgentDrainMax, s.at.Sub(reset))
						lastUrgentSeq = max(lastUrgentSeq, s.seq)
					}
				}
				if d := s.at.Sub(traceDayStart); d > f.lastCoveredAfter {
					f.lastCoveredAfter = d
				}
				if !covered[a.change] {
					covered[a.change] = true
					fresh = true
				}
			}
			if !fresh {
				f.dupUnits++
			}
			if !asked {
				f.wasteUnits++
			}
		}
		f.uncovered += len(pending) - i
	}
	for path, pending := range byPath {
		if _, ok := sentByPath[path]; !ok {
			f.uncovered += len(pending)
		}
	}
	for _, a := range asks {
		if a.urgent {
			f.urgent++
		}
	}
	for _, c := range calls {
		if !c.at.Before(reset) && c.seq < lastUrgentSeq {
			f.unitsBeforeUrgent += len(c.paths)
		}
	}
	f.urgentNeverSent = f.urgent - len(urgentDelays)
	slices.Sort(urgentDelays)
	pct := func(q float64) time.Duration {
		if len(urgentDelays) == 0 {
			return 0
		}
		return urgentDelays[int(q*float64(len(urgentDelays)-1)+0.5)].Round(time.Second)
	}
	f.urgentP50, f.urgentP99 = pct(0.5), pct(0.99)
	if n := len(urgentDelays); n > 0 {
		f.urgentMax = urgentDelays[n-1].Round(time.Second)
	}
	return f
}

func shanghaiDay(t time.Time) int64 {
	return t.Add(8*time.Hour).Unix() / 86400
}

// naiveDay models a client that sends each URL of each job in a call of
// its own as the job arrives, at 50 calls/s (the API's rate, so it is
// never throttled), and does not resend what is refused: the quota
// (QuotaExceeded) and the per-domain limit of 1,000 URLs per sliding 60 s
// (QuotaPerMinuteExceeded) refuse calls, everything else is accepted.
func naiveDay(trace []traceEvent, dailyQuota int) ([]traceAsk, []traceCall, map[string]int) {
	var asks []traceAsk
	var calls []traceCall
	refused := map[string]int{}
	var seq int64
	spent := map[int64]int{}
	window := map[string][]time.Time{} // domain -> accepted calls of the last 60 s
	next := time.Time{}                // when the client can send its next call
	for _, ev := range trace {
		at := traceDayStart.Add(ev.At)
		for _, p := range ev.Paths {
			seq++
			asks = append(asks, traceAsk{path: p, change: ev.Change, urgent: ev.Priority == jobs.PriorityHigh, seq: seq, at: at})
		}
		if next.Before(at) {
			next = at
		}
		for _, p := range ev.Paths {
			seq++
			sent := next
			next = next.Add(time.Second / 50)
			d := apiclient.PathDomain(p)
			w := window[d]
			for len(w) > 0 && !w[0].After(sent.Add(-time.Minute)) {
				w = w[1:]
			}
			window[d] = w
			switch {
			case spent[shanghaiDay(sent)] >= dailyQuota:
				refused["QuotaExceeded"]++
			case len(w) >= apiclient.CDN().Caps.URLsPerDomainPerMinute:
				refused["QuotaPerMinuteExceeded.Refresh"]++
			default:
				spent[shanghaiDay(sent)]++
				window[d] = append(w, sent)
				calls = append(calls, traceCall{paths: []string{p}, seq: seq, at: sent})
			}
		}
	}
	return asks, calls, refused
}

func (f dayFigures) String() string {
	codes := make([]string, 0, len(f.refused))
	for c, n := range f.refused {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	slices.Sort(codes)
	days := make([]string, 0, len(f.unitsByDay))
	for d, n := range f.unitsByDay {
		days = append(days, fmt.Sprintf("day %+d: %d", d-shanghaiDay(traceDayStart), n))
	}
	slices.Sort(days)
	out := fmt.Sprintf("units %d on %d distinct paths (%s; the day's quota spent at %s), duplicates paid %d (%d for no new ask); calls %d, at least %d; refused: [%s]; "+
		"asks never covered %d; urgent asks %d: %d sent before the reset, delay p50 %s p99 %s max %s, %d never sent",
		f.units, f.distinct, strings.Join(days, ", "), f.spentAt.Round(time.Minute), f.dupUnits, f.wasteUnits, f.calls, f.minCalls, strings.Join(codes, ", "),
		f.uncovered, f.urgent, f.urgentSameDay, f.urgentP50, f.urgentP99, f.urgentMax, f.urgentNeverSent)
	if f.backlog > 0 {
		out += fmt.Sprintf("; %d asks waited for the reset, the last sent %s after it; %d of them urgent, the last sent %s after it, after %d units of other work",
			f.backlog, f.backlogDrain.Round(time.Second), f.urgentBacklog, f.urgentDrainMax.Round(time.Second), f.unitsBeforeUrgent)
	}
	return out
}

// The trace is a function of its seed, and the day it describes is the
// one the benchmark needs: far more URLs asked for than a day's quota, the
// quota spent by a one-call-per-URL client after noon.
func TestDayTraceIsReproducible(t *testing.T) {
	t.Parallel()
	a, b := dayTrace(traceSeed), dayTrace(traceSeed)
	if len(a) != len(b) {
		t.Fatalf("two traces of seed %d have %d and %d jobs", traceSeed, len(a), len(b))
	}
	for i := range a {
		if a[i].At != b[i].At || !slices.Equal(a[i].Paths, b[i].Paths) || a[i].Priority != b[i].Priority {
			t.Fatalf("job %d differs between two traces of seed %d", i, traceSeed)
		}
	}
	asks, calls, refused := naiveDay(a, traceURLQuota)
	f := figureDay(asks, calls, refused)
	t.Logf("one call per URL: %s", f)
	if f.asks <= traceURLQuota*3/2 {
		t.Errorf("the trace asks for %d URLs, want well over the quota %d", f.asks, traceURLQuota)
	}
	if f.urgent == 0 {
		t.Error("the trace has no urgent paths")
	}
	// When the one-call-per-URL client spent the day's quota.
	var spentAt time.Time
	for _, c := range calls {
		if shanghaiDay(c.at) == shanghaiDay(traceDayStart) {
			spentAt = c.at
		}
	}
	if h := spentAt.Sub(traceDayStart); h < 12*time.Hour || h > 19*time.Hour {
		t.Errorf("the naive client spent the quota %s into the day, want the afternoon", h)
	}
	if f.units > traceURLQuota {
		t.Errorf("the model spent %d units in a day of quota %d", f.units, traceURLQuota)
	}
}

var traceShare = flag.String("daytrace.share", "", "BenchmarkDayTrace: quota.shares for the bulk sync, such as 30% (empty: none)")

var traceRecent = flag.Duration("daytrace.recent", 0, "BenchmarkDayTrace: worker.recent_window, coalescing through the Redis at 127.0.0.1:6379 (0: off)")

// traceAPI stamps each accepted refresh call with the trace clock and the
// sequence it shares with the trace's asks.
type traceAPI struct {
	API
	now     func() time.Time
	seq     *atomic.Int64
	mu      sync.Mutex
	calls   []traceCall
	refused map[string]int
}

func (a *traceAPI) Refresh(ctx context.Context, t apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	seq, at := a.seq.Add(1), a.now()
	res, err := a.API.Refresh(ctx, t, r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.refused[apiclient.Code(err)]++
		return res, err
	}
	if r.ObjectType == "" || r.ObjectType == apiclient.ObjectFile {
		a.calls = append(a.calls, traceCall{paths: slices.Clone(r.Paths), seq: seq, at: at})
	}
	return res, err
}

// BenchmarkDayTrace replays dayTrace through JetStream, the real worker,
// the quota mirror, the per-domain pacer and the emulator (its quota, its
// calls/s limits and its per-domain limit of 1,000 URLs per sliding
// minute on), on a clock running traceSpeed times faster than the wall
// clock (resetSpeed times around the quota reset), from 00:00
// Asia/Shanghai until 00:30 the next day and then until every ask is
// covered. It prints the worker's figures beside those of a
// one-call-per-URL client on the same trace, and fails only when the
// quota was overspent or an ask was never covered.
//
//	go test -run '^$' -bench DayTrace -benchtime 1x ./worker/
//
// With -args -daytrace.share=30% the bulk sync has that share of the
// day's URLs (quota.shares). With -args -daytrace.recent=1h the worker coalesces through Redis
// (127.0.0.1:6379, keys under a prefix of the run's own) as with
// worker.recent_window: 1h.
func BenchmarkDayTrace(b *testing.B) {
	const traceSpeed, resetSpeed = 4000, 200
	trace := dayTrace(traceSeed)
	// From 23:58 to 00:20 the clock slows down: JetStream's redelivery
	// delays and the worker's floor of 1 s on a handed-back job's delay
	// are wall clock, 67 minutes of trace at traceSpeed, 3 at resetSpeed.
	reset := traceDayStart.Add(24 * time.Hour)
	step := func(now time.Time) time.Duration {
		if now.After(reset.Add(-2*time.Minute)) && now.Before(reset.Add(20*time.Minute)) {
			return resetSpeed * 2 * time.Millisecond
		}
		return traceSpeed * 2 * time.Millisecond
	}
	for b.Loop() {
		h := newHarness(b, harnessOpts{clock: true, emu: cdnemu.Options{
			RecordRequests: -1, Domains: traceDomains, URLQuota: traceURLQuota,
			DomainURLsPerMinute: apiclient.CDN().Caps.URLsPerDomainPerMinute, DomainWindowSliding: true}})
		h.clock.Set(traceDayStart)
		// Reservations live a day of the fast clock, not 2 emulated
		// minutes (30 ms).
		h.store = quota.NewMemoryStore(quota.Options{Now: h.clock.Now, ReservationTTL: 24 * time.Hour})
		h.mirror = quota.NewMirror(h.store, h.client, quota.MirrorConfig{Now: h.clock.Now, Logger: h.log})
		if err := h.mirror.SyncNow(h.ctx); err != nil {
			b.Fatal(err)
		}
		h.val, _ = jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"*.example.com"}})
		// The worker's client paces each domain per sliding minute of the
		// trace clock: a pacer's wait waits for the clock, not the wall.
		sleep := func(ctx context.Context, d time.Duration) error {
			end := h.clock.Now().Add(d)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for h.clock.Now().Before(end) {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
			return nil
		}
		client, err := apiclient.New(apiclient.Options{
			Endpoint:    h.emu.URL,
			Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret},
			Retry:       apiclient.RetryPolicy{MaxAttempts: 8, Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxTotal: 5 * time.Second},
			Now:         h.clock.Now,
			Logger:      h.log,
			DomainPacer: ratelimit.NewMemoryDomainPacer(ratelimit.DomainPacerOptions{Now: h.clock.Now, Sleep: sleep, Logger: h.log}),
		})
		if err != nil {
			b.Fatal(err)
		}
		var seq atomic.Int64
		api := &traceAPI{API: client, now: h.clock.Now, seq: &seq, refused: map[string]int{}}
		// The worker's own waits run on the wall clock: the defaults
		// divided by traceSpeed, except linger (1 s would be 0.25 ms) and
		// the quota poll (0.25 ms), which would only spin.
		cfg := fastConfig()
		cfg.Tracker.Disabled = true
		cfg.Linger = 5 * time.Millisecond      // 20 s of trace
		cfg.QuotaHold = 8 * time.Millisecond   // 32 s (default 30 s)
		cfg.QuotaPoll = time.Millisecond       // 4 s (default 1 s)
		cfg.DeferMax = 150 * time.Millisecond  // 10 min (default 10 min)
		cfg.RetryDelay = 50 * time.Millisecond // 3 min 20 s
		if *traceRecent > 0 {
			// Coalescing across the backlog through Redis (claims), as
			// serve does with redis.url and worker.recent_window set.
			rdb := quotatest.Redis(b)
			h.recent = NewRedisRecent(rdb, quotatest.Prefix(b, rdb), "acct", *traceRecent)
			cfg.RecentWindow = *traceRecent
		}
		if *traceShare != "" {
			shares := []quota.Share{{Source: "bulk-sync", Share: *traceShare}}
			if p := quota.ValidateShares(shares); len(p) > 0 {
				b.Fatalf("-daytrace.share: %+v", p)
			}
			sh, err := quota.NewShares(shares, quota.NewMemoryShareCounter(), h.mirror, h.clock.Now)
			if err != nil {
				b.Fatal(err)
			}
			h.shares = sh
		}
		_, stop := h.runWorkerWith(cfg, "a", h.js, h.kv, api)

		// The trace clock moves every 2 ms; each job is published once
		// the clock passed its time.
		var asks []traceAsk
		end := reset.Add(30 * time.Minute)
		tick := time.NewTicker(2 * time.Millisecond)
		started := time.Now()
		next := 0
		for now := h.clock.Now(); now.Before(end); now = h.clock.Advance(step(now)) {
			for ; next < len(trace) && !traceDayStart.Add(trace[next].At).After(now); next++ {
				ev := trace[next]
				j := refreshJob(slices.Clone(ev.Paths)...)
				j.Priority = ev.Priority
				j.Prepare(ev.Source, now)
				for _, p := range ev.Paths {
					asks = append(asks, traceAsk{path: p, change: ev.Change, urgent: ev.Priority == jobs.PriorityHigh, seq: seq.Add(1), at: now})
				}
				if _, err := h.pub.Publish(h.ctx, j, ""); err != nil {
					b.Fatal(err)
				}
			}
			<-tick.C
		}
		// Then until every ask is covered (a minute of wall clock at most).
		covered := func() bool {
			api.mu.Lock()
			defer api.mu.Unlock()
			return figureDay(asks, api.calls, nil).uncovered == 0
		}
		for deadline := time.Now().Add(time.Minute); !covered() && time.Now().Before(deadline); {
			h.clock.Advance(step(h.clock.Now()))
			<-tick.C
		}
		tick.Stop()
		wall := time.Since(started)
		stop()

		api.mu.Lock()
		got := figureDay(asks, api.calls, api.refused)
		api.mu.Unlock()
		nAsks, nCalls, nRefused := naiveDay(trace, traceURLQuota)
		naive := figureDay(nAsks, nCalls, nRefused)
		b.ReportMetric(float64(got.units), "units")
		b.ReportMetric(float64(got.dupUnits), "dup-units")
		b.ReportMetric(float64(got.calls), "calls")
		b.ReportMetric(float64(got.urgentP99.Seconds()), "urgent-p99-s")
		b.Logf("recent_window %s; the day (seed %d): %d jobs (%d deploys, 8 bulk-sync jobs at 02:00, 16 urgent fixes), %d URLs asked for, %d distinct; quota %d URLs a day; %s of wall clock at %dx (%dx around the reset)",
			*traceRecent, traceSeed, len(trace), len(trace)-24, got.asks, got.distinct, traceURLQuota, wall.Round(time.Second), traceSpeed, resetSpeed)
		b.Logf("cdnpurge:         %s; last ask covered %s after the day's start", got, got.lastCoveredAfter.Round(time.Second))
		b.Logf("one call per URL: %s", naive)
		for d, n := range got.unitsByDay {
			if n > traceURLQuota {
				b.Errorf("quota day %d: %d URL units spent, the quota is %d", d, n, traceURLQuota)
			}
		}
		if got.uncovered > 0 {
			b.Errorf("%d asks were never covered by a refresh sent after them", got.uncovered)
		}
	}
}
