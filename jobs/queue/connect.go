package queue

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/redact"
	"github.com/nats-io/nats.go"
)

// ReconnectBufferSize is how many bytes of outgoing messages a connection
// holds while it reconnects (to the same server or, with a list in
// nats.url, another one of the cluster), sent once it is back: the
// worker's acks and status events of those seconds, a few hundred bytes
// each. A JetStream publish (a job, a tick) is not sent while the
// connection is down: the publisher waits for it within its budget
// (retry.go) and answers only after the ack, so nothing is acknowledged
// to a sender from this buffer. When the buffer is full a publish fails
// with nats.ErrReconnectBufExceeded, which the publisher retries too.
const ReconnectBufferSize = 4 << 20

// Connect dials url (a comma-separated list of the cluster's servers; the
// client learns the others from the cluster too) with the options a
// producer or the worker needs: retry the first connection, reconnect
// forever after outages with a jittered wait so that a cluster's clients
// do not all come back at once, and a reconnect buffer of
// ReconnectBufferSize. extra options are applied last.
func Connect(url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(ReconnectBufferSize),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", slog.String("error", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", slog.String("url", c.ConnectedUrlRedacted()), slog.String("server", c.ConnectedServerName()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Info("nats connection closed") }),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (check the URL and that the server is running)", redact.URL(url), err)
	}
	return nc, nil
}
