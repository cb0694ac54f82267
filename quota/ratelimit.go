package quota

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// RateLimiter keeps the calls of each action under the account's calls/s
// across every replica sharing Redis: the limits are per account, not per
// process. It satisfies apiclient.Limiter.
//
// When Redis cannot be reached it falls back to an in-process limiter at
// FallbackShare of the limits, so that a Redis outage slows calls down
// rather than stopping them or letting N replicas send N times the limit.
type RateLimiter struct {
	rdb      redis.UniversalClient
	prefix   string
	account  string
	limits   map[string]float64
	fallback *apiclient.ActionLimiter
	log      *slog.Logger

	mu     sync.Mutex
	warned time.Time
}

// RateLimiterOptions configure a RateLimiter.
type RateLimiterOptions struct {
	// Prefix and Account namespace the keys as for the quota store.
	Prefix  string
	Account string
	// Limits override apiclient.EffectiveRateLimits (calls/s); a negative
	// value lifts an action's limit.
	Limits map[string]float64
	// FallbackShare is the part of each limit one replica uses while Redis
	// is unreachable; default 0.5.
	FallbackShare float64
	Logger        *slog.Logger
}

// NewRateLimiter returns a limiter pacing through rdb.
func NewRateLimiter(rdb redis.UniversalClient, o RateLimiterOptions) *RateLimiter {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.FallbackShare <= 0 || o.FallbackShare > 1 {
		o.FallbackShare = 0.5
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &RateLimiter{rdb: rdb, prefix: o.Prefix, account: o.Account, limits: apiclient.EffectiveRateLimits(o.Limits),
		fallback: apiclient.NewActionLimiter(o.Limits, o.FallbackShare), log: o.Logger}
}

func keyPace(prefix, account, action string) string {
	return prefix + "{" + account + "}:pace:" + action
}

// Wait books the next free slot of action across all replicas and waits
// for it.
func (l *RateLimiter) Wait(ctx context.Context, action string) error {
	perSec, ok := l.limits[action]
	if !ok {
		perSec = 10
	}
	if perSec < 0 {
		return nil
	}
	wait, _, err := l.book(ctx, action, int64(math.Ceil(1e6/perSec)))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.warnFallback(action, err)
		return l.fallback.Wait(ctx, action)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(wait) * time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// book takes the next free slot of action, interval µs after the last one
// booked by any replica: it returns how long until the slot (µs) and the
// slot itself (unix µs on Redis's clock).
func (l *RateLimiter) book(ctx context.Context, action string, interval int64) (wait, slot int64, err error) {
	r, err := paceScript.Run(ctx, l.rdb, []string{keyPace(l.prefix, l.account, action)}, interval).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(r) != 2 {
		return 0, 0, fmt.Errorf("pace %s: script returned %d values, want 2", action, len(r))
	}
	return r[0], r[1], nil
}

// warnFallback logs the fallback at most once a minute.
func (l *RateLimiter) warnFallback(action string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.warned) < time.Minute {
		return
	}
	l.warned = time.Now()
	l.log.Warn("shared rate limiter unavailable; pacing this replica alone at a reduced share",
		slog.String("action", action), slog.String("error", err.Error()))
}
