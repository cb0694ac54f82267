package config

import (
	"fmt"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/fielderr"
)

// This file holds the three ways to reach Redis (docs/connections.md):
// one server (redis.url), a primary found through Redis Sentinel
// (redis.sentinel) and a Redis Cluster (redis.cluster). Every script and
// pipeline cdnpurge runs keeps its keys in one hash slot ({account} tags),
// so all three run the same code through go-redis's UniversalClient.

func (s RedisSentinelConfig) isSet() bool {
	return s.MasterName != "" || len(s.Addrs) > 0 || s.PasswordFile != ""
}

func (c RedisClusterConfig) isSet() bool { return len(c.Addrs) > 0 }

// RedisSet reports whether a shared Redis is configured (url, sentinel or
// cluster); without one the quota mirror is in memory.
func (c *Config) RedisSet() bool {
	return c.Redis.URL != "" || c.Redis.Sentinel.isSet() || c.Redis.Cluster.isSet()
}

// redisModeProblems refuses a mixture of redis.url, redis.sentinel and
// redis.cluster, and checks the addresses of the one in use.
func (c *Config) redisModeProblems() fielderr.List {
	var errs fielderr.List
	add := errs.Add
	r := c.Redis
	set := []string{}
	if r.URL != "" {
		set = append(set, "redis.url")
	}
	if r.Sentinel.isSet() {
		set = append(set, "redis.sentinel")
	}
	if r.Cluster.isSet() {
		set = append(set, "redis.cluster")
	}
	if len(set) > 1 {
		add(set[1], "set together with %s: use one way to reach Redis (one server, Sentinel or Cluster) and remove the other", set[0])
	}
	checkAddrs := func(field string, addrs []string) {
		for i, a := range addrs {
			if err := checkHostPort(a); err != nil {
				add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			}
		}
	}
	if r.Sentinel.isSet() {
		if r.Sentinel.MasterName == "" {
			add("redis.sentinel.master_name", "required with redis.sentinel: the name the Sentinels monitor (sentinel monitor <name> ...)")
		}
		if len(r.Sentinel.Addrs) == 0 {
			add("redis.sentinel.addrs", "required with redis.sentinel: the Sentinels' host:port, three or more")
		}
		checkAddrs("redis.sentinel.addrs", r.Sentinel.Addrs)
		if r.Sentinel.PasswordFile != "" {
			if _, err := c.readSecretFile(r.Sentinel.PasswordFile); err != nil {
				add("redis.sentinel.password_file", "%v", err)
			}
		}
	}
	checkAddrs("redis.cluster.addrs", r.Cluster.Addrs)
	if (r.Sentinel.isSet() || r.Cluster.isSet()) && r.TLS.IsSet() {
		if _, err := r.TLS.Config(""); err != nil {
			add("redis.tls", "%v", err)
		}
	}
	return errs
}

// checkHostPort accepts host:port with a port 1-65535.
func checkHostPort(a string) error {
	_, p, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port (%v); for example redis-1.internal:26379", clip(a), err)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number 1-65535", clip(a))
	}
	return nil
}

// clip shortens a value echoed in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// NewRedisClient returns the client of the Redis configured: one server,
// Sentinel (the client follows failovers to the new primary) or Cluster;
// nil when none is. The caller closes it. Errors never show a password.
func (c *Config) NewRedisClient() (redis.UniversalClient, error) {
	r := c.Redis
	switch {
	case r.URL != "":
		opts, err := c.RedisOptions()
		if err != nil {
			return nil, err
		}
		// Fail fast while Redis is down: the quota gate fails closed and
		// the limiter falls back, both better than a caller stuck in dial
		// retries.
		opts.DialerRetries = 1
		return redis.NewClient(opts), nil
	case !r.Sentinel.isSet() && !r.Cluster.isSet():
		return nil, nil
	}
	password, err := c.redisPassword()
	if err != nil {
		return nil, err
	}
	var uo redis.UniversalOptions
	uo.Username, uo.Password, uo.DialerRetries = r.Username, password, 1
	if r.TLS.IsSet() {
		if uo.TLSConfig, err = r.TLS.Config(""); err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
	}
	if r.Sentinel.isSet() {
		uo.MasterName, uo.Addrs = r.Sentinel.MasterName, r.Sentinel.Addrs
		if r.Sentinel.PasswordFile != "" {
			if uo.SentinelPassword, err = c.readSecretFile(r.Sentinel.PasswordFile); err != nil {
				return nil, fmt.Errorf("redis.sentinel.password_file: %w", err)
			}
		}
		return redis.NewFailoverClient(uo.Failover()), nil
	}
	uo.Addrs = r.Cluster.Addrs
	return redis.NewClusterClient(uo.Cluster()), nil
}

// redisPassword is the data nodes' password from CDNPURGE_REDIS_PASSWORD
// or redis.password_file, "" for none.
func (c *Config) redisPassword() (string, error) {
	r := c.Redis
	switch {
	case r.Password != "":
		return r.Password.Value(), nil
	case r.PasswordFile != "":
		pw, err := c.readSecretFile(r.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("redis.password_file: %w", err)
		}
		return pw, nil
	}
	return "", nil
}
