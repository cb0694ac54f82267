package worker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeBatch is a fetch's answer: no messages, and err.
type fakeBatch struct{ err error }

func (b fakeBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}
func (b fakeBatch) Error() error { return b.err }

// fakeConsumer answers FetchNoWait with its answers in turn (then
// ErrNoMessages) and records each fetch in a shared log.
type fakeConsumer struct {
	jetstream.Consumer
	name    string
	answers []error
	log     *fetchLog
}

type fetchLog struct {
	mu    sync.Mutex
	calls []string
	seen  chan struct{} // closed at the first fetch of "normal"
	once  sync.Once
}

func (c *fakeConsumer) FetchNoWait(int) (jetstream.MessageBatch, error) {
	c.log.mu.Lock()
	c.log.calls = append(c.log.calls, c.name)
	c.log.mu.Unlock()
	if c.name == "normal" {
		c.log.once.Do(func() { close(c.log.seen) })
	}
	err := error(jetstream.ErrNoMessages)
	if len(c.answers) > 0 {
		err, c.answers = c.answers[0], c.answers[1:]
	}
	return fakeBatch{err: err}, nil
}

func (c *fakeConsumer) CachedInfo() *jetstream.ConsumerInfo {
	return &jetstream.ConsumerInfo{Stream: c.name}
}

// A fetch of the urgent stream that fails (a timeout, under load) is not
// taken for an empty stream: the round asks it again before the work
// stream, whose jobs would otherwise take the quota first; a stream that
// keeps failing holds the others back a few rounds only.
func TestPullOrderedAsksAFailedUrgentFetchAgainFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		answers []error
		want    []string
	}{
		{"one timeout", []error{nats.ErrTimeout}, []string{"urgent", "urgent", "normal"}},
		{"empty", nil, []string{"urgent", "normal"}},
		{"failing for good", []error{nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout},
			[]string{"urgent", "urgent", "urgent", "urgent", "normal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &fetchLog{seen: make(chan struct{})}
			urgent := &fakeConsumer{name: "urgent", answers: tc.answers, log: log}
			normal := &fakeConsumer{name: "normal", log: log}
			in := &intake{intakeParams: intakeParams{ledger: newLedger(time.Minute, nil, nil), cfg: Config{MaxInflightPaths: 1000}, log: quietLog()}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = in.pullOrdered(ctx, []jetstream.Consumer{urgent, normal})
			}()
			select {
			case <-log.seen:
			case <-time.After(time.Minute):
				t.Fatal("the work stream was never asked")
			}
			cancel()
			<-done
			log.mu.Lock()
			defer log.mu.Unlock()
			if got := log.calls[:min(len(log.calls), len(tc.want))]; !slices.Equal(got, tc.want) {
				t.Fatalf("fetches %v, want %v first", log.calls, tc.want)
			}
		})
	}
}
