package quota

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Sixteen submitters that find the day not synced while the API fails ask
// DescribeRefreshQuota once between them, not once each.
func TestMirrorOneSyncForManySubmittersAfterFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	apiErr := errors.New("DescribeRefreshQuota: HTTP 500 InternalError")
	src := &fakeSource{q: quotaOf(100, 100), err: apiErr, block: make(chan struct{})}
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := m.Reserve(ctx, KindURL, 10)
			errs <- err
		})
	}
	// The first sync is in flight; let it fail once the others had time
	// to ask (they wait for it or are answered with its error).
	<-src.firstCall()
	close(src.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a reserve succeeded with the day never synced")
		}
	}
	if n := src.Calls(); n != 1 {
		t.Fatalf("%d DescribeRefreshQuota calls for 16 submitters, want 1", n)
	}
	// More asking within the hold is answered from the failure.
	if _, err := m.Reserve(ctx, KindURL, 10); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("reserve in the hold = %v, want ErrNotSynced", err)
	}
	if n := src.Calls(); n != 1 {
		t.Fatalf("%d calls after a sync in the hold, want 1", n)
	}
	// After the hold the API is asked again, and a success wakes waiters.
	woken := m.Synced()
	clock.Add(time.Minute)
	src.set(quotaOf(100, 100), nil)
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	default:
		t.Fatal("a successful sync did not close Synced")
	}
	if r, err := m.Reserve(ctx, KindURL, 10); err != nil || r.Granted != 10 {
		t.Fatalf("reserve after the sync: %+v %v", r, err)
	}
}

// Sixteen SyncNow callers at once (sixteen submitters told by the API that
// the quota is spent) share the sync in flight and one queued behind it.
func TestMirrorSyncNowCallersShareFlights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	store := NewMemoryStore(Options{Now: clock.Now})
	src := &fakeSource{q: quotaOf(100, 100), block: make(chan struct{})}
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	waits := make(chan struct{}, 16)
	m.loop.waits = waits
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := m.SyncNow(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	for range 15 {
		<-waits
	}
	close(src.block)
	wg.Wait()
	if n := src.Calls(); n > 2 {
		t.Fatalf("%d DescribeRefreshQuota calls for 16 SyncNow callers, want at most 2", n)
	}
}
