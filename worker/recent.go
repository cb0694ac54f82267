package worker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota"
)

// Recent remembers which paths the API accepted lately, so that the same
// path sent again within a short window (a deploy hook fired twice, two
// pipelines touching one file) is not refreshed twice and the day's quota
// is spent once. A path is only remembered after the API accepted it:
// forgetting is safe, remembering too early would drop a refresh.
type Recent interface {
	// Fresh returns the paths not accepted within the window, in order.
	Fresh(ctx context.Context, action string, paths []string) ([]string, error)
	// Remember notes that the API accepted paths now.
	Remember(ctx context.Context, action string, paths []string) error
}

// MemoryRecent is Recent for one process.
type MemoryRecent struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time
}

// NewMemoryRecent returns a Recent that forgets a path window after it was
// accepted. now is time.Now when nil.
func NewMemoryRecent(window time.Duration, now func() time.Time) *MemoryRecent {
	if now == nil {
		now = time.Now
	}
	return &MemoryRecent{window: window, now: now, seen: map[string]time.Time{}}
}

// Fresh implements Recent.
func (m *MemoryRecent) Fresh(_ context.Context, action string, paths []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := paths[:0:0]
	for _, p := range paths {
		if at, ok := m.seen[action+"\n"+p]; ok && now.Sub(at) < m.window {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Remember implements Recent; it also forgets what is past the window.
func (m *MemoryRecent) Remember(_ context.Context, action string, paths []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, at := range m.seen {
		if now.Sub(at) >= m.window {
			delete(m.seen, k)
		}
	}
	for _, p := range paths {
		m.seen[action+"\n"+p] = now
	}
	return nil
}

// RedisRecent is Recent shared by every replica through Redis: one key per
// path, expiring after the window.
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
func (r *RedisRecent) Fresh(ctx context.Context, action string, paths []string) ([]string, error) {
	if len(paths) == 0 {
		return paths, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(paths))
	for i, p := range paths {
		cmds[i] = pipe.Exists(ctx, keyRecent(r.prefix, r.account, action, p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return paths, fmt.Errorf("check %d recent paths in Redis (sending them all): %w", len(paths), err)
	}
	out := paths[:0:0]
	for i, p := range paths {
		if cmds[i].Val() == 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// Remember implements Recent.
func (r *RedisRecent) Remember(ctx context.Context, action string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	pipe := r.rdb.Pipeline()
	for _, p := range paths {
		pipe.Set(ctx, keyRecent(r.prefix, r.account, action, p), 1, r.window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("remember %d recent paths in Redis (they may be sent again): %w", len(paths), err)
	}
	return nil
}
