package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies returns, for every path of want that landed, the time from its
// publish (the path carries it) to the first call the emulator recorded.
func latencies(want map[string]bool, l landed) []time.Duration {
	out := make([]time.Duration, 0, len(want))
	for p := range want {
		at, ok := l.first[p]
		if !ok {
			continue
		}
		name := strings.TrimSuffix(p[strings.LastIndexByte(p, '/')+1:], ".js")
		ns, err := strconv.ParseInt(name[strings.LastIndexByte(name, '-')+1:], 10, 64)
		if err == nil {
			out = append(out, at.Sub(time.Unix(0, ns)))
		}
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(math.Ceil(p*float64(len(d))))-1)].Round(time.Millisecond)
}

func lastLanding(want map[string]bool, l landed) time.Time {
	var last time.Time
	for p := range want {
		if at := l.first[p]; at.After(last) {
			last = at
		}
	}
	return last
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// callsBetween sums the emulator's calls per second over [from, to) and
// returns the total and the busiest second.
func callsBetween(st emuStats, from, to time.Time) (total, peak int) {
	for _, s := range st.PerSecond {
		if s.Unix >= from.Unix() && s.Unix < to.Unix() {
			total += s.Calls
			peak = max(peak, s.Calls)
		}
	}
	return total, peak
}

// steadyAndCrash is scenarios 1 and 2: the load through webhooks and NATS,
// with replica b killed (SIGKILL) and restarted sz.kills times meanwhile.
func steadyAndCrash(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "steady", clusterOpts{})
	ld := newLoader(c)
	ctx := ctxFor(t, 10*time.Minute)
	var res *loadResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = ld.run(ctx, loadOpts{tag: "steady", urls: sz.steadyURLs, duration: sz.steadyDur})
	}()
	b := c.replicas[1]
	kills := 0
	for k := range sz.kills {
		select {
		case <-done:
		case <-time.After(sz.steadyDur / time.Duration(sz.kills+1)):
		}
		if k > 0 && !b.proc.alive() {
			t.Errorf("%s exited by itself: %v", b.name, b.proc.exitErr())
		}
		c.killReplica(b)
		kills++
		c.launchReplica(b)
	}
	<-done
	waitHTTP(t, b.proc, b.base+"/readyz", 30*time.Second)
	l := c.waitLanded(res.accepted, 5*time.Minute)
	st := c.stats()

	// Row 1: the load itself.
	missing := l.missing(res.accepted)
	unique := len(res.accepted) - missing
	calls := st.Actions["RefreshObjectCaches"].Accepted
	minCalls := (len(res.accepted) + 999) / 1000
	last := lastLanding(res.accepted, l)
	lat := latencies(res.accepted, l)
	s1 := &figures{}
	s1.add("%d URLs sent (%d over NATS, rest via hooks), %d acknowledged, %d never acknowledged", sz.steadyURLs, sz.steadyURLs*4/10, len(res.accepted), res.refused*perUnit)
	s1.add("landed %d, missing %d", unique, missing)
	s1.add("RefreshObjectCaches calls %d (minimum %d, x%.2f), refused %v", calls, minCalls, float64(calls)/float64(max(minCalls, 1)), st.Actions["RefreshObjectCaches"].Codes)
	s1.add("throughput %.0f URLs/s (first publish to last landing %s)", float64(unique)/last.Sub(res.start).Seconds(), last.Sub(res.start).Round(100*time.Millisecond))
	s1.add("publish-to-call p50 %s p99 %s", pct(lat, 0.50), pct(lat, 0.99))
	s1.add("peak RSS %s %s, %s %s", c.replicas[0].name, mb(c.replicas[0].peak()), b.name, mb(b.peak()))
	run.add("1 steady load", missing == 0 && res.refused == 0 && len(res.accepted) == sz.steadyURLs, s1.String())

	// Row 2: the crashes.
	dup := st.Paths["RefreshObjectCaches"].Duplicates
	bound := kills * (submitters + 1) * 1000
	f.add("%s SIGKILLed and restarted %d times during 1", b.name, kills)
	f.add("resends by senders %d", res.resends)
	f.add("landed %d of %d acknowledged, missing %d", unique, len(res.accepted), missing)
	f.add("submitted twice %d URLs (bound: %d kills x (%d submitters + 1) x 1000 = %d)", dup, kills, submitters, bound)
	if missing > 0 {
		t.Errorf("%d acknowledged URLs never reached the API", missing)
	}
	if res.refused > 0 {
		t.Errorf("%d units were never acknowledged; answers: %v", res.refused, res.codes())
	}
	if dup > bound {
		t.Errorf("%d URLs submitted twice, more than the bound %d", dup, bound)
	}
}

