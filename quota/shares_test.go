package quota

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestShareMatchesItsSourceOrPrefix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, source string
		want            bool
	}{
		{"generic:bulk-sync", "generic:bulk-sync", true},
		{"generic:bulk-sync", "generic:bulk-sync-2", false},
		{"github:acme/*", "github:acme/site@main", true},
		{"github:acme/*", "github:other/site@main", false},
		{"*", "anything", true},
	} {
		if got := (Share{Source: c.pattern}).Matches(c.source); got != c.want {
			t.Errorf("share %q matches %q = %v, want %v", c.pattern, c.source, got, c.want)
		}
	}
}

func TestValidateSharesNamesEachField(t *testing.T) {
	t.Parallel()
	shares := []Share{
		{Source: "generic:bulk-sync", Share: "50%"},
		{Source: "", Kind: "urls", Share: "0.5"},
		{Source: "generic:bulk-sync", Kind: KindURL, Share: "150%"},
	}
	probs := ValidateShares(shares)
	if shares[0].Kind != KindURL {
		t.Errorf("default kind = %q, want url", shares[0].Kind)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.Field+"@"+string(rune('0'+p.Index)))
	}
	want := "source@1 kind@1 share@1 share@2 source@2"
	if strings.Join(got, " ") != want {
		t.Errorf("problems = %v, want %s: %+v", got, want, probs)
	}
}

// counterContract is what both counters promise: never past the limit,
// also under concurrent takes (two replicas), and what is given back can
// be taken again.
func counterContract(t *testing.T, a, b ShareCounter) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := int64(0)
	for i := range 20 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			got, err := c.Take(ctx, "2026-12-07", "generic:bulk-sync url", 70, 500)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 500 {
		t.Errorf("20 takes of 70 under a limit of 500 got %d in all, want 500", total)
	}
	if got, _ := a.Take(ctx, "2026-12-07", "generic:bulk-sync url", 1, 500); got != 0 {
		t.Errorf("a take past the limit got %d", got)
	}
	if err := b.Give(ctx, "2026-12-07", "generic:bulk-sync url", 30); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Take(ctx, "2026-12-07", "generic:bulk-sync url", 100, 500); got != 30 {
		t.Errorf("after giving 30 back a take got %d, want 30", got)
	}
	if used, _ := b.Used(ctx, "2026-12-07", "generic:bulk-sync url"); used != 500 {
		t.Errorf("used = %d, want 500", used)
	}
	if got, _ := a.Take(ctx, "2026-12-08", "generic:bulk-sync url", 100, 500); got != 100 {
		t.Errorf("the next day's take got %d, want 100", got)
	}
}

func TestMemoryShareCounterCapsAtTheLimit(t *testing.T) {
	t.Parallel()
	c := NewMemoryShareCounter()
	counterContract(t, c, c)
}

func TestRedisShareCounterIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	counterContract(t, NewRedisShareCounter(rdb, prefix, "acct"), NewRedisShareCounter(redisClient(t), prefix, "acct"))
}

// Before the day's total is known a share takes nothing and says why,
// instead of a limit of 0 that would hold its source until the reset.
func TestSharesWaitForTheFirstSync(t *testing.T) {
	t.Parallel()
	clock := newClock()
	m := NewMirror(NewMemoryStore(Options{Now: clock.Now}), &fakeSource{q: quotaOf(1000, 1000)}, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	shares := []Share{{Source: "x", Kind: KindURL, Share: "50%"}}
	s, err := NewShares(shares, NewMemoryShareCounter(), m, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(context.Background(), s.Of("x", KindURL), 10); !errors.Is(err, ErrNotSynced) {
		t.Errorf("take before the first sync: %v, want ErrNotSynced", err)
	}
}

func TestSharesTakeAPartOfTheDaysTotal(t *testing.T) {
	t.Parallel()
	clock := newClock()
	m := NewMirror(NewMemoryStore(Options{Now: clock.Now}), &fakeSource{q: quotaOf(1000, 1000)}, MirrorConfig{Now: clock.Now, Logger: discardLogger()})
	if err := m.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	shares := []Share{{Source: "generic:bulk-*", Share: "40%"}}
	if p := ValidateShares(shares); len(p) > 0 {
		t.Fatal(p)
	}
	s, err := NewShares(shares, NewMemoryShareCounter(), m, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Of("generic:deploy", KindURL); got != "" {
		t.Errorf("a source without a share falls under %q", got)
	}
	if got := s.Of("generic:bulk-sync", KindDir); got != "" {
		t.Errorf("another kind falls under %q", got)
	}
	name := s.Of("generic:bulk-sync", KindURL)
	ctx := context.Background()
	first, err := s.Take(ctx, name, 300)
	if err != nil || first.Granted != 300 || first.Limit != 400 {
		t.Fatalf("first take = %+v, %v; want 300 of 400", first, err)
	}
	second, _ := s.Take(ctx, name, 300)
	if second.Granted != 100 {
		t.Errorf("second take got %d, want the 100 left of 40%% of 1,000", second.Granted)
	}
	if err := s.Give(ctx, second, 100); err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage(ctx)
	if err != nil || len(u) != 1 || u[0].Used != 300 || u[0].Limit != 400 {
		t.Errorf("usage = %+v, %v; want 300 of 400", u, err)
	}
	got := gather(t, NewShareCollector(s))
	for name, want := range map[string]float64{
		"cdnpurge_quota_share_used{kind=url,source=generic:bulk-*}":  300,
		"cdnpurge_quota_share_limit{kind=url,source=generic:bulk-*}": 400,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", name, v, ok, want, got)
		}
	}
}
