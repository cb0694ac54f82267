package quota

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// targetPair returns a CDN and a DCDN store of one account sharing
// everything a deployment shares (a Redis prefix, or nothing in memory).
type targetPair func(t *testing.T, clock *fakeClock) (cdn, dcdn Store)

func memoryPair(t *testing.T, clock *fakeClock) (Store, Store) {
	return NewMemoryStore(Options{Account: "acct", Now: clock.Now}),
		NewMemoryStore(Options{Account: "acct", Target: apiclient.ProductDCDN, Now: clock.Now})
}

func redisPair(t *testing.T, clock *fakeClock) (Store, Store) {
	c := redisClient(t)
	prefix := testPrefix(t, c)
	return NewRedisStore(c, Options{Prefix: prefix, Account: "acct", Now: clock.Now}),
		NewRedisStore(c, Options{Prefix: prefix, Account: "acct", Target: apiclient.ProductDCDN, Now: clock.Now})
}

func TestTargetsKeepSeparateMirrors(t *testing.T) {
	t.Parallel()
	for name, pair := range map[string]targetPair{"memory": memoryPair, "redis": redisPair} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := newClock()
			cdn, dcdn := pair(t, clock)
			if cdn.Target() != apiclient.ProductCDN || dcdn.Target() != apiclient.ProductDCDN {
				t.Fatalf("targets %q and %q", cdn.Target(), dcdn.Target())
			}

			// Syncing CDN does not sync DCDN.
			set(t, cdn, quotaOf(1000, 1000), SyncMark{})
			if _, err := dcdn.Reserve(ctx, KindURL, 1); err == nil {
				t.Fatal("DCDN granted from CDN's sync")
			} else {
				mustErrIs(t, err, ErrNotSynced)
			}
			set(t, dcdn, quotaOf(500, 500), SyncMark{})

			// Reservations and commits of one leave the other's counters.
			rd := reserve(t, dcdn, KindURL, 200, 200)
			wantKind(t, cdn, KindURL, 1000, 0, 0)
			if err := dcdn.Commit(ctx, rd, 150); err != nil {
				t.Fatal(err)
			}
			wantKind(t, dcdn, KindURL, 350, 0, 150)
			wantKind(t, cdn, KindURL, 1000, 0, 0)
			rc := reserve(t, cdn, KindURL, 600, 600)
			wantKind(t, dcdn, KindURL, 350, 0, 150)
			if err := cdn.Refund(ctx, rc); err != nil {
				t.Fatal(err)
			}
			// A reservation of one target is unknown to the other.
			if err := dcdn.Commit(ctx, rc, 1); err == nil {
				t.Error("DCDN committed a CDN reservation")
			}
			wantKind(t, cdn, KindURL, 1000, 0, 0)

			// Sync marks are per target: CDN's commits do not reduce
			// DCDN's next sync.
			rc = reserve(t, cdn, KindURL, 100, 100)
			markD, err := dcdn.Mark(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := cdn.Commit(ctx, rc, 100); err != nil {
				t.Fatal(err)
			}
			set(t, dcdn, quotaOf(500, 350), markD)
			wantKind(t, dcdn, KindURL, 350, 0, 150)

			// Each target has its own sync lock.
			unlock, ok, err := cdn.TryLock(ctx, time.Minute)
			if err != nil || !ok {
				t.Fatalf("CDN lock: %v %v", ok, err)
			}
			unlockD, ok, err := dcdn.TryLock(ctx, time.Minute)
			if err != nil || !ok {
				t.Fatalf("DCDN lock held by CDN's: %v %v", ok, err)
			}
			if _, ok, _ := dcdn.TryLock(ctx, time.Minute); ok {
				t.Fatal("DCDN lock taken twice")
			}
			if err := unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if err := unlockD(ctx); err != nil {
				t.Fatal(err)
			}

			// Snapshots name their target; a sync error stays with its own.
			if err := dcdn.RecordSyncError(ctx, errString("DCDN down")); err != nil {
				t.Fatal(err)
			}
			sc, err := cdn.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := dcdn.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Target != apiclient.ProductCDN || sd.Target != apiclient.ProductDCDN || sc.Day != sd.Day {
				t.Errorf("snapshots: %s %s / %s %s", sc.Target, sc.Day, sd.Target, sd.Day)
			}
			if sc.SyncError != "" || sd.SyncError != "DCDN down" {
				t.Errorf("sync errors: cdn %q, dcdn %q", sc.SyncError, sd.SyncError)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// CDN's keys are byte for byte those of the versions before DCDN was a
// target, so that a deployment keeps its state; DCDN's carry "dcdn:".
func TestRedisKeysOfEachTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redisClient(t)
	clock := newClock()
	cdn, dcdn := redisPair(t, clock)
	prefix := cdn.(*RedisStore).opts.Prefix
	day := cdn.Calendar().Day(clock.Now())
	set(t, cdn, quotaOf(100, 100), SyncMark{})
	set(t, dcdn, quotaOf(100, 100), SyncMark{})
	reserve(t, cdn, KindURL, 1, 1)
	reserve(t, dcdn, KindURL, 1, 1)
	for _, s := range []Store{cdn, dcdn} {
		unlock, _, err := s.TryLock(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unlock(ctx) })
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	var want []string
	for _, k := range []string{
		"{acct}:" + day + ":res", "{acct}:" + day + ":resinfo", "{acct}:" + day + ":state",
		"{acct}:dcdn:" + day + ":res", "{acct}:dcdn:" + day + ":resinfo", "{acct}:dcdn:" + day + ":state",
		"{acct}:dcdn:synclock", "{acct}:synclock",
	} {
		want = append(want, prefix+k)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("keys:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
}

// Replicas share the DCDN mirror through Redis as they share CDN's.
func TestRedisDCDNMirrorIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	c1 := redisClient(t)
	c2 := redisClient(t)
	prefix := testPrefix(t, c1)
	opts := Options{Prefix: prefix, Account: "acct", Target: apiclient.ProductDCDN, Now: clock.Now}
	a, b := NewRedisStore(c1, opts), NewRedisStore(c2, opts)
	m := NewMirror(a, &fakeSource{q: quotaOf(100, 100)}, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	reserve(t, b, KindURL, 70, 70)
	r, err := m.Reserve(ctx, KindURL, 70)
	if err != nil || r.Granted != 30 {
		t.Fatalf("second replica: %+v %v, want 30 granted", r, err)
	}
}

// The case: the DCDN quota runs out while CDN still has some.
// CDN reservations go on; DCDN grants nothing and a sync does not change
// that until DCDN's own quota returns.
func TestDCDNOutOfQuotaWhileCDNHasSome(t *testing.T) {
	t.Parallel()
	for name, pair := range map[string]targetPair{"memory": memoryPair, "redis": redisPair} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := newClock()
			cdnStore, dcdnStore := pair(t, clock)
			cdnSrc := &fakeSource{q: quotaOf(10000, 9000)}
			dcdnSrc := &fakeSource{q: quotaOf(10000, 0)}
			cfg := MirrorConfig{Now: clock.Now, Logger: discardLogger()}
			cdn, dcdn := NewMirror(cdnStore, cdnSrc, cfg), NewMirror(dcdnStore, dcdnSrc, cfg)

			r, err := dcdn.Reserve(ctx, KindURL, 100) // syncs its day first
			if err != nil || r.Granted != 0 || r.ID != "" {
				t.Fatalf("DCDN at zero: %+v %v, want nothing granted", r, err)
			}
			r, err = cdn.Reserve(ctx, KindURL, 100)
			if err != nil || r.Granted != 100 {
				t.Fatalf("CDN: %+v %v, want 100 granted", r, err)
			}
			if err := cdn.Commit(ctx, r, 100); err != nil {
				t.Fatal(err)
			}
			if err := dcdn.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			if r, _ := dcdn.Reserve(ctx, KindURL, 1); r.Granted != 0 {
				t.Fatalf("DCDN granted %d after CDN spent and DCDN re-synced", r.Granted)
			}
			if cdnSrc.Calls() != 1 || dcdnSrc.Calls() != 2 {
				t.Errorf("quota reads: cdn %d, dcdn %d; each mirror must ask its own source", cdnSrc.Calls(), dcdnSrc.Calls())
			}
			if s := dcdn.Stats(); s.Target != apiclient.ProductDCDN || s.Syncs != 2 {
				t.Errorf("DCDN stats %+v", s)
			}
			if s := cdn.Stats(); s.Target != apiclient.ProductCDN || s.Syncs != 1 {
				t.Errorf("CDN stats %+v", s)
			}

			dcdnSrc.set(quotaOf(10000, 10000), nil) // the next day, say
			if err := dcdn.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			if r, _ := dcdn.Reserve(ctx, KindURL, 5); r.Granted != 5 {
				t.Fatalf("DCDN granted %d once its quota was back", r.Granted)
			}
			wantKind(t, cdnStore, KindURL, 8900, 0, 100)
		})
	}
}

func TestUnknownTargetPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("a store of target \"scdn\" was made")
		}
	}()
	NewMemoryStore(Options{Target: "scdn"})
}

func TestCollectorLabelsEachTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdn := NewMirror(NewMemoryStore(Options{}), &fakeSource{q: quotaOf(1000, 900)}, MirrorConfig{Logger: discardLogger()})
	dcdn := NewMirror(NewMemoryStore(Options{Target: apiclient.ProductDCDN}), &fakeSource{q: quotaOf(500, 0)}, MirrorConfig{Logger: discardLogger()})
	for _, m := range []*Mirror{cdn, dcdn} {
		if err := m.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := gather(t, NewCollector(cdn, dcdn))
	for name, want := range map[string]float64{
		"cdnpurge_quota_remaining{kind=url,target=cdn}":  900,
		"cdnpurge_quota_remaining{kind=url,target=dcdn}": 0,
		"cdnpurge_quota_total{kind=url,target=dcdn}":     500,
		"cdnpurge_quota_store_down{target=cdn}":          0,
		"cdnpurge_quota_store_down{target=dcdn}":         0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for name := range got {
		_, target, _ := strings.Cut(name, "target=")
		if !ValidTarget(apiclient.Product(strings.TrimSuffix(target, "}"))) {
			t.Errorf("series %s has no target of the fixed set", name)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("a collector of two CDN mirrors was made")
		}
	}()
	NewCollector(cdn, cdn)
}

// gather registers c and returns every gauge and counter by
// "name{label=value,...}", labels sorted by name.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			name := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case s.GetGauge() != nil:
				got[name] = s.GetGauge().GetValue()
			case s.GetCounter() != nil:
				got[name] = s.GetCounter().GetValue()
			}
		}
	}
	return got
}
