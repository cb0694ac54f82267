package quota

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// Every Lua script and multi-key command keeps its keys in one hash slot
// (the {account} tag): on a Redis Cluster of three masters a script whose
// keys spanned slots would fail with CROSSSLOT. This runs every script of
// scripts.go (the whole store suite, and the sync lock) against one; the
// rate limits' scripts run in quota/ratelimit's TestScriptsOnARedisCluster.
func TestScriptsOnARedisCluster(t *testing.T) {
	t.Parallel()
	addrs := quotatest.RedisCluster(t)
	newClient := func(t *testing.T) *redis.ClusterClient { return quotatest.ClusterClient(t, addrs) }
	prefix := quotatest.ClusterPrefix
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
}
