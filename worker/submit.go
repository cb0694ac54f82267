package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// quotaKind is the quota a batch spends.
func quotaKind(k GroupKey) quota.Kind {
	if k.Action == ActionPush {
		return quota.KindForPush()
	}
	return quota.KindForRefresh(k.ObjectType)
}

// submit gates b on the quota and sends it, in parts if only part of it is
// granted. Whatever cannot be sent is handed back, never dropped.
func (w *Worker) submit(ctx context.Context, b *Batch) {
	kind := quotaKind(b.Key)
	var waitStart time.Time
	held := 0 // paths of b counted as waiting in memory
	place := w.line.ticket(kind, b.rank())
	defer func() {
		w.waiting.hold(kind, held, 0)
		w.line.leave(place)
	}()
	for b.Len() > 0 {
		if w.holdBack(ctx, b) {
			return
		}
		now := time.Now()
		if until, reason := w.pz.get(); now.Before(until) {
			w.handBack(ctx, b, until, "submissions paused: "+reason)
			return
		}
		if waitStart.IsZero() {
			waitStart = now
		}
		// Taken before asking, so that a sync finishing meanwhile still
		// wakes the wait below.
		wake, moved := w.synced(), w.line.changes()
		var res quota.Reservation
		var err error
		myTurn := w.line.turn(place)
		if myTurn {
			res, err = w.d.Gate.Reserve(ctx, kind, int64(b.Len()))
		}
		if err == nil && res.Granted > 0 {
			waitStart = time.Time{}
			held = w.waiting.hold(kind, held, 0)
			w.line.leave(place)
			part := b
			if int(res.Granted) < b.Len() {
				part = b.take(int(res.Granted))
			} else {
				b = newBatch(b.Key, b.opened)
			}
			w.send(ctx, part, res)
			continue
		}
		if err == nil && res.ID != "" {
			_ = w.d.Gate.Refund(ctx, res)
		}
		if myTurn && err == nil && w.resyncWhenSpent(ctx) {
			// The mirror was just re-read: ask again before waiting, so
			// that quota the sync found is used now, not after a hand-back.
			continue
		}
		reason := fmt.Sprintf("no %s quota left today", kind)
		until := now.Add(w.untilReset())
		if err != nil {
			reason = "quota mirror: " + err.Error()
			until = now.Add(w.cfg.RetryDelay)
		}
		held = w.waiting.hold(kind, held, b.Len())
		w.line.wait(place)
		select {
		case <-w.stop:
			w.handBack(ctx, b, now.Add(time.Second), "worker stopping")
			return
		default:
		}
		if now.Sub(waitStart) >= w.cfg.QuotaHold {
			w.log.Info("batch waits for quota; handing its jobs back", slog.String("group", b.Key.String()),
				slog.Int("paths", b.Len()), slog.String("reason", reason), slog.Time("until", until))
			w.handBackFor(ctx, b, until, reason, kind)
			return
		}
		if !sleep(ctx, w.stop, wake, moved, w.cfg.QuotaPoll) {
			w.handBack(ctx, b, time.Now().Add(time.Second), "worker stopping")
			return
		}
	}
}

// resyncWhenSpent re-reads the quota, at most once per QuotaHold, when the
// mirror has none left: a sync that raced with commits subtracts them twice
// (it errs on the safe side), and without this the units it held back would
// stay idle until the next timed sync.
// It reports whether it re-read the quota.
func (w *Worker) resyncWhenSpent(ctx context.Context) bool {
	if w.d.Syncer == nil {
		return false
	}
	now := time.Now().UnixNano()
	last := w.lastResync.Load()
	if now-last < int64(w.cfg.QuotaHold) || !w.lastResync.CompareAndSwap(last, now) {
		return false
	}
	if err := w.d.Syncer.SyncNow(ctx); err != nil {
		w.log.Warn("quota re-sync", slog.String("error", err.Error()))
		return false
	}
	return true
}

// syncNotifier is a Syncer that says when a sync read the quota anew;
// quota.Mirror is one.
type syncNotifier interface {
	Synced() <-chan struct{}
}

// synced returns a channel closed by the next successful quota sync, or
// nil (never ready) when the Syncer cannot tell.
func (w *Worker) synced() <-chan struct{} {
	if n, ok := w.d.Syncer.(syncNotifier); ok {
		return n.Synced()
	}
	return nil
}

// untilReset is how long a job that found no quota waits before it is
// looked at again: until the quota day ends on the calendar clock, or less
// (DeferMax) in case more quota appears.
func (w *Worker) untilReset() time.Duration {
	now := w.now()
	return min(w.cal.NextReset(now).Sub(now), w.cfg.DeferMax)
}

// sleep waits d, or less when wake or moved is closed; it reports false
// when ctx ends or stop is closed first.
func sleep(ctx context.Context, stop, wake, moved <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-wake:
		return true
	case <-moved:
		return true
	case <-t.C:
		return true
	}
}

