package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// fakeMinuteClock is a clock whose Sleep moves time instead of waiting.
type fakeMinuteClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps int
}

func (c *fakeMinuteClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeMinuteClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps++
	return nil
}

// paceRedis is the machine's Redis and a key prefix of the test's own.
// Without a Redis answering it skips the test, or fails it when CI is set
// (quotatest.Redis).
func paceRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	rdb := quotatest.Redis(t)
	return rdb, quotatest.Prefix(t, rdb)
}

type pacerMaker func(t *testing.T, c *fakeMinuteClock) (*DomainPacer, *DomainPacer)

// pacers returns two pacers that share a count (replicas) for each backend.
func pacers() map[string]pacerMaker {
	return map[string]pacerMaker{
		"memory": func(t *testing.T, c *fakeMinuteClock) (*DomainPacer, *DomainPacer) {
			p := NewMemoryDomainPacer(DomainPacerOptions{Now: c.Now, Sleep: c.Sleep})
			return p, p
		},
		"redis": func(t *testing.T, c *fakeMinuteClock) (*DomainPacer, *DomainPacer) {
			rdb, prefix := paceRedis(t)
			o := DomainPacerOptions{Prefix: prefix, Account: "5550001", Now: c.Now, Sleep: c.Sleep}
			return NewRedisDomainPacer(rdb, o), NewRedisDomainPacer(rdb, o)
		},
	}
}

func TestDomainPacer(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)
	for name, mk := range pacers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			t.Run("2,500 URLs of one domain go in two windows, shared by replicas", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				for i, n := range []int{1000, 1000, 500} {
					p := a
					if i%2 == 1 {
						p = b
					}
					if err := p.Take(ctx, "example.com", n); err != nil {
						t.Fatal(err)
					}
					if err := p.Landed(ctx, "example.com", n); err != nil {
						t.Fatal(err)
					}
				}
				// Each 1,000 waits for the one before to leave the 60 s
				// window (and the 1 s margin), not for a calendar minute.
				if c.sleeps != 2 || c.Now().Sub(start) != 122*time.Second {
					t.Fatalf("%d waits, ended %s after the start", c.sleeps, c.Now().Sub(start))
				}
				// Another domain has its own window.
				if err := a.Take(ctx, "img.example.com", 1000); err != nil || c.sleeps != 2 {
					t.Fatalf("other domain waited: %v, %d", err, c.sleeps)
				}
			})
			t.Run("no 60 s span holds more than the limit", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				type sent struct {
					at time.Time
					n  int
				}
				var log []sent
				for i, n := range []int{400, 300, 300, 200, 600, 100, 900, 50} {
					p := a
					if i%2 == 1 {
						p = b
					}
					if err := p.Take(ctx, "span.example.com", n); err != nil {
						t.Fatal(err)
					}
					log = append(log, sent{c.Now(), n})
					if err := p.Landed(ctx, "span.example.com", n); err != nil {
						t.Fatal(err)
					}
					c.Sleep(ctx, 7*time.Second)
				}
				for i := range log {
					sum := 0
					for _, s := range log[i:] {
						if s.at.Sub(log[i].at) < time.Minute {
							sum += s.n
						}
					}
					if sum > 1000 {
						t.Fatalf("%d URLs in the 60 s from %s", sum, log[i].at)
					}
				}
			})
			t.Run("a take is counted from its answer", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				if err := a.Take(ctx, "late.example.com", 1000); err != nil {
					t.Fatal(err)
				}
				// The call was retried and answered 30 s later.
				c.Sleep(ctx, 30*time.Second)
				if err := a.Landed(ctx, "late.example.com", 1000); err != nil {
					t.Fatal(err)
				}
				if err := b.Take(ctx, "late.example.com", 1); err != nil || c.Now().Sub(start) != 91*time.Second {
					t.Fatalf("next take: %v at %s after the start, want 91s", err, c.Now().Sub(start))
				}
			})
			t.Run("a refusal blocks the domain until its oldest URL leaves the window", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				if err := a.Take(ctx, "block.example.com", 10); err != nil {
					t.Fatal(err)
				}
				if err := a.Landed(ctx, "block.example.com", 10); err != nil {
					t.Fatal(err)
				}
				c.Sleep(ctx, 20*time.Second)
				until, err := a.Block(ctx, "block.example.com")
				if err != nil || !until.Equal(start.Add(61*time.Second)) {
					t.Fatalf("Block = %s, %v; want %s", until, err, start.Add(61*time.Second))
				}
				if err := b.Take(ctx, "block.example.com", 1); err != nil || c.sleeps != 2 || !c.Now().Equal(until) {
					t.Fatalf("after Block: %v, %d waits, now %s", err, c.sleeps, c.Now())
				}
			})
			t.Run("a take whose call is not answered frees nothing", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				if err := a.Take(ctx, "slow.example.com", 1000); err != nil {
					t.Fatal(err)
				}
				stop := fmt.Errorf("stop")
				var waited time.Duration
				b.sleep = func(_ context.Context, d time.Duration) error { waited = d; return stop }
				c.Sleep(ctx, 90*time.Second)
				if err := b.Take(ctx, "slow.example.com", 1); err != stop || waited != 61*time.Second {
					t.Fatalf("take beside a call in flight for 90 s: %v, wait %s; want a whole window", err, waited)
				}
			})
			t.Run("a refusal of a domain the pacer saw nothing of blocks a whole window", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, _ := mk(t, c)
				until, err := a.Block(ctx, "other.example.com")
				if err != nil || !until.Equal(start.Add(61*time.Second)) {
					t.Fatalf("Block = %s, %v", until, err)
				}
			})
			t.Run("URLs of a refused call are given back", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, _ := mk(t, c)
				if err := a.Take(ctx, "give.example.com", 800); err != nil {
					t.Fatal(err)
				}
				if err := a.Give(ctx, "give.example.com", 800); err != nil {
					t.Fatal(err)
				}
				if err := a.Take(ctx, "give.example.com", 1000); err != nil || c.sleeps != 0 {
					t.Fatalf("room not given back: %v, %d waits", err, c.sleeps)
				}
			})
			t.Run("a call bigger than the limit is refused", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, _ := mk(t, c)
				if err := a.Take(ctx, "big.example.com", 1001); err == nil || !strings.Contains(err.Error(), "urls_per_refresh") {
					t.Fatalf("err = %v", err)
				}
			})
		})
	}
}

// Without an injected clock the Redis window runs on Redis's own clock,
// so replicas with skewed clocks agree.
func TestDomainPacerRedisClock(t *testing.T) {
	t.Parallel()
	rdb, prefix := paceRedis(t)
	var waited time.Duration
	stop := fmt.Errorf("stop")
	p := NewRedisDomainPacer(rdb, DomainPacerOptions{Prefix: prefix, Account: "5550002",
		Sleep: func(_ context.Context, d time.Duration) error { waited = d; return stop }})
	ctx := context.Background()
	if err := p.Take(ctx, "clock.example.com", 1000); err != nil {
		t.Fatal(err)
	}
	if err := p.Take(ctx, "clock.example.com", 1); err != stop || waited < 55*time.Second || waited > 61*time.Second {
		t.Fatalf("second take: %v after a wait of %s, want about 61s", err, waited)
	}
}