// natsRestart is scenario 3: NATS stopped under webhook load, once the
// load is acknowledged (and at least sz.natsWarm in), and started again
// once hooks were answered while it was down (and at least sz.natsDown
// later). With an outside NATS a hook the queue cannot take within the
// publish budget is spooled to the replica's disk and answered 202
// (webhooks.spool_dir); every one of them must land once NATS is back.
func natsRestart(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "nats-restart", clusterOpts{logLevel: "debug"})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	after := 3 * time.Second
	total := sz.natsWarm + sz.natsDown + after
	urls := int(total.Seconds()*float64(sz.natsRate)) / perUnit * perUnit
	// The load's answers drive the phases: hooks acknowledged before the
	// stop, hooks answered (spooled) after it.
	const enough = 5
	var accepted, answeredDown atomic.Int64
	var downSince atomic.Int64 // UnixNano of the stop; 0 while up
	answered := make(chan struct{}, 1)
	onAttempt := func(a attempt) {
		if a.code == http.StatusAccepted {
			accepted.Add(1)
		}
		if since := downSince.Load(); since != 0 && a.sent.UnixNano() >= since {
			answeredDown.Add(1)
		}
		select {
		case answered <- struct{}{}:
		default:
		}
	}
	// waitAnswers waits for cond, checked after each answer, and d.
	waitAnswers := func(d time.Duration, cond func() bool) {
		t.Helper()
		atLeast := time.After(d)
		for !cond() {
			select {
			case <-answered:
			case <-ctx.Done():
				t.Fatalf("the load's answers never met the scenario's condition: %v", ctx.Err())
			}
		}
		<-atLeast
	}
	var res *loadResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = ld.run(ctx, loadOpts{tag: "natsrestart", urls: urls, duration: total, only: viaBearer, onAttempt: onAttempt})
	}()
	waitAnswers(sz.natsWarm, func() bool { return accepted.Load() >= enough })
	c.nats.stop()
	downFrom := time.Now()
	downSince.Store(downFrom.UnixNano())
	waitAnswers(sz.natsDown, func() bool { return answeredDown.Load() >= enough })
	downTo := time.Now()
	c.nats.start()
	upAt := time.Now()
	<-done
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)

	during := map[int]int{}
	for _, a := range res.attempts {
		if !a.sent.Before(downFrom) && !a.done.After(downTo) {
			during[a.code]++
		}
	}
	n := 0
	for _, v := range during {
		n += v
	}
	f.add("NATS down %s; hooks answered while down: %d (503: %d, 202: %d, other: %d)", downTo.Sub(downFrom).Round(100*time.Millisecond),
		n, during[503], during[202], n-during[503]-during[202])
	f.add("hooks sent %d, 202 %d URLs, never acknowledged %d units", len(res.attempts), len(res.accepted), res.refused)
	f.add("landed %d of %d acknowledged, missing %d; last landing %s after NATS was back", len(res.accepted)-missing, len(res.accepted), missing,
		max(0, lastLanding(res.accepted, l).Sub(upAt)).Round(100*time.Millisecond))
	if n == 0 {
		t.Error("no hook was answered while NATS was down: the scenario proved nothing")
	}
	if n != during[202] {
		t.Errorf("while NATS was down hooks were answered %v, want only 202 (spooled)", during)
	}
	if missing > 0 {
		t.Errorf("%d URLs of 202'd hooks never reached the API", missing)
	}
	if res.refused > 0 {
		t.Errorf("%d units never acknowledged after NATS was back; answers %v", res.refused, res.codes())
	}
}

