package quotatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/redis/go-redis/v9"
)

// RedisCluster starts a Redis Cluster of three masters (no replicas) of
// the test's own: redis-server --cluster-enabled yes on free loopback
// ports, in a temporary directory, joined with redis-cli --cluster create.
// It returns the nodes' addresses and stops them when the test ends.
// Without redis-server and redis-cli it skips the test (fails it when CI
// is set).
func RedisCluster(tb testing.TB) []string {
	tb.Helper()
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server and redis-cli are needed for the Redis Cluster tests")
		}
		tb.Skip("redis-server or redis-cli not installed: skipping the Redis Cluster test")
	}
	dir := tb.TempDir()
	var addrs []string
	for i := range 3 {
		port, bus := freePort(tb), freePort(tb)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		log, err := os.Create(filepath.Join(nodeDir, "redis.log"))
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(bus), "--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", "2000", "--dir", nodeDir, "--save", "", "--appendonly", "no", "--daemonize", "no")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		tb.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = log.Close()
		})
		addrs = append(addrs, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for c.Ping(ctx).Err() != nil {
			if ctx.Err() != nil {
				tb.Fatalf("redis node %s did not answer", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = c.Close()
	}
	out, err := exec.CommandContext(ctx, cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, _ := c.ClusterInfo(ctx).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				tb.Fatalf("redis cluster node %s not ok: %s", a, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return addrs
}

// freePort returns a loopback port no other test of this process was
// given (jobstest.FreePort).
func freePort(tb testing.TB) int { return jobstest.FreePort(tb) }

// ClusterClient returns a client of the cluster at addrs, closed at the
// test's end.
func ClusterClient(tb testing.TB, addrs []string) *redis.ClusterClient {
	tb.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// ClusterPrefix returns a key prefix of a test's own on a throwaway
// cluster (RedisCluster's dies with the test, so nothing is cleaned up).
func ClusterPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "cdnpurge-cluster-test:" + hex.EncodeToString(b[:]) + ":"
}
