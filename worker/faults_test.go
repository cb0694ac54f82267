package worker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// With the emulator's URL quota at 200 and 800 URLs published, exactly
// 200 are submitted; the rest wait without the API ever answering
// QuotaExceeded, and land after the emulated day rolls over.
func TestWorkerWaitsForQuotaDay(t *testing.T) {
	t.Parallel()
	// The emulator's calls/s windows run on its clock, which this test
	// stops: every call would fall into one second. Limits are not what
	// this test is about.
	const dayQuota, total = 200, 800
	h := newHarness(t, harnessOpts{clock: true, emu: cdnemu.Options{URLQuota: dayQuota, NoRateLimit: true}})
	events := h.watchStatus()
	var ids []string
	for i := range total / 10 {
		ids = append(ids, h.publish(refreshJob(urls("example.com", i*10, 10)...)))
	}
	// Small batches: many calls, so the day-boundary syncs race with
	// commits, which they subtract twice to stay safe; the worker must
	// still use every unit of each day.
	cfg := fastConfig()
	cfg.Limits.URLsPerRefresh = 5
	h.runWorker(cfg, "w1")
	h.waitFor("a day's URLs submitted", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= dayQuota
	})
	h.waitFor("a deferred job", 10*time.Second, func() bool {
		for _, id := range ids {
			if ev, ok := events.Last(id); ok && ev.State == jobs.StateDeferred {
				return true
			}
		}
		return false
	})
	// Let the worker go round a few more times with no quota: jobs
	// delivered again and handed back again.
	h.deferredAgain(events, ids)
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != dayQuota {
		t.Fatalf("%d URLs submitted with a quota of %d", n, dayQuota)
	}
	if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "QuotaExceeded.Refresh"); n != 0 {
		t.Fatalf("the API answered QuotaExceeded %d times: the mirror let calls through", n)
	}
	if h.drained() {
		t.Fatal("the waiting jobs left the queue")
	}
	ev, _ := events.Last(ids[len(ids)-1])
	if ev.State == jobs.StateDeferred && ev.Until.IsZero() {
		t.Fatal("deferred event without a time")
	}
	// The wait ends when the quota resets: 00:00 Asia/Shanghai, 16:00 UTC,
	// six hours after the mirror's clock (10:00 UTC), not when the job is
	// looked at again (DeferMax).
	reset := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	for _, ev := range events.All(ids[len(ids)-1]) {
		if ev.State == jobs.StateDeferred && !ev.Until.Equal(reset) {
			t.Fatalf("deferred at %s until %s: want the quota reset, %s", ev.Time, ev.Until, reset)
		}
	}

	// 16:00 UTC is 00:00 in Shanghai: each new quota day lets dayQuota more in,
	// and no more.
	day := time.Date(2026, 11, 25, 16, 0, 1, 0, time.UTC)
	for d := 1; d <= 3; d++ {
		h.clock.Set(day)
		if err := h.mirror.SyncNow(h.ctx); err != nil {
			t.Fatal(err)
		}
		want := dayQuota * (d + 1)
		h.waitFor("the next day's URLs", 30*time.Second, func() bool {
			return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= want
		})
		if want < total { // jobs still wait
			h.deferredAgain(events, ids)
		}
		if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != want {
			t.Fatalf("day %d: %d URLs submitted, want %d", d+1, n, want)
		}
		day = day.Add(24 * time.Hour)
	}
	h.waitFor("queue drained", 60*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if len(got) != total || len(uniq(got)) != total {
		t.Fatalf("%d URLs (%d unique) submitted over four days, want %d once each", len(got), len(uniq(got)), total)
	}
	if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "QuotaExceeded.Refresh"); n != 0 {
		t.Fatalf("QuotaExceeded answered %d times", n)
	}
}