// handBack defers every job of b until until.
func (w *Worker) handBack(ctx context.Context, b *Batch, until time.Time, reason string) {
	w.handBackFor(ctx, b, until, reason, "")
}

// handBackFor defers every job of b until until; waitsFor is the quota
// kind the jobs wait for, "" when they wait for something else.
func (w *Worker) handBackFor(ctx context.Context, b *Batch, until time.Time, reason string, waitsFor quota.Kind) {
	if b.Len() == 0 {
		return
	}
	w.settleEntries(ctx, b, outcome{kind: deferred, until: until, reason: reason, quota: waitsFor})
}

// send makes the API call of b under reservation res and steers on the
// answer.
func (w *Worker) send(ctx context.Context, b *Batch, res quota.Reservation) {
	// From here a request for one of b's paths is a new refresh: the file
	// may change after this call.
	w.pending.release(b)
	defer w.keepReserved(ctx, res)()
	start := time.Now()
	paths := b.Paths()
	var taskIDs []string
	var requestID string
	var err error
	switch b.Key.Action {
	case ActionPush:
		var r apiclient.PushResult
		r, err = w.d.API.PushObjectCache(ctx, apiclient.PushRequest{Paths: paths, Area: b.Key.Area,
			L2Preload: b.Key.L2Preload, WithHeader: b.Key.WithHeader, QueryHashkey: b.Key.QueryHashkey})
		taskIDs, requestID = r.TaskIDs, r.RequestID
	default:
		req := apiclient.RefreshRequest{Paths: paths, ObjectType: b.Key.ObjectType}
		if b.Key.Force != "" {
			f := b.Key.Force == "true"
			req.Force = &f
		}
		var r apiclient.RefreshResult
		r, err = w.d.API.RefreshObjectCaches(ctx, req)
		taskIDs, requestID = r.TaskIDs, r.RequestID
	}
	w.m.call(b, err, time.Since(start))
	if err == nil {
		if cErr := w.d.Gate.Commit(ctx, res, int64(len(paths))); cErr != nil {
			w.log.Warn("commit quota reservation", slog.String("error", cErr.Error()))
		}
		w.accepted(ctx, b, requestID, taskIDs)
		return
	}
	if rErr := w.d.Gate.Refund(ctx, res); rErr != nil && !errors.Is(rErr, quota.ErrUnknownReservation) {
		w.log.Warn("refund quota reservation", slog.String("error", rErr.Error()))
	}
	w.failed(ctx, b, err)
}

// keepReserved extends res while its call runs, so that a call slower than
// the reservation's TTL (retries, a slow API) does not have its units
// handed to another replica before it commits. The returned func stops it.
func (w *Worker) keepReserved(ctx context.Context, res quota.Reservation) func() {
	ttl := res.Expires.Sub(w.now())
	if ttl <= 0 {
		ttl = quota.DefaultReservationTTL
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := w.d.Gate.Extend(ctx, res, ttl); err != nil && !errors.Is(err, quota.ErrUnknownReservation) {
					w.log.Warn("extend quota reservation", slog.String("error", err.Error()))
				}
			}
		}
	}()
	return func() { close(done) }
}

// accepted records the submission and settles its paths.
func (w *Worker) accepted(ctx context.Context, b *Batch, requestID string, taskIDs []string) {
	now := time.Now()
	sub := &Submission{ID: jobs.NewID(), Action: b.Key.Action, RequestID: requestID, TaskIDs: taskIDs,
		Paths: b.Len(), SubmittedAt: now, NextPoll: now.Add(w.cfg.Tracker.FirstPoll)}
	if b.Key.Action == ActionRefresh {
		sub.ObjectType = string(b.Key.ObjectType)
	}
	seen := map[string]bool{}
	for _, e := range b.entries {
		for _, t := range e.jobs {
			if !seen[t.job.ID] {
				seen[t.job.ID] = true
				sub.Jobs = append(sub.Jobs, t.job.ID)
			}
		}
	}
	if !w.cfg.Tracker.Disabled && len(taskIDs) > 0 {
		// Stored before any of its jobs is acknowledged: a crash after the
		// ack must not lose the follow-up.
		if err := w.d.Store.PutSubmission(ctx, sub); err != nil {
			w.log.Warn("could not store submission; its tasks will not be followed up",
				slog.String("request_id", requestID), slog.String("error", err.Error()))
		}
	}
	if w.d.Recent != nil && w.cfg.RecentWindow > 0 {
		if err := w.d.Recent.Remember(ctx, b.Key.String(), b.Paths()); err != nil {
			w.log.Warn("remember recent paths", slog.String("error", err.Error()))
		}
	}
	w.log.Debug("batch accepted", slog.String("group", b.Key.String()), slog.Int("paths", b.Len()),
		slog.String("request_id", requestID), slog.Int("tasks", len(taskIDs)))
	w.domainWait.ok(b)
	w.recordProgress(ctx, b, sub.ID)
	w.settleEntries(ctx, b, outcome{kind: accepted, sub: sub.ID, reqID: requestID, tasks: taskIDs})
}

