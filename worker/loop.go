package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// batch is the batcher goroutine: it groups incoming paths and sends each
// batch to the submitters when it is full or has lingered long enough.
func (w *Worker) batch() {
	g := newGrouper(w.cfg.Limits)
	g.added = w.pending.add
	tick := w.cfg.Linger / 4
	if tick < 5*time.Millisecond {
		tick = 5 * time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	send := func(bs []*Batch) {
		for _, b := range bs {
			w.m.batchFlushed(b)
			w.batches.push(b)
		}
	}
	for {
		select {
		case in, ok := <-w.incoming:
			if !ok {
				send(g.all())
				w.batches.close()
				return
			}
			now := time.Now()
			for _, p := range in.paths {
				if w.pending.attach(in.key, p, in.t) {
					// Pending in the pool, a full batch or a batch
					// waiting for quota: the job joins that entry.
					w.m.duplicate()
					continue
				}
				full, _ := g.add(in.key, p, in.t, now)
				send(full)
			}
		case <-ticker.C:
			send(g.due(time.Now().Add(-w.cfg.Linger)))
		}
	}
}

// heartbeat extends the ack deadline of every unsettled message, so that a
// batch waiting for quota or a slow call is not redelivered meanwhile.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.waiting.prune(time.Now())
			for _, tr := range w.fl.snapshot() {
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

// settleEntries resolves every job of every entry of b with o, and finishes
// the jobs that have no path left outstanding.
func (w *Worker) settleEntries(ctx context.Context, b *Batch, o outcome) {
	w.pending.release(b)
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if t.resolve(e.path, o) {
				w.finish(ctx, t)
			}
		}
	}
}

// finish settles a job whose every path has an outcome: acknowledge it if
// nothing is deferred, otherwise save what was accepted and hand it back
// with a delay.
func (w *Worker) finish(ctx context.Context, t *tracked) {
	if !t.settle() {
		return
	}
	defer w.fl.remove(t)
	j := t.job
	log := w.log.With(slog.String("job", j.ID))
	now := time.Now()
	t.mu.Lock()
	acceptedPaths := append([]string(nil), t.accepted...)
	subs := append([]string(nil), t.subs...)
	requestIDs := append([]string(nil), t.requestIDs...)
	taskIDs := append([]string(nil), t.taskIDs...)
	rejectedPaths := append([]jobs.Problem(nil), t.rejected...)
	until, reason := t.deferUntil, t.deferReason
	waitsFor := t.waitsFor
	recorded := t.recorded
	t.mu.Unlock()

	if !until.IsZero() {
		if len(acceptedPaths) > 0 {
			if err := w.d.Store.SaveProgress(ctx, j.ID, slices.Concat(t.prior, acceptedPaths)); err != nil {
				log.Warn("could not save job progress; its accepted paths will be sent again",
					slog.String("error", err.Error()))
			}
		}
		// Never longer than DeferMax: a pause lifted or quota found early
		// should not leave jobs waiting for a deadline that no longer holds.
		delay := min(time.Until(until), w.cfg.DeferMax)
		if delay < time.Second {
			delay = time.Second
		}
		if err := t.msg.NakWithDelay(delay); err != nil {
			log.Warn("hand back job", slog.String("error", err.Error()))
		}
		for kind, n := range waitsFor {
			// One job waits for one kind: its paths share a group.
			w.waiting.handBack(j.ID, kind, n, now.Add(delay))
		}
		w.m.deferred(t.paths - len(acceptedPaths))
		w.publishStatus(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: reason, Until: until,
			Paths: acceptedPaths, TaskIDs: taskIDs})
		log.Info("job deferred", slog.String("reason", reason), slog.Time("until", until),
			slog.Int("accepted", len(acceptedPaths)), slog.Int("waiting", t.paths-len(acceptedPaths)),
			slog.Any("request_ids", requestIDs))
		return
	}

	// Submitted is published before the job record exists, so that the
	// tracker's final event always comes after it.
	var skippedNote string
	if t.skipped > 0 {
		skippedNote = fmt.Sprintf("%d paths skipped: the API accepted them within the last %s (worker.recent_window)", t.skipped, w.cfg.RecentWindow)
	}
	if t.collapsed != "" {
		skippedNote = strings.TrimPrefix(skippedNote+"; "+t.collapsed, "; ")
	}
	if len(subs) > 0 || len(acceptedPaths) > 0 {
		w.publishStatus(j, jobs.StatusEvent{State: jobs.StateSubmitted, TaskIDs: taskIDs, Problems: rejectedPaths, Reason: skippedNote})
		log.Info("job submitted", slog.Int("paths", t.paths), slog.Int("tasks", len(taskIDs)),
			slog.Int("rejected", len(rejectedPaths)), slog.Int("skipped_recent", t.skipped), slog.Any("request_ids", requestIDs))
	} else if t.skipped > 0 && len(rejectedPaths) == 0 {
		w.publishStatus(j, jobs.StatusEvent{State: jobs.StateComplete, Reason: skippedNote})
		log.Info("job skipped: every path was refreshed moments ago", slog.Int("skipped_recent", t.skipped))
	}
	if len(rejectedPaths) > 0 && len(subs) == 0 && len(acceptedPaths) == 0 {
		w.publishStatus(j, jobs.StatusEvent{State: jobs.StateRejected, Reason: "the CDN API refused every path: " + rejectedPaths[0].Reason,
			Problems: rejectedPaths})
		log.Warn("job rejected by the CDN API", slog.Int("paths", len(rejectedPaths)),
			slog.String("first_reason", rejectedPaths[0].Reason))
	}
	var rec *JobRecord
	if len(subs) > 0 && !w.cfg.Tracker.Disabled {
		rec = &JobRecord{JobID: j.ID, Kind: j.Kind, Source: j.Source, ReceivedAt: j.ReceivedAt,
			Pending: subs, TaskIDs: taskIDs, Rejected: rejectedPaths, SubmittedAt: now}
		if err := w.d.Store.PutJob(ctx, rec); err != nil {
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
		_ = w.d.Store.DeleteProgress(ctx, j.ID)
	}
	if rec != nil && now.Sub(t.received) >= w.cfg.Tracker.FirstPoll/2 {
		// The job took long enough that the follow-up of its first
		// submissions may have ended before its record existed.
		w.collectDone(ctx, rec)
	}
	w.m.jobDone(j, now.Sub(t.received))
}

