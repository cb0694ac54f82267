package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// fakeQueue is a fake of the queue's publisher: it refuses with err while err
// is set, and records what it stored.
type fakeQueue struct {
	mu     sync.Mutex
	err    error
	stored []published
	// keyed answers PublishSet with a key: nil, or an error for that key.
	keyed map[string]error
}

type published struct {
	key string
	ids []string
}

func (q *fakeQueue) PublishSet(_ context.Context, key string, js []*jobs.Job) ([]queue.Ack, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return nil, q.err
	}
	if err := q.keyed[key]; key != "" && err != nil {
		return nil, err
	}
	p := published{key: key}
	acks := make([]queue.Ack, len(js))
	for i, j := range js {
		p.ids = append(p.ids, j.ID)
		acks[i] = queue.Ack{JobID: j.ID, Stream: "CDNPURGE", Sequence: uint64(len(q.stored) + 1)}
	}
	q.stored = append(q.stored, p)
	return acks, nil
}

func (q *fakeQueue) Report(context.Context, jobs.StatusEvent) error { return nil }

func (q *fakeQueue) set(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
}

func (q *fakeQueue) ids() [][]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]string
	for _, p := range q.stored {
		out = append(out, p.ids)
	}
	return out
}

func job(id string) *jobs.Job {
	return &jobs.Job{ID: id, Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/" + id}}}
}

var errElection = fmt.Errorf("gave up after 12 attempt(s) in 8s: %w: no responders", queue.ErrUnavailable)

// drainUntil runs p's drain loop until done says the drain is over.
func drainUntil(t *testing.T, p *Publisher, settled int) []error {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	done := make(chan struct{})
	p.drained = func(_ string, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
		if err == nil {
			settled--
		}
		if settled == 0 {
			close(done)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the spool did not drain: %v", errs)
	}
	cancel()
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	return errs
}

func TestSpoolAnswersWhatTheQueueCouldNotTakeAndPublishesItLaterInOrder(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{err: errElection}
	dir := t.TempDir()
	p, err := Open(q, Config{Dir: dir, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acks, err := p.PublishSet(t.Context(), "gh:delivery-1", []*jobs.Job{job("a1"), job("a2")})
	if err != nil {
		t.Fatalf("a publish the queue gave up on was refused, not spooled: %v", err)
	}
	if len(acks) != 2 || !acks[0].Spooled || !acks[1].Spooled || acks[1].JobID != "a2" {
		t.Fatalf("acks %+v, want two spooled acks with the jobs' IDs", acks)
	}
	if _, err := p.PublishSet(t.Context(), "", []*jobs.Job{job("b1")}); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 2 {
		t.Fatalf("Len %d, want 2", p.Len())
	}
	// A second process on the same spool is refused while the first runs.
	if _, err := Open(q, Config{Dir: dir}); !errors.Is(err, embedded.ErrStoreLocked) || !strings.Contains(err.Error(), "webhooks.spool_dir") {
		t.Fatalf("a second Open of a spool in use: %v, want it refused naming webhooks.spool_dir", err)
	}
	// A restart before the queue came back: the new Publisher finds both.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p2, err := Open(q, Config{Dir: dir, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Len() != 2 {
		t.Fatalf("after a restart Len %d, want 2", p2.Len())
	}
	q.set(nil)
	drainUntil(t, p2, 2)
	if got, want := q.ids(), [][]string{{"a1", "a2"}, {"b1"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("published %v, want %v (in the order they came, with their IDs)", got, want)
	}
	if q.stored[0].key != "gh:delivery-1" {
		t.Fatalf("the spooled request lost its idempotency key: %q", q.stored[0].key)
	}
	if p2.Len() != 0 {
		t.Fatalf("Len %d after the drain, want 0", p2.Len())
	}
	left, _ := p2.entries()
	if len(left) != 0 {
		t.Fatalf("files left after the drain: %v", left)
	}
}

func TestSpoolKeepsFinalRefusalsAndAFullSpool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		max  int64
	}{
		{"conflict", fmt.Errorf("key used: %w", queue.ErrIdempotencyConflict), 0},
		{"too large", fmt.Errorf("big: %w", queue.ErrTooLarge), 0},
		{"store unwritable", fmt.Errorf("disk full: %w: %w", queue.ErrUnavailable, queue.ErrStoreUnwritable), 0},
		{"spool full", errElection, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := &fakeQueue{err: tc.err}
			p, err := Open(q, Config{Dir: t.TempDir(), MaxBytes: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.PublishSet(t.Context(), "", []*jobs.Job{job("x")})
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want the queue's own %v", err, tc.err)
			}
			if tc.max > 0 && !errors.Is(err, ErrFull) {
				t.Fatalf("error %v does not say the spool is full", err)
			}
			if p.Len() != 0 {
				t.Fatalf("a refused request was spooled (Len %d)", p.Len())
			}
		})
	}
}

func TestSpoolPublishesAConflictingKeyUnderItsOwnIDsAndSetsAsideTheUnpublishable(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{err: errElection}
	dir := t.TempDir()
	p, err := Open(q, Config{Dir: dir, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PublishSet(t.Context(), "taken", []*jobs.Job{job("c1")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000099.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	q.err = nil
	q.keyed = map[string]error{"taken": fmt.Errorf("other content: %w", queue.ErrIdempotencyConflict)}
	q.mu.Unlock()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p2, err := Open(q, Config{Dir: dir, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	drainUntil(t, p2, 2)
	if got := q.ids(); len(got) != 1 || got[0][0] != "c1" || q.stored[0].key != "" {
		t.Fatalf("published %v with key %q, want c1 under its own ID", got, q.stored[0].key)
	}
	if _, err := os.Stat(filepath.Join(dir, "failed", "00000000000000000099.json")); err != nil {
		t.Fatalf("an unreadable spool file was not set aside: %v", err)
	}
}

// partialQueue stores the first job of a set, then gives up.
type partialQueue struct{ fakeQueue }

func (q *partialQueue) PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]queue.Ack, error) {
	q.mu.Lock()
	failing := q.err != nil
	q.mu.Unlock()
	if !failing || len(js) < 2 {
		return q.fakeQueue.PublishSet(ctx, key, js)
	}
	return []queue.Ack{{JobID: js[0].ID, Stream: "CDNPURGE", Sequence: 1}}, q.err
}

// Without a key, a job the queue stored before it gave up is not spooled:
// published again past the duplicate window it would be stored twice.
func TestSpoolKeepsOnlyTheUnstoredJobsOfAKeylessSet(t *testing.T) {
	t.Parallel()
	q := &partialQueue{fakeQueue{err: errElection}}
	p, err := Open(q, Config{Dir: t.TempDir(), Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acks, err := p.PublishSet(t.Context(), "", []*jobs.Job{job("s1"), job("s2")})
	if err != nil || len(acks) != 2 || acks[0].Spooled || !acks[1].Spooled {
		t.Fatalf("acks %+v, %v: want s1 stored and s2 spooled", acks, err)
	}
	q.set(nil)
	drainUntil(t, p, 1)
	if got := q.ids(); len(got) != 1 || !slices.Equal(got[0], []string{"s2"}) {
		t.Fatalf("drained %v, want only s2", got)
	}
}
