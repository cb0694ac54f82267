package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Source reads the account's quota from the CDN API; apiclient.Client
// satisfies it.
type Source interface {
	DescribeRefreshQuota(ctx context.Context) (apiclient.RefreshQuota, error)
}

// Defaults of MirrorConfig (the config package shows the same values).
const (
	DefaultSyncInterval  = 5 * time.Minute
	DefaultBoundaryDelay = 5 * time.Second
)

// MirrorConfig configures a Mirror. Zero values take the defaults named.
type MirrorConfig struct {
	// Interval between syncs; 5 minutes.
	Interval time.Duration
	// BoundaryDelay is how long after 00:00 the day boundary sync runs, to
	// give the API's clock time to reset too; 5 seconds.
	BoundaryDelay time.Duration
	// LockTTL bounds how long one replica holds the sync lock; 30 seconds.
	LockTTL time.Duration
	// SyncTimeout bounds one sync; 15 seconds (keep it under LockTTL).
	SyncTimeout time.Duration
	// Logger is slog.Default() when nil.
	Logger *slog.Logger
	// Now is time.Now when nil.
	Now func() time.Time
	// Ticks replaces the Interval ticker (tests send on it).
	Ticks <-chan time.Time
	// After replaces time.After for the day boundary timer.
	After func(time.Duration) <-chan time.Time
	// OnSync, when set, is called after every sync attempt (for metrics).
	OnSync func(SyncResult)
	// FailureHold is how long after a failed sync a reserve that finds
	// the day not synced is answered with its error instead of asking the
	// API again, doubling with each failure in a row up to a minute; 2
	// seconds.
	FailureHold time.Duration
}

// SyncResult describes one sync attempt.
type SyncResult struct {
	At time.Time
	// Reason is "start", "timer", "day boundary", "requested", ...
	Reason string
	// Err is nil on success.
	Err error
}

// Stats are the Mirror's counters, for metrics.
type Stats struct {
	// Target is the product whose quota the mirror holds.
	Target       apiclient.Product
	Syncs        int64
	SyncFailures int64
	// SyncsSkipped counts syncs left to another replica holding the lock.
	SyncsSkipped int64
	LastSync     time.Time
	// LastSyncError is the error of the last attempt if it failed: the
	// mirror is then gating from older values (stale).
	LastSyncError string
	// StoreErrors counts operations that failed because the store was
	// unavailable.
	StoreErrors int64
	// StoreDown is true from a store failure until the store answers and
	// the mirror was re-synced.
	StoreDown bool
	// PendingSettlements are commits and refunds waiting for the store.
	PendingSettlements int
	// LostReservations counts commits and refunds of reservations the
	// store no longer knew (a failover to a replica that had not received
	// them); each makes the mirror re-sync before granting again.
	LostReservations int64
}

// errSyncBusy: another replica holds the sync lock.
var errSyncBusy = errors.New("another replica is syncing the quota")

// Mirror keeps a Store in step with DescribeRefreshQuota and is the quota
// gate the worker reserves from.
type Mirror struct {
	store Store
	src   Source
	cfg   MirrorConfig
	log   *slog.Logger

	syncMu sync.Mutex // one sync at a time in this process

	// flightMu guards the on-demand sync in flight, shared by every caller
	// that asks while it runs, and the hold after a failed one.
	flightMu  sync.Mutex
	flight    *syncFlight
	next      *syncFlight
	failUntil time.Time
	failHold  time.Duration
	failErr   error
	// flightWaiters counts callers waiting for a sync of another (tests).
	flightWaiters atomic.Int32
	// synced is closed and replaced after each successful sync.
	synced chan struct{}

	mu         sync.Mutex
	stats      Stats
	downSince  time.Time
	settlement []settlement
	// lostAt is when the store was found without a reservation it had
	// granted; zero when none is pending a re-sync.
	lostAt time.Time
}

type settlement struct {
	r      Reservation
	used   int64
	commit bool
}

// NewMirror returns a Mirror of store fed from src. Call Run to keep it
// synced. src must answer the quota of the store's target: for DCDN,
// DescribeDcdnRefreshQuota. Each target has a Mirror of its own, on a store
// of its own (Options.Target); they share the quota day's calendar and
// nothing else.
func NewMirror(store Store, src Source, cfg MirrorConfig) *Mirror {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSyncInterval
	}
	if cfg.BoundaryDelay <= 0 {
		cfg.BoundaryDelay = DefaultBoundaryDelay
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 30 * time.Second
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.FailureHold <= 0 {
		cfg.FailureHold = 2 * time.Second
	}
	return &Mirror{store: store, src: src, cfg: cfg,
		log:    log.With(slog.String("component", "quota"), slog.String("target", string(store.Target()))),
		synced: make(chan struct{})}
}