// collectDone applies the submissions of rec whose follow-up already ended.
func (w *Worker) collectDone(ctx context.Context, rec *JobRecord) {
	for _, id := range rec.Pending {
		sub, ok, err := w.d.Store.GetSubmissionDone(ctx, id)
		if err != nil || !ok {
			continue
		}
		if _, err := w.applyDone(ctx, rec.JobID, sub); err != nil {
			w.log.Warn("update job record", slog.String("job", rec.JobID), slog.String("error", err.Error()))
		}
	}
}

// publishStatus publishes ev for job j on its status subject.
func (w *Worker) publishStatus(j *jobs.Job, ev jobs.StatusEvent) {
	ev.JobID = j.ID
	if ev.Time.IsZero() {
		ev.Time = w.now()
	}
	if !jobs.ValidToken(j.ID) {
		return
	}
	w.publish(w.d.Subjects.Status(j.ID), ev)
}

func (w *Worker) publish(subject string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := w.d.JS.Conn().Publish(subject, b); err != nil {
		w.log.Debug("publish status event", slog.String("subject", subject), slog.String("error", err.Error()))
	}
}

// pause holds the time until which submissions are stopped, and tells
// changed (the paused metric) when it starts and when it is over.
type pause struct {
	mu      sync.Mutex
	until   time.Time
	reason  string
	on      bool
	changed func(on bool)
}

func (p *pause) set(until time.Time, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.until) {
		p.until, p.reason = until, reason
	}
	p.note(time.Now())
}

func (p *pause) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.until, p.reason = time.Time{}, ""
	p.note(time.Now())
}

func (p *pause) get() (time.Time, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.note(time.Now())
	return p.until, p.reason
}

// note reports a change of state; callers hold p.mu.
func (p *pause) note(now time.Time) {
	on := now.Before(p.until)
	if on != p.on {
		p.on = on
		if p.changed != nil {
			p.changed(on)
		}
	}
}
