package worker

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// A domain stopped while its purges are queued holds them back with a
// reason, lets the other domains' paths of the same job land, and once it
// is started again its paths land too: nothing is rejected.
func TestWorkerStoppedDomainDefersUntilStarted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{Domains: []string{"example.com", "img.example.com"}}})
	events := h.watchStatus()
	domainCall := func(action string) {
		t.Helper()
		if err := h.client.Call(h.ctx, action, url.Values{"DomainName": {"img.example.com"}}, nil); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	domainCall("StopCdnDomain")
	stopped := urls("img.example.com", 0, 20)
	online := urls("example.com", 0, 20)
	id := h.publish(refreshJob(slices.Concat(stopped, online)...))
	h.runWorker(fastConfig(), "w1")

	h.waitFor("the online domain's paths", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= len(online)
	})
	h.waitFor("a deferred event naming the stopped domain", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateDeferred && strings.Contains(ev.Reason, "img.example.com")
	})
	if events.Has(id, jobs.StateRejected) {
		t.Fatal("the job was rejected while its domain was stopped")
	}
	domainCall("StartCdnDomain")
	h.waitFor("queue drained", 30*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	for _, p := range slices.Concat(stopped, online) {
		if !slices.Contains(got, p) {
			t.Fatalf("%s never landed", p)
		}
	}
	if events.Has(id, jobs.StateRejected) {
		t.Fatal("the job was rejected")
	}
}

// A domain that is gone from the account rejects its paths, naming the
// domain in words of its own (the API's message may not name it), and only
// those: the same job's other paths land.
func TestWorkerRejectsDomainNotOnAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{Domains: []string{"example.com"}}})
	events := h.watchStatus()
	gone := urls("gone.example.com", 0, 5)
	online := urls("example.com", 0, 5)
	id := h.publish(refreshJob(slices.Concat(gone, online)...))
	cfg := fastConfig()
	cfg.Tracker.Disabled = true // the submitted event stays the last one
	h.runWorker(cfg, "w1")
	h.waitFor("queue drained", 20*time.Second, h.drained)
	h.waitFor("submitted event", 10*time.Second, func() bool { return events.Has(id, jobs.StateSubmitted) })
	ev, _ := events.Last(id)
	var named int
	for _, p := range ev.Problems {
		if strings.Contains(p.Reason, "domain gone.example.com is not on this CDN account") && strings.Contains(p.Path, "gone.example.com") {
			named++
		}
	}
	if named != len(gone) {
		t.Fatalf("%d of %d paths of the missing domain reported with its name: %+v", named, len(gone), ev)
	}
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != len(online) {
		t.Fatalf("%d paths landed, want %d", n, len(online))
	}
}

// A refusal for the per-domain per-minute limit waits for the next minute
// and leaves the daily quota alone: no re-sync of the mirror, and the
// deferred event says until when and why.
func TestWorkerPerMinuteRefusalWaitsForTheNextMinute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{clock: true, emu: cdnemu.Options{DomainURLsPerMinute: 1000}})
	events := h.watchStatus()
	syncsBefore := h.emu.Calls(apiclient.CDN().Actions.Quota)
	id := h.publish(refreshJob(urls("example.com", 0, 1500)...))
	// The emulator counts its minutes, and the worker gives the ends of
	// waits, on the harness clock.
	start := h.clock.Now()
	h.runWorker(fastConfig(), "w1")
	h.waitFor("a deferred event for the per-minute limit", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateDeferred
	})
	ev, _ := events.Last(id)
	if !strings.Contains(ev.Reason, "per minute") {
		t.Errorf("deferred reason %q does not name the per-minute limit", ev.Reason)
	}
	if next := start.Truncate(time.Minute).Add(time.Minute); ev.Until.Before(next) {
		t.Errorf("deferred until %s, want the next minute (%s) at the earliest", ev.Until, next)
	}
	if n := h.emu.Calls(apiclient.CDN().Actions.Quota); n != syncsBefore {
		t.Errorf("%d DescribeRefreshQuota calls after the per-minute refusal, want none: the daily quota is not spent", n-syncsBefore)
	}
	// The job's 1,500 URLs go as 1,000 and 500, in either order: the
	// first call lands, the second is refused.
	if got := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); got != 1000 && got != 500 {
		t.Errorf("%d paths landed in the first minute, want the first call's 1000 or 500", got)
	}
}

// 2,500 URLs of one domain against an API that holds 1,000 URLs per domain
// per sliding 60 s (the stricter reading of "per minute"): the worker's
// domain pacer sends them with no refusal, on CDN and on DCDN. The time it
// took on the emulator clock is printed, not asserted.
func TestWorkerDomainPacingNeverRefused(t *testing.T) {
	t.Parallel()
	for _, product := range []string{"cdn", "dcdn"} {
		t.Run(product, func(t *testing.T) {
			t.Parallel()
			o := harnessOpts{clock: true, pace: true, emu: cdnemu.Options{DomainWindowSliding: true,
				DomainURLsPerMinute: 1000, DCDNDomainURLsPerMinute: 1000}}
			host, action := "example.com", apiclient.CDN().Actions.Refresh
			if product == "dcdn" {
				host, action = "d.example.com", apiclient.DCDN().Actions.Refresh
				o.dcdn = []string{host}
			}
			h := newHarness(t, o)
			// Late in a minute, where a calendar-minute pacer sends the
			// second 1,000 seconds after the first.
			h.clock.Advance(50 * time.Second)
			start := h.clock.Now()
			for i := range 5 {
				h.publish(refreshJob(urls(host, i*500, 500)...))
			}
			h.runWorker(fastConfig(), "w1")
			h.waitFor("2,500 URLs to land", 30*time.Second, func() bool {
				return len(h.emu.Paths(action)) == 2500 && h.drained()
			})
			refusals := 0
			for _, r := range h.emu.Requests() {
				if r.Code == "QuotaPerMinuteExceeded.Refresh" {
					refusals++
				}
			}
			if refusals != 0 {
				t.Fatalf("%d per-minute refusals, want 0", refusals)
			}
			t.Logf("%s: 2,500 URLs of one domain against 1,000 per sliding 60 s: %d refusals, %d calls, %s of emulator time, %d pacer waits",
				product, refusals, h.emu.Calls(action), h.clock.Now().Sub(start).Round(time.Second), h.paceWaits.Load())
		})
	}
}
