package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// fallback runs an operation on the account's shared state in Redis and,
// when Redis cannot be reached, on this process's own state instead: a
// Redis outage slows the replicas down rather than stopping them. It says
// so in the log at most once a minute, by the owner's clock.
type fallback struct {
	now func() time.Time
	log *slog.Logger
	msg string // the warning, naming what is paced alone

	mu     sync.Mutex
	warned time.Time // when msg was last logged; zero: never
}

// warnEvery is how often at most a fallback is logged.
const warnEvery = time.Minute

func newFallback(now func() time.Time, log *slog.Logger, msg string) *fallback {
	if now == nil {
		now = time.Now
	}
	return &fallback{now: now, log: log, msg: msg}
}

// run runs shared; when it fails for another reason than ctx's end, it
// warns and runs local instead. It reports whether local ran, and returns
// ctx's error when ctx ended, else local's when it ran, else nil.
func (f *fallback) run(ctx context.Context, shared, local func() error, attrs ...slog.Attr) (bool, error) {
	err := shared()
	if err == nil {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	f.warn(err, attrs...)
	return true, local()
}

// warn logs the fallback and its cause, at most once every warnEvery.
func (f *fallback) warn(err error, attrs ...slog.Attr) {
	f.mu.Lock()
	now := f.now()
	if !f.warned.IsZero() && now.Sub(f.warned) < warnEvery {
		f.mu.Unlock()
		return
	}
	f.warned = now
	f.mu.Unlock()
	f.log.LogAttrs(context.Background(), slog.LevelWarn, f.msg, append(attrs, slog.String("error", err.Error()))...)
}
