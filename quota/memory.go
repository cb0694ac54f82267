package quota

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// MemoryStore is the quota mirror of a single replica running without
// Redis. It behaves like RedisStore, state held in the process. It mirrors
// one target (Options.Target): each target gets a MemoryStore of its own.
type MemoryStore struct {
	opts Options
	cal  Calendar

	mu   sync.Mutex
	days map[string]*memDay
	lock struct {
		token   string
		expires time.Time
	}
}

type memCounters struct{ total, remain, reserved, committed, expired int64 }

type memRes struct {
	kind     Kind
	granted  int64
	deadline time.Time
	expired  bool
}

type memDay struct {
	synced   bool
	syncedAt time.Time
	syncErr  string
	kinds    map[Kind]*memCounters
	res      map[string]*memRes
}

// NewMemoryStore returns an empty in-memory mirror; it grants nothing until
// Set.
func NewMemoryStore(opts Options) *MemoryStore {
	opts = opts.withDefaults()
	return &MemoryStore{opts: opts, cal: Calendar{Location: opts.Location}, days: map[string]*memDay{}}
}

// Calendar tells the store's quota days.
func (s *MemoryStore) Calendar() Calendar { return s.cal }

// Target is the product whose quota the store mirrors.
func (s *MemoryStore) Target() apiclient.Product { return s.opts.Target }

// day returns the state of day d, dropping days that are long over.
func (s *MemoryStore) day(d string, now time.Time) *memDay {
	keep := s.cal.PrevDay(now)
	for k := range s.days {
		if k < keep {
			delete(s.days, k)
		}
	}
	md := s.days[d]
	if md == nil {
		md = &memDay{kinds: map[Kind]*memCounters{}, res: map[string]*memRes{}}
		s.days[d] = md
	}
	return md
}

func (md *memDay) counters(k Kind) *memCounters {
	c := md.kinds[k]
	if c == nil {
		c = &memCounters{}
		md.kinds[k] = c
	}
	return c
}

// reclaim returns expired reservations, as the Redis scripts do.
func (md *memDay) reclaim(now time.Time) {
	for _, r := range md.res {
		if !r.expired && !r.deadline.After(now) {
			c := md.counters(r.kind)
			c.reserved -= r.granted
			c.remain += r.granted
			c.expired += r.granted
			r.expired = true
		}
	}
}

