package quota

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// storeFactory returns n store handles (replicas) on one shared mirror,
// all reading clock.
type storeFactory func(t *testing.T, clock *fakeClock, n int) []Store

func memoryFactory(t *testing.T, clock *fakeClock, n int) []Store {
	s := NewMemoryStore(Options{Account: "acct", Now: clock.Now})
	out := make([]Store, n)
	for i := range out {
		out[i] = s // one process, one store: its goroutines are the replicas
	}
	return out
}

func redisFactory(t *testing.T, clock *fakeClock, n int) []Store {
	prefix := ""
	out := make([]Store, n)
	for i := range out {
		c := redisClient(t) // a client of its own per replica
		if prefix == "" {
			prefix = testPrefix(t, c)
		}
		out[i] = NewRedisStore(c, Options{Prefix: prefix, Account: "acct", Now: clock.Now})
	}
	return out
}

func TestMemoryStoreSuite(t *testing.T) { runStoreSuite(t, memoryFactory) }

func TestRedisStoreSuite(t *testing.T) { runStoreSuite(t, redisFactory) }

func snap(t *testing.T, s Store, k Kind) KindSnapshot {
	t.Helper()
	sn, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sn.Get(k)
}

func wantKind(t *testing.T, s Store, k Kind, remain, reserved, committed int64) {
	t.Helper()
	got := snap(t, s, k)
	if got.Remaining != remain || got.Reserved != reserved || got.Committed != committed {
		t.Fatalf("%s: remaining/reserved/committed = %d/%d/%d, want %d/%d/%d",
			k, got.Remaining, got.Reserved, got.Committed, remain, reserved, committed)
	}
}

func reserve(t *testing.T, s Store, k Kind, n, want int64) Reservation {
	t.Helper()
	r, err := s.Reserve(context.Background(), k, n)
	if err != nil {
		t.Fatalf("reserve %d %s: %v", n, k, err)
	}
	if r.Granted != want {
		t.Fatalf("reserve %d %s: granted %d, want %d", n, k, r.Granted, want)
	}
	return r
}

func set(t *testing.T, s Store, q apiclient.RefreshQuota, mark SyncMark) {
	t.Helper()
	if err := s.Set(context.Background(), q, mark); err != nil {
		t.Fatal(err)
	}
}