// redisRestart is scenario 4: the replicas' Redis is restarted (its data
// lost) mid-run while the quota is smaller than the load.
func redisRestart(t *testing.T, run *runState, sz sizes, f *figures) {
	rs := startRedis(t, run.logDir+"/redis-restart")
	quota := int64(sz.redisURLs * 2 / 3)
	c := newCluster(t, run, "redis-restart", clusterOpts{redisURL: rs.URL(), urlQuota: quota})
	ld := newLoader(c)
	ctx := ctxFor(t, 10*time.Minute)
	var res *loadResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = ld.run(ctx, loadOpts{tag: "redisrestart", urls: sz.redisURLs, duration: 10 * time.Second})
	}()
	if !waitFor(time.Minute, func() bool { return c.stats().Quota.Used.URL >= quota/3 }) {
		t.Fatalf("quota used did not reach %d before the restart", quota/3)
	}
	usedAtRestart := c.stats().Quota.Used.URL
	rs.proc.stop(5 * time.Second)
	time.Sleep(2 * time.Second)
	rs.start()
	restartedAt := time.Now()
	<-done
	resumed := waitFor(2*time.Minute, func() bool { return c.stats().Quota.Used.URL >= quota })
	resumeTook := time.Since(restartedAt)
	// The mirror re-synced: every replica's mirror shows the API's total and
	// nothing left, as the emulator does.
	synced := waitFor(30*time.Second, func() bool {
		for _, r := range c.replicas {
			if scrapeMetric(r.admin+"/metrics", "cdnpurge_quota_total", `kind="url"`) != float64(quota) ||
				scrapeMetric(r.admin+"/metrics", "cdnpurge_quota_remaining", `kind="url"`) != 0 {
				return false
			}
		}
		return true
	})
	st := c.stats()
	over := st.Actions["RefreshObjectCaches"].Codes["QuotaExceeded.Refresh"]
	f.add("quota %d URLs for %d sent; Redis restarted (data lost) at %d used", quota, sz.redisURLs, usedAtRestart)
	f.add("work resumed: %v (quota used %d/%d, %s after the restart)", resumed, st.Quota.Used.URL, quota, resumeTook.Round(100*time.Millisecond))
	f.add("calls refused QuotaExceeded %d", over)
	f.add("mirrors re-synced (total %d, remaining 0 on every replica): %v", quota, synced)
	c.emuPost("/_emulator/day", "")
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)
	f.add("after the next quota day: landed %d of %d, missing %d", len(res.accepted)-missing, len(res.accepted), missing)
	if !resumed || !synced || over > 0 || missing > 0 || res.refused > 0 || st.Quota.Used.URL > quota {
		t.Errorf("resumed %v, synced %v, quota refusals %d, missing %d, never acknowledged %d, used %d of %d",
			resumed, synced, over, missing, res.refused, st.Quota.Used.URL, quota)
	}
}

// apiOutage is scenario 5: the emulator answers 503 to everything for
// sz.outage while the load arrives.
func apiOutage(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "api-outage", clusterOpts{})
	ld := newLoader(c)
	ctx := ctxFor(t, 10*time.Minute)
	c.emuPost("/_emulator/outage", fmt.Sprintf(`{"for":%q}`, sz.outage))
	from := time.Now()
	to := from.Add(sz.outage)
	res := ld.run(ctx, loadOpts{tag: "outage", urls: sz.outageURLs, duration: 10 * time.Second})
	time.Sleep(time.Until(to))
	l := c.waitLanded(res.accepted, 5*time.Minute)
	missing := l.missing(res.accepted)
	st := c.stats()
	// Whole seconds inside the outage only.
	total, peak := callsBetween(st, from.Add(time.Second), to)
	secs := to.Sub(from).Seconds() - 1
	mean := float64(total) / secs
	last := lastLanding(res.accepted, l)
	f.add("API 503 for %s: %d calls in it (%d replicas x %d submitters), %.1f calls/s mean, %d in the busiest second", sz.outage, total, len(c.replicas), submitters, mean, peak)
	f.add("landed %d of %d, missing %d, last %s after the outage", len(res.accepted)-missing, len(res.accepted), missing, max(0, last.Sub(to)).Round(100*time.Millisecond))
	// A worker that does not back off runs at its client's pacing limit
	// (45 RefreshObjectCaches calls/s) for the whole outage. Backing off
	// (retries 200ms doubling, then the jobs redelivered after retry_delay)
	// keeps the mean under a quarter of that and no second at the limit.
	const meanBound, peakBound = 45.0 / 4, 40
	f.add("bound: mean <= %.1f/s, busiest second <= %d", meanBound, peakBound)
	if mean > meanBound || peak > peakBound {
		t.Errorf("calls during the outage: mean %.1f/s (bound %.1f), busiest second %d (bound %d)", mean, meanBound, peak, peakBound)
	}
	if missing > 0 || res.refused > 0 {
		t.Errorf("missing %d, never acknowledged %d units", missing, res.refused)
	}
}

