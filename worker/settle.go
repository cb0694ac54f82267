package worker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// settler is the settle step: the submitter and the operation runner give
// it outcomes; it records what must survive a crash (submissions,
// progress, job records), decides each finished job's fate and has the
// completer (completer.go) act on its message.
type settler struct {
	settleParams
}

// settleParams are the settle step's dependencies.
type settleParams struct {
	cfg      Config
	store    *KVStore
	recent   Recent // may be nil
	status   StatusPublisher
	ledger   *ledger
	complete *completer
	// tracker is the next stage: it collects the record of a job whose
	// tasks may have finished before the record existed.
	tracker *Tracker
	metrics *Metrics
	log     *slog.Logger
	// history, if not nil, keeps the record of each job taken (history.go).
	history JobRecorder
	// now is the worker's clock (Deps.Now): a handed-back job's wake time
	// (its outcome's recheck or until) is on it, and so is the time its
	// redelivery delay is counted from.
	now func() time.Time
}

func newSettler(p settleParams) *settler { return &settler{settleParams: p} }

// clock reads the worker's clock.
func (s *settler) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// settleBatch resolves every job of every entry of b with o and finishes the
// jobs that have no path left outstanding. An accepted outcome is first
// recorded: its submission (for the tracker), the recent paths and the
// progress of jobs with more paths to send.
func (s *settler) settleBatch(ctx context.Context, b *batch, o outcome) {
	s.ledger.sent(b)
	s.ledger.landed(b, o)
	if o.kind == accepted {
		o.sub = s.recordAccepted(ctx, b, o)
		if b.Key.product() != apiclient.ProductCDN {
			o.target = string(b.Key.product())
		}
	}
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if t != nil && t.resolve(e.path, o) {
				s.finish(ctx, t)
			}
		}
	}
}

// covered settles path of t as covered by a call that landed after t
// asked for it: skipped like a recent path, no call and no quota.
func (s *settler) covered(ctx context.Context, t *takenJob, path string) {
	t.mu.Lock()
	t.skipped++
	t.mu.Unlock()
	if t.resolve(path, outcome{kind: covered}) {
		s.finish(ctx, t)
	}
}

// recordAccepted stores the submission of an accepted call and returns its
// ID; it is stored before any of its jobs is acknowledged, because a crash
// after the ack must not lose the follow-up.
func (s *settler) recordAccepted(ctx context.Context, b *batch, o outcome) string {
	now := time.Now()
	sub := &submission{ID: jobs.NewID(), Action: b.Key.Action, RequestID: o.reqID, TaskIDs: o.tasks,
		Paths: b.Len(), SubmittedAt: now, NextPoll: now.Add(s.cfg.Tracker.FirstPoll)}
	if b.Key.product() != apiclient.ProductCDN {
		sub.Target = b.Key.product()
	}
	if b.Key.Action == ActionRefresh {
		sub.ObjectType = string(b.Key.ObjectType)
	}
	seen := map[string]bool{}
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if t != nil && !seen[t.job.ID] {
				seen[t.job.ID] = true
				sub.Jobs = append(sub.Jobs, t.job.ID)
			}
		}
	}
	if !s.cfg.Tracker.Disabled && len(o.tasks) > 0 {
		if err := s.store.putSubmission(ctx, sub); err != nil {
			s.log.Warn("could not store submission; its tasks will not be followed up",
				slog.String("request_id", o.reqID), slog.String("error", err.Error()))
		}
	}
	if s.recent != nil && s.cfg.RecentWindow > 0 {
		var err error
		if c, ok := s.recent.(claimer); ok {
			// With the call's tasks, for the copies another replica holds
			// (claims.go).
			err = c.RememberTasks(ctx, b.Key.String(), b.Paths(), b.sentAt, o.tasks)
		} else {
			err = s.recent.Remember(ctx, b.Key.String(), b.Paths(), b.sentAt)
		}
		if err != nil {
			s.log.Warn("remember recent paths", slog.String("error", err.Error()))
		}
	}
	s.recordProgress(ctx, b, sub.ID)
	return sub.ID
}

// recordProgress stores, for each job of b with paths still to send, the
// paths this call accepted, before the job is settled and so before its
// next call: a job redelivered after a crash sends only what no call
// took. A job this call finishes needs no record: it is acknowledged next.
func (s *settler) recordProgress(ctx context.Context, b *batch, callID string) {
	byJob := map[*takenJob][]string{}
	var order []*takenJob
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if t == nil {
				continue
			}
			if _, ok := byJob[t]; !ok {
				order = append(order, t)
			}
			byJob[t] = append(byJob[t], e.path)
		}
	}
	for _, t := range order {
		paths := byJob[t]
		t.mu.Lock()
		more := t.outstanding > len(paths)
		if more {
			t.recorded = true
		}
		t.mu.Unlock()
		if !more {
			continue
		}
		if err := s.store.addProgress(ctx, t.job.ID, callID, paths); err != nil {
			s.log.Warn("could not record job progress; after a crash its accepted paths may be sent again",
				slog.String("job", t.job.ID), slog.String("error", err.Error()))
		}
	}
}