func runStoreSuite(t *testing.T, newStores storeFactory) {
	ctx := context.Background()
	one := func(t *testing.T) (Store, *fakeClock) {
		clock := newClock()
		return newStores(t, clock, 1)[0], clock
	}

	t.Run("not synced grants nothing", func(t *testing.T) {
		s, _ := one(t)
		r, err := s.Reserve(ctx, KindURL, 10)
		mustErrIs(t, err, ErrNotSynced)
		if r.Granted != 0 {
			t.Fatalf("granted %d before any sync", r.Granted)
		}
		sn, err := s.Snapshot(ctx)
		if err != nil || sn.Synced {
			t.Fatalf("snapshot = %+v, %v; want not synced", sn, err)
		}
	})

	t.Run("all, part, none", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(10000, 100), SyncMark{})
		a := reserve(t, s, KindURL, 60, 60)
		b := reserve(t, s, KindURL, 60, 40)
		c := reserve(t, s, KindURL, 10, 0)
		if a.ID == "" || b.ID == "" || c.ID != "" || a.ID == b.ID {
			t.Fatalf("ids %q %q %q: want two distinct and one empty", a.ID, b.ID, c.ID)
		}
		wantKind(t, s, KindURL, 0, 100, 0)
		wantKind(t, s, KindDir, 100, 0, 0) // kinds are separate
		if got := snap(t, s, KindURL).Total; got != 10000 {
			t.Fatalf("total %d", got)
		}
		// Settling a zero grant is a no-op.
		if err := s.Commit(ctx, c, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Refund(ctx, c); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("commit returns the unused part", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(1000, 100), SyncMark{})
		r := reserve(t, s, KindDir, 50, 50)
		if err := s.Commit(ctx, r, 51); err == nil {
			t.Fatal("commit of more than granted accepted")
		}
		if err := s.Commit(ctx, r, 30); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindDir, 70, 0, 30)
		mustErrIs(t, s.Commit(ctx, r, 30), ErrUnknownReservation)
		mustErrIs(t, s.Refund(ctx, r), ErrUnknownReservation)
		wantKind(t, s, KindDir, 70, 0, 30)
	})

	t.Run("refund comes back", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(1000, 100), SyncMark{})
		r := reserve(t, s, KindPreload, 100, 100)
		reserve(t, s, KindPreload, 1, 0)
		if err := s.Refund(ctx, r); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindPreload, 100, 0, 0)
		mustErrIs(t, s.Refund(ctx, r), ErrUnknownReservation)
		reserve(t, s, KindPreload, 100, 100)
	})

	t.Run("expired reservations come back", func(t *testing.T) {
		s, clock := one(t)
		set(t, s, quotaOf(1000, 100), SyncMark{})
		dead := reserve(t, s, KindURL, 40, 40) // its replica dies
		live := reserve(t, s, KindURL, 10, 10)
		if want := clock.Now().Add(DefaultReservationTTL); !dead.Expires.Equal(want) {
			t.Fatalf("expires %v, want %v", dead.Expires, want)
		}
		clock.Add(time.Minute)
		if err := s.Extend(ctx, live, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindURL, 50, 50, 0)
		clock.Add(DefaultReservationTTL)
		wantKind(t, s, KindURL, 90, 10, 0)
		if got := snap(t, s, KindURL).Expired; got != 40 {
			t.Fatalf("expired %d, want 40", got)
		}
		mustErrIs(t, s.Extend(ctx, dead, time.Minute), ErrUnknownReservation)
		// The live one survived thanks to Extend and settles normally.
		if err := s.Commit(ctx, live, 10); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindURL, 90, 0, 10)
	})

	t.Run("late commit of an expired reservation takes back what it spent", func(t *testing.T) {
		s, clock := one(t)
		set(t, s, quotaOf(1000, 100), SyncMark{})
		r := reserve(t, s, KindURL, 40, 40)
		clock.Add(DefaultReservationTTL + time.Second)
		reserve(t, s, KindURL, 100, 100) // the expired 40 are granted again
		wantKind(t, s, KindURL, 0, 100, 0)
		if err := s.Commit(ctx, r, 25); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindURL, 0, 100, 25) // remain cannot go below 0
		mustErrIs(t, s.Commit(ctx, r, 25), ErrUnknownReservation)

		s2, clock2 := one(t)
		set(t, s2, quotaOf(1000, 100), SyncMark{})
		r2 := reserve(t, s2, KindURL, 40, 40)
		clock2.Add(DefaultReservationTTL + time.Second)
		if err := s2.Commit(ctx, r2, 25); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s2, KindURL, 75, 0, 25)
		r3 := reserve(t, s2, KindURL, 5, 5)
		clock2.Add(DefaultReservationTTL + time.Second)
		if err := s2.Refund(ctx, r3); err != nil { // expired refund: already back
			t.Fatal(err)
		}
		wantKind(t, s2, KindURL, 75, 0, 25)
	})

	t.Run("sync subtracts outstanding and commits since the mark", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(1000, 1000), SyncMark{})
		r1 := reserve(t, s, KindURL, 100, 100)
		reserve(t, s, KindURL, 50, 50)
		mark, err := s.Mark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// r1's call lands and commits after the mark, while the API is
		// still answering 1000.
		if err := s.Commit(ctx, r1, 100); err != nil {
			t.Fatal(err)
		}
		set(t, s, quotaOf(1000, 1000), mark)
		wantKind(t, s, KindURL, 850, 50, 100)
		// A fresh mark: the API now reflects r1.
		mark, _ = s.Mark(ctx)
		set(t, s, quotaOf(1000, 900), mark)
		wantKind(t, s, KindURL, 850, 50, 100)
		// API below what is outstanding: remaining is 0, never negative.
		set(t, s, quotaOf(1000, 20), SyncMark{})
		wantKind(t, s, KindURL, 0, 50, 100)
	})

	t.Run("new day starts from the synced value", func(t *testing.T) {
		s, clock := one(t)
		cal := s.Calendar()
		clock.Set(cal.NextReset(clock.Now()).Add(-time.Minute)) // 23:59
		day1 := cal.Day(clock.Now())
		set(t, s, quotaOf(10000, 100), SyncMark{})
		late := reserve(t, s, KindURL, 30, 30) // its call may land after 00:00
		reserve(t, s, KindURL, 70, 70)
		clock.Add(2 * time.Minute) // 00:01, no sleeping
		if day2 := cal.Day(clock.Now()); day2 == day1 {
			t.Fatalf("day did not change: %s", day2)
		}
		_, err := s.Reserve(ctx, KindURL, 1)
		mustErrIs(t, err, ErrNotSynced)
		mark, _ := s.Mark(ctx)
		set(t, s, quotaOf(10000, 10000), mark)
		sn, _ := s.Snapshot(ctx)
		if !sn.Synced || sn.Day == day1 || !sn.LastSync.Equal(clock.Now().Truncate(time.Millisecond)) {
			t.Fatalf("snapshot after new day sync: %+v", sn)
		}
		// Yesterday's reservations had expired by now (TTL 2m at 23:59 +
		// 2m): nothing outstanding, the new day has the API's full value.
		wantKind(t, s, KindURL, 10000, 0, 0)
		// A late commit of yesterday's reservation settles on yesterday.
		if err := s.Commit(ctx, late, 30); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindURL, 10000, 0, 0)
		reserve(t, s, KindURL, 10000, 10000)
	})

	t.Run("new day sync subtracts yesterday's outstanding", func(t *testing.T) {
		s, clock := one(t)
		cal := s.Calendar()
		clock.Set(cal.NextReset(clock.Now()).Add(-30 * time.Second))
		set(t, s, quotaOf(10000, 100), SyncMark{})
		r := reserve(t, s, KindURL, 30, 30)
		clock.Add(time.Minute)
		mark, _ := s.Mark(ctx)
		set(t, s, quotaOf(10000, 10000), mark)
		wantKind(t, s, KindURL, 9970, 0, 0)
		if err := s.Commit(ctx, r, 30); err != nil {
			t.Fatal(err)
		}
		wantKind(t, s, KindURL, 9970, 0, 0)
	})

	t.Run("input checks", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(10, 10), SyncMark{})
		if _, err := s.Reserve(ctx, Kind("bogus"), 1); err == nil {
			t.Fatal("unknown kind accepted")
		}
		if _, err := s.Reserve(ctx, KindURL, -1); err == nil {
			t.Fatal("negative n accepted")
		}
		reserve(t, s, KindBlock, 5, 0) // not reported by the API: nothing
	})

	t.Run("sync error is reported until the next sync", func(t *testing.T) {
		s, _ := one(t)
		set(t, s, quotaOf(10, 10), SyncMark{})
		if err := s.RecordSyncError(ctx, errTest("api down")); err != nil {
			t.Fatal(err)
		}
		sn, _ := s.Snapshot(ctx)
		if sn.SyncError != "api down" || !sn.Synced {
			t.Fatalf("snapshot %+v", sn)
		}
		reserve(t, s, KindURL, 5, 5) // still gating from what it has
		set(t, s, quotaOf(10, 10), SyncMark{})
		if sn, _ := s.Snapshot(ctx); sn.SyncError != "" {
			t.Fatalf("sync error kept: %q", sn.SyncError)
		}
	})

	t.Run("sync lock", func(t *testing.T) {
		stores := newStores(t, newClock(), 2)
		unlock, ok, err := stores[0].TryLock(ctx, time.Minute)
		if err != nil || !ok {
			t.Fatalf("first lock: %v %v", ok, err)
		}
		if _, ok, err := stores[1].TryLock(ctx, time.Minute); err != nil || ok {
			t.Fatalf("second lock taken: %v %v", ok, err)
		}
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		unlock2, ok, err := stores[1].TryLock(ctx, time.Minute)
		if err != nil || !ok {
			t.Fatalf("lock after release: %v %v", ok, err)
		}
		_ = unlock2(ctx)
	})

	t.Run("3 replicas x 16 goroutines never over-grant", func(t *testing.T) {
		const supply, replicas, workers = 1000, 3, 16
		stores := newStores(t, newClock(), replicas)
		set(t, stores[0], quotaOf(10000, supply), SyncMark{})
		var granted atomic.Int64
		var mu sync.Mutex
		var held []Reservation
		var wg sync.WaitGroup
		errs := make(chan error, replicas*workers)
		for i := range replicas * workers {
			s := stores[i%replicas]
			wg.Go(func() {
				for {
					r, err := s.Reserve(ctx, KindURL, 1+rand.Int64N(40))
					if err != nil {
						errs <- err
						return
					}
					if r.Granted == 0 {
						return // demand exceeds supply from here on
					}
					granted.Add(r.Granted)
					mu.Lock()
					held = append(held, r)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if g := granted.Load(); g != supply {
			t.Fatalf("granted %d in total, want exactly %d", g, supply)
		}
		wantKind(t, stores[1], KindURL, 0, supply, 0)
		// Refund half, commit half: the refunds come back.
		var refunded int64
		for i, r := range held {
			var err error
			if i%2 == 0 {
				err = stores[i%replicas].Refund(ctx, r)
				refunded += r.Granted
			} else {
				err = stores[i%replicas].Commit(ctx, r, r.Granted)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		wantKind(t, stores[2], KindURL, refunded, 0, supply-refunded)
	})
}

type errTest string

func (e errTest) Error() string { return string(e) }
