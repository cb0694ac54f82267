package quota

import (
	"context"
	"errors"
	"testing"
)

// A Redis failover can promote a replica that never received the latest
// reservations (replication is asynchronous). The mirror learns it when a
// commit finds its reservation unknown; it must then re-sync from
// DescribeRefreshQuota before granting again, or it would grant what the
// API already spent.
func TestMirrorResyncsAfterAFailoverLostItsReservations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	clock := newClock()
	store := NewRedisStore(rdb, Options{Prefix: prefix, Account: "acct", Now: clock.Now})
	src := &fakeSource{q: quotaOf(100, 100)}
	m := NewMirror(store, src, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	day := store.cal.Day(clock.Now())
	// What the replica that gets promoted holds: the synced day, nothing
	// reserved since.
	replica, err := rdb.Dump(ctx, store.keys.state(day)).Result()
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Reserve(ctx, KindURL, 60)
	if err != nil || r.Granted != 60 {
		t.Fatalf("reserve: %+v %v", r, err)
	}
	// The 60 URLs go to the API, which now has 40 left; then the failover.
	src.set(quotaOf(100, 40), nil)
	if err := rdb.RestoreReplace(ctx, store.keys.state(day), 0, replica).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, store.keys.res(day), store.keys.resInfo(day))
	if err := m.Commit(ctx, r, 60); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("commit after the failover = %v, want ErrUnknownReservation", err)
	}
	before := src.Calls()
	got, err := m.Reserve(ctx, KindURL, 100)
	if err != nil {
		t.Fatal(err)
	}
	if src.Calls() == before {
		t.Fatal("granted without asking DescribeRefreshQuota after the store lost a reservation")
	}
	if got.Granted != 40 {
		t.Fatalf("granted %d after the failover, want the 40 the API has left", got.Granted)
	}
	if st := m.Stats(); st.LostReservations != 1 {
		t.Fatalf("stats %+v, want 1 lost reservation counted", st)
	}
}
