package worker

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// An operator pause holds every batch back (nothing reaches the API, the
// jobs are deferred with the pause's reason); a job cancelled meanwhile is
// never sent, and after the resume the other job goes out.
func TestOperatorPauseAndCancelHoldBatchesBack(t *testing.T) {
	t.Parallel()
	h, events, ctl := pausedWorker(t, PauseState{Reason: "incident 42", By: "operator:test", Since: time.Now()})

	keep := h.publish(refreshJob(urls("static.example.com", 0, 3)...))
	drop := h.publish(refreshJob(urls("static.example.com", 100, 2)...))
	h.waitFor("both jobs deferred by the pause", 20*time.Second, func() bool {
		for _, id := range []string{keep, drop} {
			ev, ok := events.Last(id)
			if !ok || ev.State != jobs.StateDeferred || !strings.Contains(ev.Reason, "incident 42") {
				return false
			}
		}
		return true
	})
	if n := h.emu.Calls(apiclient.CDN().Actions.Refresh); n != 0 {
		t.Fatalf("%d refresh calls during the pause", n)
	}
	if err := ctl.CancelJob(h.ctx, Cancel{JobID: drop, By: "operator:test", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Resume(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the kept job complete and the cancelled one ended", 20*time.Second, func() bool {
		k, ok1 := events.Last(keep)
		d, ok2 := events.Last(drop)
		return ok1 && ok2 && k.State == jobs.StateComplete && d.State == jobs.StateRejected && h.drained()
	})
	sent := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	for _, p := range urls("static.example.com", 100, 2) {
		if slices.Contains(sent, p) {
			t.Errorf("cancelled path %s was sent", p)
		}
	}
	if len(sent) != 3 {
		t.Errorf("sent %d paths, want the kept job's 3", len(sent))
	}
	d, _ := events.Last(drop)
	if len(d.Problems) != 2 || !strings.Contains(d.Problems[0].Reason, "cancelled") {
		t.Errorf("cancelled job's final event problems = %+v", d.Problems)
	}
	// A pause until resumed has no known end: the deferred event says so
	// and shows no time (the 30 s recheck is not the pause's end).
	for _, ev := range events.All(keep) {
		if ev.State == jobs.StateDeferred && (!ev.Until.IsZero() || !strings.Contains(ev.Reason, "until resumed")) {
			t.Errorf("deferred by an open pause: until %s, reason %q", ev.Until, ev.Reason)
		}
	}
}

// pausedWorker is a harness whose operator paused submissions with p and
// a worker that reads the control bucket, stopped when the test ends.
func pausedWorker(t *testing.T, p PauseState) (*harness, *jobstest.Statuses, *Control) {
	t.Helper()
	h := newHarness(t, harnessOpts{})
	events := h.watchStatus()
	ctl, err := OpenControl(h.ctx, h.js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Pause(h.ctx, p); err != nil {
		t.Fatal(err)
	}
	h.runControlledWorker(ctl)
	return h, events, ctl
}

// runControlledWorker runs a worker that reads the operator's control
// bucket ctl, stopped when the test ends.
func (h *harness) runControlledWorker(ctl *Control) {
	h.t.Helper()
	w, err := New(fastConfig(), Deps{JS: h.js, Stream: queue.DefaultStreamName, Subjects: h.subjects, Validator: h.val,
		API: h.client, Gate: h.mirror, Syncer: h.mirror, Store: h.kv, Logger: h.log, Name: "w1",
		Control: NewControlCache(ctl, time.Millisecond)})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

// A pause with an end: the deferred event's until is the pause's end, not
// the recheck within 30 s.
func TestOperatorPauseUntilIsThePausesEnd(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	h, events, _ := pausedWorker(t, PauseState{Reason: "freeze", By: "operator:test", Since: time.Now(), Until: end})
	id := h.publish(refreshJob(urls("static.example.com", 0, 3)...))
	h.waitFor("the job deferred by the pause", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateDeferred
	})
	if ev, _ := events.Last(id); !ev.Until.Equal(end) {
		t.Fatalf("deferred until %s, want the pause's end %s", ev.Until, end)
	}
}

func TestControlPausesListOperatorAndAutomatic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctl, err := OpenControl(h.ctx, h.js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := ctl.Pause(h.ctx, PauseState{Until: now.Add(-time.Second), Reason: "over", By: "operator:a"}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.ReportAuto(h.ctx, "replica-1", &PauseState{Until: now.Add(time.Hour), Reason: "financial lock", By: "replica:replica-1"}); err != nil {
		t.Fatal(err)
	}
	ps, err := ctl.Pauses(h.ctx, now)
	if err != nil || len(ps) != 1 || !ps[0].Automatic || ps[0].Reason != "financial lock" {
		t.Fatalf("Pauses = %+v, %v; want only the automatic one (the operator's ended)", ps, err)
	}
	if err := ctl.ReportAuto(h.ctx, "replica-1", nil); err != nil {
		t.Fatal(err)
	}
	if ps, _ := ctl.Pauses(h.ctx, now); len(ps) != 0 {
		t.Errorf("Pauses after the automatic pause cleared = %+v", ps)
	}
}
