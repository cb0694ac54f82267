package worker

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// A job queued during an operator pause is held in memory, not handed
// back, and goes out as soon as the resume is seen through the watch on
// the pause key: before the time it would otherwise have looked again.
func TestResumeSendsHeldJobsAtOnce(t *testing.T) {
	t.Parallel()
	h, ctl, events, id := heldByPause(t, 3)
	held, _ := events.Last(id)
	if calls := h.emu.Calls(apiclient.CDN().Actions.Refresh); calls != 0 {
		t.Fatalf("%d refresh calls during the pause", calls)
	}

	if err := ctl.Resume(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the job submitted after the resume", time.Minute, func() bool { return events.Has(id, jobs.StateSubmitted) })
	var deferrals int
	var submitted jobs.StatusEvent
	for _, ev := range events.All(id) {
		switch ev.State {
		case jobs.StateDeferred:
			deferrals++
		case jobs.StateSubmitted:
			submitted = ev
		}
	}
	// A pause until resumed has no end to report; the held batch would
	// look again pauseRecheck after it was held.
	nextLook := held.Time.Add(pauseRecheck)
	if deferrals != 1 || !held.Until.IsZero() || !submitted.Time.Before(nextLook) {
		t.Errorf("deferred %d times (until %s); submitted at %s, the held batch's next look was %s: the resume did not wake it",
			deferrals, held.Until.Format(time.RFC3339Nano), submitted.Time.Format(time.RFC3339Nano), nextLook.Format(time.RFC3339Nano))
	}
}

// The batcher logs each batch it forms, with its size, jobs and why it
// was cut.
func TestBatcherLogsBatchFormed(t *testing.T) {
	t.Parallel()
	in := make(chan work)
	logs := &syncLog{}
	bt := newBatcher(batcherParams{linger: time.Hour, limits: Limits{}.WithDefaults(), ledger: newLedger(time.Minute, nil, nil),
		in: in, out: newBatchQueue(), log: slog.New(slog.NewTextHandler(logs, nil))})
	done := make(chan struct{})
	go func() { defer close(done); bt.run() }()
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}
	in <- work{t: &takenJob{job: &jobs.Job{ID: "1"}}, key: k, paths: urls("a.example.com", 0, 1001)}
	close(in)
	<-done
	out := logs.String()
	for _, want := range []string{`msg="batch formed"`, "paths=1000 jobs=1 why=full", "paths=1 jobs=1", `why="intake stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("batcher log lacks %s:\n%s", want, out)
		}
	}
}

// A job cancelled during the pause, right before the resume, is not sent
// when the resume wakes its held batch: the wake reads the cancels anew.
func TestResumeAfterCancelSendsNothingCancelled(t *testing.T) {
	t.Parallel()
	h, ctl, events, id := heldByPause(t, 2)
	if err := ctl.CancelJob(h.ctx, Cancel{JobID: id, By: "operator:t", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Resume(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the cancelled job settled", time.Minute, func() bool {
		return events.Has(id, jobs.StateRejected) || events.Has(id, jobs.StateSubmitted)
	})
	if events.Has(id, jobs.StateSubmitted) || h.emu.Calls(apiclient.CDN().Actions.Refresh) != 0 {
		t.Fatalf("a job cancelled before the resume was sent: %v", events.States(id))
	}
}

// heldByPause runs a worker whose control cache learns of pauses only
// from the pause watch, pauses submissions, and publishes a job of n
// paths, returning once the job is held by the pause.
func heldByPause(t *testing.T, n int) (*harness, *Control, *jobstest.Statuses, string) {
	t.Helper()
	h := newHarness(t, harnessOpts{})
	ctl, err := OpenControl(h.ctx, h.js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewControlCache(ctl, time.Hour) // only the watch can tell of a change
	ctx, cancel := context.WithCancel(h.ctx)
	watched := make(chan struct{})
	go func() { _ = cache.WatchPause(ctx); close(watched) }()
	t.Cleanup(func() { cancel(); <-watched })
	h.control = cache
	events := h.watchStatus()
	if err := ctl.Pause(h.ctx, PauseState{Reason: "incident 7", By: "operator:t", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The watch has delivered the pause once the cache says so.
	h.waitFor("the cache to see the pause", time.Minute, func() bool {
		_, on, _ := cache.OperatorPause(h.ctx, time.Now())
		return on
	})
	cfg := fastConfig()
	cfg.DeferMax = time.Hour // a hand-back would wait long past the test
	h.runWorker(cfg, "w1")
	id := h.publish(refreshJob(urls("static.example.com", 0, n)...))
	h.waitFor("the job held by the pause", time.Minute, func() bool { return events.Has(id, jobs.StateDeferred) })
	return h, ctl, events, id
}
