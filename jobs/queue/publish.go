package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
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
	// JobID is the ID the job is stored under: the ID of the job given to
	// Publish or PublishSet, or, for a repeat of a request under the same
	// idempotency key, the ID the first request stored it under (the
	// given job is not changed). Producers report this one.
	JobID    string
	Subject  string
	Stream   string
	Sequence uint64
	// Duplicate is true when the Nats-Msg-Id was seen inside the duplicate
	// window: the job was stored by an earlier publish.
	Duplicate bool
	// Spooled is true when the queue could not take the job within the
	// publish budget and it waits in this host's spool (jobs/spool) to
	// be published; Subject, Stream and Sequence are empty.
	Spooled bool
}

// Publisher publishes jobs on their subjects and waits for the JetStream
// acknowledgement. It is safe for concurrent use.
type Publisher struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subjects jobs.Subjects
	stream   string
	timeout  time.Duration
	idem     *idemStore
	retry    publishRetry
	durable  Durable
	writable func() error
}

// Durable makes what the server acknowledged durable before the producer
// answers its sender: the embedded server's group commit
// (embedded.GroupSync). size is the bytes the caller stored.
type Durable interface {
	Sync(ctx context.Context, size int) error
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Subjects jobs.Subjects
	// Stream is the work stream's name; the publish is refused unless that
	// stream stores it. Default DefaultStreamName.
	Stream string
	// Timeout bounds one publish attempt; default DefaultPublishTimeout,
	// and at most a third of Budget.
	Timeout time.Duration
	// Budget bounds a publish with its retries (retry.go): a publish the
	// queue could not take for a passing reason (no stream leader, a
	// reconnect, no answer) is tried again with backoff until it is stored
	// or the budget is spent. 0 means DefaultPublishBudget; negative, one
	// attempt.
	Budget time.Duration
	// Duplicates is the work stream's duplicate window; idempotency keys
	// are bound to their content for as long (plus a minute). Default
	// DefaultDuplicateWindow.
	Duplicates time.Duration
	// IdempotencyBucket is the key-value bucket of idempotency keys,
	// created when missing; default DefaultIdempotencyBucket.
	IdempotencyBucket string
	// Replicas is the bucket's replica count; default 1.
	Replicas int
	// Durable, when set, is waited for after every acknowledged publish,
	// before the producer is answered (group commit, see Durable).
	Durable Durable
	// Writable, when set, is asked before every publish: while it returns
	// an error (the store is known unable to write) the publish is
	// refused at once with ErrStoreUnwritable.
	Writable func() error
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
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = DefaultDuplicateWindow
	}
	if cfg.IdempotencyBucket == "" {
		cfg.IdempotencyBucket = DefaultIdempotencyBucket
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultPublishBudget
	}
	idem := &idemStore{js: js, bucket: cfg.IdempotencyBucket, ttl: cfg.Duplicates + idemMargin, replicas: cfg.Replicas}
	r := publishRetry{nc: nc, budget: max(cfg.Budget, 0)}
	return &Publisher{nc: nc, js: js, subjects: cfg.Subjects, stream: cfg.Stream, timeout: r.attemptTimeout(cfg.Timeout), idem: idem, retry: r, durable: cfg.Durable, writable: cfg.Writable}, nil
}

// Publish stores j on its subject and returns after JetStream acknowledged
// it. The Nats-Msg-Id and idempotency key is dedupeKey, or the job ID when
// dedupeKey is empty. The key is bound to j's content (ContentDigest) for
// the duplicate window, shared by every producer on the same NATS: a
// repeated publish with the same content is stored once (the Ack says
// Duplicate, and its JobID is the first job's ID; j is not changed); with
// other content it is
// refused with an *IdempotencyConflictError (ErrIdempotencyConflict).
// Other errors wrap ErrUnavailable when the queue could not take the job
// within the publish budget, ErrTooLarge when it is too big; j is not
// validated here.
func (p *Publisher) Publish(ctx context.Context, j *jobs.Job, dedupeKey string) (Ack, error) {
	if dedupeKey == "" {
		dedupeKey = j.ID
	}
	acks, err := p.publishRetried(ctx, dedupeKey, []*jobs.Job{j}, func(int) string { return dedupeKey })
	if err != nil {
		return Ack{}, err
	}
	return acks[0], nil
}

// PublishSet stores the jobs one request produced under one idempotency
// key, bound to the digest of all of them together: the i-th job gets
// Nats-Msg-Id key:i. A repeat with the same jobs is stored once and reuses
// the first request's job IDs; a repeat with other jobs (other paths, other
// kinds, more or fewer jobs) is refused whole with an
// *IdempotencyConflictError. The jobs in js are not changed; the acks say
// under which IDs they were stored.
//
// acks[i] is the answer for js[i], in order. When a job fails to publish,
// the error comes with the acks of the jobs stored before it, so the job
// that failed is js[len(acks)]; a retry of the same request stores the
// rest. An error before any job was tried (a conflict, an unavailable
// queue) comes with no acks.
//
// An empty key claims nothing: each job is published once under its own
// ID as Nats-Msg-Id, one JetStream write per job (a request that brings no
// key of its own cannot be repeated, so there is nothing to bind).
func (p *Publisher) PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]Ack, error) {
	if key == "" {
		return p.publishRetried(ctx, "", js, func(i int) string { return js[i].ID })
	}
	return p.publishRetried(ctx, key, js, func(i int) string { return key + ":" + strconv.Itoa(i) })
}