// quotaDay is scenario 6: the quota is smaller than the load; submissions
// stop at it and the rest lands on the next quota day.
func quotaDay(t *testing.T, run *runState, sz sizes, f *figures) {
	quota := int64(sz.quotaURLs * 2 / 3)
	c := newCluster(t, run, "quota-day", clusterOpts{urlQuota: quota})
	ld := newLoader(c)
	ctx := ctxFor(t, 10*time.Minute)
	res := ld.run(ctx, loadOpts{tag: "quotaday", urls: sz.quotaURLs, duration: 8 * time.Second})
	if !waitFor(2*time.Minute, func() bool { return c.stats().Quota.Used.URL >= quota }) {
		t.Errorf("quota used stayed at %d of %d", c.stats().Quota.Used.URL, quota)
	}
	// Hold the day for a while: nothing more may land, nothing may loop.
	holdFrom := time.Now()
	time.Sleep(5 * time.Second)
	holdTo := time.Now()
	st := c.stats()
	before := c.landed()
	total, peak := callsBetween(st, holdFrom.Add(time.Second), holdTo)
	over := st.Actions["RefreshObjectCaches"].Codes["QuotaExceeded.Refresh"]
	f.add("quota %d URLs for %d acknowledged; landed on day 1: %d (used %d)", quota, len(res.accepted), len(before.first), st.Quota.Used.URL)
	f.add("refused QuotaExceeded %d; while waiting %d calls in %.0f s (busiest second %d)", over, total, holdTo.Sub(holdFrom).Seconds()-1, peak)
	dayAt := time.Now()
	c.emuPost("/_emulator/day", "")
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)
	f.add("after the quota day rolled over: landed %d of %d, missing %d, %s to land the rest", len(res.accepted)-missing, len(res.accepted), missing,
		max(0, lastLanding(res.accepted, l).Sub(dayAt)).Round(100*time.Millisecond))
	if int64(len(before.first)) > quota || st.Quota.Used.URL > quota {
		t.Errorf("day 1 landed %d URLs, quota %d", len(before.first), quota)
	}
	if missing > 0 || res.refused > 0 {
		t.Errorf("missing %d, never acknowledged %d units", missing, res.refused)
	}
	if float64(total)/(holdTo.Sub(holdFrom).Seconds()-1) > 5 {
		t.Errorf("%d calls in the quota wait: a hot loop", total)
	}
}

// badCase is one kind of bad request and the answer it must get.
type badCase struct {
	name string
	want int
	make func(l *loader, r *replica, id string) *http.Request
}