// failed steers a refused or failed call by the class of its error.
func (w *Worker) failed(ctx context.Context, b *Batch, err error) {
	now := time.Now()
	cls := apiclient.Classify(err)
	log := w.log.With(slog.String("group", b.Key.String()), slog.Int("paths", b.Len()),
		slog.String("class", cls.String()), slog.String("code", apiclient.Code(err)), slog.String("error", err.Error()))
	switch cls {
	case apiclient.ClassQuota:
		if apiclient.IsPerMinuteQuota(err) {
			// The per-domain per-minute URL limit, not the daily quota:
			// the mirror is right, and the domain may refresh again when
			// the next minute starts. Other domains' batches go on.
			next := now.Truncate(time.Minute).Add(time.Minute + time.Second)
			log.Info("the domain reached the API's URLs-per-minute limit; its paths wait for the next minute", slog.Time("until", next))
			w.handBack(ctx, b, next, fmt.Sprintf("the API's limit of URLs per minute per domain was reached (%s); waiting for the next minute", apiclient.Code(err)))
			return
		}
		log.Warn("the CDN API says the quota is spent although the mirror granted it; re-syncing the mirror")
		if w.d.Syncer != nil {
			if sErr := w.d.Syncer.SyncNow(ctx); sErr != nil {
				log.Warn("quota re-sync failed", slog.String("sync_error", sErr.Error()))
			}
		}
		// Handed back with a delay, not sent straight to the gate again:
		// a per-minute limit or a full prefetch queue is not in the mirror,
		// and an immediate retry would loop against the API.
		w.handBack(ctx, b, now.Add(w.cfg.RetryDelay), err.Error())
	case apiclient.ClassDomainDown, apiclient.ClassBusy:
		if b.Domains() > 1 {
			// One stopped domain refuses the whole call: send each domain
			// on its own, so the others land now.
			log.Info("a domain of the batch is stopped or being changed; sending each domain on its own")
			for _, part := range b.byDomain() {
				w.submit(ctx, part)
			}
			return
		}
		domain := b.entries[0].domain
		delay := w.domainWait.next(domain, w.cfg.RetryDelay, w.cfg.DeferMax)
		reason := fmt.Sprintf("domain %s is stopped or being changed (%s); trying again in %s", domain, apiclient.Code(err), delay)
		log.Warn("domain not serving refreshes now; its paths wait", slog.String("domain", domain), slog.Duration("delay", delay))
		w.handBack(ctx, b, now.Add(delay), reason)
	case apiclient.ClassBadInput, apiclient.ClassTooBig:
		if apiclient.DomainNotFound(err) {
			if b.Domains() > 1 {
				for _, part := range b.byDomain() {
					w.submit(ctx, part)
				}
				return
			}
			domain := b.entries[0].domain
			log.Warn("a domain is not on this account; rejecting its paths", slog.String("domain", domain))
			w.settleEntries(ctx, b, outcome{kind: rejected, reason: fmt.Sprintf(
				"domain %s is not on this CDN account (InvalidDomain.NotFound): add it to the account or remove it from cdn.domains: %s", domain, err)})
			return
		}
		if b.Len() > 1 {
			// One bad path refuses the whole call: split to find it, so
			// the good paths of the batch still go.
			left, right := b.split()
			log.Info("the CDN API refused a batch; splitting it to find the refused paths")
			w.submit(ctx, left)
			w.submit(ctx, right)
			return
		}
		log.Warn("the CDN API refused a path", slog.String("path", b.entries[0].path))
		w.settleEntries(ctx, b, outcome{kind: rejected, reason: err.Error()})
	case apiclient.ClassAccount, apiclient.ClassCredentials:
		until := now.Add(w.cfg.PauseFor)
		w.pz.set(until, err.Error())
		log.Error("pausing submissions: the account or credentials need attention", slog.Time("until", until))
		w.handBack(ctx, b, until, err.Error())
	default:
		if ctx.Err() != nil {
			w.handBack(ctx, b, now.Add(time.Second), "worker stopping")
			return
		}
		log.Warn("the CDN API did not take the batch; its jobs will be redelivered",
			slog.Duration("delay", w.cfg.RetryDelay))
		w.handBack(ctx, b, now.Add(w.cfg.RetryDelay), err.Error())
	}
}

// recordProgress stores, for each job of b with paths still to send, the
// paths this call accepted, before the job is settled and so before its
// next call: a job redelivered after a crash sends only what no call
// took. A job this call finishes needs no record: it is acknowledged next.
func (w *Worker) recordProgress(ctx context.Context, b *Batch, callID string) {
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
		if err := w.d.Store.AddProgress(ctx, t.job.ID, callID, paths); err != nil {
			w.log.Warn("could not record job progress; after a crash its accepted paths may be sent again",
				slog.String("job", t.job.ID), slog.String("error", err.Error()))
		}
	}
}