func (p *Publisher) publish(ctx context.Context, key string, js []*jobs.Job, msgID func(int) string) ([]Ack, error) {
	if len(js) == 0 {
		return nil, nil
	}
	if key != "" && jobs.ReservedID(key) {
		return nil, fmt.Errorf("publish job %s: dedupe key %q: keys starting with %q are the scheduler's message IDs; choose another", js[0].ID, key, jobs.ReservedIDPrefix)
	}
	// Fail fast while disconnected instead of waiting for the timeout: the
	// producer answers "unavailable" and the sender retries.
	if st := p.nc.Status(); st != nats.CONNECTED {
		return nil, fmt.Errorf("publish job %s: NATS connection is %s: %w", js[0].ID, st, ErrUnavailable)
	}
	if err := p.storeWritable(js[0].ID); err != nil {
		return nil, err
	}
	digest, err := jobs.ContentDigest(js)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout*time.Duration(len(js)+1))
	defer cancel()
	rec := idemRecord{Digest: digest, At: time.Now().UTC()}
	for _, j := range js {
		rec.Jobs = append(rec.Jobs, j.ID)
		rec.Kinds = append(rec.Kinds, j.Kind)
	}
	claim := idemClaim{fresh: true}
	if key != "" {
		if claim, err = p.idem.claim(ctx, key, rec); err != nil {
			return nil, err
		}
	}
	if !claim.fresh {
		// The same request again: publish under the first request's IDs,
		// so the stream dedupes it (or stores what the first one could
		// not). Copies carry them: the caller's jobs stay as they are, and
		// the acks say what was stored.
		stored := make([]*jobs.Job, len(js))
		for i, j := range js {
			c := *j
			c.ID = claim.rec.Jobs[i]
			stored[i] = &c
		}
		js = stored
	}
	acks := make([]Ack, 0, len(js))
	for i, j := range js {
		ack, err := p.publishOne(ctx, j, msgID(i))
		if err != nil {
			if len(acks) == 0 && key != "" {
				if rerr := p.idem.release(context.WithoutCancel(ctx), key, claim); rerr != nil {
					err = fmt.Errorf("%w (and %w)", err, rerr)
				}
			}
			return acks, err
		}
		acks = append(acks, ack)
	}
	return acks, p.sync(ctx, js[0].ID, len(js))
}

// sync waits for the group commit that makes the stored jobs durable. On
// failure the jobs are stored but not known to be on disk: the producer
// answers "unavailable", and the sender's retry is a duplicate.
func (p *Publisher) sync(ctx context.Context, id string, n int) error {
	if p.durable == nil {
		return nil
	}
	if err := p.durable.Sync(ctx, n*1024); err != nil {
		return fmt.Errorf("publish job %s: flush to disk: %w: %w", id, ErrUnavailable, err)
	}
	return nil
}

// Flush waits until what the server acknowledged so far is on disk, with
// the next group commit, for writes made beside the publisher (the
// replica heartbeat in the control bucket); without a group commit (lazy
// sync, or a server of your own) it returns at once.
func (p *Publisher) Flush(ctx context.Context) error {
	if p.durable == nil {
		return nil
	}
	return p.durable.Sync(ctx, 0)
}

func (p *Publisher) publishOne(ctx context.Context, j *jobs.Job, msgID string) (Ack, error) {
	subject, err := p.subjects.Subject(j)
	if err != nil {
		return Ack{}, err
	}
	data, err := jobs.Encode(j)
	if err != nil {
		return Ack{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	stream := p.stream
	if strings.HasSuffix(subject, "."+jobs.HighToken) {
		stream = UrgentStreamName(p.stream)
	}
	pa, err := p.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(stream))
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

// Report publishes ev on Subjects.Status(ev.JobID), or on
// Subjects.Invalid() when it names no job, and returns once the status
// stream stored it. Producers use it for what the sender's answer says but
// an operator following the status stream should see too (paths refused
// from a partly accepted request, a truncated push).
func (p *Publisher) Report(ctx context.Context, ev jobs.StatusEvent) error {
	subject := p.subjects.Invalid()
	if ev.JobID != "" {
		if !jobs.ValidToken(ev.JobID) || ev.JobID == jobs.InvalidToken {
			return fmt.Errorf("report status of job %q: not a valid job ID", ev.JobID)
		}
		subject = p.subjects.Status(ev.JobID)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode status event of job %s: %w", ev.JobID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := p.js.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("report status on %s: %w: %w", subject, ErrUnavailable, err)
	}
	return nil
}
