package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream defaults.
const (
	DefaultStreamName       = "CDNPURGE"
	DefaultStatusStreamName = "CDNPURGE_STATUS"
	// DefaultDuplicateWindow is how long a Nats-Msg-Id is remembered. It
	// covers a CI system or a human redelivering a webhook a few minutes
	// later.
	DefaultDuplicateWindow = 15 * time.Minute
	DefaultMaxBytes        = 1 << 30 // 1 GiB
	DefaultMaxMsgs         = 1_000_000
	DefaultMaxMsgSize      = 1 << 20 // 1 MiB, the default NATS max payload
	DefaultStatusMaxAge    = 72 * time.Hour
	DefaultStatusMaxBytes  = 256 << 20
)

// StreamConfig is the part of the configuration that shapes the work
// stream. Zero values take the defaults above.
type StreamConfig struct {
	// Name of the work stream; default DefaultStreamName.
	Name string
	// Subjects is the subject scheme; the stream captures Subjects.Work().
	Subjects Subjects
	// Replicas is the JetStream replica count (1 for a single server).
	Replicas int
	// Duplicates is the Nats-Msg-Id dedupe window, at least 2 minutes.
	Duplicates time.Duration
	// MaxAge drops jobs older than this; 0 (default) keeps a job until the
	// worker acknowledges or terminates it, because an accepted job must
	// not vanish while it waits for quota.
	MaxAge time.Duration
	// MaxBytes and MaxMsgs bound the stream. When full, publishes fail
	// (DiscardNew) and producers answer "unavailable" instead of dropping
	// accepted jobs.
	MaxBytes int64
	MaxMsgs  int64
	// MaxMsgSize bounds one job message.
	MaxMsgSize int32
	// LimitsRetention selects LimitsPolicy instead of the default
	// WorkQueuePolicy, under which a job leaves the stream when the worker
	// acks or terminates it and consumers must not overlap in their filter
	// subjects. JetStream cannot change the retention of an existing
	// stream; EnsureStream reports that case.
	LimitsRetention bool
}

// withDefaults fills zero values.
func (c StreamConfig) withDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStreamName
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates < 2*time.Minute {
		c.Duplicates = DefaultDuplicateWindow
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxMsgs <= 0 {
		c.MaxMsgs = DefaultMaxMsgs
	}
	if c.MaxMsgSize <= 0 {
		c.MaxMsgSize = DefaultMaxMsgSize
	}
	return c
}

// JetStreamConfig returns the jetstream.StreamConfig EnsureStream applies.
func (c StreamConfig) JetStreamConfig() jetstream.StreamConfig {
	c = c.withDefaults()
	retention := jetstream.WorkQueuePolicy
	if c.LimitsRetention {
		retention = jetstream.LimitsPolicy
	}
	return jetstream.StreamConfig{
		Name:        c.Name,
		Description: "cdnpurge work queue: refresh, push and operation jobs",
		Subjects:    c.Subjects.Work(),
		Retention:   retention,
		MaxMsgs:     c.MaxMsgs,
		MaxBytes:    c.MaxBytes,
		MaxAge:      c.MaxAge,
		MaxMsgSize:  c.MaxMsgSize,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
	}
}

// UrgentStreamName is the name of the stream of high-priority purge jobs
// that goes with the work stream named work: <work>_HIGH.
func UrgentStreamName(work string) string {
	if work == "" {
		work = DefaultStreamName
	}
	return work + "_HIGH"
}

// UrgentStreamConfig returns the urgent stream that goes with the work
// stream cfg: Subjects.Urgent(), with the work stream's limits, retention,
// replicas and duplicate window. The worker pulls it before the work
// stream (one consumer per stream, of the same name). It is a stream of
// its own, not a filtered consumer of the work stream, because a
// work-queue stream refuses overlapping consumers and the work stream's
// consumer has no filter (several filter subjects need nats-server 2.10).
func UrgentStreamConfig(cfg StreamConfig) jetstream.StreamConfig {
	sc := cfg.JetStreamConfig()
	sc.Name = UrgentStreamName(sc.Name)
	sc.Description = "cdnpurge high-priority refresh and push jobs, pulled before the work stream"
	sc.Subjects = cfg.Subjects.Urgent()
	return sc
}

// EnsureStream creates the work stream and its urgent stream or updates
// them to cfg, and returns the work stream. Call it at start from every
// process that publishes or consumes.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	var work jetstream.Stream
	for _, sc := range []jetstream.StreamConfig{cfg.JetStreamConfig(), UrgentStreamConfig(cfg)} {
		s, err := js.CreateOrUpdateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("create or update stream %s on %v: %w (if the stream exists with another retention policy or storage, delete or rename it: JetStream cannot change those in place)", sc.Name, sc.Subjects, err)
		}
		if work == nil {
			work = s
		}
	}
	return work, nil
}

// StatusStreamConfig shapes the stream that keeps status events for
// `cdnpurge tasks`.
type StatusStreamConfig struct {
	// Name defaults to DefaultStatusStreamName.
	Name     string
	Subjects Subjects
	Replicas int
	// MaxAge defaults to 72h (the API keeps task history for 3 days too).
	MaxAge   time.Duration
	MaxBytes int64
}

// EnsureStatusStream creates or updates the status stream capturing
// Subjects.StatusAll(). Old events are discarded first when it is full:
// status history is a convenience, unlike jobs.
func EnsureStatusStream(ctx context.Context, js jetstream.JetStream, cfg StatusStreamConfig) (jetstream.Stream, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultStatusStreamName
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultStatusMaxAge
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultStatusMaxBytes
	}
	sc := jetstream.StreamConfig{
		Name:        cfg.Name,
		Description: "cdnpurge job outcomes and invalid-message reports",
		Subjects:    []string{cfg.Subjects.StatusAll()},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  2 * time.Minute,
	}
	s, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create or update status stream %s: %w", sc.Name, err)
	}
	return s, nil
}
