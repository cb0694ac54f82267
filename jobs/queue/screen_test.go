package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The scheduler's ID space is closed to producers' dedupe keys too (the
// validator refuses such job IDs, see jobs.ReservedID).
func TestPublishRefusesTheSchedulersPrefixAsKey(t *testing.T) {
	t.Parallel()
	p := &Publisher{subjects: jobs.Subjects{}}
	j := &jobs.Job{ID: "ok", Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/a.js"}}}
	if _, err := p.Publish(t.Context(), j, "sched-night-1795618800"); err == nil || !strings.Contains(err.Error(), "scheduler's") {
		t.Fatalf("Publish with a reserved dedupe key = %v, want refused", err)
	}
}

func TestInvalidReportReasonIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	reports := make(chan jobs.StatusEvent, 1)
	sub, err := f.nc.Subscribe(f.sub.Invalid(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			reports <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	field := strings.Repeat("f", 100<<10)
	if _, err := f.js.Publish(ctx, f.sub.Refresh(), []byte(`{"refresh":{"paths":["static.example.com/a"]},"`+field+`":1}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := f.js.CreateOrUpdateConsumer(ctx, DefaultStreamName, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next()
	if err != nil {
		t.Fatal(err)
	}
	v := testValidator(t)
	screen, err := NewScreen(ScreenConfig{Validator: v, Subjects: f.sub, JetStream: f.js})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := screen.Check(ctx, msg); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Check = %v, want ErrInvalidMessage", err)
	}
	ev := <-reports
	if len(ev.Reason) > 1100 || !strings.Contains(ev.Reason, "truncated") || !strings.Contains(ev.Reason, "unknown field") {
		t.Fatalf("reason is %d bytes (%.80q...), want about 1 KiB at most, marked truncated", len(ev.Reason), ev.Reason)
	}
}

func TestScreenTerminatesInvalidUTF8(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	scr, err := NewScreen(ScreenConfig{Validator: testValidator(t), Subjects: f.sub, JetStream: f.js, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("{\"id\":\"utf1\",\"refresh\":{\"paths\":[\"https://static.example.com/a1/\xff\xfe\"]}}")
	if _, err := f.js.Publish(ctx, f.sub.Refresh(), data); err != nil {
		t.Fatal(err)
	}
	cons, err := f.js.CreateOrUpdateConsumer(ctx, DefaultStreamName, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if j, err := scr.Check(ctx, m); !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("Check = %+v, %v; want the message terminated", j, err)
		}
	}
	if n != 1 {
		t.Fatalf("fetched %d messages", n)
	}
	st, _ := f.js.Stream(ctx, DefaultStatusStreamName)
	msg, err := st.GetLastMsgForSubject(ctx, f.sub.Status("utf1"))
	if err != nil {
		t.Fatalf("no status report for utf1: %v", err)
	}
	var ev jobs.StatusEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.State != jobs.StateInvalid || len(ev.Problems) != 1 || ev.Problems[0].Field != "refresh.paths[0]" {
		t.Fatalf("report = %s (%v)", msg.Data, err)
	}
}
