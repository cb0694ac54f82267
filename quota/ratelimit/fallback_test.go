package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// deadRedis is a client of a port nothing listens on: every command fails
// at once.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// recordLog keeps the records logged through it.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recordLog) logger() *slog.Logger { return slog.New(r) }

func (r *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recordLog) WithGroup(string) slog.Handler            { return r }

func (r *recordLog) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

func (r *recordLog) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// attr is the value of key in the i-th record, "" when absent.
func (r *recordLog) attr(i int, key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := ""
	r.recs[i].Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// While Redis is away the domain pacer counts in this process: what it
// took there is given back there, a refusal blocks the local window, and
// the fallback is logged at most once a minute by the pacer's clock.
func TestDomainPacerFallsBackWithoutRedis(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)
	c := &fakeMinuteClock{now: start}
	logs := &recordLog{}
	p := NewRedisDomainPacer(deadRedis(t), DomainPacerOptions{Now: c.Now, Sleep: c.Sleep, Logger: logs.logger()})
	ctx := context.Background()
	if err := p.Take(ctx, "example.com", 900); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if err := p.Take(ctx, "img.example.com", 600); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if err := p.Give(ctx, "img.example.com", 600); err != nil {
		t.Fatalf("Give of a local take: %v", err)
	}
	if err := p.Take(ctx, "img.example.com", 1000); err != nil || c.sleeps != 0 {
		t.Fatalf("room given back locally: %v, %d waits", err, c.sleeps)
	}
	if n := logs.count(); n != 1 || !c.Now().Equal(start) {
		t.Fatalf("%d warnings within a minute, want 1", n)
	}
	if err := p.Landed(ctx, "example.com", 900); err != nil {
		t.Fatalf("Landed: %v", err)
	}
	until, err := p.Block(ctx, "example.com")
	if err != nil || !until.Equal(start.Add(61*time.Second)) {
		t.Fatalf("Block = %s, %v; want the local window's %s", until, err, start.Add(61*time.Second))
	}
	// The next take waits for the local block, a minute and more, and the
	// fallback is logged again after it.
	if err := p.Take(ctx, "example.com", 1); err != nil || c.sleeps != 1 || !c.Now().Equal(until) {
		t.Fatalf("Take after Block: %v, %d waits, now %s", err, c.sleeps, c.Now())
	}
	if n := logs.count(); n != 2 {
		t.Fatalf("%d warnings after a minute, want 2", n)
	}
}