// Reserve takes up to n units of kind.
func (s *MemoryStore) Reserve(ctx context.Context, kind Kind, n int64) (Reservation, error) {
	if err := checkReserve(kind, n); err != nil {
		return Reservation{}, err
	}
	if err := ctx.Err(); err != nil {
		return Reservation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	r := Reservation{Kind: kind, Requested: n, Day: s.cal.Day(now), Expires: now.Add(s.opts.ReservationTTL)}
	md := s.day(r.Day, now)
	if !md.synced {
		return r, ErrNotSynced
	}
	md.reclaim(now)
	c := md.counters(kind)
	g := min(n, max(c.remain, 0))
	if g > 0 {
		r.ID, r.Granted = newReservationID(), g
		c.remain -= g
		c.reserved += g
		md.res[r.ID] = &memRes{kind: kind, granted: g, deadline: r.Expires}
	}
	return r, nil
}

// settle finds r for Commit, Refund and Extend.
func (s *MemoryStore) settle(r Reservation) (*memDay, *memRes, time.Time) {
	now := s.opts.Now()
	md := s.days[r.Day]
	if md == nil || r.ID == "" {
		return nil, nil, now
	}
	md.reclaim(now)
	return md, md.res[r.ID], now
}

// Commit spends used units of r and returns the rest.
func (s *MemoryStore) Commit(ctx context.Context, r Reservation, used int64) error {
	if err := checkCommit(r, used); err != nil {
		return err
	}
	if r.Granted == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md, mr, _ := s.settle(r)
	if mr == nil {
		return ErrUnknownReservation
	}
	delete(md.res, r.ID)
	c := md.counters(mr.kind)
	c.committed += used
	if mr.expired {
		// The call was made after all: take back what it spent.
		c.remain -= min(used, max(c.remain, 0))
		return nil
	}
	c.reserved -= mr.granted
	c.remain += mr.granted - used
	return nil
}

// Refund returns all of r.
func (s *MemoryStore) Refund(ctx context.Context, r Reservation) error {
	if r.Granted == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md, mr, _ := s.settle(r)
	if mr == nil {
		return ErrUnknownReservation
	}
	delete(md.res, r.ID)
	if !mr.expired {
		c := md.counters(mr.kind)
		c.reserved -= mr.granted
		c.remain += mr.granted
	}
	return nil
}

// Extend moves r's deadline to d from now.
func (s *MemoryStore) Extend(ctx context.Context, r Reservation, d time.Duration) error {
	if r.Granted == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mr, now := s.settle(r)
	if mr == nil || mr.expired {
		return ErrUnknownReservation
	}
	mr.deadline = now.Add(d)
	return nil
}

// Snapshot returns the current day's values.
func (s *MemoryStore) Snapshot(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	snap := Snapshot{Account: s.opts.Account, Target: s.opts.Target, Day: s.cal.Day(now)}
	md := s.day(snap.Day, now)
	md.reclaim(now)
	snap.Synced, snap.LastSync, snap.SyncError = md.synced, md.syncedAt, md.syncErr
	for _, k := range allKinds {
		c := md.counters(k)
		snap.Kinds = append(snap.Kinds, KindSnapshot{Kind: k, Total: c.total, Remaining: c.remain,
			Reserved: c.reserved, Committed: c.committed, Expired: c.expired})
	}
	return snap, nil
}

// Mark records today's and yesterday's commit counters.
func (s *MemoryStore) Mark(ctx context.Context) (SyncMark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	m := SyncMark{Committed: map[string]map[Kind]int64{}}
	for _, d := range []string{s.cal.Day(now), s.cal.PrevDay(now)} {
		m.Committed[d] = map[Kind]int64{}
		for _, k := range allKinds {
			m.Committed[d][k] = s.day(d, now).counters(k).committed
		}
	}
	return m, nil
}

// Set makes today's mirror q less what is outstanding (see Store.Set).
func (s *MemoryStore) Set(ctx context.Context, q apiclient.RefreshQuota, mark SyncMark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	today, yday := s.cal.Day(now), s.cal.PrevDay(now)
	td, yd := s.day(today, now), s.day(yday, now)
	td.reclaim(now)
	yd.reclaim(now)
	for k, v := range kindValues(q) {
		tc, yc := td.counters(k), yd.counters(k)
		pending := tc.reserved + yc.reserved
		if mark.valid() {
			pending += max(tc.committed-mark.get(today, k), 0) + max(yc.committed-mark.get(yday, k), 0)
		}
		tc.total, tc.remain = v[0], max(v[1]-pending, 0)
	}
	td.synced, td.syncedAt, td.syncErr = true, now, ""
	return nil
}

// RecordSyncError notes a failed sync on today's mirror.
func (s *MemoryStore) RecordSyncError(ctx context.Context, syncErr error) error {
	if syncErr == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.day(s.cal.Day(now), now).syncErr = syncErr.Error()
	return nil
}

// TryLock takes the sync lock; in memory it only guards against a second
// Mirror on the same store.
func (s *MemoryStore) TryLock(ctx context.Context, ttl time.Duration) (func(context.Context) error, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.lock.token != "" && now.Before(s.lock.expires) {
		return nil, false, nil
	}
	token := newReservationID()
	s.lock.token, s.lock.expires = token, now.Add(ttl)
	return func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lock.token != token {
			return errors.New("sync lock was lost before release")
		}
		s.lock.token = ""
		return nil
	}, true, nil
}