// With 30% of calls answered 500 or 503 every path still lands, and no
// two requests share a nonce.
func TestWorkerLandsEverythingThroughFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{Seed: 3, Faults: cdnemu.Faults{ErrorRate500: 0.15, ErrorRate503: 0.15}}})
	for i := range 300 {
		h.publish(refreshJob(urls("example.com", i*10, 10)...))
	}
	cfg := fastConfig()
	cfg.Limits.URLsPerRefresh = 100 // more calls, more faults
	h.runWorker(cfg, "w1")
	h.waitFor("every path", 60*time.Second, func() bool {
		return len(uniq(h.emu.Paths(apiclient.CDN().Actions.Refresh))) >= 3000 && h.drained()
	})
	codes := h.emu.Codes(apiclient.CDN().Actions.Refresh)
	if codes["InternalError"]+codes["ServiceUnAvailable"] == 0 {
		t.Fatalf("no faults were injected: %v", codes)
	}
	nonces := h.emu.Nonces()
	if len(nonces) != len(uniq(nonces)) {
		t.Fatalf("%d nonces, %d distinct", len(nonces), len(uniq(nonces)))
	}
	if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "SignatureNonceUsed"); n != 0 {
		t.Fatalf("%d requests reused a nonce", n)
	}
	t.Logf("refresh answers: %v; %d nonces", codes, len(nonces))
}

// A path on a domain the account does not have is refused by the API; the
// batch is split until that path is found and reported, and the rest of
// the batch lands.
func TestWorkerIsolatesRefusedPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{Domains: []string{"example.com"}}})
	events := h.watchStatus()
	good := urls("example.com", 0, 99)
	bad := h.publish(refreshJob("https://other.example.com/x.js"))
	h.publish(refreshJob(good...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("queue drained", 20*time.Second, h.drained)
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 99 {
		t.Fatalf("%d good paths landed, want 99", n)
	}
	h.waitFor("rejected event", 5*time.Second, func() bool {
		ev, ok := events.Last(bad)
		return ok && ev.State == jobs.StateRejected && len(ev.Problems) == 1 && ev.Problems[0].Path == "https://other.example.com/x.js"
	})
}

// A quota error the mirror did not foresee (a per-minute limit) re-syncs
// the mirror and hands the jobs back with a delay: no hot loop against the
// API, and the paths land once the API takes them.
func TestWorkerBacksOffOnUnforeseenQuotaError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.emu.ForceError(apiclient.CDN().Actions.Refresh, 3, "QuotaPerMinuteExceeded.Refresh")
	events := h.watchStatus()
	id := h.publish(refreshJob(urls("example.com", 0, 20)...))
	cfg := fastConfig()
	h.runWorker(cfg, "w1")
	h.waitFor("the paths to land", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 20 && h.drained()
	})
	calls := h.emu.Calls(apiclient.CDN().Actions.Refresh)
	if calls != 4 {
		t.Fatalf("%d refresh calls for 3 refusals and a success", calls)
	}
	// Each refusal handed the job back for a whole 60 s window (the client
	// has no domain pacer to say when the window frees), not for an
	// immediate retry.
	h.waitFor("the job submitted", 20*time.Second, func() bool { return events.Has(id, jobs.StateSubmitted) })
	deferrals := 0
	for _, ev := range events.All(id) {
		if ev.State != jobs.StateDeferred {
			continue
		}
		deferrals++
		if ev.Until.Sub(ev.Time) < time.Minute {
			t.Errorf("deferred at %s until %s: want a whole window (61 s), never an immediate retry", ev.Time, ev.Until)
		}
	}
	if deferrals != 3 {
		t.Errorf("%d deferred events for 3 refusals", deferrals)
	}
}

