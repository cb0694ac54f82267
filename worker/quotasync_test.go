package worker

import (
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// A new quota day whose sync fails, with a burst queued on 16 submitters:
// the API is asked for the quota once, not once per submitter and poll;
// once it answers again, everything lands.
func TestWorkerOneQuotaSyncFor16SubmittersAfterFailedSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{clock: true, emu: cdnemu.Options{NoRateLimit: true},
		retry: apiclient.RetryPolicy{MaxAttempts: 1, Base: 5 * time.Millisecond, Max: 5 * time.Millisecond, MaxTotal: time.Second}})
	events := h.watchStatus()
	var ids []string
	for i := range 32 {
		ids = append(ids, h.publish(refreshJob(urls("example.com", i*10, 10)...)))
	}
	// 16:00 UTC is 00:00 in Shanghai: the mirror's day is not synced, and
	// the API fails every DescribeRefreshQuota.
	h.clock.Set(time.Date(2026, 11, 25, 16, 0, 1, 0, time.UTC))
	h.emu.ForceError(apiclient.CDN().Actions.Quota, 1_000_000, "InternalError")
	before := h.emu.Calls(apiclient.CDN().Actions.Quota)
	cfg := fastConfig()
	cfg.Submitters = 16
	cfg.Limits.URLsPerRefresh = 10
	h.runWorker(cfg, "w1")
	deferred := func() int {
		n := 0
		for _, id := range ids {
			if events.Has(id, jobs.StateDeferred) {
				n++
			}
		}
		return n
	}
	// Every job waited through its hold, its submitter asking the mirror
	// every poll, and was handed back.
	h.waitFor("every job handed back once", 20*time.Second, func() bool { return deferred() == len(ids) })
	if n := h.emu.Calls(apiclient.CDN().Actions.Quota) - before; n != 1 {
		t.Fatalf("%d DescribeRefreshQuota calls with 16 submitters after a failed sync, want 1", n)
	}
	if got := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); got != 0 {
		t.Fatalf("%d paths sent with the day not synced", got)
	}
	// The hold after the failure passes (on the mirror's clock) and the API
	// answers again.
	h.emu.ClearForcedErrors()
	h.clock.Advance(time.Minute)
	h.waitFor("queue drained", 30*time.Second, h.drained)
	if got := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); got != 320 {
		t.Fatalf("%d paths landed, want 320", got)
	}
}

// A sync that finds quota the mirror did not know of (a raised limit, or
// units a racing sync held back) is used at once by the batch that asked
// for it: no "no quota left" and no hand-back.
func TestWorkerUsesQuotaFoundByResyncAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{URLQuota: 100}})
	events := h.watchStatus()
	// The mirror believes the 100 units spent; the API still has them.
	r, err := h.mirror.Reserve(h.ctx, quota.KindURL, 100)
	if err != nil || r.Granted != 100 {
		t.Fatalf("reserve: %+v %v", r, err)
	}
	if err := h.mirror.Commit(h.ctx, r, 100); err != nil {
		t.Fatal(err)
	}
	id := h.publish(refreshJob(urls("example.com", 0, 50)...))
	cfg := fastConfig()
	// Without the sync's answer being used at once, the batch would sleep
	// an hour before asking again.
	cfg.QuotaPoll = time.Hour
	cfg.QuotaHold = time.Hour
	h.runWorker(cfg, "w1")
	h.waitFor("the 50 paths", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 50
	})
	h.waitFor("submitted event", 10*time.Second, func() bool { return events.Has(id, jobs.StateSubmitted) })
	for _, st := range events.States(id) {
		if st == jobs.StateDeferred {
			ev, _ := events.Last(id)
			t.Fatalf("job deferred although the sync found quota: %+v", ev)
		}
	}
}
