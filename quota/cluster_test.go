package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// Every Lua script and multi-key command keeps its keys in one hash slot
// (the {account} tag): on a Redis Cluster of three masters a script whose
// keys spanned slots would fail with CROSSSLOT. This runs the quota
// store's scripts (the whole store suite), the per-domain pacing and the
// calls/s budget against one.
func TestScriptsOnARedisCluster(t *testing.T) {
	t.Parallel()
	addrs := quotatest.RedisCluster(t)
	newClient := func(t *testing.T) *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	prefix := func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return "cdnpurge-cluster-test:" + hex.EncodeToString(b[:]) + ":"
	}
	t.Run("quota store", func(t *testing.T) {
		runStoreSuite(t, func(t *testing.T, clock *fakeClock, n int) []Store {
			p := prefix()
			out := make([]Store, n)
			for i := range out {
				out[i] = NewRedisStore(newClient(t), Options{Prefix: p, Account: "acct", Now: clock.Now})
			}
			return out
		})
	})
	t.Run("sync lock", func(t *testing.T) {
		s := NewRedisStore(newClient(t), Options{Prefix: prefix(), Account: "acct"})
		unlock, ok, err := s.TryLock(t.Context(), time.Minute)
		if err != nil || !ok {
			t.Fatalf("TryLock: %v %v", ok, err)
		}
		if err := unlock(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mark(t.Context()); err != nil {
			t.Fatalf("Mark: %v", err)
		}
	})
	t.Run("domain pacing", func(t *testing.T) {
		c := &fakeMinuteClock{now: time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)}
		o := DomainPacerOptions{Prefix: prefix(), Account: "5550001", Now: c.Now, Sleep: c.Sleep}
		a, b := NewRedisDomainPacer(newClient(t), o), NewRedisDomainPacer(newClient(t), o)
		ctx := context.Background()
		for _, d := range []string{"example.com", "img.example.com", "a.example.org"} {
			// Every window script: take, give back, take, landed, block.
			if err := a.Take(ctx, d, 900); err != nil {
				t.Fatalf("Take %s: %v", d, err)
			}
			if err := a.Give(ctx, d, 900); err != nil {
				t.Fatalf("Give %s: %v", d, err)
			}
			if err := a.Take(ctx, d, 900); err != nil {
				t.Fatalf("Take %s again: %v", d, err)
			}
			if err := a.Landed(ctx, d, 900); err != nil {
				t.Fatalf("Landed %s: %v", d, err)
			}
			if _, err := b.Block(ctx, d); err != nil {
				t.Fatalf("Block %s: %v", d, err)
			}
		}
		if err := a.Take(ctx, "example.com", 10); err != nil || c.sleeps != 1 {
			t.Fatalf("after Block: %v, %d waits (want the shared block honoured)", err, c.sleeps)
		}
	})
	t.Run("calls/s budget", func(t *testing.T) {
		c, p := newClient(t), prefix()
		l := NewRateLimiter(c, RateLimiterOptions{Prefix: p, Account: "acct",
			Limits: map[string]float64{"RefreshObjectCaches": 1000, "DescribeRefreshQuota": 1000}})
		for _, action := range []string{"RefreshObjectCaches", "DescribeRefreshQuota"} {
			for range 5 {
				if err := l.Wait(t.Context(), action); err != nil {
					t.Fatalf("Wait %s: %v", action, err)
				}
			}
			// The script booked its slot in the cluster (a failing script
			// falls back to a local limit and books nothing).
			if n, err := c.Exists(t.Context(), keyPace(p, "acct", action)).Result(); err != nil || n != 1 {
				t.Fatalf("%s: pace key exists %d (%v), want 1", action, n, err)
			}
		}
	})
}