// A call slower than the reservation's TTL keeps its reservation: it is
// extended while the call runs, so its units are never given to another
// caller before it commits.
func TestWorkerExtendsReservationsOfSlowCalls(t *testing.T) {
	t.Parallel()
	store := quota.NewMemoryStore(quota.Options{ReservationTTL: 150 * time.Millisecond})
	h := newHarness(t, harnessOpts{store: store, emu: cdnemu.Options{Faults: cdnemu.Faults{Latency: 600 * time.Millisecond}}})
	h.publish(refreshJob(urls("example.com", 0, 50)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the paths to land", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 50 && h.drained()
	})
	snap, err := store.Snapshot(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := snap.Get(quota.KindURL); k.Expired != 0 || k.Committed != 50 {
		t.Fatalf("url quota: %d expired, %d committed; want 0 and 50", k.Expired, k.Committed)
	}
}

// With worker.recent_window set, a path asked for after its refresh was
// sent is refreshed again (the file may have changed after the call),
// while copies asked for before it are covered; a job covered whole says
// so in its status.
func TestWorkerSkipsRecentlyRefreshedPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{recent: NewMemoryRecent(time.Minute, nil)})
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.RecentWindow = time.Minute
	first := urls("example.com", 0, 10)
	h.publish(refreshJob(first...))
	copied := h.publish(refreshJob(first[:3]...))
	h.ageBacklog()
	h.runWorker(cfg, "w1")
	h.waitFor("the first deploy", 10*time.Second, func() bool {
		ev, ok := events.Last(copied)
		return ok && ev.State == jobs.StateComplete && h.drained()
	})
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); len(got) != 10 {
		t.Fatalf("%d paths sent, want 10: the copies asked before the call covered", len(got))
	}
	again := h.publish(refreshJob(append(first, urls("example.com", 10, 5)...)...))
	h.waitFor("the second deploy", 10*time.Second, func() bool {
		return events.Has(again, jobs.StateSubmitted) && h.drained()
	})
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); len(got) != 25 {
		t.Fatalf("%d paths sent, want 25: a path asked for after its refresh was sent goes again", len(got))
	}
}

// Copies of paths queued behind their originals (the backlog at the quota
// reset) are covered by the originals' calls, pulled while those wait, are
// in flight or were accepted: no copy reaches the API, the calls are the
// fewest, and every copy's job settles. The size, 20,000 + 1,000
// (a quarter of it with -short).
func TestWorkerCoalescesTheBacklogByRequestTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{recent: NewMemoryRecent(time.Hour, nil), emu: cdnemu.Options{URLQuota: 100_000}})
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	distinct, perJob, copies := 20000, 1000, 1000
	if testing.Short() {
		distinct, copies = 5000, 250
	}
	for i := range distinct / perJob {
		h.publish(refreshJob(urls("example.com", i*perJob, perJob)...))
	}
	var copyJobs []string
	for i := range copies / 10 {
		copyJobs = append(copyJobs, h.publish(refreshJob(urls("example.com", i*173%(distinct-10), 10)...)))
	}
	h.ageBacklog()
	h.runWorker(cfg, "w1")
	h.waitFor("the backlog drained", 30*time.Second, h.drained)
	// Each copy's job names the covering call's task (it completes when
	// that task does), or completed at once when that call had landed.
	for _, id := range copyJobs {
		h.waitFor("the copy's job settled", 10*time.Second, func() bool {
			ev, ok := events.Last(id)
			return ok && (ev.State == jobs.StateComplete || ev.State == jobs.StateSubmitted && len(ev.TaskIDs) > 0)
		})
	}
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if len(got) != distinct || len(uniq(got)) != distinct {
		t.Fatalf("%d paths sent (%d distinct), want %d: %d copies reached the API", len(got), len(uniq(got)), distinct, len(got)-distinct)
	}
	calls := h.emu.Calls(apiclient.CDN().Actions.Refresh)
	if calls != distinct/perJob {
		t.Fatalf("%d calls, want %d", calls, distinct/perJob)
	}
	t.Logf("%d distinct + %d copies queued: %d paths sent, %d calls", distinct, copies, len(got), calls)
}

// The same backlog with the worker restarted in the middle: the record of
// what was sent when is in Redis, so the new worker's copies of paths the
// old one sent are covered too.
func TestWorkerCoalescesTheBacklogAcrossARestart(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	recent := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Hour)
	h := newHarness(t, harnessOpts{recent: recent, emu: cdnemu.Options{URLQuota: 100_000}})
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	const distinct, perJob, copies = 5000, 500, 500
	for i := range distinct / perJob {
		h.publish(refreshJob(urls("example.com", i*perJob, perJob)...))
	}
	for i := range copies / 10 {
		h.publish(refreshJob(urls("example.com", i*97%(distinct-10), 10)...))
	}
	h.ageBacklog()
	_, stop := h.runWorker(cfg, "w1")
	h.waitFor("some calls of the first worker", 30*time.Second, func() bool {
		return h.emu.Calls(apiclient.CDN().Actions.Refresh) >= 3
	})
	stop()
	h.runWorker(cfg, "w2")
	h.waitFor("the backlog drained", 60*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if len(got) != distinct || len(uniq(got)) != distinct {
		t.Fatalf("%d paths sent (%d distinct), want %d: %d copies reached the API; %s", len(got), len(uniq(got)), distinct, len(got)-distinct,
			paidTwice(h.emu.PathRecords(apiclient.CDN().Actions.Refresh)))
	}
	t.Logf("%d distinct + %d copies, a restart in the middle: %d paths sent, %d calls", distinct, copies, len(got), h.emu.Calls(apiclient.CDN().Actions.Refresh))
}

