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
	return &setup{cfg: c, log: log}, nil
}

// apiClient builds the CDN API client.
func (s *setup) apiClient() (*apiclient.Client, error) {
	cl, err := apiclient.New(s.cfg.APIClientOptions(s.log))
	if err != nil {
		return nil, fmt.Errorf("CDN API client: %w", err)
	}
	return cl, nil
}

// quotaStore is Redis when redis.url is set, else memory. close releases
// the Redis client.
func (s *setup) quotaStore() (store quota.Store, shared bool, close func(), err error) {
	if s.cfg.Redis.URL == "" {
		return quota.NewMemoryStore(s.cfg.QuotaOptions()), false, func() {}, nil
	}
	opts, err := redis.ParseURL(s.cfg.Redis.URL)
	if err != nil {
		return nil, false, nil, fmt.Errorf("redis.url: %w", err)
	}
	rdb := redis.NewClient(opts)
	return quota.NewRedisStore(rdb, s.cfg.QuotaOptions()), true, func() { _ = rdb.Close() }, nil
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
