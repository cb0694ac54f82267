package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultSuperviseInterval is how often a Supervisor looks for missing
// JetStream state.
const DefaultSuperviseInterval = 2 * time.Second

// SupervisorConfig configures NewSupervisor.
type SupervisorConfig struct {
	// Interval between checks; default DefaultSuperviseInterval.
	Interval time.Duration
	// Logger receives an ERROR line for everything re-created.
	Logger *slog.Logger
	// OnRecreate, if set, is called after kind ("stream" or "consumer")
	// name was re-created (metrics, tests).
	OnRecreate func(kind, name string)
}

// Supervisor re-creates streams (key-value buckets are streams too) and
// durable consumers that disappeared from JetStream: a server that lost its
// store, an operator's `nats stream rm`, a cluster rebuilt empty. Without
// it producers answer "unavailable" and the worker pulls nothing until
// someone restarts every process. What is re-created is empty: the jobs
// that were in the lost stream are gone with it, which the ERROR log says.
type Supervisor struct {
	js  jetstream.JetStream
	cfg SupervisorConfig
	log *slog.Logger

	mu        sync.Mutex
	streams   []jetstream.StreamConfig
	consumers []consumerSpec
}

type consumerSpec struct {
	stream string
	cfg    jetstream.ConsumerConfig
}

// NewSupervisor returns a Supervisor with nothing to watch yet.
func NewSupervisor(js jetstream.JetStream, cfg SupervisorConfig) *Supervisor {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSuperviseInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{js: js, cfg: cfg, log: log}
}

// WatchStream keeps a stream of this configuration in place.
func (s *Supervisor) WatchStream(cfg jetstream.StreamConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams = append(s.streams, cfg)
}

// WatchExisting keeps the stream name, as it is configured now, in place:
// for streams whose owner built the configuration (a key-value bucket is
// the stream "KV_<bucket>").
func (s *Supervisor) WatchExisting(ctx context.Context, name string) error {
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("read stream %s to watch it: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s to watch it: %w", name, err)
	}
	s.WatchStream(info.Config)
	return nil
}

// WatchConsumer keeps a durable consumer of this configuration on stream.
func (s *Supervisor) WatchConsumer(stream string, cfg jetstream.ConsumerConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumers = append(s.consumers, consumerSpec{stream: stream, cfg: cfg})
}

// Ensure re-creates every watched stream and consumer that is missing and
// returns what it re-created ("stream CDNPURGE", "consumer
// CDNPURGE/cdnpurge-worker"). A server that cannot be asked (connection
// down) is an error, and nothing is created.
func (s *Supervisor) Ensure(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	streams := append([]jetstream.StreamConfig(nil), s.streams...)
	consumers := append([]consumerSpec(nil), s.consumers...)
	s.mu.Unlock()
	var done []string
	var errs []error
	missing := map[string]bool{}
	for _, sc := range streams {
		_, err := s.js.Stream(ctx, sc.Name)
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("look up stream %s: %w", sc.Name, err))
			missing[sc.Name] = true
			continue
		}
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			errs = append(errs, fmt.Errorf("re-create stream %s: %w", sc.Name, err))
			missing[sc.Name] = true
			continue
		}
		s.log.Error("jetstream stream was missing and is re-created empty; jobs it held are lost",
			slog.String("stream", sc.Name), slog.Any("subjects", sc.Subjects))
		done = append(done, "stream "+sc.Name)
		if s.cfg.OnRecreate != nil {
			s.cfg.OnRecreate("stream", sc.Name)
		}
	}
	for _, c := range consumers {
		if missing[c.stream] {
			continue
		}
		name := c.cfg.Durable
		_, err := s.js.Consumer(ctx, c.stream, name)
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			errs = append(errs, fmt.Errorf("look up consumer %s on %s: %w", name, c.stream, err))
			continue
		}
		if _, err := s.js.CreateOrUpdateConsumer(ctx, c.stream, c.cfg); err != nil {
			errs = append(errs, fmt.Errorf("re-create consumer %s on %s: %w", name, c.stream, err))
			continue
		}
		s.log.Error("jetstream consumer was missing and is re-created", slog.String("stream", c.stream), slog.String("consumer", name))
		done = append(done, "consumer "+c.stream+"/"+name)
		if s.cfg.OnRecreate != nil {
			s.cfg.OnRecreate("consumer", name)
		}
	}
	return done, errors.Join(errs...)
}

// Run checks every Interval until ctx ends. Failures to ask the server are
// logged at debug level: the connection's own logs report outages.
func (s *Supervisor) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, s.cfg.Interval+5*time.Second)
			if _, err := s.Ensure(cctx); err != nil && ctx.Err() == nil {
				s.log.Debug("jetstream state check", slog.String("error", err.Error()))
			}
			cancel()
		}
	}
}
