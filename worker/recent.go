package worker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota"
)

// Recent remembers when the API was sent each path lately, so that a
// request for a path is covered by a refresh of it sent after the request
// was made (a deploy hook fired twice, two pipelines touching one file, a
// backlog holding copies of a path): the day's quota is spent once per
// change, not once per message, across replicas and restarts (in Redis).
// A path is remembered only after the API accepted its call, with the time
// the call was sent: a request made after a call was sent is never
// covered by it, since the file may have changed after the call.
type Recent interface {
	// Fresh returns the paths, in order, that no remembered call sent
	// after asked (with coverMargin for clocks) covers.
	Fresh(ctx context.Context, action string, paths []string, asked time.Time) ([]string, error)
	// Remember notes that the API accepted paths in a call sent at sent.
	Remember(ctx context.Context, action string, paths []string, sent time.Time) error
}

// coverMargin is how much later than a request a call must have been sent
// to cover it: the request's time comes from the NATS server's clock, the
// send time from the worker's.
const coverMargin = time.Second

// covers reports whether a call sent at sent covers a request made at
// asked.
func covers(sent, asked time.Time) bool {
	return !asked.IsZero() && !sent.IsZero() && sent.After(asked.Add(coverMargin))
}

// MemoryRecent is Recent for one process.
type MemoryRecent struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time // when the path's last call was sent
	// pruned is when seen was last swept of what is past the window.
	pruned time.Time
}

// NewMemoryRecent returns a Recent that forgets a path window after its
// call was sent. now is time.Now when nil.
func NewMemoryRecent(window time.Duration, now func() time.Time) *MemoryRecent {
	if now == nil {
		now = time.Now
	}
	return &MemoryRecent{window: window, now: now, seen: map[string]time.Time{}}
}

// Fresh implements Recent.
func (m *MemoryRecent) Fresh(_ context.Context, action string, paths []string, asked time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := paths[:0:0]
	for _, p := range paths {
		if sent, ok := m.seen[action+"\n"+p]; ok && m.now().Sub(sent) < m.window && covers(sent, asked) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Remember implements Recent. Every eighth of the window it also forgets
// what is past the window (Fresh never counts it): a sweep on every call
// would cost each accepted call a pass over an hour's paths.
func (m *MemoryRecent) Remember(_ context.Context, action string, paths []string, sent time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := m.now(); now.Sub(m.pruned) >= m.window/8 {
		m.pruned = now
		for k, at := range m.seen {
			if now.Sub(at) >= m.window {
				delete(m.seen, k)
			}
		}
	}
	for _, p := range paths {
		if k := action + "\n" + p; sent.After(m.seen[k]) {
			m.seen[k] = sent
		}
	}
	return nil
}

// RedisRecent is Recent shared by every replica through Redis: one key per
// path holding its last call's send time (unix ms), expiring after the
// window; bounded by the window in time and by the paths sent in it in
// size.
type RedisRecent struct {
	rdb     redis.UniversalClient
	prefix  string
	account string
	window  time.Duration
}

// NewRedisRecent returns a Recent in rdb under prefix and account (as the
// quota store's keys).
func NewRedisRecent(rdb redis.UniversalClient, prefix, account string, window time.Duration) *RedisRecent {
	if prefix == "" {
		prefix = quota.DefaultPrefix
	}
	if account == "" {
		account = "default"
	}
	return &RedisRecent{rdb: rdb, prefix: prefix, account: account, window: window}
}

// keyRecent names a path's key; paths are hashed to keep keys short.
func keyRecent(prefix, account, action, path string) string {
	sum := sha1.Sum([]byte(action + "\n" + path))
	return prefix + "{" + account + "}:recent:" + hex.EncodeToString(sum[:])
}

// Fresh implements Recent. When Redis cannot be reached every path is
// fresh: sending a path twice costs quota, dropping one leaves a stale file.
func (r *RedisRecent) Fresh(ctx context.Context, action string, paths []string, asked time.Time) ([]string, error) {
	if len(paths) == 0 {
		return paths, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(paths))
	for i, p := range paths {
		cmds[i] = pipe.Get(ctx, keyRecent(r.prefix, r.account, action, p))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return paths, fmt.Errorf("check %d recent paths in Redis (sending them all): %w", len(paths), err)
	}
	out := paths[:0:0]
	for i, p := range paths {
		// A call in flight (claims.go) covers nothing here: the path goes
		// on, and its own call's claim waits for that call to land.
		if v, err := cmds[i].Result(); err == nil {
			if c, _, ok := parseRecord(v); ok && !c.InFlight && covers(c.Sent, asked) {
				continue
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// Remember implements Recent.
func (r *RedisRecent) Remember(ctx context.Context, action string, paths []string, sent time.Time) error {
	if len(paths) == 0 {
		return nil
	}
	pipe := r.rdb.Pipeline()
	for _, p := range paths {
		pipe.Set(ctx, keyRecent(r.prefix, r.account, action, p), sent.UnixMilli(), r.window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("remember %d recent paths in Redis (they may be sent again): %w", len(paths), err)
	}
	return nil
}
