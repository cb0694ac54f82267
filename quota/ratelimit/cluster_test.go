package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// Every script of scripts.go keeps its key in the account's hash slot
// (the {account} tag) and runs on a Redis Cluster of three masters, as
// the quota store's do (quota's TestScriptsOnARedisCluster): the
// per-domain window's take, give, landed and block, and the calls/s pace.
func TestScriptsOnARedisCluster(t *testing.T) {
	t.Parallel()
	addrs := quotatest.RedisCluster(t)
	newClient := func(t *testing.T) *redis.ClusterClient { return quotatest.ClusterClient(t, addrs) }
	prefix := quotatest.ClusterPrefix
	t.Run("domain pacing", func(t *testing.T) {
		c := &fakeMinuteClock{now: time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)}
		logs := &recordLog{} // the fallback's warnings: a script that failed
		o := DomainPacerOptions{Prefix: prefix(), Account: "5550001", Now: c.Now, Sleep: c.Sleep, Logger: logs.logger()}
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
		if n := logs.count(); n != 0 {
			t.Fatalf("%d fallbacks to local pacing, want none: %s", n, logs.attr(0, "error"))
		}
	})
	t.Run("calls/s budget", func(t *testing.T) {
		c, p := newClient(t), prefix()
		l := NewLimiter(c, LimiterOptions{Prefix: p, Account: "acct",
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
