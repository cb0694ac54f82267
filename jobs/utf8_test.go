package jobs

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestValidJSONString(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`"https://static.example.com/a"`:            true,
		`"caf\u00e9 \"quoted\" \\u00e9"`:            true,
		"\"caf\xc3\xa9\"":                           true,
		`"emoji \ud83d\ude00"`:                      true,
		"\"a1/\xff\xfe\"":                           false,
		`"lone \ud83d end"`:                         false,
		`"lone low \ude00"`:                         false,
		`"high then other \ud83d\u0041"`:            false,
		`"broken escape \u12"`:                      false,
		"\"overlong \xc0\xaf\"":                     false,
		`"literal replacement char is fine \ufffd"`: true,
	} {
		if got := ValidJSONString([]byte(raw)); got != want {
			t.Errorf("ValidJSONString(%s) = %v, want %v", raw, got, want)
		}
	}
}

func TestDecodeRefusesInvalidUTF8NamingTheIndex(t *testing.T) {
	t.Parallel()
	msg := []byte("{\"kind\":\"refresh\",\"refresh\":{\"paths\":[\"https://example.com/ok\",\"https://example.com/a1/\xff\xfe\",\"https://example.com/\\udfff\"]}}")
	_, err := Decode(msg)
	var ve *ValidationError
	if !errors.Is(err, ErrDecode) || !errors.As(err, &ve) {
		t.Fatalf("Decode = %v, want ErrDecode and a *ValidationError", err)
	}
	if len(ve.Problems) != 2 || ve.Problems[0].Field != "refresh.paths[1]" || ve.Problems[0].Path != `https://example.com/a1/\xff\xfe` || ve.Problems[1].Field != "refresh.paths[2]" {
		t.Fatalf("problems = %+v", ve.Problems)
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
	var ev StatusEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.State != StateInvalid || len(ev.Problems) != 1 || ev.Problems[0].Field != "refresh.paths[0]" {
		t.Fatalf("report = %s (%v)", msg.Data, err)
	}
}
