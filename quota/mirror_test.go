package quota

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMirrorRunSyncsOnStartTimerAndDayBoundary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(1000, 1000)}
	ticks := make(chan time.Time)
	boundary := make(chan time.Time)
	waits := make(chan time.Duration, 16)
	synced := make(chan SyncResult, 16)
	m := NewMirror(store, src, MirrorConfig{
		Interval: 5 * time.Minute, BoundaryDelay: 5 * time.Second,
		Now: clock.Now, Ticks: ticks, Logger: discardLogger(),
		After:  func(d time.Duration) <-chan time.Time { waits <- d; return boundary },
		OnSync: func(r SyncResult) { synced <- r },
	})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	next := func(reason string) {
		t.Helper()
		select {
		case r := <-synced:
			if r.Reason != reason || r.Err != nil {
				t.Fatalf("sync %q (%v), want %q", r.Reason, r.Err, reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q sync", reason)
		}
	}
	next("start")
	if d := <-waits; d != 12*time.Hour+5*time.Second {
		t.Fatalf("boundary timer set for %v, want 12h5s", d)
	}
	clock.Add(5 * time.Minute)
	ticks <- clock.Now()
	next("timer")
	<-waits

	// Midnight: the API resets, the boundary timer fires.
	clock.Set(store.Calendar().NextReset(clock.Now()).Add(5 * time.Second))
	src.set(quotaOf(1000, 1000), nil)
	boundary <- clock.Now()
	next("day boundary")
	sn, _ := m.Snapshot(ctx)
	if !sn.Synced || sn.Day != store.Calendar().Day(clock.Now()) || sn.Get(KindURL).Remaining != 1000 {
		t.Fatalf("snapshot after boundary %+v", sn)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Syncs != 3 || st.SyncFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMirrorTickLeavesRecentSyncAlone(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(10, 10)}
	m := NewMirror(store, src, MirrorConfig{Interval: 4 * time.Minute, Now: clock.Now, Logger: discardLogger()})
	m.loop.tick(ctx)
	m.loop.tick(ctx) // another replica's sync a moment ago is good enough
	if src.Calls() != 1 {
		t.Fatalf("calls %d, want 1", src.Calls())
	}
	clock.Add(2 * time.Minute)
	m.loop.tick(ctx)
	if src.Calls() != 2 {
		t.Fatalf("calls %d, want 2", src.Calls())
	}
	clock.Add(12 * time.Hour) // the next day, never synced
	m.loop.tick(ctx)
	if src.Calls() != 3 {
		t.Fatalf("calls %d after the day changed, want 3", src.Calls())
	}
}

func TestMirrorAPIDownKeepsGating(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(100, 100)}
	var logs syncBuffer
	var results []SyncResult
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnSync: func(r SyncResult) { results = append(results, r) }})
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	apiErr := errors.New("DescribeRefreshQuota: no answer from the CDN API")
	src.set(quotaOf(100, 100), apiErr)
	clock.Add(10 * time.Minute)
	if err := m.SyncNow(ctx); !errors.Is(err, apiErr) {
		t.Fatalf("SyncNow = %v, want the API error", err)
	}
	r, err := m.Reserve(ctx, KindURL, 150)
	if err != nil || r.Granted != 100 {
		t.Fatalf("reserve with the API down: %+v %v; want the 100 it has", r, err)
	}
	st := m.Stats()
	if st.SyncFailures != 1 || st.LastSyncError == "" || st.Syncs != 1 {
		t.Fatalf("stats %+v", st)
	}
	sn, _ := m.Snapshot(ctx)
	if !strings.Contains(sn.SyncError, "no answer") {
		t.Fatalf("snapshot sync error %q", sn.SyncError)
	}
	if !strings.Contains(logs.String(), "quota sync failed, gating from the last synced values") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	if len(results) != 2 || results[1].Err == nil {
		t.Fatalf("OnSync results %+v", results)
	}
}

func TestMirrorSyncsANewDayBeforeGranting(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(10000, 3)}
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	// First use of the day: synced on demand.
	r, err := m.Reserve(ctx, KindURL, 5)
	if err != nil || r.Granted != 3 {
		t.Fatalf("reserve: %+v %v", r, err)
	}
	if err := m.Commit(ctx, r, 3); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.Reserve(ctx, KindURL, 1); r.Granted != 0 {
		t.Fatal("granted beyond the quota")
	}
	if got, want := m.NextReset(clock.Now()), store.Calendar().NextReset(clock.Now()); !got.Equal(want) {
		t.Fatalf("NextReset %v, want %v", got, want)
	}
	clock.Set(m.NextReset(clock.Now()).Add(time.Second))
	src.set(quotaOf(10000, 10000), nil)
	r, err = m.Reserve(ctx, KindURL, 1000)
	if err != nil || r.Granted != 1000 {
		t.Fatalf("reserve on the new day: %+v %v", r, err)
	}
}

func TestMirrorSyncNowAfterQuotaError(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(100, 100)}
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	// Something outside cdnpurge spent the quota; the API says so.
	src.set(quotaOf(100, 0), nil)
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := m.Reserve(ctx, KindURL, 1); err != nil || r.Granted != 0 {
		t.Fatalf("reserve after quota error: %+v %v", r, err)
	}
}

// A Mirror given no logger discards its log, as every package does: it
// does not write to the process's default logger. Not parallel: it swaps
// slog.Default for its run (parallel tests start after it).
func TestMirrorWithoutLoggerDiscards(t *testing.T) {
	var logs syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	clock := newClock()
	src := &fakeSource{err: errors.New("DescribeRefreshQuota: no answer from the CDN API")}
	m := NewMirror(NewMemoryStore(Options{Now: clock.Now}), src, MirrorConfig{Now: clock.Now})
	if err := m.SyncNow(context.Background()); err == nil {
		t.Fatal("SyncNow succeeded with the API down")
	}
	if logs.String() != "" {
		t.Fatalf("the default logger got:\n%s", logs.String())
	}
}
