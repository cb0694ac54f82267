package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// DefaultArchiveBucket keeps the jobs that failed or were rejected (the
// dead-letter archive), longer than the status stream keeps their events.
const DefaultArchiveBucket = "CDNPURGE_ARCHIVE"

// DefaultArchiveRetention is how long archived jobs are kept.
const DefaultArchiveRetention = 14 * 24 * time.Hour

// archiveConsumer is the durable consumer the archivers of every replica
// share, so that each final event is archived once.
const archiveConsumer = "cdnpurge-archive"

// Archive is the dead-letter archive: one JobView per failed or rejected
// job, kept for its retention.
type Archive struct {
	kv jetstream.KeyValue
}

// OpenArchive creates or opens the archive bucket with retention as TTL.
// An existing bucket's TTL is updated to retention.
func OpenArchive(ctx context.Context, js jetstream.JetStream, bucket string, retention time.Duration, replicas int) (*Archive, error) {
	if bucket == "" {
		bucket = DefaultArchiveBucket
	}
	if retention <= 0 {
		retention = DefaultArchiveRetention
	}
	kv, err := kvjson.Open(ctx, js, bucket, "cdnpurge dead-letter archive: failed and rejected jobs", replicas, retention)
	if err != nil {
		return nil, err
	}
	return &Archive{kv: kv}, nil
}

// Put archives v.
func (a *Archive) Put(ctx context.Context, v JobView) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = a.kv.Put(ctx, "job."+keyID(v.ID), b)
	return err
}

// All returns every archived job.
func (a *Archive) All(ctx context.Context) ([]JobView, error) {
	l, err := a.kv.ListKeysFiltered(ctx, "job.*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var out []JobView
	for k := range l.Keys() {
		e, err := a.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var v JobView
		if json.Unmarshal(e.Value(), &v) == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Archiver copies the final events of failed and rejected jobs into the
// archive. Run it in every replica: they share one durable consumer.
type Archiver struct {
	JS           jetstream.JetStream
	StatusStream string
	Subjects     jobs.Subjects
	Archive      *Archive
	// History, if not nil, records every event's job state (history.go).
	History *History
	Logger  *slog.Logger
}

// ConsumerConfig is the archiver's durable consumer on the status stream,
// shared by the replicas (and re-created by serve's supervisor when lost).
func (ar *Archiver) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       archiveConsumer,
		Description:   "cdnpurge: archive failed and rejected jobs",
		FilterSubject: ar.Subjects.StatusAll(),
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
	}
}

// Run archives until ctx ends.
func (ar *Archiver) Run(ctx context.Context) error {
	log := ar.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := ar.JS.CreateOrUpdateConsumer(ctx, ar.StatusStream, ar.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("archive consumer: %w", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data(), &ev) != nil {
			_ = m.Ack()
			return
		}
		if ev.Action != "" {
			// Operator actions reach the archivers of all replicas through
			// one shared consumer: the cluster logs each once.
			logAction(log, ev)
		}
		if ev.JobID == "" {
			_ = m.Ack()
			return
		}
		if ar.History != nil {
			if err := ar.History.Apply(ctx, ev); err != nil {
				log.Warn("job history: record event", slog.String("job", ev.JobID), slog.String("error", err.Error()))
				_ = m.NakWithDelay(5 * time.Second)
				return
			}
		}
		v := JobView{ID: ev.JobID, Reason: ev.Reason, Problems: ev.Problems, TaskIDs: ev.TaskIDs, Updated: ev.Time,
			Events: []jobs.StatusEvent{ev}}
		switch ev.State {
		case jobs.StateFailed, jobs.StateUntracked:
			v.State = ViewFailed
		case jobs.StateRejected, jobs.StateInvalid:
			v.State = ViewRejected
		default:
			_ = m.Ack()
			return
		}
		for _, p := range ev.Problems {
			v.Paths = appendNew(v.Paths, p.Path)
		}
		v.NPaths = len(v.Paths)
		if err := ar.Archive.Put(ctx, v); err != nil {
			log.Warn("archive job", slog.String("job", ev.JobID), slog.String("error", err.Error()))
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
	}, jetstream.PullExpiry(10*time.Second)) // a re-created consumer is pulled from within seconds
	if err != nil {
		return fmt.Errorf("archive consumer: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// BindArchive opens the existing archive bucket without changing its
// retention (see kvjson.Bind), for readers.
func BindArchive(ctx context.Context, js jetstream.JetStream, bucket string) (*Archive, error) {
	if bucket == "" {
		bucket = DefaultArchiveBucket
	}
	kv, err := kvjson.Bind(ctx, js, bucket)
	if err != nil {
		return nil, err
	}
	return &Archive{kv: kv}, nil
}
