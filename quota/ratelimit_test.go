package quota

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Three limiters (three replicas) sharing Redis together send no more than
// the limit: the 60 slots they book at 50/s, however the calls are split,
// are at least 20 ms apart on Redis's clock.
func TestRateLimiterSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	const action = "RefreshObjectCaches"
	var lims []*RateLimiter
	for range 3 {
		lims = append(lims, NewRateLimiter(rdb, RateLimiterOptions{Prefix: prefix, Account: "acct",
			Limits: map[string]float64{action: 50}}))
	}
	const interval = 20_000 // µs at 50/s
	var mu sync.Mutex
	var slots []int64
	var wg sync.WaitGroup
	for _, l := range lims {
		for range 4 {
			wg.Go(func() {
				for range 5 {
					_, slot, err := l.book(context.Background(), action, interval)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					slots = append(slots, slot)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(slots) != 60 {
		t.Fatalf("%d slots booked, want 60", len(slots))
	}
	slices.Sort(slots)
	for i := 1; i < len(slots); i++ {
		if gap := slots[i] - slots[i-1]; gap < interval {
			t.Fatalf("slots %d and %d are %d µs apart, want >= %d: the limit was not shared", i-1, i, gap, interval)
		}
	}
}

func TestRateLimiterFallsBackWithoutRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	l := NewRateLimiter(rdb, RateLimiterOptions{Limits: map[string]float64{"X": 20}, FallbackShare: 0.5})
	start := time.Now()
	for range 4 {
		if err := l.Wait(context.Background(), "X"); err != nil {
			t.Fatal(err)
		}
	}
	// 20/s at half share is 10/s: four calls span at least 300 ms.
	if el := time.Since(start); el < 290*time.Millisecond {
		t.Fatalf("fallback paced 4 calls in %s, want >= 300ms at 10/s", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, "X"); err == nil {
		t.Fatal("Wait ignored a cancelled context")
	}
}