func badCases(s secrets) []badCase {
	good := func(id string) []byte {
		return fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/bad/%s.js"]}}`, id)
	}
	bearer := func(req *http.Request) *http.Request {
		req.Header.Set("Authorization", "Bearer "+s.GenericToken)
		return req
	}
	gen := func(r *replica, body []byte) *http.Request {
		return newJSONRequest(context.Background(), r.base+"/hooks/generic", body)
	}
	return []badCase{
		{"malformed JSON", 400, func(l *loader, r *replica, id string) *http.Request {
			return bearer(gen(r, fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/bad/%s.js"`, id)))
		}},
		{"unknown field", 400, func(l *loader, r *replica, id string) *http.Request {
			return bearer(gen(r, fmt.Appendf(nil, `{"kind":"refresh","refresh":{"object_typ":"Directory","paths":["https://example.com/bad/%s/"]}}`, id)))
		}},
		{"oversized body", 413, func(l *loader, r *replica, id string) *http.Request {
			paths := make([]string, 0, 800)
			for i := range 800 {
				paths = append(paths, fmt.Sprintf(`"https://example.com/bad/%s/%d/padding-padding-padding-padding-padding-padding.js"`, id, i))
			}
			return bearer(gen(r, []byte(`{"kind":"refresh","refresh":{"paths":[`+strings.Join(paths, ",")+`]}}`)))
		}},
		{"not JSON content type", 415, func(l *loader, r *replica, id string) *http.Request {
			req := bearer(gen(r, good(id)))
			req.Header.Set("Content-Type", "text/plain")
			return req
		}},
		{"wrong bearer token", 401, func(l *loader, r *replica, id string) *http.Request {
			req := gen(r, good(id))
			req.Header.Set("Authorization", "Bearer not-the-token-0123456789")
			return req
		}},
		{"no credentials", 401, func(l *loader, r *replica, id string) *http.Request { return gen(r, good(id)) }},
		{"bad HMAC signature", 401, func(l *loader, r *replica, id string) *http.Request {
			req := gen(r, good(id))
			signGeneric(req, "not-the-hmac-secret-0123456789", good(id), time.Now())
			return req
		}},
		{"stale HMAC timestamp", 401, func(l *loader, r *replica, id string) *http.Request {
			req := gen(r, good(id))
			signGeneric(req, s.GenericHMAC, good(id), time.Now().Add(-time.Hour))
			return req
		}},
		{"bad GitHub signature", 401, func(l *loader, r *replica, id string) *http.Request {
			body := fmt.Appendf(nil, `{"ref":"refs/heads/main","repository":{"full_name":"acme/site"},"commits":[{"added":["public/bad/%s.js"]}]}`, id)
			req := newJSONRequest(context.Background(), r.base+"/hooks/github", body)
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", id)
			req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("not-the-github-secret-0123", body))
			return req
		}},
		{"off-allowlist host", 422, func(l *loader, r *replica, id string) *http.Request {
			return bearer(gen(r, fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/bad/%s/ok.js","https://evil.example.net/bad/%s.js"]}}`, id, id)))
		}},
		{"control character in path", 422, func(l *loader, r *replica, id string) *http.Request {
			return bearer(gen(r, fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/bad/%s\n.js"]}}`, id)))
		}},
		{"path over 1024 characters", 422, func(l *loader, r *replica, id string) *http.Request {
			return bearer(gen(r, fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/bad/%s/%s.js"]}}`, id, strings.Repeat("x", 1100))))
		}},
	}
}

// badInput is scenario 7: bad requests and NATS messages mixed into good
// load.
func badInput(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "bad-input", clusterOpts{logLevel: "debug"})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	pids := map[string]int{}
	for _, r := range c.replicas {
		pids[r.name] = r.proc.cmd.Process.Pid
	}
	dur := sz.badDur
	var res *loadResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = ld.run(ctx, loadOpts{tag: "goodmix", urls: sz.goodURLs, duration: dur})
	}()

	cases := badCases(run.secrets)
	natsBad := sz.badRequests / 10
	httpBad := sz.badRequests - natsBad
	var mu sync.Mutex
	got := make([]map[int]int, len(cases))
	for i := range got {
		got[i] = map[int]int{}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < httpBad; i += 4 {
				time.Sleep(dur / time.Duration(httpBad/4+1))
				k := i % len(cases)
				r := c.replicas[i%len(c.replicas)]
				code := ld.do(cases[k].make(ld, r, fmt.Sprintf("h%d", i)))
				mu.Lock()
				got[k][code]++
				mu.Unlock()
			}
		})
	}
	natsAcked := 0
	for i := range natsBad {
		var body string
		switch i % 3 {
		case 0:
			body = fmt.Sprintf(`{"kind":"refresh","refresh":{"paths":["https://example.com/bad/n%d.js"`, i)
		case 1:
			body = fmt.Sprintf(`{"kind":"refresh","refresh":{"paths":["https://evil.example.net/bad/n%d.js"]}}`, i)
		default:
			body = fmt.Sprintf(`{"v":1,"kind":"refresh","refresh":{"object_typ":"Directory","paths":["https://example.com/bad/n%d/"]}}`, i)
		}
		if _, err := ld.js.Publish(ctx, "cdn.purge.refresh", []byte(body)); err == nil {
			natsAcked++
		}
	}
	wg.Wait()
	<-done
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)
	terminated := 0.0
	waitFor(30*time.Second, func() bool {
		terminated = c.metric("cdnpurge_jobs_invalid_total")
		return terminated >= float64(natsAcked)
	})
	badLanded := 0
	for p := range l.first {
		if strings.Contains(p, "/bad/") {
			badLanded++
		}
	}

	wrong := 0
	var perCase []string
	for k, bc := range cases {
		n := 0
		for _, v := range got[k] {
			n += v
		}
		if got[k][bc.want] != n {
			wrong += n - got[k][bc.want]
			t.Errorf("%s: answers %v, want %d", bc.name, got[k], bc.want)
		}
		perCase = append(perCase, fmt.Sprintf("%s %d", bc.name, bc.want))
	}
	alive := 0
	for _, r := range c.replicas {
		if r.proc.alive() && r.proc.cmd.Process.Pid == pids[r.name] {
			alive++
		}
	}
	goodCodes := res.codes()
	f.add("%d bad hooks in %d kinds (%s): wrong answers %d", httpBad, len(cases), strings.Join(perCase, ", "), wrong)
	f.add("%d bad NATS messages: %.0f terminated as invalid", natsAcked, terminated)
	f.add("bad paths that reached the API %d", badLanded)
	f.add("processes alive %d/%d replicas, emulator %v, NATS %v", alive, len(c.replicas), c.emu.alive(), c.nats.proc.alive())
	f.add("good: %d URLs, %d acknowledged, landed all: %v, answers %v", sz.goodURLs, len(res.accepted), missing == 0, goodCodes)
	if badLanded > 0 {
		t.Errorf("%d bad paths reached the API", badLanded)
	}
	// Exactly once each: more means a termination did not hold and the
	// message came back (as TermWithReason does on nats-server 2.9). Once
	// the worker's consumer has nothing left to deliver and nothing
	// delivered but unacknowledged, no message can come back: a
	// termination that did not hold stays pending until its redelivery.
	var pending, unacked uint64
	settled := waitFor(30*time.Second, func() bool {
		pending, unacked = workerBacklog(ctx, ld)
		return pending == 0 && unacked == 0
	})
	f.add("worker consumer settled: %v (pending %d, unacknowledged %d)", settled, pending, unacked)
	if !settled {
		t.Errorf("the worker's consumer kept %d messages to deliver and %d unacknowledged: a termination did not hold", pending, unacked)
	}
	if terminated = c.metric("cdnpurge_jobs_invalid_total"); terminated != float64(natsAcked) {
		t.Errorf("%.0f terminations for %d bad NATS messages, want exactly one each", terminated, natsAcked)
	}
	if alive != len(c.replicas) || !c.emu.alive() || !c.nats.proc.alive() {
		t.Error("a process died")
	}
	if missing > 0 || res.refused > 0 || len(res.accepted) != sz.goodURLs {
		t.Errorf("good traffic: missing %d, never acknowledged %d units, answers %v", missing, res.refused, goodCodes)
	}
}

// workerBacklog is what the replicas' shared consumer (worker.consumer,
// default cdnpurge-worker, on the work stream CDNPURGE; see
// docs/configuration.md) has left to deliver and has delivered without an
// acknowledgement yet; math.MaxUint64 twice when it cannot be read.
func workerBacklog(ctx context.Context, ld *loader) (pending, unacked uint64) {
	cons, err := ld.js.Consumer(ctx, "CDNPURGE", "cdnpurge-worker")
	if err != nil {
		return math.MaxUint64, math.MaxUint64
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return math.MaxUint64, math.MaxUint64
	}
	return info.NumPending, uint64(info.NumAckPending)
}
