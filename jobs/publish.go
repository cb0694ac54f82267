package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnavailable marks a publish that was not stored because the queue
// could not take it (NATS unreachable, JetStream not answering, the stream
// full). The job was not accepted; the producer should say so and the
// sender retry later.
var ErrUnavailable = errors.New("job queue unavailable")

// ErrTooLarge marks a job whose encoded form exceeds what the stream or
// server takes in one message.
var ErrTooLarge = errors.New("job too large for one message")

// DefaultPublishTimeout bounds one publish including its ack.
const DefaultPublishTimeout = 5 * time.Second

// Ack is what JetStream answered for a stored job.
type Ack struct {
	JobID    string
	Subject  string
	Stream   string
	Sequence uint64
	// Duplicate is true when the Nats-Msg-Id was seen inside the duplicate
	// window: the job was stored by an earlier publish.
	Duplicate bool
}

// Publisher publishes jobs on their subjects and waits for the JetStream
// acknowledgement. It is safe for concurrent use.
type Publisher struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subjects Subjects
	stream   string
	timeout  time.Duration
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Subjects Subjects
	// Stream is the work stream's name; the publish is refused unless that
	// stream stores it. Default DefaultStreamName.
	Stream string
	// Timeout bounds one publish; default DefaultPublishTimeout.
	Timeout time.Duration
}

// NewPublisher returns a Publisher on nc.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open JetStream context: %w", err)
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStreamName
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPublishTimeout
	}
	return &Publisher{nc: nc, js: js, subjects: cfg.Subjects, stream: cfg.Stream, timeout: cfg.Timeout}, nil
}

// Publish stores j on its subject and returns after JetStream acknowledged
// it. The Nats-Msg-Id is dedupeKey, or the job ID when dedupeKey is empty,
// so a repeated publish inside the duplicate window is stored once (the Ack
// says Duplicate). Errors wrap ErrUnavailable when the queue could not take
// the job, ErrTooLarge when it is too big; j is not validated here.
func (p *Publisher) Publish(ctx context.Context, j *Job, dedupeKey string) (Ack, error) {
	subject, err := p.subjects.Subject(j)
	if err != nil {
		return Ack{}, err
	}
	data, err := Encode(j)
	if err != nil {
		return Ack{}, err
	}
	if dedupeKey == "" {
		dedupeKey = j.ID
	}
	if ReservedID(dedupeKey) {
		return Ack{}, fmt.Errorf("publish job %s: dedupe key %q: keys starting with %q are the scheduler's message IDs; choose another", j.ID, dedupeKey, ReservedIDPrefix)
	}
	// Fail fast while disconnected instead of waiting for the timeout: the
	// producer answers "unavailable" and the sender retries.
	if st := p.nc.Status(); st != nats.CONNECTED {
		return Ack{}, fmt.Errorf("publish job %s: NATS connection is %s: %w", j.ID, st, ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, dedupeKey)
	pa, err := p.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(p.stream))
	if err != nil {
		return Ack{}, classifyPublishError(j.ID, subject, err)
	}
	return Ack{JobID: j.ID, Subject: subject, Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}, nil
}

func classifyPublishError(id, subject string, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum):
		return fmt.Errorf("publish job %s on %s: %w: %w", id, subject, ErrTooLarge, err)
	case errors.As(err, &apiErr):
		// For example "maximum bytes exceeded": the stream is full and
		// refuses new jobs (DiscardNew) rather than dropping stored ones.
		return fmt.Errorf("publish job %s on %s: stream refused it, check its limits and the worker: %w: %w", id, subject, ErrUnavailable, err)
	}
	return fmt.Errorf("publish job %s on %s: %w: %w", id, subject, ErrUnavailable, err)
}
