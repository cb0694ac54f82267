package quota

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisKeysAreNamespacedAndExpire(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	prefix := testPrefix(t, c)
	clock := newClock()
	s := NewRedisStore(c, Options{Prefix: prefix, Account: "LTAIexample", Now: clock.Now})
	set(t, s, quotaOf(100, 100), SyncMark{})
	reserve(t, s, KindURL, 1, 1)
	day := s.Calendar().Day(clock.Now())
	wantExpiry := s.Calendar().NextReset(clock.Now()).Add(48 * time.Hour)
	ks := keyspace{prefix: prefix, account: "LTAIexample"}
	for _, key := range []string{ks.state(day), ks.res(day), ks.resInfo(day)} {
		if key[:len(prefix)] != prefix {
			t.Fatalf("key %q outside prefix", key)
		}
		at, err := c.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := time.UnixMilli(at.Milliseconds()); !got.Equal(wantExpiry) {
			t.Fatalf("%s expires at %v, want %v", key, got, wantExpiry)
		}
	}
	if want := prefix + "{LTAIexample}:" + day + ":state"; ks.state(day) != want {
		t.Fatalf("state key %q, want %q", ks.state(day), want)
	}

	// Another account under the same prefix has a mirror of its own.
	other := NewRedisStore(c, Options{Prefix: prefix, Account: "other", Now: clock.Now})
	_, err := other.Reserve(ctx, KindURL, 1)
	mustErrIs(t, err, ErrNotSynced)
}

func TestRedisUnreachableFailsClosed(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	s := NewRedisStore(c, Options{})
	r, err := s.Reserve(ctx, KindURL, 10)
	mustErrIs(t, err, ErrUnavailable)
	if r.Granted != 0 {
		t.Fatalf("granted %d with Redis down", r.Granted)
	}
	t.Logf("error: %v", err)
	_, err = s.Snapshot(ctx)
	mustErrIs(t, err, ErrUnavailable)
	mustErrIs(t, s.Commit(ctx, Reservation{ID: "x", Granted: 1}, 1), ErrUnavailable)
	_, _, err = s.TryLock(ctx, time.Second)
	mustErrIs(t, err, ErrUnavailable)

	m := NewMirror(s, &fakeSource{q: quotaOf(10, 10)}, MirrorConfig{Logger: discardLogger()})
	_, err = m.Reserve(ctx, KindURL, 10)
	mustErrIs(t, err, ErrUnavailable)
	if st := m.Stats(); !st.StoreDown || st.StoreErrors == 0 {
		t.Fatalf("stats %+v: want store down", st)
	}
}

func TestRedisOutageRecoversAndResyncs(t *testing.T) {
	ctx := context.Background()
	real := redisClient(t)
	prefix := testPrefix(t, real)
	proxy := newProxy(t, redisAddr)
	c := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	clock := newClock()
	s := NewRedisStore(c, Options{Prefix: prefix, Account: "acct", Now: clock.Now})
	src := &fakeSource{q: quotaOf(1000, 1000)}
	m := NewMirror(s, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	r1, err := m.Reserve(ctx, KindURL, 100)
	if err != nil || r1.Granted != 100 {
		t.Fatalf("reserve: %+v %v", r1, err)
	}

	proxy.Cut()
	r2, err := m.Reserve(ctx, KindURL, 10)
	mustErrIs(t, err, ErrUnavailable)
	if r2.Granted != 0 {
		t.Fatalf("granted %d during the outage", r2.Granted)
	}
	// r1's call succeeded; its commit cannot reach Redis and is kept.
	mustErrIs(t, m.Commit(ctx, r1, 100), ErrUnavailable)
	if st := m.Stats(); !st.StoreDown || st.PendingSettlements != 1 {
		t.Fatalf("stats during outage %+v", st)
	}

	// Meanwhile the store lost its data (a restart): the mirror must not
	// grant from nothing, it re-syncs first.
	iter := real.Scan(ctx, 0, prefix+"*", 10_000).Iterator()
	for iter.Next(ctx) {
		real.Del(ctx, iter.Val())
	}
	src.set(quotaOf(1000, 900), nil) // the API saw r1's 100
	calls := src.Calls()
	proxy.Restore()

	r3, err := m.Reserve(ctx, KindURL, 2000)
	if err != nil {
		t.Fatalf("reserve after recovery: %v", err)
	}
	if src.Calls() != calls+1 {
		t.Fatalf("DescribeRefreshQuota calls %d, want %d: no re-sync before granting", src.Calls(), calls+1)
	}
	if r3.Granted != 900 {
		t.Fatalf("granted %d after recovery, want 900", r3.Granted)
	}
	if st := m.Stats(); st.StoreDown || st.PendingSettlements != 0 {
		t.Fatalf("stats after recovery %+v", st)
	}
}

func TestRedisOnlyOneReplicaSyncs(t *testing.T) {
	ctx := context.Background()
	stores := redisFactory(t, newClock(), 2)
	block := make(chan struct{})
	slow := &fakeSource{q: quotaOf(100, 100), block: block}
	other := &fakeSource{q: quotaOf(100, 100)}
	m1 := NewMirror(stores[0], slow, MirrorConfig{Logger: discardLogger()})
	m2 := NewMirror(stores[1], other, MirrorConfig{Logger: discardLogger()})
	done := make(chan error, 1)
	go func() { done <- m1.SyncNow(ctx) }()
	select {
	case <-slow.firstCall():
	case <-time.After(5 * time.Second):
		t.Fatal("first sync never started")
	}
	if err := m2.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if other.Calls() != 0 || m2.Stats().SyncsSkipped != 1 {
		t.Fatalf("second replica synced while the first held the lock (calls %d)", other.Calls())
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m2.SyncNow(ctx); err != nil || other.Calls() != 1 {
		t.Fatalf("after release: calls %d, err %v", other.Calls(), err)
	}
}
