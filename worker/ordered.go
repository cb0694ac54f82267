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
// (jobs.UrgentStreamName); the worker pulls it before the work stream, so
// a high job published behind any backlog is taken ahead of the normal
// jobs still in the stream. Each round asks the streams in order for what
// they hold without waiting (FetchNoWait) and goes back to the first after
// every batch it got; only when all of them are empty does it wait, on
// every stream at once, for the next message. JetStream keeps the order:
// no queue of our own holds jobs.
const (
	// orderedBatch is the most messages one fetch takes.
	orderedBatch = 256
	// orderedIdleWait bounds one wait for a message while every stream is
	// empty; a message arriving meanwhile is taken at once.
	orderedIdleWait = 5 * time.Second
)

// prioritySource is one stream's consumer in the pull order.
type prioritySource struct {
	stream string
	cons   jetstream.Consumer
	// waiting is set while a wait for this stream's next message is out.
	waiting bool
}

// arrival is what one wait brought.
type arrival struct {
	i   int
	msg jetstream.Msg
	err error
}

// pullOrdered takes messages from cons, most urgent first, until ctx ends.
func (in *intake) pullOrdered(ctx context.Context, cons []jetstream.Consumer) error {
	srcs := make([]*prioritySource, len(cons))
	for i, c := range cons {
		srcs[i] = &prioritySource{stream: c.CachedInfo().Stream, cons: c}
	}
	arrived := make(chan arrival, len(srcs))
	outstanding := 0
	defer func() {
		// A wait still out may yet bring a message nobody will handle:
		// give it back at once rather than after the ack deadline.
		for ; outstanding > 0; outstanding-- {
			if a := <-arrived; a.msg != nil {
				_ = a.msg.Nak()
			}
		}
	}()
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
			n, err := in.fetchNoWait(ctx, s)
			if err != nil {
				return err
			}
			if n > 0 {
				got = true
				break
			}
		}
		if got {
			continue
		}
		// Every stream is empty: wait for whichever gets a message first.
		for i, s := range srcs {
			if s.waiting {
				continue
			}
			s.waiting = true
			outstanding++
			go func() {
				wctx, cancel := context.WithTimeout(ctx, orderedIdleWait)
				defer cancel()
				msg, err := s.cons.Next(jetstream.FetchContext(wctx))
				arrived <- arrival{i: i, msg: msg, err: err}
			}()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a := <-arrived:
			outstanding--
			srcs[a.i].waiting = false
			if a.msg != nil {
				in.handle(ctx, a.msg)
				continue
			}
			if err := in.pullFailed(ctx, srcs[a.i], a.err); err != nil {
				return err
			}
		}
	}
}

// fetchNoWait hands every message s holds now, up to orderedBatch, to
// handle and returns how many there were.
func (in *intake) fetchNoWait(ctx context.Context, s *prioritySource) (int, error) {
	batch, err := s.cons.FetchNoWait(in.fetchSize())
	if err != nil {
		return 0, in.pullFailed(ctx, s, err)
	}
	got := 0
	for msg := range batch.Messages() {
		before := in.ledger.takenPaths()
		in.handle(ctx, msg)
		in.notePaths(in.ledger.takenPaths() - before)
		got++
	}
	if err := batch.Error(); err != nil && got == 0 {
		return 0, in.pullFailed(ctx, s, err)
	}
	return got, nil
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
	if !s.waiting {
		s.cons = cons
	}
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
