package ratelimit

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// Three limiters (three replicas) sharing Redis together send no more than
// the limit: the 60 slots they book at 50/s, however the calls are split,
// are at least 20 ms apart on Redis's clock.
func TestLimiterSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	prefix := quotatest.Prefix(t, rdb)
	const action = "RefreshObjectCaches"
	var lims []*Limiter
	for range 3 {
		lims = append(lims, NewLimiter(rdb, LimiterOptions{Prefix: prefix, Account: "acct",
			Limits: map[string]float64{action: 50}}))
	}
	const interval = 20_000 // µs at 50/s
	if got, on := lims[0].interval(action); !on || got != interval {
		t.Fatalf("interval of %s = %d µs (on %v), want %d", action, got, on, interval)
	}
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

// The calls/s of each action, an action apiclient knows no limit of
// included, are apiclient's: the rule is written there once.
func TestLimiterTakesAPIClientRates(t *testing.T) {
	t.Parallel()
	overrides := map[string]float64{"Lifted": -1, "RefreshObjectCaches": 40}
	l := NewLimiter(deadRedis(t), LimiterOptions{Limits: overrides})
	want := apiclient.NewActionLimiter(overrides, 1)
	for _, action := range []string{"RefreshObjectCaches", "DescribeRefreshQuota", "NoSuchAction"} {
		got, on := l.interval(action)
		if perSec := float64(want.Limit(action)); !on || got != int64(math.Ceil(1e6/perSec)) {
			t.Errorf("%s: interval %d µs (on %v), want 1e6/%g", action, got, on, perSec)
		}
	}
	if got, _ := l.interval("NoSuchAction"); got != 100_000 {
		t.Errorf("an unknown action is paced every %d µs, want 100,000 (10 calls/s)", got)
	}
	if _, on := l.interval("Lifted"); on {
		t.Error("a lifted limit still paces")
	}
}

// Without Redis each replica paces itself at its share of the limit, and
// says so at most once a minute by the injected clock.
func TestLimiterFallsBackWithoutRedis(t *testing.T) {
	t.Parallel()
	clock := &fakeMinuteClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	logs := &recordLog{}
	// X at 0.2/s is 0.1/s at half share: a call every 10 s.
	l := NewLimiter(deadRedis(t), LimiterOptions{Limits: map[string]float64{"X": 0.2, "Fast": 1e6},
		FallbackShare: 0.5, Now: clock.Now, Logger: logs.logger()})
	if err := l.Wait(context.Background(), "X"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d warnings after the first fallback, want 1", n)
	}
	// The next call of X is 10 s away at half share (5 s at the whole
	// limit): the local limiter refuses at once a wait its deadline
	// cannot cover, rather than wait 5 s and let it through.
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	if err := l.Wait(ctx, "X"); err == nil || ctx.Err() != nil {
		t.Fatalf("second call within 7 s: %v (context: %v), want a refusal before the deadline", err, ctx.Err())
	}
	if err := l.Wait(context.Background(), "Fast"); err != nil {
		t.Fatal(err)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d warnings within a minute, want 1", n)
	}
	clock.Sleep(context.Background(), time.Minute)
	if err := l.Wait(context.Background(), "Fast"); err != nil {
		t.Fatal(err)
	}
	if n := logs.count(); n != 2 {
		t.Fatalf("%d warnings a minute later, want 2", n)
	}
	if a := logs.attr(1, "action"); a != "Fast" {
		t.Fatalf("warning names action %q, want Fast", a)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, "Fast"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
}
