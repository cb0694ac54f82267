package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ControlReader is what the worker asks right before it sends a batch: is
// there an operator pause, and which jobs were cancelled. *ControlCache
// implements it over the shared control bucket.
type ControlReader interface {
	OperatorPause(ctx context.Context, now time.Time) (PauseState, bool, error)
	CancelledJobs(ctx context.Context) (map[string]bool, error)
}

// pauseRecheck is how long a batch held back by a pause waits before it
// looks again.
const pauseRecheck = 30 * time.Second

// cancelReason is the problem reason of a path its job's cancel kept back.
const cancelReason = "cancelled by an operator (cdnpurge jobs cancel) before it was sent"

// operatorHold is the operator's say over a batch about to be submitted,
// read from the control bucket (ControlReader; nil: no say).
type operatorHold struct {
	control  ControlReader
	deferMax time.Duration
	log      *slog.Logger
	// now is the worker's clock (Deps.Now), on which the hold's recheck is
	// given; time.Now when nil.
	now func() time.Time
}

// check takes out of b the paths that only cancelled jobs still want and
// returns them as gone (nil when none), to be reported rejected with
// cancelReason; during an operator pause it returns the pause the rest
// of b waits for. A failing read does not stop submissions (the pause is
// an operator's tool, not a safety gate).
func (h operatorHold) check(ctx context.Context, b *batch) (gone *batch, hold pauseHold) {
	c := h.control
	if c == nil {
		return nil, pauseHold{}
	}
	if cancelled, err := c.CancelledJobs(ctx); err == nil && len(cancelled) > 0 {
		out := newBatch(b.Key, b.opened)
		keep := newBatch(b.Key, b.opened)
		for _, e := range b.entries {
			all := true
			for _, t := range e.jobs {
				all = all && t != nil && cancelled[t.job.ID]
			}
			if all {
				out.add(e)
			} else {
				keep.add(e)
			}
		}
		if out.Len() > 0 {
			h.log.Info("paths of cancelled jobs not sent", slog.String("group", b.Key.String()), slog.Int("paths", out.Len()))
			*b = *keep
			gone = out
		}
	}
	if b.Len() == 0 {
		return gone, pauseHold{}
	}
	now := time.Now()
	if h.now != nil {
		now = h.now()
	}
	p, paused, err := c.OperatorPause(ctx, now)
	if err != nil || !paused {
		return gone, pauseHold{}
	}
	// The wait ends with the pause (no known end when it lasts until a
	// resume); look again soon even so, so that a resume takes effect
	// within pauseRecheck.
	hold = pauseHold{until: p.Until, recheck: now.Add(min(pauseRecheck, h.deferMax)),
		reason: "submissions paused by " + p.By + ": " + p.Reason}
	if p.Until.IsZero() {
		hold.reason += " (until resumed)"
	} else if p.Until.Before(hold.recheck) {
		hold.recheck = p.Until
	}
	return gone, hold
}

// pauseWatcher is a ControlReader that says when the operator's pause
// changes (*ControlCache, once WatchPause runs): a batch held by a pause
// waits on it and goes out at once on a resume.
type pauseWatcher interface {
	PauseChanged() <-chan struct{}
}

// changed returns a channel closed at the next change of the operator's
// pause, or nil when the control reader cannot tell.
func (h operatorHold) changed() <-chan struct{} {
	if w, ok := h.control.(pauseWatcher); ok {
		return w.PauseChanged()
	}
	return nil
}

// pauseHold is an operator pause a batch waits for: until is its end
// (zero: until resumed), recheck when the batch is looked at again.
type pauseHold struct {
	until, recheck time.Time
	reason         string
}

func (p pauseHold) held() bool { return !p.recheck.IsZero() }

// ControlCache reads the control bucket at most once per TTL, so that
// checking it before every batch costs no round trip.
type ControlCache struct {
	c   *Control
	ttl time.Duration

	mu        sync.Mutex
	read      time.Time
	pause     PauseState
	paused    bool
	cancelled map[string]bool
	// moved is closed and replaced when the pause key changes (WatchPause);
	// nil until WatchPause runs.
	moved chan struct{}
}

// NewControlCache caches c for ttl (one second when zero).
func NewControlCache(c *Control, ttl time.Duration) *ControlCache {
	if ttl <= 0 {
		ttl = time.Second
	}
	return &ControlCache{c: c, ttl: ttl}
}

// PauseChanged returns a channel closed at the next change of the
// operator's pause; nil (never closed) until WatchPause runs.
func (cc *ControlCache) PauseChanged() <-chan struct{} {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.moved
}

// WatchPause follows the pause key of the control bucket until ctx ends:
// each change (a pause, a resume, from any replica or CLI) replaces the
// cached pause and wakes the batches it held back, so a resume sends them
// at once instead of at their next look. A lost watch is set up again
// (held batches still look again every pauseRecheck meanwhile).
func (cc *ControlCache) WatchPause(ctx context.Context) error {
	cc.mu.Lock()
	if cc.moved == nil {
		cc.moved = make(chan struct{})
	}
	cc.mu.Unlock()
	for {
		err := cc.watchPause(ctx)
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the next look (pauseRecheck) covers the gap
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (cc *ControlCache) watchPause(ctx context.Context) error {
	w, err := cc.c.kv.Watch(ctx, pauseKey)
	if err != nil {
		return fmt.Errorf("watch the operator pause: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch the operator pause: the watcher stopped")
			}
			if e == nil {
				continue // the current value was delivered
			}
			var p PauseState
			on := e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &p) == nil
			cc.mu.Lock()
			cc.pause, cc.paused = p, on
			// The next look reads the bucket afresh: the cancels too, which
			// an operator often sets right before a resume.
			cc.read = time.Time{}
			close(cc.moved)
			cc.moved = make(chan struct{})
			cc.mu.Unlock()
		}
	}
}

func (cc *ControlCache) refresh(ctx context.Context, now time.Time) error {
	if !cc.read.IsZero() && now.Sub(cc.read) < cc.ttl {
		return nil
	}
	p, ok, err := cc.c.OperatorPause(ctx, now)
	if err != nil {
		return err
	}
	cancels, err := cc.c.Cancels(ctx)
	if err != nil {
		return err
	}
	cc.pause, cc.paused, cc.read = p, ok, now
	cc.cancelled = make(map[string]bool, len(cancels))
	for id := range cancels {
		cc.cancelled[id] = true
	}
	return nil
}

// OperatorPause returns the cached operator pause.
func (cc *ControlCache) OperatorPause(ctx context.Context, now time.Time) (PauseState, bool, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if err := cc.refresh(ctx, now); err != nil {
		return PauseState{}, false, err
	}
	return cc.pause, cc.paused && cc.pause.Active(now), nil
}

// CancelledJobs returns the cached set of cancelled job IDs.
func (cc *ControlCache) CancelledJobs(ctx context.Context) (map[string]bool, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if err := cc.refresh(ctx, time.Now()); err != nil {
		return nil, err
	}
	return cc.cancelled, nil
}
