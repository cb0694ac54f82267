package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestCompleterAppliesEachFateOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		f          fate
		wantDid    []string
		wantStatus int // events on the status subject
		wantReport int // events reported as invalid
	}{
		{"a finished job is acked after its event", fate{do: ackMsg, event: jobs.StatusEvent{JobID: "j", State: jobs.StateSubmitted}},
			[]string{"ack"}, 1, 0},
		{"a handed-back job is redelivered after its delay", fate{do: retryMsg, delay: 30 * time.Second, event: jobs.StatusEvent{JobID: "j", State: jobs.StateDeferred}},
			[]string{"nak 30s"}, 1, 0},
		{"a refused message is terminated and reported as invalid", fate{do: termMsg, invalid: true, event: jobs.StatusEvent{JobID: "j", State: jobs.StateInvalid}},
			[]string{"term"}, 0, 1},
		{"a fate without an event publishes nothing", fate{do: retryMsg, delay: time.Second},
			[]string{"nak 1s"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStatus{}
			var reported []jobs.StatusEvent
			c := &completer{status: st, log: quietLog(),
				report: func(_ context.Context, ev jobs.StatusEvent) { reported = append(reported, ev) }}
			msg := &fakeMsg{}
			c.apply(context.Background(), msg, tc.f)
			if got := msg.actions(); !slices.Equal(got, tc.wantDid) {
				t.Errorf("message actions = %q, want %q", got, tc.wantDid)
			}
			if len(st.events) != tc.wantStatus || len(reported) != tc.wantReport {
				t.Errorf("status events %d, invalid reports %d; want %d, %d", len(st.events), len(reported), tc.wantStatus, tc.wantReport)
			}
		})
	}
}

// The job record is stored after the event (the tracker's final event
// must come after "submitted") and before the ack (a crash after the ack
// must not lose the follow-up).
func TestCompleterKeepsRecordsBetweenEventAndAck(t *testing.T) {
	t.Parallel()
	st := &fakeStatus{}
	msg := &fakeMsg{}
	eventsAtKeep, actionsAtKeep := -1, -1
	c := &completer{status: st, log: quietLog()}
	c.apply(context.Background(), msg, fate{do: ackMsg, event: jobs.StatusEvent{JobID: "j", State: jobs.StateSubmitted},
		keep: func() { eventsAtKeep, actionsAtKeep = len(st.events), len(msg.actions()) }})
	if eventsAtKeep != 1 || actionsAtKeep != 0 {
		t.Errorf("keep ran after %d events and %d message actions, want after 1 and before any", eventsAtKeep, actionsAtKeep)
	}
	if got := msg.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("message actions = %q, want one ack", got)
	}
}

func TestOperationFate(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	j := &jobs.Job{ID: "op1", Kind: jobs.KindOperation, Operation: &jobs.OperationSpec{Action: "ModifyCdnService", Schedule: "nightly"}}
	for _, tc := range []struct {
		name      string
		err       error
		do        fateAction
		state     jobs.State
		result    string
		wantPause bool
	}{
		{"it ran: acked and complete", nil, ackMsg, jobs.StateComplete, "ok", false},
		{"bad input: terminated, never retried", apiErr(400, "InvalidParameter"), termMsg, jobs.StateRejected, "rejected", false},
		{"an unknown error: terminated, a change is never retried blind", errors.New("boom"), termMsg, jobs.StateRejected, "rejected", false},
		{"an account error pauses and retries after the pause", apiErr(400, "InsufficientBalance"), retryMsg, jobs.StateDeferred, "deferred", true},
		{"the API is down: retried after retry_delay", apiErr(503, "ServiceUnavailable"), retryMsg, jobs.StateDeferred, "retry", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, result, pause := operationFate(j, tc.err, cfg, now)
			if f.do != tc.do || f.event.State != tc.state || result != tc.result || pause.IsZero() == tc.wantPause {
				t.Errorf("fate %s %s %q pause %v; want %s %s %q pause %v", f.do, f.event.State, result, !pause.IsZero(),
					tc.do, tc.state, tc.result, tc.wantPause)
			}
			if f.event.JobID != j.ID {
				t.Errorf("event for job %q, want %q", f.event.JobID, j.ID)
			}
		})
	}
}