// publish sends ev for job j.
func (s *settler) publish(j *jobs.Job, ev jobs.StatusEvent) {
	ev.JobID = j.ID
	if ev.State == jobs.StateAccepted && s.history != nil {
		s.history.Record(j)
	}
	if s.status != nil {
		s.status.PublishStatus(ev)
	}
}

// heldByPause publishes a deferred event for each job of b, which an
// operator pause holds in memory: jobs list and the console show why it
// waits. until is when the batch looks again at the latest; a resume
// sends it before.
func (s *settler) heldByPause(b *batch, until time.Time, reason string) {
	seen := map[string]bool{}
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if t == nil || seen[t.job.ID] {
				continue
			}
			seen[t.job.ID] = true
			s.publish(t.job, jobs.StatusEvent{State: jobs.StateDeferred, Reason: reason, Until: until})
		}
	}
	s.log.Info("batch held by the operator pause until a resume", slog.String("group", b.Key.String()),
		slog.Int("paths", b.Len()), slog.Int("jobs", len(seen)), slog.String("reason", reason))
}

// finish settles a job whose every path has an outcome: acknowledge it if
// nothing is deferred, otherwise save what was accepted and hand it back
// with a delay.
func (s *settler) finish(ctx context.Context, t *takenJob) {
	if !t.settle() {
		return
	}
	defer s.ledger.settled(t)
	j := t.job
	log := s.log.With(slog.String("job", j.ID))
	now := time.Now()
	t.mu.Lock()
	acceptedPaths := append([]string(nil), t.accepted...)
	subs := append([]string(nil), t.subs...)
	requestIDs := append([]string(nil), t.requestIDs...)
	taskIDs := append([]string(nil), t.taskIDs...)
	taskTargets := maps.Clone(t.taskTargets)
	rejectedPaths := append([]jobs.Problem(nil), t.rejected...)
	deferred, until, recheck, reason := t.deferred, t.deferUntil, t.deferRecheck, t.deferReason
	waitsFor := t.waitsFor
	recorded := t.recorded
	t.mu.Unlock()

	if deferred {
		if len(acceptedPaths) > 0 {
			if err := s.store.saveProgress(ctx, j.ID, slices.Concat(t.prior, acceptedPaths)); err != nil {
				log.Warn("could not save job progress; its accepted paths will be sent again",
					slog.String("error", err.Error()))
			}
		}
		// Handed back until the recheck, never longer than DeferMax: a
		// pause lifted or quota found early should not leave jobs waiting
		// for a deadline that no longer holds. The event says when the
		// reason ends (until), the log names the recheck as such.
		// The wake time is on the worker's clock, and so is the delay
		// JetStream is given: the time from that clock's now to it.
		wake := recheck
		if wake.IsZero() {
			wake = until
		}
		at := s.clock()
		delay := min(wake.Sub(at), s.cfg.DeferMax)
		if delay < time.Second {
			delay = time.Second
		}
		rank := j.Priority.Rank()
		if rank < 0 {
			rank = rankOf(GroupKey{})
		}
		for pool, n := range waitsFor {
			s.ledger.handedBack(j.ID, pool, n, now.Add(delay), rank, until)
		}
		s.metrics.deferred(t.paths - len(acceptedPaths))
		s.complete.apply(ctx, t.msg, fate{do: retryMsg, delay: delay,
			event: jobs.StatusEvent{JobID: j.ID, State: jobs.StateDeferred, Reason: reason, Until: until,
				Paths: acceptedPaths, TaskIDs: taskIDs, TaskTargets: taskTargets},
			note: "job deferred", level: slog.LevelInfo, attrs: []any{slog.String("job", j.ID), slog.String("reason", reason), slog.Time("until", until),
				slog.Time("recheck_at", at.Add(delay)),
				slog.Int("accepted", len(acceptedPaths)), slog.Int("waiting", t.paths-len(acceptedPaths)),
				slog.Any("request_ids", requestIDs)}})
		return
	}

	// Submitted is published before the job record exists, so that the
	// tracker's final event always comes after it.
	f := fate{do: ackMsg, attrs: []any{slog.String("job", j.ID)}}
	var skippedNote string
	if t.skipped > 0 {
		skippedNote = fmt.Sprintf("%d paths skipped: a call the API accepted, sent after the job asked for them, refreshed them (worker.recent_window %s)", t.skipped, s.cfg.RecentWindow)
		if len(t.coverTasks) > 0 {
			skippedNote += "; covering tasks " + strings.Join(t.coverTasks, ",")
		}
	}
	if t.collapsed != "" {
		skippedNote = strings.TrimPrefix(skippedNote+"; "+t.collapsed, "; ")
	}
	switch {
	case len(subs) > 0 || len(acceptedPaths) > 0:
		f.event = jobs.StatusEvent{JobID: j.ID, State: jobs.StateSubmitted, TaskIDs: taskIDs, TaskTargets: taskTargets, Problems: rejectedPaths, Reason: skippedNote}
		f.note, f.level = "job submitted", slog.LevelInfo
		f.attrs = append(f.attrs, slog.Int("paths", t.paths), slog.Int("tasks", len(taskIDs)),
			slog.Int("rejected", len(rejectedPaths)), slog.Int("skipped_recent", t.skipped), slog.Any("request_ids", requestIDs))
	case len(rejectedPaths) > 0:
		f.event = jobs.StatusEvent{JobID: j.ID, State: jobs.StateRejected, Reason: "the API refused every path: " + rejectedPaths[0].Reason,
			Problems: rejectedPaths}
		f.note, f.level = "job rejected by the API", slog.LevelWarn
		f.attrs = append(f.attrs, slog.Int("paths", len(rejectedPaths)), slog.String("first_reason", rejectedPaths[0].Reason))
	case t.skipped > 0:
		f.event = jobs.StatusEvent{JobID: j.ID, State: jobs.StateComplete, Reason: skippedNote, TaskIDs: t.coverTasks}
		f.note, f.level = "job skipped: every path was refreshed moments ago", slog.LevelInfo
		f.attrs = append(f.attrs, slog.Int("skipped_recent", t.skipped))
	}
	var rec *jobRecord
	if len(subs) > 0 && !s.cfg.Tracker.Disabled {
		f.keep = func() {
			rec = &jobRecord{JobID: j.ID, Kind: j.Kind, Source: j.Source, ReceivedAt: j.ReceivedAt,
				Pending: subs, TaskIDs: taskIDs, TaskTargets: taskTargets, Rejected: rejectedPaths, SubmittedAt: now}
			if err := s.store.putJob(ctx, rec); err != nil {
				// Without the record the job's tasks are still followed, but no
				// final event is published for the job as a whole.
				log.Warn("could not store job record", slog.String("error", err.Error()))
				rec = nil
			}
		}
	}
	s.complete.apply(ctx, t.msg, f)
	if t.redelivered || recorded {
		_ = s.store.deleteProgress(ctx, j.ID)
	}
	if rec != nil && now.Sub(t.received) >= s.cfg.Tracker.FirstPoll/2 {
		// The job took long enough that the follow-up of its first
		// submissions may have ended before its record existed.
		s.tracker.collect(ctx, rec)
	}
	s.metrics.jobDone(j, now.Sub(t.received))
}

