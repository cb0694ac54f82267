package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Streams, a key-value bucket and a consumer deleted under a running
// process are re-created by one Ensure, with their configuration, and a
// job can be published again afterwards.
func TestSupervisorRecreatesDeletedState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	kv, err := f.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sup_test", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	cc := jetstream.ConsumerConfig{Durable: "sup-worker", AckPolicy: jetstream.AckExplicitPolicy}
	if _, err := f.js.CreateOrUpdateConsumer(ctx, DefaultStreamName, cc); err != nil {
		t.Fatal(err)
	}
	var recreated []string
	sup := NewSupervisor(f.js, SupervisorConfig{Logger: discardLogger(), OnRecreate: func(kind, name string) {
		recreated = append(recreated, kind+" "+name)
	}})
	sup.WatchStream(StreamConfig{Subjects: f.sub}.JetStreamConfig())
	for _, name := range []string{DefaultStatusStreamName, "KV_sup_test"} {
		if err := sup.WatchExisting(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	sup.WatchConsumer(DefaultStreamName, cc)

	if done, err := sup.Ensure(ctx); err != nil || len(done) != 0 {
		t.Fatalf("nothing missing: Ensure re-created %v, err %v", done, err)
	}
	for _, name := range []string{DefaultStreamName, DefaultStatusStreamName, "KV_sup_test"} {
		if err := f.js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// A short budget: the publish retries, but not for the default 8 s.
	pub, err := NewPublisher(f.nc, PublisherConfig{Subjects: f.sub, Timeout: 2 * time.Second, Budget: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, refreshJob("https://example.com/a"), ""); err == nil {
		t.Fatal("publish with the work stream gone should fail")
	}
	done, err := sup.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stream CDNPURGE", "stream CDNPURGE_STATUS", "stream KV_sup_test", "consumer CDNPURGE/sup-worker"}
	if !slices.Equal(done, want) || len(recreated) != 4 {
		t.Fatalf("re-created %v (hook saw %v), want %v", done, recreated, want)
	}
	s, err := f.js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if info.Config.Retention != jetstream.WorkQueuePolicy || info.Config.Duplicates != DefaultDuplicateWindow {
		t.Errorf("work stream re-created with another shape: %+v", info.Config)
	}
	if _, err := s.Consumer(ctx, "sup-worker"); err != nil {
		t.Errorf("consumer: %v", err)
	}
	// The bucket handle taken before the deletion works on the new stream.
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Errorf("put into the re-created bucket: %v", err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("get from the re-created bucket: %v", err)
	}
	if _, err := f.pub.Publish(ctx, refreshJob("https://example.com/a"), ""); err != nil {
		t.Errorf("publish after re-creation: %v", err)
	}
	// A consumer deleted alone comes back too.
	if err := f.js.DeleteConsumer(ctx, DefaultStreamName, "sup-worker"); err != nil {
		t.Fatal(err)
	}
	if done, err := sup.Ensure(ctx); err != nil || !slices.Equal(done, []string{"consumer CDNPURGE/sup-worker"}) {
		t.Fatalf("consumer alone: %v %v", done, err)
	}
}

// With the server down Ensure reports an error and creates nothing.
func TestSupervisorServerDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sup := NewSupervisor(f.js, SupervisorConfig{})
	sup.WatchStream(StreamConfig{Subjects: f.sub}.JetStreamConfig())
	f.srv.stop()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	done, err := sup.Ensure(ctx)
	if err == nil || len(done) != 0 || errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("server down: re-created %v, err %v", done, err)
	}
}
