package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// puller is the worker's message iterator that outlives its consumer: when
// the consumer is deleted (with its stream, by a server that lost its
// store, or by hand) it creates the consumer again and pulls on, instead
// of ending the worker. A closed connection still ends it.
type puller struct {
	in     *intake
	ctx    context.Context
	stream string // the consumer's stream: the work stream or the tick stream

	mu      sync.Mutex
	it      jetstream.MessagesContext
	stopped bool
}

// pullOpts are the options of every iterator the worker opens. Pull
// requests expire after 10 s (heartbeats every 5 s): when the consumer is
// deleted and re-created under a running iterator without the iterator
// being told, it misses two heartbeats and pulls again from the new
// consumer within about 10 s, not the 30 s of the default.
func pullOpts() []jetstream.PullMessagesOpt {
	return []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(512), jetstream.PullExpiry(10 * time.Second)}
}

// newPuller opens cons; ctx bounds the waits for a consumer to re-create.
func (in *intake) newPuller(ctx context.Context, cons jetstream.Consumer) (*puller, error) {
	it, err := cons.Messages(pullOpts()...)
	if err != nil {
		return nil, err
	}
	return &puller{in: in, ctx: ctx, it: it, stream: cons.CachedInfo().Stream}, nil
}

// Next returns the next message, re-opening the consumer when it is gone.
func (p *puller) Next() (jetstream.Msg, error) {
	for {
		p.mu.Lock()
		it := p.it
		p.mu.Unlock()
		msg, err := it.Next()
		if err == nil || !p.consumerGone(err) {
			return msg, err
		}
		if err := p.reopen(err); err != nil {
			return nil, err
		}
	}
}

// Stop ends the iterator; Next then returns ErrMsgIteratorClosed.
func (p *puller) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.it.Stop()
}

// consumerGone tells a deleted consumer from the iterator's other ends
// (stopped, connection closed).
func (p *puller) consumerGone(err error) bool {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped || p.ctx.Err() != nil || p.in.js.Conn().IsClosed() {
		return false
	}
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrMsgIteratorClosed)
}

// reopen creates the consumer again, once a second until it works (its
// stream may be missing until the JetStream supervisor re-creates it),
// and swaps in a new iterator.
func (p *puller) reopen(cause error) error {
	in := p.in
	in.log.Error("work consumer gone; re-creating it", slog.String("consumer", in.cfg.Consumer),
		slog.String("stream", p.stream), slog.String("error", cause.Error()))
	for {
		cons, err := in.js.CreateOrUpdateConsumer(p.ctx, p.stream, in.consumer)
		var it jetstream.MessagesContext
		if err == nil {
			it, err = cons.Messages(pullOpts()...)
		}
		if err == nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.stopped {
				it.Stop()
			}
			p.it = it
			in.log.Info("work consumer re-created; pulling again", slog.String("consumer", in.cfg.Consumer))
			return nil
		}
		in.log.Debug("re-create work consumer", slog.String("error", err.Error()))
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
