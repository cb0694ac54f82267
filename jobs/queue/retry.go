package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-retry"
)

// DefaultPublishBudget is how long a publish keeps retrying a queue that
// is passing through an election or a reconnect before it gives up:
// JetStream elects a new stream leader within its election timeout (4 to
// 9 seconds after the leader is lost), and GitHub waits 10 seconds for a
// webhook's answer and does not redeliver on its own ("Handling failed
// webhook deliveries", docs.github.com), so a hook must be answered
// before that.
const DefaultPublishBudget = 8 * time.Second

// Waits between publish attempts: exponential from the first, capped, with
// jitter so that the producers of a cluster do not retry in step.
const (
	publishRetryFirst  = 50 * time.Millisecond
	publishRetryCap    = 500 * time.Millisecond
	publishRetryJitter = 50 // percent
)

// publishRetry runs one publish (its idempotency claim and its messages)
// again while it fails for a passing reason (see retryable), until it
// succeeds, fails for good, or budget is spent. A retry reuses the
// Nats-Msg-Id of the first attempt, so a message stored by an attempt whose
// ack was lost is not stored twice. budget 0 means one attempt.
type publishRetry struct {
	nc     *nats.Conn
	budget time.Duration
	// retried, when set, is told each error that is retried (tests).
	retried func(error)
}

// attemptTimeout bounds one attempt within the budget: the publish
// timeout, but at most a third of the budget, so that an attempt sent to
// a leader that just died leaves time for the ones after the election.
func (r publishRetry) attemptTimeout(timeout time.Duration) time.Duration {
	if r.budget > 0 && timeout > r.budget/3 {
		return r.budget / 3
	}
	return timeout
}

// do runs op until it succeeds, fails with an error retryable does not
// accept, or the budget ends; then it returns op's last error.
func (r publishRetry) do(parent context.Context, op func(context.Context) error) error {
	if r.budget <= 0 {
		return op(parent)
	}
	ctx, cancel := context.WithTimeout(parent, r.budget)
	defer cancel()
	b := retry.WithJitterPercent(publishRetryJitter, retry.WithCappedDuration(publishRetryCap, retry.NewExponential(publishRetryFirst)))
	var last error
	attempts := 0
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		attempts++
		if st := r.nc.Status(); st == nats.RECONNECTING || st == nats.CONNECTING {
			// Wait for the connection instead of failing at once; the
			// publish below would refuse it.
			last = fmt.Errorf("NATS connection is %s: %w", st, ErrUnavailable)
		} else if err := op(ctx); err == nil || !retryable(err) {
			return err
		} else {
			last = err
		}
		if r.retried != nil {
			r.retried(last)
		}
		return retry.RetryableError(last)
	})
	if err != nil && last != nil && errors.Is(err, ctx.Err()) {
		if parent.Err() != nil {
			return fmt.Errorf("%w (after %d attempt(s); last: %w)", parent.Err(), attempts, last)
		}
		// The budget ended the wait: say what the queue last answered,
		// as text: an attempt's own timeout in the chain would read as
		// the caller's deadline.
		return fmt.Errorf("gave up after %d attempt(s) in %s (webhooks.publish_budget): %w: %s", attempts, r.budget, ErrUnavailable, last.Error())
	}
	return err
}

// Codes of JetStream API errors that a leader election answers with
// (nats-server's errors.json): the cluster or the stream has no leader yet.
const (
	jsClusterNotAvailable jetstream.ErrorCode = 10008
	jsClusterNotLeader    jetstream.ErrorCode = 10009
)

// retryable tells a publish error that a moment later may not repeat: no
// answer (no responders while the stream has no leader, a timeout while
// one is elected), a connection being re-established, and the API's own
// "not available yet" answers. A full stream, a message too large, an
// idempotency conflict and a cancelled caller are final.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrIdempotencyConflict), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return true
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode == jsClusterNotAvailable || apiErr.ErrorCode == jsClusterNotLeader
	}
	return false
}

// publishRetried is publish within the budget.
func (p *Publisher) publishRetried(ctx context.Context, key string, js []*jobs.Job, msgID func(int) string) ([]Ack, error) {
	var acks []Ack
	err := p.retry.do(ctx, func(ctx context.Context) (err error) {
		acks, err = p.publish(ctx, key, js, msgID)
		return err
	})
	return acks, err
}
