package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Pulling in priority order. High-priority jobs have a stream of their own
// (queue.UrgentStreamName); the worker pulls it before the work stream, so
// a high job published behind any backlog is taken ahead of the normal
// jobs still in the stream. Each round asks the streams in order for what
// they hold without waiting (FetchNoWait) and goes back to the first after
// every batch it got; when all of them are empty it asks again after
// orderedIdlePoll. JetStream keeps the order: no queue of our own holds
// jobs.
const (
	// orderedBatch is the most messages one fetch takes.
	orderedBatch = 256
	// orderedIdlePoll is how long the worker waits before asking empty
	// streams again: the most a job published to an idle worker waits
	// before it is pulled (two no-wait requests per poll).
	orderedIdlePoll = 100 * time.Millisecond
)

// orderedRetries is how many rounds in a row a failed fetch of a stream
// holds back the less urgent ones.
const orderedRetries = 3

// prioritySource is one stream's consumer in the pull order.
type prioritySource struct {
	stream string
	cons   jetstream.Consumer
	// failures counts the rounds in a row whose fetch of it failed.
	failures int
}

// pullOrdered takes messages from cons, most urgent first, until ctx ends.
// While every stream is empty it asks again every orderedIdlePoll: no
// pull request stays open, so no message can be delivered to a request
// nobody reads any more.
func (in *intake) pullOrdered(ctx context.Context, cons []jetstream.Consumer) error {
	srcs := make([]*prioritySource, len(cons))
	for i, c := range cons {
		srcs[i] = &prioritySource{stream: c.CachedInfo().Stream, cons: c}
	}
	go func() {
		<-ctx.Done()
		in.ledger.wake()
	}()
	for {
		in.ledger.waitBelow(in.cfg.MaxInflightPaths, ctx.Done())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		got := false
		for _, s := range srcs {
			n, failed, err := in.fetchNoWait(ctx, s)
			if err != nil {
				return err
			}
			if failed && s.failures < orderedRetries {
				// A fetch that failed (a timeout under load) says nothing
				// of what the stream holds: the less urgent streams wait
				// for a round that asks it again, a few times at most,
				// so that a stream that keeps failing starves no other.
				s.failures++
				got = true
				break
			}
			if !failed {
				s.failures = 0
			}
			if n > 0 {
				got = true
				break
			}
		}
		if got {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(orderedIdlePoll):
		}
	}
}

// fetchNoWait hands every message s holds now, up to orderedBatch, to
// handle and returns how many there were, and whether the fetch failed
// rather than found the stream empty.
func (in *intake) fetchNoWait(ctx context.Context, s *prioritySource) (int, bool, error) {
	batch, err := s.cons.FetchNoWait(in.fetchSize())
	if err != nil {
		return 0, !errors.Is(err, jetstream.ErrNoMessages), in.pullFailed(ctx, s, err)
	}
	got := 0
	for msg := range batch.Messages() {
		before := in.ledger.takenPaths()
		in.handle(ctx, msg)
		in.notePaths(in.ledger.takenPaths() - before)
		got++
	}
	if err := batch.Error(); err != nil && got == 0 {
		return 0, !errors.Is(err, jetstream.ErrNoMessages), in.pullFailed(ctx, s, err)
	}
	return got, false, nil
}

// pullFailed decides what a failed fetch of s means: nothing (a wait that
// timed out), the end (ctx ended, connection closed), or a consumer that
// may be gone, which it creates again before the next round.
func (in *intake) pullFailed(ctx context.Context, s *prioritySource, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages) {
		return nil
	}
	if in.js.Conn().IsClosed() {
		return fmt.Errorf("pull from consumer %s on %s stopped (connection closed): %w", in.cfg.Consumer, s.stream, err)
	}
	in.log.Warn("pull failed; making sure the consumer exists, then pulling again", slog.String("consumer", in.cfg.Consumer),
		slog.String("stream", s.stream), slog.String("error", err.Error()))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
	}
	cons, cerr := in.js.CreateOrUpdateConsumer(ctx, s.stream, in.consumer)
	if cerr != nil {
		in.log.Debug("re-create work consumer", slog.String("stream", s.stream), slog.String("error", cerr.Error()))
		return nil
	}
	s.cons = cons
	return nil
}

// fetchSize is how many messages the next fetch asks for: as many as
// worker.max_inflight_paths has room for at the paths per message seen
// lately, between 1 and orderedBatch. A replica then takes about what it
// can hold, and leaves the rest of a backlog to the other replicas,
// instead of pulling a whole batch of large jobs beyond its bound.
func (in *intake) fetchSize() int {
	limit := in.cfg.pullBatch
	if limit <= 0 {
		limit = orderedBatch
	}
	room := in.cfg.MaxInflightPaths - in.ledger.takenPaths()
	per := in.pathsPerMsg.Load()
	if per <= 0 {
		return 1 // nothing seen yet: one message tells its size
	}
	return min(max(int(int64(room)/per), 1), limit)
}

// notePaths adds the paths one message brought to the running average
// (the last few messages weigh most).
func (in *intake) notePaths(n int) {
	n = max(n, 1)
	old := in.pathsPerMsg.Load()
	if old <= 0 {
		in.pathsPerMsg.Store(int64(n))
		return
	}
	in.pathsPerMsg.Store((old*3 + int64(n)) / 4)
}
