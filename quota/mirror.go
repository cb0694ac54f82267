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
	// Logger takes the mirror's log; nil discards it.
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

// Mirror is the quota gate the worker reserves from: a facade over a
// Store that fails closed while the store is down, keeps the commits and
// refunds made meanwhile and replays them when it is back. Its sync loop
// (sync.go) keeps the store in step with DescribeRefreshQuota.
type Mirror struct {
	store Store
	cfg   MirrorConfig
	log   *slog.Logger
	loop  *syncLoop

	mu          sync.Mutex
	storeErrors int64
	lostCount   int64 // Stats.LostReservations
	downSince   time.Time
	settlement  []settlement
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
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.FailureHold <= 0 {
		cfg.FailureHold = 2 * time.Second
	}
	log = log.With(slog.String("component", "quota"), slog.String("target", string(store.Target())))
	m := &Mirror{store: store, cfg: cfg, log: log}
	m.loop = &syncLoop{store: store, src: src, cfg: cfg, log: log, storeErr: m.noteStore, synced: make(chan struct{})}
	return m
}

// Synced returns a channel closed by the next successful sync, so that
// batches waiting for quota try again at once when a sync finds some.
func (m *Mirror) Synced() <-chan struct{} { return m.loop.nextSync() }

// Run syncs at once, then on every tick, after each 00:00 and when the
// mirror's day was not synced, until ctx ends.
func (m *Mirror) Run(ctx context.Context) error { return m.loop.run(ctx) }

// SyncNow syncs at once, for example after the API answered with a quota
// error. It returns nil, without syncing, when another replica is syncing.
func (m *Mirror) SyncNow(ctx context.Context) error { return m.loop.syncNow(ctx) }

// Store returns the mirrored store.
func (m *Mirror) Store() Store { return m.store }

// Target is the product whose quota the mirror holds.
func (m *Mirror) Target() apiclient.Product { return m.store.Target() }

// NextReset returns the next 00:00 of the store's quota zone after now.
func (m *Mirror) NextReset(now time.Time) time.Time { return m.store.Calendar().NextReset(now) }

// Stats returns a copy of the counters.
func (m *Mirror) Stats() Stats {
	m.loop.mu.Lock()
	s := m.loop.stats
	m.loop.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	s.StoreErrors = m.storeErrors
	s.LostReservations = m.lostCount
	s.Target = m.store.Target()
	s.StoreDown = !m.downSince.IsZero()
	s.PendingSettlements = len(m.settlement)
	return s
}

// noteStore counts a store failure and marks the store down.
func (m *Mirror) noteStore(err error) {
	if !errors.Is(err, ErrUnavailable) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeErrors++
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
	m.lostCount++
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
	err := m.loop.sync(ctx, "store recovered")
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
		if serr := m.loop.shared(ctx, "day not synced", true); serr == nil {
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
