package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRetryableTellsPassingFailuresFromFinalOnes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no responders while the stream has no leader", fmt.Errorf("publish: %w: %w", ErrUnavailable, jetstream.ErrNoStreamResponse), true},
		{"no responders on the connection", fmt.Errorf("claim: %w: %w", ErrUnavailable, nats.ErrNoResponders), true},
		{"attempt timed out", fmt.Errorf("publish: %w: %w", ErrUnavailable, context.DeadlineExceeded), true},
		{"request timed out", fmt.Errorf("publish: %w: %w", ErrUnavailable, nats.ErrTimeout), true},
		{"connection reconnecting", nats.ErrConnectionReconnecting, true},
		{"reconnect buffer full", fmt.Errorf("publish: %w: %w", ErrUnavailable, nats.ErrReconnectBufExceeded), true},
		{"cluster not available yet", &jetstream.APIError{Code: 503, ErrorCode: jsClusterNotAvailable}, true},
		{"not the leader", &jetstream.APIError{Code: 500, ErrorCode: jsClusterNotLeader}, true},
		{"stream full", fmt.Errorf("publish: %w: %w", ErrUnavailable, &jetstream.APIError{Code: 503, ErrorCode: 10047, Description: "maximum bytes exceeded"}), false},
		{"too large", fmt.Errorf("publish: %w: %w", ErrTooLarge, nats.ErrMaxPayload), false},
		{"idempotency conflict", &IdempotencyConflictError{Key: "k"}, false},
		{"caller gone", fmt.Errorf("publish: %w: %w", ErrUnavailable, context.Canceled), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestPublishWaitsForTheConnectionWithinItsBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	disconnected := make(chan struct{}, 1)
	nc, err := Connect(f.srv.url, "jobs-test-ride", discardLogger(), nats.ReconnectWait(50*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := NewPublisher(nc, PublisherConfig{Subjects: f.sub, Timeout: 2 * time.Second, Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var once bool
	pub.retry.retried = func(error) {
		if !once {
			once = true
			close(waiting)
		}
	}
	f.srv.stop()
	<-disconnected
	set := []*jobs.Job{refreshJob("https://static.example.com/ride-a"), refreshJob("https://static.example.com/ride-b")}
	done := make(chan error, 1)
	var acks []Ack
	go func() {
		var err error
		acks, err = pub.PublishSet(ctx, "", set)
		done <- err
	}()
	<-waiting // the publish found the queue down and is retrying
	f.srv.restart()
	if err := <-done; err != nil {
		t.Fatalf("PublishSet across a NATS restart: %v", err)
	}
	if len(acks) != 2 || acks[0].JobID != set[0].ID || acks[1].JobID != set[1].ID {
		t.Fatalf("acks = %+v", acks)
	}
	js, err := jetstream.New(nc) // f's connection may still be reconnecting
	if err != nil {
		t.Fatal(err)
	}
	streamHolds(t, js, 2)
}

func TestPublishGivesUpWhenItsBudgetIsSpent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pub, err := NewPublisher(f.nc, PublisherConfig{Subjects: f.sub, Timeout: 2 * time.Second, Budget: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	pub.retry.retried = func(error) { retried++ }
	f.srv.stop()
	_, err = pub.PublishSet(t.Context(), "", []*jobs.Job{refreshJob("https://static.example.com/late")})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("PublishSet with NATS down = %v, want ErrUnavailable after retries", err)
	}
	if retried < 2 {
		t.Fatalf("retried %d times within the budget, want several", retried)
	}
	// An attempt's own timeout is not the caller's deadline (the CLI
	// reports that one as --timeout).
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the budget's error reads as a deadline: %v", err)
	}
}

func TestPublishSetWithoutKeyClaimsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	j := refreshJob("https://static.example.com/once")
	acks, err := f.pub.PublishSet(ctx, "", []*jobs.Job{j})
	if err != nil {
		t.Fatalf("PublishSet without a key: %v", err)
	}
	if acks[0].JobID != j.ID || acks[0].Duplicate {
		t.Fatalf("ack = %+v, want job %s stored", acks[0], j.ID)
	}
	// One write: the message. The idempotency bucket was not even made.
	if _, err := f.js.KeyValue(ctx, DefaultIdempotencyBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("idempotency bucket after a keyless publish: %v, want none", err)
	}
	streamHolds(t, f.js, 1)
}

// streamHolds fails unless the work stream holds n messages.
func streamHolds(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	s, err := js.Stream(t.Context(), DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != n {
		t.Fatalf("work stream holds %d messages, want %d", got, n)
	}
}

// One slow bucket lookup (NATS gone, its caller's deadline long) must not
// hold up the claims of other publishes past their own deadlines.
func TestSlowBucketLookupHoldsUpNoOtherClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pub, err := NewPublisher(f.nc, PublisherConfig{Subjects: f.sub, Timeout: 2 * time.Second, Budget: -1})
	if err != nil {
		t.Fatal(err)
	}
	down := f.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	f.srv.stop()
	select {
	case <-down: // the client noticed
	case <-time.After(10 * time.Second):
		t.Fatalf("client did not notice the server stopped (status %v)", f.nc.Status())
	}
	f.nc.RemoveStatusListener(down)
	rec := idemRecord{Digest: "sha256:x", Jobs: []string{"j"}, Kinds: []jobs.Kind{jobs.KindRefresh}}
	slowCtx, cancelSlow := context.WithTimeout(t.Context(), time.Minute)
	defer cancelSlow()
	order := make(chan string, 2)
	go func() {
		_, _ = pub.idem.claim(slowCtx, "slow", rec)
		order <- "slow"
	}()
	// The slow lookup's request waits in the reconnect buffer: it is under
	// way. Now a claim with a short deadline.
	pollUntil(t, "the slow lookup's request in the reconnect buffer", 10*time.Second, func() bool {
		n, _ := f.nc.Buffered()
		return n > 0
	})
	quickCtx, cancelQuick := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancelQuick()
	go func() {
		_, _ = pub.idem.claim(quickCtx, "quick", rec)
		order <- "quick"
	}()
	if first := <-order; first != "quick" {
		t.Fatalf("%s claim returned first: the quick one waited behind the slow lookup", first)
	}
	cancelSlow()
	<-order
}
