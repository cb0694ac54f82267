package kvjson

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

type counter struct {
	N int `json:"n"`
}

func bucket(t *testing.T) (jetstream.KeyValue, *nats.Conn) {
	t.Helper()
	n := jobstest.RunNATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "kvjson_test"})
	if err != nil {
		t.Fatal(err)
	}
	return kv, nc
}

// Concurrent writers lose races and retry; none of their changes is lost.
func TestUpdateRetriesLostRaces(t *testing.T) {
	t.Parallel()
	kv, _ := bucket(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if _, _, err := Update(ctx, kv, "c", func(c *counter, _ bool) Change { c.N++; return Write }); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("update: %v", err)
	}
	var c counter
	if _, found, err := Get(ctx, kv, "c", &c); err != nil || !found || c.N != 80 {
		t.Fatalf("counter %d (found %v, %v), want 80", c.N, found, err)
	}
}

// A missing key is created, Keep writes nothing, Delete removes the key,
// and a damaged value is started afresh.
func TestUpdateCreatesKeepsDeletesAndMendsDamage(t *testing.T) {
	t.Parallel()
	kv, _ := bucket(t)
	ctx := t.Context()
	v, rev, err := Update(ctx, kv, "k", func(c *counter, found bool) Change {
		if found {
			t.Error("a missing key was found")
		}
		c.N = 7
		return Write
	})
	if err != nil || rev == 0 || v.N != 7 {
		t.Fatalf("create: %+v rev %d %v", v, rev, err)
	}
	if _, rev, err := Update(ctx, kv, "k", func(c *counter, found bool) Change { return Keep }); err != nil || rev != 0 {
		t.Fatalf("keep: rev %d %v", rev, err)
	}
	if _, err := kv.Put(ctx, "k", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	var c counter
	if _, _, err := Get(ctx, kv, "k", &c); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Get of a damaged value: %v, want ErrDamaged", err)
	}
	if v, _, err := Update(ctx, kv, "k", func(c *counter, found bool) Change {
		if found || c.N != 0 {
			t.Errorf("damaged value handed to fn: found %v, %+v", found, c)
		}
		c.N = 1
		return Write
	}); err != nil || v.N != 1 {
		t.Fatalf("mend: %+v %v", v, err)
	}
	if _, _, err := Update(ctx, kv, "k", func(*counter, bool) Change { return Delete }); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, found, err := Get(ctx, kv, "k", &c); err != nil || found {
		t.Fatalf("after delete: found %v, %v", found, err)
	}
}

// A failure that is not a race is returned at once, not retried as one.
func TestUpdateReturnsRealFailures(t *testing.T) {
	t.Parallel()
	kv, nc := bucket(t)
	nc.Close()
	calls := 0
	_, _, err := Update(context.Background(), kv, "k", func(c *counter, _ bool) Change { calls++; return Write })
	if err == nil || errors.Is(err, ErrContended) || calls > 1 {
		t.Fatalf("closed connection: %v after %d calls of fn; want the failure itself, at once", err, calls)
	}
}

// BindOrCreate creates a missing bucket as Open would, and binds an
// existing one without changing it.
func TestBindOrCreateCreatesOnceAndNeverUpdates(t *testing.T) {
	t.Parallel()
	n := jobstest.RunNATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	kv, err := BindOrCreate(ctx, js, "made", "made here", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != time.Hour || st.History() != 1 || st.Config().Description != "made here" || st.Config().Storage != jetstream.FileStorage {
		t.Fatalf("created bucket = %+v", st.Config())
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Another TTL and description: bound as it is, keys kept.
	again, err := BindOrCreate(ctx, js, "made", "other", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st, err = again.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != time.Hour || st.Config().Description != "made here" {
		t.Fatalf("existing bucket changed to %+v", st.Config())
	}
	if e, err := again.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("key k after binding again: %v", err)
	}
}
