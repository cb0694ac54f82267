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

// settler is the one step that acknowledges, hands back and terminates
// messages and publishes their jobs' status: the submitter and the
// operation runner give it outcomes, and it records what must survive a
// crash (submissions, progress, job records) before it acts on a message.
type settler struct {
	cfg      Config
	store    *KVStore
	recent   Recent // may be nil
	status   StatusPublisher
	tracker  *Tracker
	pause    *pause
	inflight *inflight
	waiting  *waitingPaths
	pending  *pending
	metrics  *Metrics
	log      *slog.Logger
}

// settle resolves every job of every entry of b with o and finishes the
// jobs that have no path left outstanding. An accepted outcome is first
// recorded: its submission (for the tracker), the recent paths and the
// progress of jobs with more paths to send.
func (s *settler) settle(ctx context.Context, b *batch, o outcome) {
	s.pending.release(b)
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
		if err := s.recent.Remember(ctx, b.Key.String(), b.Paths()); err != nil {
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
	byJob := map[*tracked][]string{}
	var order []*tracked
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
	if s.status != nil {
		s.status.PublishStatus(ev)
	}
}

// finish settles a job whose every path has an outcome: acknowledge it if
// nothing is deferred, otherwise save what was accepted and hand it back
// with a delay.
func (s *settler) finish(ctx context.Context, t *tracked) {
	if !t.settle() {
		return
	}
	defer s.inflight.remove(t)
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
	until, reason := t.deferUntil, t.deferReason
	waitsFor := t.waitsFor
	recorded := t.recorded
	t.mu.Unlock()

	if !until.IsZero() {
		if len(acceptedPaths) > 0 {
			if err := s.store.saveProgress(ctx, j.ID, slices.Concat(t.prior, acceptedPaths)); err != nil {
				log.Warn("could not save job progress; its accepted paths will be sent again",
					slog.String("error", err.Error()))
			}
		}
		// Never longer than DeferMax: a pause lifted or quota found early
		// should not leave jobs waiting for a deadline that no longer holds.
		delay := min(time.Until(until), s.cfg.DeferMax)
		if delay < time.Second {
			delay = time.Second
		}
		if err := t.msg.NakWithDelay(delay); err != nil {
			log.Warn("hand back job", slog.String("error", err.Error()))
		}
		for pool, n := range waitsFor {
			s.waiting.handBack(j.ID, pool, n, now.Add(delay))
		}
		s.metrics.deferred(t.paths - len(acceptedPaths))
		s.publish(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: reason, Until: until,
			Paths: acceptedPaths, TaskIDs: taskIDs, TaskTargets: taskTargets})
		log.Info("job deferred", slog.String("reason", reason), slog.Time("until", until),
			slog.Int("accepted", len(acceptedPaths)), slog.Int("waiting", t.paths-len(acceptedPaths)),
			slog.Any("request_ids", requestIDs))
		return
	}

	// Submitted is published before the job record exists, so that the
	// tracker's final event always comes after it.
	var skippedNote string
	if t.skipped > 0 {
		skippedNote = fmt.Sprintf("%d paths skipped: the API accepted them within the last %s (worker.recent_window)", t.skipped, s.cfg.RecentWindow)
	}
	if t.collapsed != "" {
		skippedNote = strings.TrimPrefix(skippedNote+"; "+t.collapsed, "; ")
	}
	if len(subs) > 0 || len(acceptedPaths) > 0 {
		s.publish(j, jobs.StatusEvent{State: jobs.StateSubmitted, TaskIDs: taskIDs, TaskTargets: taskTargets, Problems: rejectedPaths, Reason: skippedNote})
		log.Info("job submitted", slog.Int("paths", t.paths), slog.Int("tasks", len(taskIDs)),
			slog.Int("rejected", len(rejectedPaths)), slog.Int("skipped_recent", t.skipped), slog.Any("request_ids", requestIDs))
	} else if t.skipped > 0 && len(rejectedPaths) == 0 {
		s.publish(j, jobs.StatusEvent{State: jobs.StateComplete, Reason: skippedNote})
		log.Info("job skipped: every path was refreshed moments ago", slog.Int("skipped_recent", t.skipped))
	}
	if len(rejectedPaths) > 0 && len(subs) == 0 && len(acceptedPaths) == 0 {
		s.publish(j, jobs.StatusEvent{State: jobs.StateRejected, Reason: "the API refused every path: " + rejectedPaths[0].Reason,
			Problems: rejectedPaths})
		log.Warn("job rejected by the API", slog.Int("paths", len(rejectedPaths)),
			slog.String("first_reason", rejectedPaths[0].Reason))
	}
	var rec *jobRecord
	if len(subs) > 0 && !s.cfg.Tracker.Disabled {
		rec = &jobRecord{JobID: j.ID, Kind: j.Kind, Source: j.Source, ReceivedAt: j.ReceivedAt,
			Pending: subs, TaskIDs: taskIDs, TaskTargets: taskTargets, Rejected: rejectedPaths, SubmittedAt: now}
		if err := s.store.putJob(ctx, rec); err != nil {
			// Without the record the job's tasks are still followed, but no
			// final event is published for the job as a whole.
			log.Warn("could not store job record", slog.String("error", err.Error()))
			rec = nil
		}
	}
	if err := t.msg.Ack(); err != nil {
		log.Warn("ack job; it may be redelivered and sent again", slog.String("error", err.Error()))
	}
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

// operationDone settles an operation job by the verdict on its error
// (Decide): acknowledged when it ran, terminated when it can never run as
// configured, handed back otherwise.
func (s *settler) operationDone(t *tracked, err error) {
	defer s.inflight.remove(t)
	j, msg := t.job, t.msg
	log := s.log.With(slog.String("job", j.ID), slog.String("action", j.Operation.Action),
		slog.String("schedule", j.Operation.Schedule))
	now := time.Now()
	if err == nil {
		_ = msg.Ack()
		s.metrics.operation(j.Operation.Action, "ok")
		s.publish(j, jobs.StatusEvent{State: jobs.StateComplete})
		log.Info("operation done")
		return
	}
	switch Decide(err) {
	case Refused, DomainUnknown, Unrecognised:
		// Term without a reason (2.9 servers misread one); the reason is
		// in the rejected event.
		_ = msg.Term()
		s.metrics.operation(j.Operation.Action, "rejected")
		s.publish(j, jobs.StatusEvent{State: jobs.StateRejected, Reason: err.Error()})
		log.Error("operation refused; it will not be retried", slog.String("error", err.Error()))
	case PauseAccount:
		until := now.Add(s.cfg.PauseFor)
		s.pause.set(until, err.Error())
		_ = msg.NakWithDelay(s.cfg.PauseFor)
		s.metrics.operation(j.Operation.Action, "deferred")
		s.publish(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: err.Error(), Until: until})
		log.Error("operation deferred: the account or credentials need attention", slog.String("error", err.Error()))
	default:
		_ = msg.NakWithDelay(s.cfg.RetryDelay)
		s.metrics.operation(j.Operation.Action, "retry")
		s.publish(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: err.Error(), Until: now.Add(s.cfg.RetryDelay)})
		log.Warn("operation failed; retrying later", slog.String("error", err.Error()))
	}
}

// waitOperator hands back an operation job this replica cannot run.
func (s *settler) waitOperator(msg message, j *jobs.Job) {
	s.log.Warn("operation job waits: this replica runs no operator", slog.String("job", j.ID))
	_ = msg.NakWithDelay(s.cfg.RetryDelay)
}

// terminate ends a message that can never succeed; reason goes to the log.
func (s *settler) terminate(msg message, j *jobs.Job, reason string) {
	s.log.Error(reason, slog.String("job", j.ID))
	_ = msg.Term()
}

// handBackUnsent returns the jobs still in flight at shutdown to the
// queue: not submitted, another replica (or this one after a restart)
// gets them again.
func (s *settler) handBackUnsent() int {
	left := s.inflight.snapshot()
	for _, t := range left {
		if t.settle() {
			_ = t.msg.NakWithDelay(time.Second)
			s.inflight.remove(t)
		}
	}
	return len(left)
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
			s.waiting.prune(time.Now())
			for _, tr := range s.inflight.snapshot() {
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
