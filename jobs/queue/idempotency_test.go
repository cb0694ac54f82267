package queue

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestPublishSameKeyOtherContentIsConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	first := refreshJob("https://static.example.com/a")
	a1, err := f.pub.Publish(ctx, first, "delivery-7")
	if err != nil {
		t.Fatal(err)
	}

	// Same key, same content (another ID and time, as a second replica or
	// a redelivery has): stored once, the first job's ID reported.
	again := refreshJob("https://static.example.com/a")
	again.ReceivedAt = again.ReceivedAt.Add(time.Minute)
	givenID := again.ID
	a2, err := f.pub.Publish(ctx, again, "delivery-7")
	if err != nil {
		t.Fatal(err)
	}
	if !a2.Duplicate || a2.JobID != a1.JobID || a1.JobID != first.ID {
		t.Fatalf("same content: ack %+v, want a duplicate of %s", a2, first.ID)
	}
	// The ack says what was stored; the caller's job is left as it was.
	if again.ID != givenID {
		t.Fatalf("Publish changed the caller's job ID from %s to %s", givenID, again.ID)
	}

	// Same key, other content: refused, naming the earlier job.
	other := &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: []string{"https://static.example.com/b"}}}
	other.Prepare("test", time.Now())
	_, err = f.pub.Publish(ctx, other, "delivery-7")
	var ce *IdempotencyConflictError
	if !errors.Is(err, ErrIdempotencyConflict) || !errors.As(err, &ce) {
		t.Fatalf("other content: err = %v, want ErrIdempotencyConflict", err)
	}
	if !slices.Equal(ce.JobIDs, []string{first.ID}) || ce.Kinds[0] != jobs.KindRefresh || ce.Digest == ce.Earlier {
		t.Fatalf("conflict = %+v", ce)
	}
	info, err := f.js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestPublishSetBindsTheWholeSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	set := func(paths ...string) []*jobs.Job {
		var js []*jobs.Job
		for _, p := range paths {
			js = append(js, refreshJob(p))
		}
		return js
	}
	first := set("https://static.example.com/a", "https://static.example.com/b")
	acks, err := f.pub.PublishSet(ctx, "github:d1", first)
	if err != nil || len(acks) != 2 || acks[0].Duplicate {
		t.Fatalf("first: %+v %v", acks, err)
	}
	second := set("https://static.example.com/a", "https://static.example.com/b")
	givenIDs := []string{second[0].ID, second[1].ID}
	again, err := f.pub.PublishSet(ctx, "github:d1", second)
	if err != nil || !again[0].Duplicate || !again[1].Duplicate || again[0].JobID != first[0].ID || again[1].JobID != first[1].ID {
		t.Fatalf("redelivery: %+v %v", again, err)
	}
	if second[0].ID != givenIDs[0] || second[1].ID != givenIDs[1] {
		t.Fatalf("PublishSet changed the caller's job IDs from %v to %s, %s", givenIDs, second[0].ID, second[1].ID)
	}
	// A prefix of the first set is other content too.
	if _, err := f.pub.PublishSet(ctx, "github:d1", set("https://static.example.com/a")); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("fewer jobs: err = %v, want a conflict", err)
	}
}

func TestPublishFailureReleasesTheKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	bad := &jobs.Job{ID: "x1", Kind: "nonsense"}
	if _, err := f.pub.Publish(ctx, bad, "k-release"); err == nil {
		t.Fatal("publish of an unknown kind succeeded")
	}
	// Nothing was stored, so the key is free for other content.
	if _, err := f.pub.Publish(ctx, refreshJob("https://static.example.com/a"), "k-release"); err != nil {
		t.Fatalf("after a failed publish: %v", err)
	}
}

func TestIdempotencyBucketIsRecreatedWhenLost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.pub.Publish(ctx, refreshJob("https://static.example.com/a"), "k-before"); err != nil {
		t.Fatal(err)
	}
	if err := f.js.DeleteKeyValue(ctx, DefaultIdempotencyBucket); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pub.Publish(ctx, refreshJob("https://static.example.com/b"), "k-after"); err != nil {
		t.Fatalf("publish after the bucket was lost: %v", err)
	}
	if _, err := f.js.KeyValue(ctx, DefaultIdempotencyBucket); err != nil {
		t.Fatalf("bucket not created again: %v", err)
	}
}

// Replicas share the binding: a key claimed through one connection is
// refused for other content through another.
func TestIdempotencyKeysAreSharedByReplicas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	nc2, err := Connect(f.srv.url, "jobs-test-replica", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc2.Close)
	pub2, err := NewPublisher(nc2, PublisherConfig{Subjects: f.sub})
	if err != nil {
		t.Fatal(err)
	}
	first := refreshJob("https://static.example.com/a")
	if _, err := f.pub.Publish(ctx, first, "shared-key"); err != nil {
		t.Fatal(err)
	}
	_, err = pub2.Publish(ctx, refreshJob("https://static.example.com/other"), "shared-key")
	var ce *IdempotencyConflictError
	if !errors.As(err, &ce) || ce.JobIDs[0] != first.ID {
		t.Fatalf("other content on the second replica: %v", err)
	}
	same := refreshJob("https://static.example.com/a")
	if ack, err := pub2.Publish(ctx, same, "shared-key"); err != nil || !ack.Duplicate || ack.JobID != first.ID {
		t.Fatalf("same content on the second replica: %+v %v", ack, err)
	}
}
