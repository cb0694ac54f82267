package webhooks

import (
	"context"
	"fmt"

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
			return err
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		return nil
	}}
}

// Notice is an error a ReadyCheck returns to show a state on /readyz that
// does not make the server unready (for example "paused by an operator").
type Notice string

func (n Notice) Error() string { return string(n) }
