package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// /readyz's JetStream check fails while the work stream or the worker's
// consumer is missing or JetStream does not answer; its error keeps the
// cause for the log, and /readyz shows a bare state that names no address.
func TestJetStreamReady(t *testing.T) {
	t.Parallel()
	logs := &jobstest.LogBuffer{}
	f := newNATSFixtureWith(t, testConfig(), func(d *Deps) { d.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	ctx := t.Context()
	check := JetStreamReady(f.nc, queue.DefaultStreamName, "ready-worker")
	// /readyz gives each check 2s; the server going down below need not
	// cost this test that long.
	f.srv.deps.Ready = append(f.srv.deps.Ready, ReadyCheck{Name: check.Name, Check: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		return check.Check(ctx)
	}})
	if err := check.Check(ctx); !errors.Is(err, errConsumerMissing) || !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("without the consumer: %v, want the state and its cause", err)
	}
	if _, err := f.js.CreateOrUpdateConsumer(ctx, queue.DefaultStreamName, jetstream.ConsumerConfig{Durable: "ready-worker", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := check.Check(ctx); err != nil {
		t.Fatalf("stream and consumer present: %v", err)
	}
	if err := f.js.DeleteStream(ctx, queue.DefaultStreamName); err != nil {
		t.Fatal(err)
	}
	if err := check.Check(ctx); !errors.Is(err, errStreamMissing) || !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("without the stream: %v, want the state and its cause", err)
	}
	f.nats.Stop()
	down, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := check.Check(down)
	if !errors.Is(err, errJetStreamDown) || err.Error() == errJetStreamDown.Error() {
		t.Fatalf("server down: %v, want %q with its cause", err, errJetStreamDown)
	}
	r := f.get(t, "/readyz")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.raw, `"jetstream":"failing"`) {
		t.Fatalf("readyz with the server down: %d %s", r.status, r.raw)
	}
	for _, leak := range []string{"127.0.0.1", "nats://", ":" + strconv.Itoa(f.nats.Port), "not answering"} {
		if strings.Contains(r.raw, leak) {
			t.Errorf("readyz %s leaks %q", r.raw, leak)
		}
	}
	if l := logs.Take(); !strings.Contains(l, `"level":"WARN"`) || !strings.Contains(l, errJetStreamDown.Error()+": ") {
		t.Fatalf("the warning does not carry the cause: %s", l)
	}
}