func TestDecideCall(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	now := time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		name           string
		err            error
		paths, domains int
		stopping       bool
		split          splitHow
		kind           outcomeKind
		until          time.Time
		pause, resync  bool
	}{
		{"per-minute limit, window unknown: wait a whole 60 s window", apiErr(429, "QuotaPerMinuteExceeded.Domain"), 3, 1, false, noSplit, deferred, now.Add(time.Minute + time.Second), false, false},
		{"per-minute limit: wait until the domain's window has room", &apiclient.DomainWindowError{Err: apiErr(400, "QuotaPerMinuteExceeded.Refresh"), Until: now.Add(17 * time.Second)}, 3, 1, false, noSplit, deferred, now.Add(17 * time.Second), false, false},
		{"quota spent: re-sync and hand back", apiErr(400, "QuotaExceeded.Refresh"), 3, 1, false, noSplit, deferred, now.Add(cfg.RetryDelay), false, true},
		{"a stopped domain among others: split by domain", apiErr(400, "InvalidDomain.Offline"), 3, 2, false, splitByDomain, 0, time.Time{}, false, false},
		{"a stopped domain alone: waits its backoff", apiErr(400, "InvalidDomain.Offline"), 3, 1, false, noSplit, deferred, now.Add(7 * time.Second), false, false},
		{"an unknown domain among others: split by domain", apiErr(404, "InvalidDomain.NotFound"), 3, 2, false, splitByDomain, 0, time.Time{}, false, false},
		{"an unknown domain alone: rejected", apiErr(404, "InvalidDomain.NotFound"), 3, 1, false, noSplit, rejected, time.Time{}, false, false},
		{"a refused batch: split in halves", apiErr(400, "InvalidObjectPath.Malformed"), 3, 1, false, splitHalves, 0, time.Time{}, false, false},
		{"a refused path alone: rejected", apiErr(400, "InvalidObjectPath.Malformed"), 1, 1, false, noSplit, rejected, time.Time{}, false, false},
		{"an account error: pause and hand back until it ends", apiErr(403, "InvalidAccessKeyId.NotFound"), 3, 1, false, noSplit, deferred, now.Add(cfg.PauseFor), true, false},
		{"the API is down: hand back after retry_delay", apiErr(500, "InternalError"), 3, 1, false, noSplit, deferred, now.Add(cfg.RetryDelay), false, false},
		{"stopping: hand back at once", &apiclient.NetworkError{Action: "RefreshObjectCaches", Err: context.Canceled}, 3, 1, true, noSplit, deferred, now.Add(time.Second), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := decideCall(failedCall{err: tc.err, product: apiclient.ProductCDN, paths: tc.paths, domains: tc.domains,
				domain: "a.example.com", path: "http://a.example.com/x", now: now, stopping: tc.stopping, cfg: cfg,
				domainDelay: func(string) time.Duration { return 7 * time.Second }})
			if f.split != tc.split || f.resync != tc.resync || f.pauseUntil.IsZero() == tc.pause {
				t.Fatalf("split %d resync %v pause %v; want %d %v %v", f.split, f.resync, !f.pauseUntil.IsZero(), tc.split, tc.resync, tc.pause)
			}
			if tc.split != noSplit {
				return
			}
			// A wait whose end nobody knows (an API down, a stopped
			// domain) reports no until, only when it is rechecked.
			got := f.outcome.until
			if v := Decide(tc.err); (v == RetryLater || v == DomainStopped) && !tc.stopping {
				if !got.IsZero() || !strings.Contains(f.outcome.reason, "rechecked in") {
					t.Errorf("%s: until %s, reason %q: want no until and the recheck named", v, got, f.outcome.reason)
				}
				got = f.outcome.recheck
			}
			if f.outcome.kind != tc.kind || !got.Equal(tc.until) || f.outcome.reason == "" {
				t.Errorf("outcome %d until %s reason %q; want %d until %s and a reason", f.outcome.kind, got, f.outcome.reason, tc.kind, tc.until)
			}
		})
	}
}
