package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSReady reports ready when nc is connected and JetStream answers.
func NATSReady(nc *nats.Conn) ReadyCheck {
	return ReadyCheck{Name: "nats", Check: func(ctx context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("connection is %s", st)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		return nil
	}}
}

// What JetStreamReady found wrong. Each error it returns wraps one of
// them and the cause: /readyz, served on the public listener, shows only
// "failing"; the warning it logs carries the cause.
var (
	errStreamMissing   = errors.New("work stream missing (being re-created)")
	errConsumerMissing = errors.New("worker consumer missing (being re-created)")
	errJetStreamDown   = errors.New("jetstream not answering")
)

// JetStreamReady reports ready when the work stream and the worker's
// durable consumer exist: a NATS that lost its store accepts connections
// but no job. An empty consumer checks the stream only.
func JetStreamReady(nc *nats.Conn, stream, consumer string) ReadyCheck {
	return ReadyCheck{Name: "jetstream", Check: func(ctx context.Context) error {
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("%w: %w", errJetStreamDown, err)
		}
		s, err := js.Stream(ctx, stream)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("%w: stream %s: %w", errStreamMissing, stream, err)
		case err != nil:
			return fmt.Errorf("%w: stream %s: %w", errJetStreamDown, stream, err)
		}
		if consumer == "" {
			return nil
		}
		_, err = s.Consumer(ctx, consumer)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return fmt.Errorf("%w: consumer %s: %w", errConsumerMissing, consumer, err)
		case err != nil:
			return fmt.Errorf("%w: consumer %s: %w", errJetStreamDown, consumer, err)
		}
		return nil
	}}
}

// Notice is an error a ReadyCheck returns to show a state on /readyz that
// does not make the server unready (for example "paused"). /readyz is
// public, so it shows a Notice only when it is a bare state: at most 32
// lower-case letters, digits, blanks, '-' and '_'; anything else (a
// reason, a user or host name) shows as "notice".
type Notice string

func (n Notice) Error() string { return string(n) }

// state is what /readyz shows of n.
func (n Notice) state() string {
	if len(n) == 0 || len(n) > 32 || strings.Trim(string(n), "abcdefghijklmnopqrstuvwxyz0123456789 -_") != "" {
		return "notice"
	}
	return string(n)
}