// operationDone settles an operation job by its fate (operationFate).
func (s *settler) operationDone(ctx context.Context, t *takenJob, err error) {
	defer s.ledger.settled(t)
	f, result, pauseUntil := operationFate(t.job, err, s.cfg, s.clock())
	if !pauseUntil.IsZero() {
		s.ledger.pauseUntil(pauseUntil, err.Error())
	}
	s.metrics.operation(t.job.Operation.Action, result)
	s.complete.apply(ctx, t.msg, f)
}

// waitOperator hands back an operation job this replica cannot run.
func (s *settler) waitOperator(ctx context.Context, msg message, j *jobs.Job) {
	s.complete.apply(ctx, msg, fate{do: retryMsg, delay: s.cfg.RetryDelay,
		note: "operation job waits: this replica runs no operator", level: slog.LevelWarn, attrs: []any{slog.String("job", j.ID)}})
}

// terminate ends a message that can never succeed; reason goes to the log.
func (s *settler) terminate(ctx context.Context, msg message, j *jobs.Job, reason string) {
	s.complete.apply(ctx, msg, fate{do: termMsg, note: reason, level: slog.LevelError, attrs: []any{slog.String("job", j.ID)}})
}

// handBackUnsent returns the jobs still in flight at shutdown to the
// queue: not submitted, another replica (or this one after a restart)
// gets them again.
func (s *settler) handBackUnsent() int {
	left := s.ledger.unsettled()
	for _, t := range left {
		if t.settle() {
			s.complete.apply(context.Background(), t.msg, fate{do: retryMsg, delay: time.Second})
			s.ledger.settled(t)
		}
	}
	return len(left)
}

// handBackUntaken returns to the queue a job the intake was taking when
// the worker began to stop: its paths were never passed on, and the
// check of what was sent moments ago may not have run, so the next worker
// takes it whole rather than this one sending paths a call covers.
func (s *settler) handBackUntaken(msg message, j *jobs.Job) {
	s.complete.apply(context.Background(), msg, fate{do: retryMsg, delay: time.Second,
		note: "job handed back: the worker stopped while taking it", level: slog.LevelInfo, attrs: []any{slog.String("job", j.ID)}})
}

// heartbeat extends the ack deadline of every unsettled message, so that a
// batch waiting for quota or a slow call is not redelivered meanwhile.
func (s *settler) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.ledger.prune(time.Now())
			for _, tr := range s.ledger.unsettled() {
				tr.mu.Lock()
				settled := tr.settled
				tr.mu.Unlock()
				if !settled {
					_ = tr.msg.InProgress()
				}
			}
		}
	}
}
