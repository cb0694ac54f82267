// Package quotatest gives tests a Redis of their own: a client of the
// machine's Redis and a key prefix deleted after the test. Tests of quota
// and of the worker's recent-paths memory use it.
package quotatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddr is the Redis the tests use (CI starts it: .ci/run).
const RedisAddr = "127.0.0.1:6379"

// Redis returns a client of RedisAddr closed after the test. Without a
// Redis answering it skips the test, or fails it when CI is set.
func Redis(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis on %s does not answer (%v); CI must run these tests", RedisAddr, err)
		}
		tb.Skipf("redis on %s does not answer (%v): skipping the Redis tests (they fail instead when CI is set)", RedisAddr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix of the test's own and deletes its keys
// after the test.
func Prefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "cdnpurge-test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		// A large COUNT: the machine's Redis may hold many other keys
		// (an e2e run's), and each SCAN round trip looks at COUNT of them.
		iter := c.Scan(ctx, 0, p+"*", 10_000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return p
}
