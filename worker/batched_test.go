package worker

import (
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// A path waiting for quota in a batch is not queued again by a newer job:
// the newer job joins it, and both complete when the one call lands. Once
// that call was sent, the same path is a new refresh.
func TestWorkerCoalescesPathsWaitingForQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{URLQuota: 1000}})
	events := h.watchStatus()
	// Today's URL quota is spent (on another domain, so that
	// example.com's per-minute limit stays free).
	if _, err := h.client.Refresh(h.ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: urls("img.example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}
	if err := h.mirror.SyncNow(h.ctx); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.QuotaHold = time.Hour
	cfg.QuotaPoll = time.Hour
	cfg.Tracker.Disabled = true
	h.metrics = NewMetrics(nil)
	w, _ := h.runWorker(cfg, "w1")
	x := "https://example.com/x.js"
	a := h.publish(refreshJob(x))
	h.waitFor("the first job's batch waiting for quota", 20*time.Second, func() bool {
		return w.waitingInMemory(quota.KindURL) == 1
	})
	b := h.publish(refreshJob(x, "https://example.com/y.js"))
	h.waitFor("the second job's paths pending", 20*time.Second, func() bool {
		return w.ledger.batched.len() == 2
	})
	// Quota appears (a raised limit): the waiting batches go.
	h.emu.SetQuota(cdnemu.Quota{URL: 2000, Dir: 100, Regex: 20, Preload: 1000})
	if err := h.mirror.SyncNow(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("queue drained", 20*time.Second, h.drained)
	count := func(p string) int {
		n := 0
		for _, q := range h.emu.Paths(apiclient.CDN().Actions.Refresh) {
			if q == p {
				n++
			}
		}
		return n
	}
	if n := count(x); n != 1 {
		t.Fatalf("%s sent %d times while pending, want once", x, n)
	}
	for _, id := range []string{a, b} {
		// The status event is published beside the call; the queue may
		// drain before it arrives.
		h.waitFor("job "+id+" submitted", 20*time.Second, func() bool { return events.Has(id, jobs.StateSubmitted) })
	}
	h.publish(refreshJob(x))
	h.waitFor("the path refreshed again", 20*time.Second, func() bool { return count(x) == 2 && h.drained() })
}

// A delivery again of a message whose own call is in flight, or landed,
// is covered by that call however soon after the message was stored it
// was sent: the call was made for it. Another message asked for at the
// same time is not: the clocks of its stored time and of the call's send
// time may differ by coverMargin.
func TestFlightsCoverADeliveryAgainOfTheirOwnMessage(t *testing.T) {
	t.Parallel()
	asked := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	msg := storedMsg{stream: "CDNPURGE", seq: 7}
	job := func(m storedMsg) *takenJob { return &takenJob{asked: asked, msgAt: m} }
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}
	const path = "https://example.com/a.js"
	b := newBatch(k, asked)
	b.add(&entry{path: path, domain: "example.com", jobs: []*takenJob{job(msg)}})
	f := newFlights()
	f.fly(b, asked.Add(coverMargin/2)) // sent within the margin
	for _, tc := range []struct {
		name string
		t    *takenJob
		want joined
	}{
		{"its message delivered again", job(msg), joinedEntry},
		{"another message", job(storedMsg{stream: "CDNPURGE", seq: 8}), notJoined},
		{"a message of another stream", job(storedMsg{stream: "CDNPURGE_HIGH", seq: 7}), notJoined},
		{"no message known", job(storedMsg{}), notJoined},
	} {
		if got := f.attach(k, path, tc.t); got != tc.want {
			t.Errorf("in flight, %s: %v, want %v", tc.name, got, tc.want)
		}
	}
	f.land(b, true)
	if got := f.attach(k, path, job(msg)); got != coveredLanded {
		t.Errorf("landed, its message delivered again: %v, want covered by the landed call", got)
	}
	if got := f.attach(k, path, job(storedMsg{stream: "CDNPURGE", seq: 8})); got != notJoined {
		t.Errorf("landed, another message: %v, want not joined", got)
	}
}
