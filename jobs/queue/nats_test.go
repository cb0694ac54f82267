package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type natsFixture struct {
	srv *testNATS
	nc  *nats.Conn
	js  jetstream.JetStream
	sub jobs.Subjects
	pub *Publisher
}

func newFixture(t *testing.T) *natsFixture {
	t.Helper()
	ctx := t.Context()
	srv := runNATS(t)
	nc, err := Connect(srv.url, "jobs-test", discardLogger(), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := jobs.NewSubjects("")
	if _, err := EnsureStream(ctx, js, StreamConfig{Subjects: sub}); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureStatusStream(ctx, js, StatusStreamConfig{Subjects: sub}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(nc, PublisherConfig{Subjects: sub, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &natsFixture{srv: srv, nc: nc, js: js, sub: sub, pub: pub}
}

func refreshJob(paths ...string) *jobs.Job {
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: paths}}
	j.Prepare("test", time.Now())
	return j
}

func TestEnsureStreamSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, err := f.js.Stream(t.Context(), DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardNew || cfg.Duplicates < 2*time.Minute || cfg.Retention != jetstream.WorkQueuePolicy || cfg.MaxBytes <= 0 {
		t.Fatalf("stream config = %+v", cfg)
	}
	// Idempotent at start of every replica.
	if _, err := EnsureStream(t.Context(), f.js, StreamConfig{Subjects: f.sub}); err != nil {
		t.Fatalf("second EnsureStream: %v", err)
	}
}

func TestPublishDedupesByMsgID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	j := refreshJob("https://static.example.com/a")
	a1, err := f.pub.Publish(ctx, j, "delivery-1")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := f.pub.Publish(ctx, j, "delivery-1")
	if err != nil {
		t.Fatal(err)
	}
	if a1.Duplicate || !a2.Duplicate || a1.Sequence != a2.Sequence {
		t.Fatalf("acks %+v %+v: want the second to be a duplicate of the first", a1, a2)
	}
	if _, err := f.pub.Publish(ctx, refreshJob("https://static.example.com/b"), ""); err != nil {
		t.Fatal(err)
	}
	s, _ := f.js.Stream(ctx, DefaultStreamName)
	info, _ := s.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2", info.State.Msgs)
	}
}

func TestPublishDuringOutageFailsThenRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	// A connection of its own that says when it is down and back.
	disconnected, reconnected := make(chan struct{}, 1), make(chan struct{}, 1)
	nc, err := Connect(f.srv.url, "jobs-test-outage", discardLogger(), nats.ReconnectWait(50*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnected <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Without a budget: one attempt.
	pub, err := NewPublisher(nc, PublisherConfig{Subjects: f.sub, Timeout: 2 * time.Second, Budget: -1})
	if err != nil {
		t.Fatal(err)
	}
	j := refreshJob("https://static.example.com/a")
	f.srv.stop()
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("client did not notice the server stopped (status %v)", nc.Status())
	}
	// Refused at once, from the connection's state, not after the timeout.
	if _, err := pub.Publish(ctx, j, ""); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "NATS connection is") {
		t.Fatalf("Publish while NATS is down = %v, want ErrUnavailable from the connection state", err)
	}
	f.srv.restart()
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("client did not reconnect (status %v)", nc.Status())
	}
	// The restarted server recovered the stream from its store before it
	// took clients.
	if _, err := pub.Publish(ctx, j, ""); err != nil {
		t.Fatalf("Publish after the reconnect: %v", err)
	}
}

type countInc struct{ n atomic.Int64 }

func (c *countInc) Inc() { c.n.Add(1) }

func TestScreenTerminatesInvalidMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	count := &countInc{}
	scr, err := NewScreen(ScreenConfig{Validator: testValidator(t), Subjects: f.sub, JetStream: f.js, Invalid: count, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// What someone might send with `nats pub`.
	pubs := []struct{ subject, data string }{
		{f.sub.Refresh(), `{"refresh":{"paths":["static.example.com/ok.css"]}}`},
		{f.sub.Refresh(), `not json`},
		{f.sub.Push(), `{"id":"bad1","push":{"paths":["https://evil.com/x"]}}`},
		{f.sub.Push(), `{"kind":"refresh","refresh":{"paths":["static.example.com/x"]}}`},
	}
	for _, p := range pubs {
		if _, err := f.js.Publish(ctx, p.subject, []byte(p.data)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := f.js.CreateOrUpdateConsumer(ctx, DefaultStreamName, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var good []*jobs.Job
	var bad int
	for m := range batch.Messages() {
		j, err := scr.Check(ctx, m)
		switch {
		case err == nil:
			good = append(good, j)
			_ = m.Ack()
		case errors.Is(err, ErrInvalidMessage):
			bad++
		default:
			t.Fatalf("Check: %v", err)
		}
	}
	if len(good) != 1 || bad != 3 || count.n.Load() != 3 {
		t.Fatalf("good %d bad %d counted %d; want 1, 3, 3", len(good), bad, count.n.Load())
	}
	if g := good[0]; g.Kind != jobs.KindRefresh || g.ID == "" || g.Source != "nats:cdn.purge.refresh" || g.Refresh.Paths[0] != "https://static.example.com/ok.css" {
		t.Fatalf("good job not filled in: %+v", g)
	}
	// Terminated messages are gone from the work queue, not redelivered.
	// Acks and terminations are sent without waiting for the server, so
	// wait for the stream to drop them.
	s, _ := f.js.Stream(ctx, DefaultStreamName)
	pollUntil(t, "the work stream to drop the settled messages", 10*time.Second, func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	// Reports are in the status stream: three on invalid, one on the job's own subject.
	st, _ := f.js.Stream(ctx, DefaultStatusStreamName)
	msg, err := st.GetLastMsgForSubject(ctx, f.sub.Status("bad1"))
	if err != nil {
		t.Fatalf("no status report for bad1: %v", err)
	}
	var ev jobs.StatusEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.State != jobs.StateInvalid || len(ev.Problems) != 1 || ev.Problems[0].Path != "https://evil.com/x" {
		t.Fatalf("report = %s (%v)", msg.Data, err)
	}
	sinfo, _ := st.Info(ctx, jetstream.WithSubjectFilter(f.sub.Invalid()))
	if n := sinfo.State.Subjects[f.sub.Invalid()]; n != 3 {
		t.Fatalf("%d reports on %s, want 3", n, f.sub.Invalid())
	}
}
