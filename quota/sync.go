package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// syncLoop is the Mirror's sync side: it keeps the store in step with the
// API on a timer, after each 00:00 and on demand, one sync at a time in
// this process and one replica at a time (the store's lock), sharing an
// on-demand sync among every caller that asks while it runs and holding
// back after a failed one. The Mirror is the store facade in front of it.
type syncLoop struct {
	store Store
	src   Source
	cfg   MirrorConfig
	log   *slog.Logger
	// storeErr is told of every store error (Mirror.noteStore).
	storeErr func(error)

	syncMu sync.Mutex // one sync at a time in this process

	// flightMu guards the on-demand sync in flight, shared by every caller
	// that asks while it runs, and the hold after a failed one.
	flightMu  sync.Mutex
	flight    *syncFlight
	next      *syncFlight
	failUntil time.Time
	failHold  time.Duration
	failErr   error
	// waits, when set, is told of each caller that waits for the sync of
	// another (tests wait on it).
	waits chan<- struct{}
	// synced is closed and replaced after each successful sync.
	synced chan struct{}

	mu    sync.Mutex
	stats Stats // the sync counters only; Mirror.Stats adds the store's
}

// Source reads the account's quota of a target from its API;
// apiclient.Client satisfies it.
type Source interface {
	DescribeQuota(ctx context.Context, t apiclient.Target) (apiclient.RefreshQuota, error)
}

// syncFlight is one on-demand sync and the callers waiting for it.
type syncFlight struct {
	done chan struct{}
	err  error
}

// nextSync returns a channel closed by the next successful sync.
func (l *syncLoop) nextSync() <-chan struct{} {
	l.flightMu.Lock()
	defer l.flightMu.Unlock()
	return l.synced
}

// shared runs an on-demand sync with every caller that asks meanwhile:
// however many submitters ask at once, the API is asked once or twice.
// A fresh caller (SyncNow) wants a sync that starts after it asked, so it
// waits for the one queued behind the sync in flight, which every such
// caller shares. A lenient caller (a day not synced yet) takes the sync
// in flight, and after a failure is given its error for FailureHold
// without asking again, so a burst cannot turn into a storm of
// DescribeRefreshQuota calls.
func (l *syncLoop) shared(ctx context.Context, reason string, lenient bool) error {
	l.flightMu.Lock()
	if lenient && l.failErr != nil && l.cfg.Now().Before(l.failUntil) {
		err := l.failErr
		l.flightMu.Unlock()
		return err
	}
	if l.flight != nil {
		f := l.flight
		if !lenient {
			if l.next == nil {
				l.next = &syncFlight{done: make(chan struct{})}
			}
			f = l.next
		}
		l.flightMu.Unlock()
		if l.waits != nil {
			l.waits <- struct{}{}
		}
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &syncFlight{done: make(chan struct{})}
	l.flight = f
	l.flightMu.Unlock()
	var first error
	for i := 0; f != nil; i++ {
		f.err = l.sync(ctx, reason)
		if i == 0 {
			first = f.err
		}
		l.flightMu.Lock()
		if f.err != nil && !errors.Is(f.err, errSyncBusy) && ctx.Err() == nil {
			l.failHold = min(max(l.failHold*2, l.cfg.FailureHold), time.Minute)
			l.failUntil = l.cfg.Now().Add(l.failHold)
			l.failErr = fmt.Errorf("%w (last attempt failed; next one after %s)", f.err, l.failUntil.Format(time.RFC3339))
		}
		// The queued sync, if any, runs next, on this caller's time.
		l.flight, l.next = l.next, nil
		next := l.flight
		l.flightMu.Unlock()
		close(f.done)
		f = next
	}
	return first
}

// what names the mirrored quota in errors: "quota" for CDN, as before DCDN was a
// target, "dcdn quota" for another.
func (l *syncLoop) what() string {
	if t := l.store.Target(); t != apiclient.ProductCDN {
		return string(t) + " quota"
	}
	return "quota"
}

// target is the product whose quota the mirror holds (CDN for a store
// that names none the client knows).
func (l *syncLoop) target() apiclient.Target {
	if t, err := apiclient.TargetOf(string(l.store.Target())); err == nil {
		return t
	}
	return apiclient.CDN()
}

// quotaAction is the API action the mirror's source answers.
func (l *syncLoop) quotaAction() string { return l.target().Actions.Quota }

// run syncs at once, then on every tick and after each 00:00, until ctx
// ends.
func (l *syncLoop) run(ctx context.Context) error {
	ticks := l.cfg.Ticks
	if ticks == nil {
		t := time.NewTicker(l.cfg.Interval)
		defer t.Stop()
		ticks = t.C
	}
	l.syncLogged(ctx, "start")
	for {
		now := l.cfg.Now()
		boundary := l.cfg.After(l.store.Calendar().NextReset(now).Sub(now) + l.cfg.BoundaryDelay)
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			l.tick(ctx)
		case <-boundary:
			l.syncLogged(ctx, "day boundary")
		}
	}
}

