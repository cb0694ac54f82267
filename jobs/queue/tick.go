package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// SchedStreamName is the name of the tick stream that goes with the work
// stream named work: <work>_SCHED.
func SchedStreamName(work string) string {
	if work == "" {
		work = DefaultStreamName
	}
	return work + "_SCHED"
}

// Tick stream bounds: ticks are tiny and few.
const (
	schedMaxMsgs    = 100_000
	schedMaxBytes   = 64 << 20
	schedMaxMsgSize = 4 << 10
)

// SchedStreamConfig returns the tick stream that goes with the work stream
// cfg: Subjects.SchedAll(), the same retention, replicas and duplicate
// window. Its own stream means its own dedupe: a Nats-Msg-Id published on
// the work subjects can never cancel a tick.
func SchedStreamConfig(cfg StreamConfig) jetstream.StreamConfig {
	work := cfg.JetStreamConfig()
	return jetstream.StreamConfig{
		Name:        SchedStreamName(work.Name),
		Description: "cdnpurge schedule ticks (published by the scheduler only)",
		Subjects:    []string{cfg.Subjects.SchedAll()},
		Retention:   work.Retention,
		MaxMsgs:     schedMaxMsgs,
		MaxBytes:    schedMaxBytes,
		MaxMsgSize:  schedMaxMsgSize,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    work.Replicas,
		Duplicates:  work.Duplicates,
	}
}

// EnsureSchedStream creates or updates the tick stream that goes with the
// work stream cfg. Processes running the worker or the scheduler call it at
// start (an upgraded deployment gets the stream on its first start); the
// webhook role does not, so it needs no permission on the tick stream.
func EnsureSchedStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	sc := SchedStreamConfig(cfg)
	s, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create or update tick stream %s on %v: %w (the worker role needs $JS.API.STREAM.CREATE, UPDATE and INFO on it, see docs/security.md)", sc.Name, sc.Subjects, err)
	}
	return s, nil
}

// PublishTick stores the tick of schedule name on Subjects.Sched(name) in
// the tick stream, with msgID as its Nats-Msg-Id, and waits for the ack,
// retrying within the publish budget. Errors wrap ErrUnavailable when the
// queue could not take it.
func (p *Publisher) PublishTick(ctx context.Context, name string, tick time.Time, msgID string) (Ack, error) {
	var ack Ack
	err := p.retry.do(ctx, func(ctx context.Context) (err error) {
		ack, err = p.publishTick(ctx, name, tick, msgID)
		return err
	})
	return ack, err
}

func (p *Publisher) publishTick(ctx context.Context, name string, tick time.Time, msgID string) (Ack, error) {
	if !jobs.ValidToken(name) {
		return Ack{}, fmt.Errorf("tick of schedule %q: the name is not a valid subject token", name)
	}
	data, err := jobs.EncodeTick(jobs.Tick{Schedule: name, Tick: tick})
	if err != nil {
		return Ack{}, err
	}
	subject := p.subjects.Sched(name)
	if err := p.storeWritable(msgID); err != nil {
		return Ack{}, err
	}
	if st := p.nc.Status(); st != nats.CONNECTED {
		return Ack{}, fmt.Errorf("publish tick %s: NATS connection is %s: %w", msgID, st, ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	pa, err := p.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(SchedStreamName(p.stream)))
	if err != nil {
		return Ack{}, classifyPublishError(msgID, subject, err)
	}
	if err := p.sync(ctx, msgID, 1); err != nil {
		return Ack{}, err
	}
	return Ack{JobID: msgID, Subject: subject, Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}, nil
}
