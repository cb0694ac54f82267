package apiclient_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/quota"
)

func paths(domain string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/p%d.js", domain, from+i)
	}
	return out
}

// pacedPair is a client and an emulator that enforces 1,000 URLs per
// domain per minute, on one fake clock that the pacer moves instead of
// sleeping.
func pacedPair(t *testing.T, limit int) (*apiclient.Client, *cdnemu.Server, *cdnemu.Clock, *int) {
	t.Helper()
	clock := cdnemu.NewClock(time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC))
	waits := 0
	var pacer apiclient.DomainPacer
	if limit > 0 {
		pacer = quota.NewMemoryDomainPacer(quota.DomainPacerOptions{Limit: limit, Now: clock.Now,
			Sleep: func(_ context.Context, d time.Duration) error { clock.Advance(d); waits++; return nil }})
	}
	c, emu := newPair(t, cdnemu.Options{Now: clock.Now, DomainURLsPerMinute: apiclient.URLsPerDomainPerMinute,
		Domains: []string{"example.com", "img.example.com"}}, func(o *apiclient.Options) {
		o.Now = clock.Now
		o.DomainPacer = pacer
	})
	return c, emu, clock, &waits
}

// 2,500 URLs of one domain land in under three minutes with no per-minute
// refusal.
func TestDomainPacingLandsWithoutRefusals(t *testing.T) {
	t.Parallel()
	c, emu, clock, waits := pacedPair(t, apiclient.URLsPerDomainPerMinute)
	start := clock.Now()
	ctx := context.Background()
	for i, n := range []int{1000, 1000, 500} {
		if _, err := c.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths("example.com", i*1000, n)}); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := len(emu.Paths(apiclient.ActionRefreshObjectCaches)); got != 2500 {
		t.Fatalf("%d URLs landed", got)
	}
	for _, r := range emu.Requests() {
		if r.Code != "" {
			t.Fatalf("refused: %s", r.Code)
		}
	}
	if took := clock.Now().Sub(start); took >= 3*time.Minute || *waits != 2 {
		t.Fatalf("took %s with %d waits", took, *waits)
	}
	t.Logf("2,500 URLs of one domain: %s of emulator time, %d waits for a new minute", clock.Now().Sub(start).Round(time.Second), *waits)
}

// Without pacing the emulator refuses the second 1,000 of a minute, as a
// per-minute quota error; with a pacer set too high, that refusal blocks
// the domain for the rest of the minute, so the next call waits instead
// of being refused again.
func TestPerMinuteRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _, _, _ := pacedPair(t, 0)
	if _, err := c.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths("example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths("example.com", 1000, 1)})
	if !apiclient.IsPerMinuteQuota(err) || apiclient.Classify(err) != apiclient.ClassQuota {
		t.Fatalf("err = %v", err)
	}
	// Another domain is not held back.
	if _, err := c.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths("img.example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}

	c, emu, _, waits := pacedPair(t, 2000)
	for i, want := range []bool{true, false, true} {
		_, err := c.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths("example.com", i*1000, 1000)})
		if (err == nil) != want {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if *waits != 1 || len(emu.Paths(apiclient.ActionRefreshObjectCaches)) != 2000 {
		t.Fatalf("%d waits, %d paths", *waits, len(emu.Paths(apiclient.ActionRefreshObjectCaches)))
	}
}
