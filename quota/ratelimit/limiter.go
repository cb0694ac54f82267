package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
)

// Limiter keeps the calls of each action under the account's calls/s
// across every replica sharing Redis: the limits are per account, not per
// process. It satisfies apiclient.Limiter.
//
// When Redis cannot be reached it falls back to an in-process limiter at
// FallbackShare of the limits, so that a Redis outage slows calls down
// rather than stopping them or letting N replicas send N times the limit.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	account string
	// rates answers each action's calls/s (apiclient's rule, unknown
	// actions included); local paces this process alone at the share.
	rates *apiclient.ActionLimiter
	local *apiclient.ActionLimiter
	fb    *fallback
}

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	// Prefix and Account namespace the keys as for the quota store.
	Prefix  string
	Account string
	// Limits override apiclient's rate limits (calls/s); a negative
	// value lifts an action's limit.
	Limits map[string]float64
	// FallbackShare is the part of each limit one replica uses while Redis
	// is unreachable; default 0.5.
	FallbackShare float64
	// Now is the clock of the fallback's warnings (at most one a minute);
	// default time.Now. The shared budget is timed by Redis's clock.
	Now    func() time.Time
	Logger *slog.Logger
}

// NewLimiter returns a limiter pacing through rdb.
func NewLimiter(rdb redis.UniversalClient, o LimiterOptions) *Limiter {
	if o.Prefix == "" {
		o.Prefix = quota.DefaultPrefix
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
	return &Limiter{rdb: rdb, prefix: o.Prefix, account: o.Account,
		rates: apiclient.NewActionLimiter(o.Limits, 1), local: apiclient.NewActionLimiter(o.Limits, o.FallbackShare),
		fb: newFallback(o.Now, o.Logger, "shared rate limiter unavailable; pacing this replica alone at a reduced share")}
}

// Wait books the next free slot of action across all replicas and waits
// for it.
func (l *Limiter) Wait(ctx context.Context, action string) error {
	interval, on := l.interval(action)
	if !on {
		return nil
	}
	var wait int64
	local, err := l.fb.run(ctx,
		func() (err error) { wait, _, err = l.book(ctx, action, interval); return err },
		func() error { return l.local.Wait(ctx, action) },
		slog.String("action", action))
	if err != nil || local || wait <= 0 {
		return err
	}
	return sleepCtx(ctx, time.Duration(wait)*time.Microsecond)
}

// interval is the µs between two calls of action, by apiclient's calls/s
// of it; false when its limit is lifted.
func (l *Limiter) interval(action string) (int64, bool) {
	perSec := l.rates.Limit(action)
	if perSec == rate.Inf {
		return 0, false
	}
	return int64(math.Ceil(1e6 / float64(perSec))), true
}

// book takes the next free slot of action, interval µs after the last one
// booked by any replica: it returns how long until the slot (µs) and the
// slot itself (unix µs on Redis's clock).
func (l *Limiter) book(ctx context.Context, action string, interval int64) (wait, slot int64, err error) {
	r, err := paceScript.Run(ctx, l.rdb, []string{keyPace(l.prefix, l.account, action)}, interval).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(r) != 2 {
		return 0, 0, fmt.Errorf("pace %s: script returned %d values, want 2", action, len(r))
	}
	return r[0], r[1], nil
}