// syncFlight is one on-demand sync and the callers waiting for it.
type syncFlight struct {
	done chan struct{}
	err  error
}

// Synced returns a channel closed by the next successful sync, so that
// batches waiting for quota try again at once when a sync finds some.
func (m *Mirror) Synced() <-chan struct{} {
	m.flightMu.Lock()
	defer m.flightMu.Unlock()
	return m.synced
}

// shared runs an on-demand sync with every caller that asks meanwhile:
// however many submitters ask at once, the API is asked once or twice.
// A fresh caller (SyncNow) wants a sync that starts after it asked, so it
// waits for the one queued behind the sync in flight, which every such
// caller shares. A lenient caller (a day not synced yet) takes the sync
// in flight, and after a failure is given its error for FailureHold
// without asking again, so a burst cannot turn into a storm of
// DescribeRefreshQuota calls.
func (m *Mirror) shared(ctx context.Context, reason string, lenient bool) error {
	m.flightMu.Lock()
	if lenient && m.failErr != nil && m.cfg.Now().Before(m.failUntil) {
		err := m.failErr
		m.flightMu.Unlock()
		return err
	}
	if m.flight != nil {
		f := m.flight
		if !lenient {
			if m.next == nil {
				m.next = &syncFlight{done: make(chan struct{})}
			}
			f = m.next
		}
		m.flightMu.Unlock()
		m.flightWaiters.Add(1)
		defer m.flightWaiters.Add(-1)
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &syncFlight{done: make(chan struct{})}
	m.flight = f
	m.flightMu.Unlock()
	var first error
	for i := 0; f != nil; i++ {
		f.err = m.sync(ctx, reason)
		if i == 0 {
			first = f.err
		}
		m.flightMu.Lock()
		if f.err != nil && !errors.Is(f.err, errSyncBusy) && ctx.Err() == nil {
			m.failHold = min(max(m.failHold*2, m.cfg.FailureHold), time.Minute)
			m.failUntil = m.cfg.Now().Add(m.failHold)
			m.failErr = fmt.Errorf("%w (last attempt failed; next one after %s)", f.err, m.failUntil.Format(time.RFC3339))
		}
		// The queued sync, if any, runs next, on this caller's time.
		m.flight, m.next = m.next, nil
		next := m.flight
		m.flightMu.Unlock()
		close(f.done)
		f = next
	}
	return first
}

// Store returns the mirrored store.
func (m *Mirror) Store() Store { return m.store }

// Target is the product whose quota the mirror holds.
func (m *Mirror) Target() apiclient.Product { return m.store.Target() }

// what names the mirror in errors: "quota" for CDN, as before DCDN was a
// target, "dcdn quota" for another.
func (m *Mirror) what() string {
	if t := m.Target(); t != apiclient.ProductCDN {
		return string(t) + " quota"
	}
	return "quota"
}

// quotaAction is the API action the mirror's source answers.
func (m *Mirror) quotaAction() string {
	if t, err := apiclient.TargetOf(string(m.Target())); err == nil {
		return t.QuotaAction
	}
	return apiclient.ActionDescribeRefreshQuota
}

// NextReset returns the next 00:00 of the store's quota zone after now.
func (m *Mirror) NextReset(now time.Time) time.Time { return m.store.Calendar().NextReset(now) }

// Stats returns a copy of the counters.
func (m *Mirror) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Target = m.store.Target()
	s.StoreDown = !m.downSince.IsZero()
	s.PendingSettlements = len(m.settlement)
	return s
}

// Run syncs at once, then on every tick, after each 00:00 and when the
// mirror's day was not synced, until ctx ends.
func (m *Mirror) Run(ctx context.Context) error {
	ticks := m.cfg.Ticks
	if ticks == nil {
		t := time.NewTicker(m.cfg.Interval)
		defer t.Stop()
		ticks = t.C
	}
	m.syncLogged(ctx, "start")
	for {
		now := m.cfg.Now()
		boundary := m.cfg.After(m.NextReset(now).Sub(now) + m.cfg.BoundaryDelay)
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			m.tick(ctx)
		case <-boundary:
			m.syncLogged(ctx, "day boundary")
		}
	}
}

