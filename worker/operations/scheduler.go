package operations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// Publisher stores a tick on the tick stream (Subjects.Sched(name)) with
// msgID as its Nats-Msg-Id. *queue.Publisher satisfies it.
type Publisher interface {
	PublishTick(ctx context.Context, name string, tick time.Time, msgID string) (queue.Ack, error)
}

// Config wires a Scheduler.
type Config struct {
	// Schedules are checked by New; disabled ones are left out.
	Schedules []Schedule
	Publisher Publisher
	// State is shared by the replicas (KVStateStore); it lets a replica
	// skip a tick another one published longer ago than the stream's
	// duplicate window, and drives catch-up.
	State  StateStore
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// After waits; time.After when nil. Tests pass one that fires when
	// they move their clock.
	After func(time.Duration) <-chan time.Time
	// RetryDelay is the wait before a tick whose publish failed is tried
	// again; default 5s.
	RetryDelay time.Duration
	// MaxSleep bounds one wait so that wall-clock jumps are noticed;
	// default 1m.
	MaxSleep time.Duration
}

// Scheduler publishes schedule ticks. Run it on every replica: each tick
// carries the same message ID everywhere, so the tick stream keeps one. A
// tick names only the schedule and the time; the worker builds the job from
// its own configuration (Authority) and runs operations via Operator.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	entries []*entry

	mu      sync.Mutex
	started bool
	pending map[string]time.Time // next tick to publish, per schedule
	retryAt map[string]time.Time // when a failed publish is tried again
}

// New checks the schedules and returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("scheduler: no job publisher")
	}
	if cfg.State == nil {
		return nil, errors.New("scheduler: no state store; open one with OpenKVStateStore")
	}
	entries, err := parseAll(cfg.Schedules)
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	if cfg.MaxSleep <= 0 {
		cfg.MaxSleep = time.Minute
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger, now: cfg.Now, after: cfg.After, entries: entries,
		pending: map[string]time.Time{}, retryAt: map[string]time.Time{}}, nil
}

// Run publishes ticks until ctx ends. It starts with Start (catch-up).
func (s *Scheduler) Run(ctx context.Context) error {
	s.Start(ctx)
	s.log.Info("scheduler started", slog.Int("schedules", len(s.entries)))
	for {
		next := s.Fire(ctx)
		d := s.cfg.MaxSleep
		if !next.IsZero() {
			d = min(max(next.Sub(s.now()), 0), s.cfg.MaxSleep)
		}
		select {
		case <-ctx.Done():
			s.log.Info("scheduler stopped")
			return nil
		case <-s.after(d):
		}
	}
}

// Start computes each schedule's next tick from now and, for a schedule
// with catch_up whose latest tick at or before now was never published
// (every replica was down), queues that tick for the next Fire. A schedule
// seen for the first time is not caught up: its history starts now.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	now := s.now()
	for _, e := range s.entries {
		s.pending[e.Name] = e.Next(now)
		st, ok, err := s.cfg.State.Load(ctx, e.Name)
		if err != nil {
			s.log.Warn("could not read schedule state; no catch-up for it this start",
				slog.String("schedule", e.Name), slog.String("error", err.Error()))
			continue
		}
		if !ok {
			err := s.cfg.State.Update(ctx, e.Name, func(st *State) bool {
				if !st.Since.IsZero() {
					return false
				}
				st.Since = now.UTC()
				return true
			})
			if err != nil {
				s.log.Warn("could not record first sight of schedule", slog.String("schedule", e.Name),
					slog.String("error", err.Error()))
			}
			continue
		}
		prev, has := e.Prev(now)
		known := st.LastTick
		if st.Since.After(known) {
			known = st.Since
		}
		if !has || !known.Before(prev) {
			continue
		}
		if !e.CatchUp {
			s.log.Warn("schedule missed a tick while no replica ran; catch_up is off, so it waits for the next",
				slog.String("schedule", e.Name), slog.Time("missed", prev.In(e.loc)),
				slog.Time("next", s.pending[e.Name].In(e.loc)))
			continue
		}
		s.log.Info("schedule missed a tick while no replica ran; running it once now (catch_up)",
			slog.String("schedule", e.Name), slog.Time("missed", prev.In(e.loc)), slog.Time("last_tick", st.LastTick))
		s.pending[e.Name] = prev
	}
}

