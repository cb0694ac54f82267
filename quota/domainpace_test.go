package quota

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

func paceRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	prefix := fmt.Sprintf("cdnpurge-pace-test-%x:", rand.Uint64())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return rdb, prefix
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
			t.Run("2,500 URLs of one domain take three minutes' room, shared by replicas", func(t *testing.T) {
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
				}
				if c.sleeps != 2 || c.Now().Sub(start) >= 3*time.Minute || minuteOf(c.Now()) != minuteOf(start)+2 {
					t.Fatalf("%d waits, ended at %s", c.sleeps, c.Now())
				}
				// Another domain has its own minute.
				if err := a.Take(ctx, "img.example.com", 1000); err != nil || c.sleeps != 2 {
					t.Fatalf("other domain waited: %v, %d", err, c.sleeps)
				}
			})
			t.Run("a refusal blocks the domain for the rest of the minute", func(t *testing.T) {
				c := &fakeMinuteClock{now: start}
				a, b := mk(t, c)
				if err := a.Take(ctx, "block.example.com", 10); err != nil {
					t.Fatal(err)
				}
				if err := a.Block(ctx, "block.example.com"); err != nil {
					t.Fatal(err)
				}
				if err := b.Take(ctx, "block.example.com", 1); err != nil || c.sleeps != 1 || c.Now() != start.Truncate(time.Minute).Add(time.Minute) {
					t.Fatalf("after Block: %v, %d waits, now %s", err, c.sleeps, c.Now())
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
