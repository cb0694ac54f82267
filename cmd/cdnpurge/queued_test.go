package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// An --idempotency-key is bound to the paths it first queued: the same
// paths again queue nothing new, other paths are refused with the earlier
// job named.
func TestQueuedIdempotencyKeyIsBoundToPaths(t *testing.T) {
	t.Parallel()
	_, js, _, env := cliNATS(t)

	code, out, errOut := runCLIWith(t, env, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/a.js")
	if code != 0 || !strings.Contains(out, "queued job") {
		t.Fatalf("first: exit %d\n%s\n%s", code, out, errOut)
	}
	first := strings.Fields(out)[2]
	code, out, errOut = runCLIWith(t, env, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/a.js")
	if code != 0 || !strings.Contains(out, first) || !strings.Contains(out, "already queued") {
		t.Fatalf("same paths again: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLIWith(t, env, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/b.js")
	if code == 0 || !strings.Contains(errOut, "idempotency-key") || !strings.Contains(errOut, first) {
		t.Fatalf("other paths: exit %d\n%s\n%s", code, out, errOut)
	}
	st, _ := js.Stream(t.Context(), queue.DefaultStreamName)
	if info, _ := st.Info(t.Context()); info.State.Msgs != 1 {
		t.Fatalf("stream holds %d jobs, want 1", info.State.Msgs)
	}
}

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