// Fire publishes the job of every tick due at the scheduler's clock and
// returns when the next one is due (zero when nothing is scheduled). When
// several ticks of a schedule passed since the last Fire, only the latest
// is published. Run calls it; tests call it after moving their clock.
func (s *Scheduler) Fire(ctx context.Context) time.Time {
	s.Start(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var wake time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	for _, e := range s.entries {
		due := s.pending[e.Name]
		if due.IsZero() || due.After(now) {
			soonest(due)
			continue
		}
		if r := s.retryAt[e.Name]; r.After(now) {
			soonest(r)
			continue
		}
		tick := due
		if latest, ok := e.Prev(now); ok && latest.After(due) {
			s.log.Warn("schedule fell behind; publishing only its latest tick",
				slog.String("schedule", e.Name), slog.Time("from", due.In(e.loc)), slog.Time("latest", latest.In(e.loc)))
			tick = latest
		}
		if err := s.publishTick(ctx, e, tick); err != nil {
			s.retryAt[e.Name] = now.Add(s.cfg.RetryDelay)
			soonest(s.retryAt[e.Name])
			s.log.Error("could not queue schedule tick; retrying", slog.String("schedule", e.Name),
				slog.Time("tick", tick.In(e.loc)), slog.Duration("retry_in", s.cfg.RetryDelay), slog.String("error", err.Error()))
			continue
		}
		delete(s.retryAt, e.Name)
		s.pending[e.Name] = e.Next(now)
		soonest(s.pending[e.Name])
	}
	return wake
}

// publishTick queues the job of one tick, unless the shared state shows a
// replica already published it (possibly longer ago than the duplicate
// window, which then no longer protects it).
func (s *Scheduler) publishTick(ctx context.Context, e *entry, tick time.Time) error {
	log := s.log.With(slog.String("schedule", e.Name), slog.String("action", e.Action), slog.Time("tick", tick.In(e.loc)))
	if st, ok, err := s.cfg.State.Load(ctx, e.Name); err != nil {
		log.Warn("could not read schedule state; relying on the stream's duplicate window", slog.String("error", err.Error()))
	} else if ok && !st.LastTick.Before(tick) {
		log.Debug("tick already queued by another replica", slog.String("job", st.LastJob))
		return nil
	}
	j := e.job(tick)
	key := DedupeKey(e.Name, tick)
	ack, err := s.cfg.Publisher.PublishTick(ctx, e.Name, tick, key)
	if err != nil {
		return fmt.Errorf("publish tick %s of schedule %s: %w", tick.Format(time.RFC3339), e.Name, err)
	}
	queued := e.Action == ActionRefresh || e.Action == ActionPush
	now := s.now()
	err = s.cfg.State.Update(ctx, e.Name, func(st *State) bool {
		if !st.LastTick.Before(tick) {
			return false
		}
		st.LastTick, st.LastJob = tick.UTC(), j.ID
		if queued {
			st.LastRun, st.LastRunTick, st.LastResult = now.UTC(), tick.UTC(), ResultQueued
			st.LastMessage = fmt.Sprintf("%s job %s queued with %d paths", e.Action, j.ID, len(e.Paths))
		}
		return true
	})
	if err != nil {
		log.Warn("tick queued but its state was not recorded; a restart may catch it up again", slog.String("error", err.Error()))
	}
	log.Info("schedule tick queued", slog.String("job", j.ID), slog.String("msg_id", key), slog.Bool("duplicate", ack.Duplicate))
	return nil
}

// NextRuns returns the next n ticks of every enabled schedule after now,
// in each schedule's zone, by name.
func (s *Scheduler) NextRuns(now time.Time, n int) map[string][]time.Time {
	out := make(map[string][]time.Time, len(s.entries))
	for _, e := range s.entries {
		out[e.Name] = e.nextN(now, n)
	}
	return out
}

func (e *entry) nextN(now time.Time, n int) []time.Time {
	var out []time.Time
	t := now
	for range n {
		t = e.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(e.loc))
	}
	return out
}