// tick syncs unless another replica did so less than half an interval ago
// on the current day, so replicas share the timer's work.
func (m *Mirror) tick(ctx context.Context) {
	now := m.cfg.Now()
	if snap, err := m.store.Snapshot(ctx); err == nil && snap.Synced && snap.SyncError == "" &&
		snap.Day == m.store.Calendar().Day(now) && now.Sub(snap.LastSync) < m.cfg.Interval/2 {
		return
	}
	m.syncLogged(ctx, "timer")
}

// SyncNow syncs at once, for example after the API answered with a quota
// error. It returns nil, without syncing, when another replica is syncing.
func (m *Mirror) SyncNow(ctx context.Context) error {
	err := m.shared(ctx, "requested", false)
	if errors.Is(err, errSyncBusy) {
		return nil
	}
	return err
}

func (m *Mirror) syncLogged(ctx context.Context, reason string) {
	_ = m.sync(ctx, reason) // sync logs and counts its own failures
}

func (m *Mirror) sync(ctx context.Context, reason string) (err error) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	defer func() {
		if m.cfg.OnSync != nil && !errors.Is(err, errSyncBusy) {
			m.cfg.OnSync(SyncResult{At: m.cfg.Now(), Reason: reason, Err: err})
		}
	}()
	unlock, ok, err := m.store.TryLock(ctx, m.cfg.LockTTL)
	if err != nil {
		m.noteStore(err)
		return fmt.Errorf("sync %s (%s): %w", m.what(), reason, err)
	}
	if !ok {
		m.mu.Lock()
		m.stats.SyncsSkipped++
		m.mu.Unlock()
		return errSyncBusy
	}
	defer func() {
		if uerr := unlock(context.WithoutCancel(ctx)); uerr != nil {
			m.log.Warn("quota sync lock release failed", slog.String("error", uerr.Error()))
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, m.cfg.SyncTimeout)
	defer cancel()
	// Mark before the API read: commits after the mark are subtracted by
	// Set, whether or not the API had seen them (conservative).
	mark, err := m.store.Mark(sctx)
	if err != nil {
		m.noteStore(err)
		return fmt.Errorf("sync %s (%s): %w", m.what(), reason, err)
	}
	q, apiErr := m.src.DescribeRefreshQuota(sctx)
	if apiErr != nil {
		m.mu.Lock()
		m.stats.SyncFailures++
		m.stats.LastSyncError = apiErr.Error()
		m.mu.Unlock()
		m.log.Warn("quota sync failed, gating from the last synced values",
			slog.String("reason", reason), slog.String("error", apiErr.Error()))
		if rerr := m.store.RecordSyncError(sctx, apiErr); rerr != nil {
			m.noteStore(rerr)
		}
		return fmt.Errorf("sync %s (%s): %s: %w", m.what(), reason, m.quotaAction(), apiErr)
	}
	if err := m.store.Set(sctx, q, mark); err != nil {
		m.noteStore(err)
		return fmt.Errorf("sync %s (%s): %w", m.what(), reason, err)
	}
	now := m.cfg.Now()
	m.flightMu.Lock()
	close(m.synced)
	m.synced = make(chan struct{})
	m.failHold, m.failErr = 0, nil
	m.flightMu.Unlock()
	m.mu.Lock()
	m.stats.Syncs++
	m.stats.LastSync = now
	m.stats.LastSyncError = ""
	m.mu.Unlock()
	m.log.Info("quota synced", slog.String("reason", reason),
		slog.Int64("url_remain", q.URLRemain), slog.Int64("dir_remain", q.DirRemain),
		slog.Int64("regex_remain", q.RegexRemain), slog.Int64("preload_remain", q.PreloadRemain))
	return nil
}

// noteStore counts a store failure and marks the store down.
func (m *Mirror) noteStore(err error) {
	if !errors.Is(err, ErrUnavailable) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.StoreErrors++
	if m.downSince.IsZero() {
		m.downSince = m.cfg.Now()
		m.log.Error("quota store unavailable, granting nothing until it is back", slog.String("error", err.Error()))
	}
}