// An account error pauses submissions and the paused gauge shows it; once
// the pause is over and work goes out again the gauge is back to 0.
func TestWorkerPausedGaugeFollowsThePause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.emu.ForceError(apiclient.CDN().Actions.Refresh, 1, "InsufficientBalance")
	reg := prometheus.NewRegistry()
	h.metrics = NewMetrics(reg)
	gauge := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "cdnpurge_account_paused" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	cfg := fastConfig()
	cfg.PauseFor = 300 * time.Millisecond
	w, _ := h.runWorker(cfg, "w1")
	h.publish(refreshJob(urls("example.com", 0, 5)...))
	h.waitFor("the pause", 10*time.Second, func() bool { return gauge() == 1 })
	if paused, _ := w.Paused(); !paused {
		t.Fatal("gauge says paused, the worker does not")
	}
	h.waitFor("the paths to land after the pause", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 5 && h.drained()
	})
	if g := gauge(); g != 0 {
		t.Fatalf("paused gauge = %v after the pause ended and work went out", g)
	}
}

// ageBacklog returns once the jobs in the work stream are older than the
// clocks' margin: the worker reads the real clock when it sends a call
// (batch.sentAt), so the scenario needs that much real time to have
// passed since JetStream stored the newest job. It waits for that instant,
// read from the stream, not for a guessed duration.
func (h *harness) ageBacklog() {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, queue.DefaultStreamName)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	<-time.After(time.Until(info.State.LastTime.Add(coverMargin + 10*time.Millisecond)))
}

// paidTwice says which calls sent the paths that reached the API more than
// once: each pair of request IDs and how many paths both sent.
func paidTwice(recs []cdnemu.PathRecord) string {
	first := map[string]string{}
	pairs := map[string]int{}
	for _, r := range recs {
		if f, ok := first[r.Path]; ok {
			pairs[f+" then "+r.RequestID]++
		} else {
			first[r.Path] = r.RequestID
		}
	}
	var out []string
	for p, n := range pairs {
		out = append(out, fmt.Sprintf("%d paths sent by %s", n, p))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// stallingRecent is a Recent whose first check waits for the worker to
// stop, and fails as a check cut short by it does.
type stallingRecent struct {
	Recent
	once    sync.Once
	entered chan struct{}
}

func (r *stallingRecent) Fresh(ctx context.Context, action string, paths []string, asked time.Time) ([]string, error) {
	stall := false
	r.once.Do(func() { stall = true })
	if stall {
		close(r.entered)
		<-ctx.Done()
		return paths, ctx.Err()
	}
	return r.Recent.Fresh(ctx, action, paths, asked)
}

// A job whose check of what was sent moments ago is cut short by the
// worker stopping is handed back whole, not sent unchecked ("sending them
// all" is for Redis being down): the next worker checks and sends it once.
func TestWorkerStoppingMidCheckHandsTheJobBack(t *testing.T) {
	t.Parallel()
	recent := &stallingRecent{Recent: NewMemoryRecent(time.Hour, nil), entered: make(chan struct{})}
	h := newHarness(t, harnessOpts{recent: recent})
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	h.publish(refreshJob(urls("example.com", 0, 10)...))
	_, stop := h.runWorker(cfg, "w1")
	select {
	case <-recent.entered:
	case <-time.After(time.Minute):
		t.Fatal("the worker never checked the job's paths")
	}
	stop()
	if n := h.emu.Calls(apiclient.CDN().Actions.Refresh); n != 0 {
		t.Fatalf("the stopping worker made %d calls with paths it never checked, want 0", n)
	}
	h.runWorker(cfg, "w2")
	h.waitFor("the backlog drained", 30*time.Second, h.drained)
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); len(got) != 10 {
		t.Fatalf("%d paths sent after the restart, want the job's 10", len(got))
	}
}
