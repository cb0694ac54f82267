package quota

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Three limiters (three replicas) sharing Redis together send no more than
// the limit: 60 calls at 50/s take at least 1.18 s however they are split.
func TestRateLimiterSharedAcrossReplicas(t *testing.T) {
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	const action = "RefreshObjectCaches"
	var lims []*RateLimiter
	for range 3 {
		lims = append(lims, NewRateLimiter(rdb, RateLimiterOptions{Prefix: prefix, Account: "acct",
			Limits: map[string]float64{action: 50}}))
	}
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for _, l := range lims {
		for range 4 {
			wg.Go(func() {
				for range 5 {
					if err := l.Wait(context.Background(), action); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(times) != 60 {
		t.Fatalf("%d calls", len(times))
	}
	// Slots are 20ms apart: the 60th slot starts 59 intervals after the
	// first, whichever replica took it.
	if el := time.Since(start); el < 59*20*time.Millisecond-10*time.Millisecond {
		t.Fatalf("60 calls at 50/s across 3 replicas took %s; the limit was not shared", el)
	}
	// No one-second window holds more than 51 calls (50 plus the boundary).
	for i := range times {
		n := 0
		for _, u := range times {
			if !u.Before(times[i]) && u.Sub(times[i]) < time.Second {
				n++
			}
		}
		if n > 51 {
			t.Fatalf("%d calls within one second", n)
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
