package main

import (
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// setup is a loaded config with a logger, what every command starts from.
type setup struct {
	cfg *config.Config
	log *slog.Logger
	rdb *redis.Client
	// noCDN is set when the config has no CDN credentials (NATS-only
	// commands); apiClient then refuses.
	noCDN bool
}

func (a *app) setup(stderr interface{ Write([]byte) (int, error) }) (*setup, error) {
	c, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	log, err := newLogger(stderr, c.Log.Level, c.Log.Format)
	if err != nil {
		return nil, err
	}
	a.discovery.note(stderr)
	return &setup{cfg: c, log: log, noCDN: a.noCDN}, nil
}

// apiClient builds the CDN API client. With redis.url set, its calls/s
// come out of one budget shared by every replica of the account; without,
// each process paces itself at cdn.rate_share of the limits. onAttempt, if
// not nil, sees every HTTP exchange (metrics).
func (s *setup) apiClient(onAttempt func(apiclient.Attempt)) (*apiclient.Client, error) {
	if s.noCDN {
		return nil, errNoCDN
	}
	opts := s.cfg.APIClientOptions(s.log)
	opts.OnAttempt = onAttempt
	rdb, err := s.redisClient()
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		fallback := opts.RateShare
		if fallback >= 1 {
			fallback = 0.5
		}
		opts.Limiter = quota.NewRateLimiter(rdb, quota.RateLimiterOptions{Prefix: s.cfg.Redis.KeyPrefix,
			Account: s.cfg.QuotaAccount(), Limits: opts.RateLimits, FallbackShare: fallback, Logger: s.log})
	}
	cl, err := apiclient.New(opts)
	if err != nil {
		return nil, fmt.Errorf("CDN API client: %w", err)
	}
	return cl, nil
}

// redisClient is the client of redis.url, made once; nil when it is unset.
func (s *setup) redisClient() (*redis.Client, error) {
	if s.cfg.Redis.URL == "" || s.rdb != nil {
		return s.rdb, nil
	}
	opts, err := redis.ParseURL(s.cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url %s: %w", config.RedactURL(s.cfg.Redis.URL), err)
	}
	// Fail fast while Redis is down: the quota gate fails closed and the
	// limiter falls back, both better than a caller stuck in dial retries.
	opts.DialerRetries = 1
	s.rdb = redis.NewClient(opts)
	return s.rdb, nil
}

// closeRedis releases the Redis client, if one was made.
func (s *setup) closeRedis() {
	if s.rdb != nil {
		_ = s.rdb.Close()
		s.rdb = nil
	}
}

// quotaStore is Redis when redis.url is set, else memory. close releases
// the Redis client.
func (s *setup) quotaStore() (store quota.Store, shared bool, close func(), err error) {
	rdb, err := s.redisClient()
	if err != nil {
		return nil, false, nil, err
	}
	if rdb == nil {
		return quota.NewMemoryStore(s.cfg.QuotaOptions()), false, func() {}, nil
	}
	return quota.NewRedisStore(rdb, s.cfg.QuotaOptions()), true, s.closeRedis, nil
}

// connectNATS connects to nats.url, or to the embedded server of a running
// serve when it is empty.
func (s *setup) connectNATS(name string) (*nats.Conn, jetstream.JetStream, jobs.Subjects, error) {
	subj, err := s.cfg.Subjects()
	if err != nil {
		return nil, nil, jobs.Subjects{}, err
	}
	nc, err := jobs.Connect(s.cfg.NATSURL(), name, s.log)
	if err != nil {
		return nil, nil, jobs.Subjects{}, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, jobs.Subjects{}, fmt.Errorf("JetStream on %s: %w", config.RedactURL(s.cfg.NATSURL()), err)
	}
	return nc, js, subj, nil
}
