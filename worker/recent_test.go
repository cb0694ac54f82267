package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// Both Recent stores: a path asked for at T is covered only by a call of
// the same action sent after T, only after Remember and only within the
// window; a path asked for after the call was sent is never covered.
func TestRecent(t *testing.T) {
	clock := cdnemu.NewClock(time.Now())
	rdb := quotatest.Redis(t)
	prefix := quotatest.Prefix(t, rdb)
	stores := map[string]Recent{
		"memory": NewMemoryRecent(time.Minute, clock.Now),
		"redis":  NewRedisRecent(rdb, prefix, "acct", 300*time.Millisecond),
	}
	ctx := context.Background()
	for name, r := range stores {
		t.Run(name, func(t *testing.T) {
			paths := []string{"https://example.com/a", "https://example.com/b", "https://example.com/c"}
			asked := clock.Now()
			fresh, err := r.Fresh(ctx, "refresh", paths, asked)
			if err != nil || !slices.Equal(fresh, paths) {
				t.Fatalf("before Remember: %v %v", fresh, err)
			}
			sent := asked.Add(5 * time.Second)
			if err := r.Remember(ctx, "refresh", paths[:2], sent); err != nil {
				t.Fatal(err)
			}
			fresh, _ = r.Fresh(ctx, "refresh", paths, asked)
			if !slices.Equal(fresh, paths[2:]) {
				t.Fatalf("asked before the call was sent: fresh %v, want only c", fresh)
			}
			for _, after := range []time.Time{sent, sent.Add(-time.Second / 2), sent.Add(time.Second)} {
				if fresh, _ = r.Fresh(ctx, "refresh", paths, after); len(fresh) != 3 {
					t.Fatalf("asked at %s, the call sent at %s: fresh %v, want all (the file may have changed after the call)", after, sent, fresh)
				}
			}
			if fresh, _ = r.Fresh(ctx, "refresh", paths, time.Time{}); len(fresh) != 3 {
				t.Fatalf("no request time: fresh %v, want all", fresh)
			}
			if fresh, _ = r.Fresh(ctx, "push", paths, asked); len(fresh) != 3 {
				t.Fatalf("another action shares the memory: %v", fresh)
			}
			// Past the window everything is fresh again.
			clock.Advance(2 * time.Minute)
			// Redis expires its keys on its own clock: look until it did.
			jobstest.Await(t, "every path fresh after the window", 3*time.Second, func() bool {
				fresh, _ = r.Fresh(ctx, "refresh", paths, asked)
				return len(fresh) == 3
			})
		})
	}
}

// Without Redis every path counts as fresh: a duplicate refresh costs
// quota, a dropped one leaves a stale file.
func TestRedisRecentFailsOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	r := NewRedisRecent(rdb, "", "", time.Minute)
	paths := []string{"https://example.com/a"}
	fresh, err := r.Fresh(context.Background(), "refresh", paths, time.Now())
	if err == nil || !slices.Equal(fresh, paths) {
		t.Fatalf("fresh %v, err %v: want every path and an error", fresh, err)
	}
}

// MemoryRecent forgets what is past its window: after a window of quiet,
// one more call leaves only its own paths held, so its memory is bounded
// by what was sent in about one window.
func TestMemoryRecentForgetsPastTheWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	r := NewMemoryRecent(time.Hour, func() time.Time { return now })
	ctx := context.Background()
	if err := r.Remember(ctx, "refresh", urls("example.com", 0, 1000), now); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour + time.Hour/8)
	if err := r.Remember(ctx, "refresh", urls("example.com", 5000, 1), now); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.seen); n != 1 {
		t.Fatalf("%d paths held, want 1: what is past the window is kept", n)
	}
}

// BenchmarkMemoryRecentRemember: an accepted call of 1,000 paths
// remembered while 30,000 paths of the last hour are held (the default
// window, a busy account).
func BenchmarkMemoryRecentRemember(b *testing.B) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	r := NewMemoryRecent(time.Hour, func() time.Time { return now })
	ctx := context.Background()
	for i := range 30 {
		_ = r.Remember(ctx, "refresh", urls("example.com", i*1000, 1000), now)
	}
	call := urls("example.com", 0, 1000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		_ = r.Remember(ctx, "refresh", call, now)
	}
}
