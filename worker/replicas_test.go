package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// A worker stopped abruptly mid-run (its connection dropped, nothing acked
// or handed back) loses nothing: another replica gets its jobs once the
// ack deadline passes, and every path lands.
func TestWorkerCrashLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{Faults: cdnemu.Faults{Latency: 30 * time.Millisecond}}})
	for i := range 300 {
		h.publish(refreshJob(urls("example.com", i*10, 10)...))
	}
	cfg := fastConfig()
	cfg.Limits.URLsPerRefresh = 100
	a := h.runReplica(cfg, "a")
	h.waitFor("the first replica mid-run", 20*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= 600
	})
	// Crash: the connection goes first, so no ack, nak or progress reaches
	// the server, then the process stops.
	a.api.kill()
	a.nc.Close()
	before := len(h.emu.Paths(apiclient.CDN().Actions.Refresh))
	a.stop()
	if before >= 3000 {
		t.Skip("the first replica finished before the crash; nothing to test")
	}
	h.runReplica(cfg, "b")
	h.waitFor("every path after the crash", 60*time.Second, func() bool {
		return len(uniq(h.emu.Paths(apiclient.CDN().Actions.Refresh))) >= 3000 && h.drained()
	})
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	dup := len(got) - len(uniq(got))
	t.Logf("crash after %d paths; %d sent twice of 3,000", before, dup)
	// At most what was in flight at the crash is sent again: the
	// submitters' batches and the jobs they belonged to.
	eff := cfg.WithDefaults()
	if dup > eff.Submitters*eff.Limits.URLsPerRefresh*2 {
		t.Fatalf("%d paths sent twice: more than were in flight", dup)
	}
}

// Two replicas on one consumer share the work, and together keep under the
// calls/s limit when they share the rate budget, and under the quota.
func TestTwoWorkersShareLoadAndLimits(t *testing.T) {
	// Not parallel: it measures calls per second, which other tests'
	// load on a 2-core machine would bunch up.
	// One account budget, as Redis would share it, at a share of 0.8
	// (36/s after the limiter's headroom): arrivals jitter across the
	// emulator's one-second windows, more so on a loaded machine, and at
	// the default 45/s some second then showed 51.
	shared := apiclient.NewActionLimiter(nil, 0.8)
	h := newHarness(t, harnessOpts{limiter: shared, emu: cdnemu.Options{URLQuota: 7500}})
	events := h.watchStatus()
	// 10,000 URLs in jobs of 20 (500 messages: the pulls, acks and
	// hand-backs of 1,000 jobs of 10 were most of the test's CPU under
	// -race), the quota 7,500 (375 jobs).
	cfg := fastConfig()
	cfg.Limits.URLsPerRefresh = 100 // 75 calls: enough to meet the 50/s limit
	a := h.runReplica(cfg, "a")
	b := h.runReplica(cfg, "b")
	// Published once both pull: a backlog there before b started went
	// all to a on a loaded machine (a 76 calls, b 0).
	var ids []string
	for i := range 500 {
		ids = append(ids, h.publish(refreshJob(urls("example.com", i*20, 20)...)))
	}
	h.waitFor("quota spent and the rest waiting", 60*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= 7500
	})
	// The rest goes round (delivered, handed back) without getting more.
	h.deferredAgain(events, ids)
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 7500 {
		t.Fatalf("%d URLs submitted with a quota of 7,500", n)
	}
	if a.api.count() == 0 || b.api.count() == 0 {
		t.Fatalf("calls per replica: a %d, b %d; both should work", a.api.count(), b.api.count())
	}
	if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "Throttling.User"); n != 0 {
		t.Errorf("the API throttled %d calls", n)
	}
	if max := h.emu.MaxPerSecond(apiclient.CDN().Actions.Refresh); max > 50 {
		t.Errorf("%d calls in one second, limit 50", max)
	}
	if n := h.emu.Refused(apiclient.CDN().Actions.Refresh, "QuotaExceeded.Refresh"); n != 0 {
		t.Errorf("QuotaExceeded %d times", n)
	}
	t.Logf("calls: a %d, b %d; max %d/s", a.api.count(), b.api.count(), h.emu.MaxPerSecond(apiclient.CDN().Actions.Refresh))
}

// A message published by anything on a work subject goes through the same
// validation: a bad one is terminated and reported, never retried, and good
// messages around it are unaffected.
func TestWorkerTerminatesInvalidMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	invalid := make(chan jobs.StatusEvent, 10)
	sub, err := h.nc.Subscribe(h.subjects.Invalid(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			invalid <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, body := range []string{`not json`, `{"v":1,"kind":"refresh","refresh":{"paths":["https://evil.test/x"]}}`} {
		if _, err := h.js.Publish(h.ctx, h.subjects.Refresh(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	h.publish(refreshJob(urls("example.com", 0, 3)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("queue drained", 10*time.Second, h.drained)
	for range 2 {
		select {
		case ev := <-invalid:
			if ev.State != jobs.StateInvalid || ev.Reason == "" {
				t.Fatalf("invalid report %+v", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no invalid report")
		}
	}
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 3 {
		t.Fatalf("%d good paths landed, want 3", n)
	}
}