// tick syncs unless another replica did so less than half an interval ago
// on the current day, so replicas share the timer's work.
func (l *syncLoop) tick(ctx context.Context) {
	now := l.cfg.Now()
	if snap, err := l.store.Snapshot(ctx); err == nil && snap.Synced && snap.SyncError == "" &&
		snap.Day == l.store.Calendar().Day(now) && now.Sub(snap.LastSync) < l.cfg.Interval/2 {
		return
	}
	l.syncLogged(ctx, "timer")
}

// syncNow syncs at once; nil, without syncing, when another replica is
// syncing.
func (l *syncLoop) syncNow(ctx context.Context) error {
	err := l.shared(ctx, "requested", false)
	if errors.Is(err, errSyncBusy) {
		return nil
	}
	return err
}

func (l *syncLoop) syncLogged(ctx context.Context, reason string) {
	_ = l.sync(ctx, reason) // sync logs and counts its own failures
}

func (l *syncLoop) sync(ctx context.Context, reason string) (err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	defer func() {
		if l.cfg.OnSync != nil && !errors.Is(err, errSyncBusy) {
			l.cfg.OnSync(SyncResult{At: l.cfg.Now(), Reason: reason, Err: err})
		}
	}()
	unlock, ok, err := l.store.TryLock(ctx, l.cfg.LockTTL)
	if err != nil {
		l.storeErr(err)
		return fmt.Errorf("sync %s (%s): %w", l.what(), reason, err)
	}
	if !ok {
		l.mu.Lock()
		l.stats.SyncsSkipped++
		l.mu.Unlock()
		return errSyncBusy
	}
	defer func() {
		if uerr := unlock(context.WithoutCancel(ctx)); uerr != nil {
			l.log.Warn("quota sync lock release failed", slog.String("error", uerr.Error()))
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, l.cfg.SyncTimeout)
	defer cancel()
	// Mark before the API read: commits after the mark are subtracted by
	// Set, whether or not the API had seen them (conservative).
	mark, err := l.store.Mark(sctx)
	if err != nil {
		l.storeErr(err)
		return fmt.Errorf("sync %s (%s): %w", l.what(), reason, err)
	}
	q, apiErr := l.src.DescribeQuota(sctx, l.target())
	if apiErr != nil {
		l.mu.Lock()
		l.stats.SyncFailures++
		l.stats.LastSyncError = apiErr.Error()
		l.mu.Unlock()
		l.log.Warn("quota sync failed, gating from the last synced values",
			slog.String("reason", reason), slog.String("error", apiErr.Error()))
		if rerr := l.store.RecordSyncError(sctx, apiErr); rerr != nil {
			l.storeErr(rerr)
		}
		return fmt.Errorf("sync %s (%s): %s: %w", l.what(), reason, l.quotaAction(), apiErr)
	}
	if err := l.store.Set(sctx, q, mark); err != nil {
		l.storeErr(err)
		return fmt.Errorf("sync %s (%s): %w", l.what(), reason, err)
	}
	now := l.cfg.Now()
	l.flightMu.Lock()
	close(l.synced)
	l.synced = make(chan struct{})
	l.failHold, l.failErr = 0, nil
	l.flightMu.Unlock()
	l.mu.Lock()
	l.stats.Syncs++
	l.stats.LastSync = now
	l.stats.LastSyncError = ""
	l.mu.Unlock()
	l.log.Info("quota synced", slog.String("reason", reason),
		slog.Int64("url_remain", q.URLRemain), slog.Int64("dir_remain", q.DirRemain),
		slog.Int64("regex_remain", q.RegexRemain), slog.Int64("preload_remain", q.PreloadRemain))
	return nil
}
