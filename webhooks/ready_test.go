package webhooks

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/nats-io/nats.go/jetstream"
)

// /readyz's JetStream check fails while the work stream or the worker's
// consumer is missing, and its answer names no address.
func TestJetStreamReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	ctx := t.Context()
	check := JetStreamReady(f.nc, queue.DefaultStreamName, "ready-worker")
	if err := check.Check(ctx); err == nil || !strings.Contains(err.Error(), "consumer missing") {
		t.Fatalf("without the consumer: %v", err)
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
	err := check.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "work stream missing") {
		t.Fatalf("without the stream: %v", err)
	}
	f.nats.Stop()
	down, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err = check.Check(down)
	if err == nil {
		t.Fatal("server down: ready")
	}
	for _, leak := range []string{"127.0.0.1", "nats://", ":" + strconv.Itoa(f.nats.Port)} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("readiness answer %q leaks %q", err, leak)
		}
	}
}
