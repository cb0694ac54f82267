package worker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// The inspector puts each job's state together from the work stream, the
// status events, the cancels and the archive; the archiver keeps failed
// and rejected jobs after their events are gone.
func TestInspectorStatesAndArchive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctl, err := OpenControl(h.ctx, h.js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := OpenArchive(h.ctx, h.js, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	ar := &Archiver{JS: h.js, StatusStream: jobs.DefaultStatusStreamName, Subjects: h.subjects, Archive: arch}
	done := make(chan error, 1)
	go func() { done <- ar.Run(ctx) }()
	defer func() { cancel(); <-done }()

	queued := h.publish(refreshJob(urls("static.example.com", 0, 2)...))
	hot := refreshJob(urls("static.example.com", 30, 1)...)
	hot.Priority = jobs.PriorityHigh
	queuedHigh := h.publish(hot) // in the urgent stream
	waiting := h.publish(refreshJob(urls("static.example.com", 10, 3)...))
	cancelled := h.publish(refreshJob(urls("static.example.com", 20, 1)...))
	now := time.Now().Truncate(time.Second)
	event := func(ev jobs.StatusEvent) {
		t.Helper()
		if ev.Time.IsZero() {
			ev.Time = now
		}
		b, _ := json.Marshal(ev)
		if _, err := h.js.Publish(h.ctx, h.subjects.Status(ev.JobID), b); err != nil {
			t.Fatal(err)
		}
	}
	until := now.Add(3 * time.Hour)
	event(jobs.StatusEvent{JobID: waiting, State: jobs.StateAccepted})
	event(jobs.StatusEvent{JobID: waiting, State: jobs.StateDeferred, Reason: "no url quota left today", Until: until})
	event(jobs.StatusEvent{JobID: "done1", State: jobs.StateSubmitted, TaskIDs: []string{"7"}})
	event(jobs.StatusEvent{JobID: "done1", State: jobs.StateComplete, TaskIDs: []string{"7"}})
	event(jobs.StatusEvent{JobID: "flying", State: jobs.StateSubmitted, TaskIDs: []string{"8"}})
	bad := []jobs.Problem{{Path: "https://static.example.com/x.js", Reason: "InvalidObjectPath.Malformed"}}
	event(jobs.StatusEvent{JobID: "refused", State: jobs.StateRejected, Reason: "the CDN API refused every path", Problems: bad})
	if err := ctl.CancelJob(h.ctx, Cancel{JobID: cancelled, By: "operator:t", At: now}); err != nil {
		t.Fatal(err)
	}

	in := &Inspector{JS: h.js, Stream: jobs.DefaultStreamName, StatusStream: jobs.DefaultStatusStreamName, Subjects: h.subjects,
		Control: ctl, Archive: arch}
	snap, err := in.Jobs(h.ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]JobView{}
	for _, v := range snap.Jobs {
		got[v.ID] = v
	}
	for id, want := range map[string]string{queued: ViewQueued, queuedHigh: ViewQueued, waiting: ViewWaiting, cancelled: ViewCancelled,
		"done1": ViewComplete, "flying": ViewInFlight, "refused": ViewRejected} {
		if got[id].State != want {
			t.Errorf("job %s: state %q, want %q", id, got[id].State, want)
		}
	}
	if v := got[waiting]; !v.Until.Equal(until) || v.NPaths != 3 || v.Source != "test" || len(v.Events) != 2 {
		t.Errorf("waiting job = %+v", v)
	}
	if v := got["done1"]; len(v.TaskIDs) != 1 || v.TaskIDs[0] != "7" {
		t.Errorf("complete job tasks = %v", v.TaskIDs)
	}

	// The archive has the rejected job, and the inspector lists it from
	// there once the status stream has forgotten it.
	h.waitFor("the rejected job archived", 10*time.Second, func() bool {
		all, _ := arch.All(h.ctx)
		return len(all) == 1 && all[0].ID == "refused" && all[0].State == ViewRejected && len(all[0].Problems) == 1
	})
	st, err := h.js.Stream(h.ctx, jobs.DefaultStatusStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(h.ctx); err != nil {
		t.Fatal(err)
	}
	v, ok, err := in.Job(h.ctx, "refused")
	if err != nil || !ok || !v.Archived || v.State != ViewRejected || len(v.Paths) != 1 {
		t.Errorf("archived job = %+v, %v, %v", v, ok, err)
	}
}