// noteLost marks the store as having lost a reservation it granted: a
// Redis failover promotes a replica that may not have received the latest
// writes (replication is asynchronous), and what it forgot was spent at the
// API all the same. Until recover re-synced, nothing is granted.
func (m *Mirror) noteLost(err error, r Reservation) {
	if !errors.Is(err, ErrUnknownReservation) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.LostReservations++
	if m.lostAt.IsZero() {
		m.lostAt = m.cfg.Now()
		m.log.Warn("quota store no longer knows a reservation it granted (a failover to a replica without it?); re-syncing before granting",
			slog.String("reservation", r.ID), slog.String("kind", string(r.Kind)), slog.Int64("granted", r.Granted))
	}
}

// recover runs after a store outage, before anything is granted: it replays
// the commits and refunds that failed, then re-syncs, because the store may
// have come back without its latest writes (a restart or failover). It runs
// too after the store was found without a reservation (noteLost).
func (m *Mirror) recover(ctx context.Context) error {
	m.mu.Lock()
	since, pending, lost := m.downSince, m.settlement, m.lostAt
	m.settlement = nil
	m.mu.Unlock()
	if since.IsZero() {
		if lost.IsZero() {
			return nil
		}
		since = lost
	}
	for i, s := range pending {
		var err error
		if s.commit {
			err = m.store.Commit(ctx, s.r, s.used)
		} else {
			err = m.store.Refund(ctx, s.r)
		}
		if errors.Is(err, ErrUnavailable) {
			m.mu.Lock()
			m.settlement = append(pending[i:], m.settlement...)
			m.mu.Unlock()
			return err
		}
	}
	err := m.sync(ctx, "store recovered")
	switch {
	case errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, errSyncBusy):
		snap, serr := m.store.Snapshot(ctx)
		if serr != nil {
			return serr
		}
		if snap.LastSync.Before(since) {
			return fmt.Errorf("%w: another replica is re-syncing after the store outage", ErrNotSynced)
		}
	case err != nil:
		// The API is down: gate from what the store holds.
	}
	m.mu.Lock()
	if m.downSince.Equal(since) {
		m.downSince = time.Time{}
	}
	if !m.lostAt.After(since) {
		m.lostAt = time.Time{}
	}
	m.mu.Unlock()
	m.log.Info("quota store is back", slog.Duration("down_for", m.cfg.Now().Sub(since)))
	return nil
}

// Reserve takes up to n units of kind (see Store.Reserve). It fails closed:
// with the store unavailable nothing is granted and the error wraps
// ErrUnavailable. A day not synced yet is synced first.
func (m *Mirror) Reserve(ctx context.Context, kind Kind, n int64) (Reservation, error) {
	if err := m.recover(ctx); err != nil {
		m.noteStore(err)
		return Reservation{Kind: kind, Requested: n}, err
	}
	r, err := m.store.Reserve(ctx, kind, n)
	if errors.Is(err, ErrNotSynced) {
		if serr := m.shared(ctx, "day not synced", true); serr == nil {
			r, err = m.store.Reserve(ctx, kind, n)
		}
	}
	m.noteStore(err)
	return r, err
}

// Commit settles r (see Store.Commit). When the store is unavailable the
// Mirror keeps the commit and replays it when the store is back.
func (m *Mirror) Commit(ctx context.Context, r Reservation, used int64) error {
	err := m.store.Commit(ctx, r, used)
	m.keep(err, settlement{r: r, used: used, commit: true})
	m.noteLost(err, r)
	return err
}

// Refund returns r (see Store.Refund). When the store is unavailable the
// Mirror keeps the refund and replays it when the store is back.
func (m *Mirror) Refund(ctx context.Context, r Reservation) error {
	err := m.store.Refund(ctx, r)
	m.keep(err, settlement{r: r})
	m.noteLost(err, r)
	return err
}

func (m *Mirror) keep(err error, s settlement) {
	if !errors.Is(err, ErrUnavailable) {
		return
	}
	m.noteStore(err)
	m.mu.Lock()
	m.settlement = append(m.settlement, s)
	m.mu.Unlock()
}

// Extend moves r's deadline to d from now (see Store.Extend).
func (m *Mirror) Extend(ctx context.Context, r Reservation, d time.Duration) error {
	err := m.store.Extend(ctx, r, d)
	m.noteStore(err)
	return err
}

// Snapshot returns the mirrored values, for the CLI and metrics.
func (m *Mirror) Snapshot(ctx context.Context) (Snapshot, error) {
	s, err := m.store.Snapshot(ctx)
	m.noteStore(err)
	return s, err
}
