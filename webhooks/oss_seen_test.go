package webhooks

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// newOSSSeen returns a claims store on an embedded JetStream of its own.
func newOSSSeen(t *testing.T) *KVOSSSeen {
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
	seen, err := OpenOSSSeen(t.Context(), js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

func TestOSSClaimOnceThenDone(t *testing.T) {
	t.Parallel()
	s := newOSSSeen(t)
	ctx := t.Context()
	first, err := s.Claim(ctx, "k1")
	if err != nil || !first.Fresh {
		t.Fatalf("first claim %+v %v", first, err)
	}
	// A second delivery while the first stores the event waits for it
	// and learns its jobs.
	got := make(chan OSSClaim, 1)
	go func() {
		c, err := s.Claim(context.Background(), "k1")
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	if err := s.Done(ctx, "k1", first.Rev, []string{"job-a", "job-b"}); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c.Fresh || c.Busy || !slices.Equal(c.Jobs, []string{"job-a", "job-b"}) {
		t.Fatalf("concurrent delivery: %+v, want the first one's jobs", c)
	}
	if c, err := s.Claim(ctx, "k1"); err != nil || c.Fresh || len(c.Jobs) != 2 {
		t.Fatalf("later delivery: %+v %v", c, err)
	}
}

func TestOSSClaimReleasedBusyAndStale(t *testing.T) {
	t.Parallel()
	s := newOSSSeen(t)
	s.wait = 0
	ctx := t.Context()
	c, err := s.Claim(ctx, "k2")
	if err != nil || !c.Fresh {
		t.Fatalf("claim %+v %v", c, err)
	}
	// Another delivery while it is held (and not stale): busy.
	if b, err := s.Claim(ctx, "k2"); err != nil || !b.Busy {
		t.Fatalf("held claim: %+v %v, want busy", b, err)
	}
	// Given back (the queue refused the jobs): the retry claims it.
	if err := s.Release(ctx, "k2", c.Rev); err != nil {
		t.Fatal(err)
	}
	again, err := s.Claim(ctx, "k2")
	if err != nil || !again.Fresh {
		t.Fatalf("after release: %+v %v", again, err)
	}
	// A claim whose delivery died is taken over once stale.
	s.stale = -time.Second
	took, err := s.Claim(ctx, "k2")
	if err != nil || !took.Fresh || took.Rev == again.Rev {
		t.Fatalf("stale claim: %+v %v, want taken over", took, err)
	}
	// The dead delivery's release does not drop the new owner's claim.
	_ = s.Release(ctx, "k2", again.Rev)
	s.stale = time.Hour
	if b, err := s.Claim(ctx, "k2"); err != nil || !b.Busy {
		t.Fatalf("after a stale release: %+v %v, want still held", b, err)
	}
}
