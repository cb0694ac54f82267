package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// A deferred job is reported with the time it waits for and is not
// counted done; a complete one is.
func TestQueuedEventDeferredIsNotDone(t *testing.T) {
	t.Parallel()
	var sum summary
	var out bytes.Buffer
	until := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	ended, done := sum.queuedEvent(jobs.StatusEvent{JobID: "j1", State: jobs.StateDeferred, Until: until,
		Reason: "no url quota left today"}, 7, &out, true)
	if !ended || done {
		t.Fatalf("deferred: ended %v done %v, want ended and not done", ended, done)
	}
	if want := "job j1 deferred until 2026-12-02T16:00:00Z: no url quota left today"; !strings.Contains(out.String(), want) {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	if sum.Waiting != 7 || !sum.WaitingUntil.Equal(until) || sum.Completed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if ended, done := sum.queuedEvent(jobs.StatusEvent{JobID: "j2", State: jobs.StateComplete}, 1, &out, true); !ended || !done || sum.Completed != 1 {
		t.Fatalf("complete: ended %v done %v, summary %+v", ended, done, sum)
	}
	if ended, _ := sum.queuedEvent(jobs.StatusEvent{JobID: "j3", State: jobs.StateAccepted}, 1, &out, true); ended {
		t.Fatal("accepted ended the wait")
	}
}
