package config

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisModesRefuseMixturesByField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"url and sentinel", "domains: [example.com]\nredis:\n  url: redis://127.0.0.1:6379/0\n  sentinel: {master_name: mymaster, addrs: ['127.0.0.1:26379']}\n",
			[]string{"redis.sentinel: set together with redis.url: use one way to reach Redis"}},
		{"url and cluster", "domains: [example.com]\nredis:\n  url: redis://127.0.0.1:6379/0\n  cluster: {addrs: ['127.0.0.1:7000']}\n",
			[]string{"redis.cluster: set together with redis.url"}},
		{"sentinel and cluster", "domains: [example.com]\nredis:\n  sentinel: {master_name: m, addrs: ['127.0.0.1:26379']}\n  cluster: {addrs: ['127.0.0.1:7000']}\n",
			[]string{"redis.cluster: set together with redis.sentinel"}},
		{"sentinel without master", "domains: [example.com]\nredis:\n  sentinel: {addrs: ['127.0.0.1:26379']}\n",
			[]string{"redis.sentinel.master_name: required with redis.sentinel"}},
		{"sentinel without addrs", "domains: [example.com]\nredis:\n  sentinel: {master_name: m}\n",
			[]string{"redis.sentinel.addrs: required with redis.sentinel"}},
		{"sentinel address without port", "domains: [example.com]\nredis:\n  sentinel: {master_name: m, addrs: ['127.0.0.1:26379', 'sentinel-2']}\n",
			[]string{`redis.sentinel.addrs[1]: "sentinel-2" is not host:port`}},
		{"cluster port out of range", "domains: [example.com]\nredis:\n  cluster: {addrs: ['127.0.0.1:70000']}\n",
			[]string{`redis.cluster.addrs[0]: "127.0.0.1:70000": the port must be a number 1-65535`}},
		{"sentinel password file missing", "domains: [example.com]\nredis:\n  sentinel: {master_name: m, addrs: ['127.0.0.1:26379'], password_file: /nonexistent/sentinel-pw}\n",
			[]string{"redis.sentinel.password_file: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantIn(t, loadErr(t, tc.body, nil), tc.want...)
		})
	}
}

func TestRedisClientFollowsTheMode(t *testing.T) {
	t.Parallel()
	pw := writeFile(t, "sentinel-pw", "s3ntinel-secret-value\n")
	for _, tc := range []struct {
		name, body string
		check      func(redis.UniversalClient) bool
	}{
		{"one server", "redis:\n  url: redis://127.0.0.1:6379/0\n", func(c redis.UniversalClient) bool { _, ok := c.(*redis.Client); return ok }},
		{"sentinel", "redis:\n  sentinel: {master_name: mymaster, addrs: ['127.0.0.1:26379'], password_file: " + pw + "}\n",
			func(c redis.UniversalClient) bool {
				rc, ok := c.(*redis.Client) // a failover client is a Client that asks the Sentinels
				return ok && rc.Options().Addr == "FailoverClient"
			}},
		{"cluster", "redis:\n  cluster: {addrs: ['127.0.0.1:7000', '127.0.0.1:7001']}\n", func(c redis.UniversalClient) bool {
			cc, ok := c.(*redis.ClusterClient)
			return ok && len(cc.Options().Addrs) == 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\n"+tc.body), env(creds))
			if err != nil {
				t.Fatal(err)
			}
			if !c.RedisSet() {
				t.Fatal("RedisSet() = false")
			}
			rdb, err := c.NewRedisClient()
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if !tc.check(rdb) {
				t.Fatalf("client %T does not match the mode", rdb)
			}
			if y, err := c.YAML(); err != nil || strings.Contains(string(y), "s3ntinel-secret-value") {
				t.Fatalf("dump: %v, or it shows the Sentinel password", err)
			}
		})
	}
}
