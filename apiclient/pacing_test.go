package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/quota/ratelimit"
)

func paths(domain string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/p%d.js", domain, from+i)
	}
	return out
}

// pacedPair is a client and an emulator that enforces 1,000 URLs per
// domain per minute (per calendar minute, or per sliding 60 s when
// sliding), on one fake clock that the pacer moves instead of sleeping.
func pacedPair(t *testing.T, limit int, sliding ...bool) (*apiclient.Client, *cdnemu.Server, *cdnemu.Clock, *int) {
	t.Helper()
	clock := cdnemu.NewClock(time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC))
	waits := 0
	var pacer apiclient.DomainPacer
	if limit > 0 {
		pacer = ratelimit.NewMemoryDomainPacer(ratelimit.DomainPacerOptions{Limit: limit, Now: clock.Now,
			Sleep: func(_ context.Context, d time.Duration) error { clock.Advance(d); waits++; return nil }})
	}
	c, emu := newPair(t, cdnemu.Options{Now: clock.Now, DomainURLsPerMinute: apiclient.CDN().Caps.URLsPerDomainPerMinute,
		DomainWindowSliding: len(sliding) > 0 && sliding[0],
		Domains:             []string{"example.com", "img.example.com"}}, func(o *apiclient.Options) {
		o.Now = clock.Now
		o.DomainPacer = pacer
	})
	return c, emu, clock, &waits
}

// 2,500 URLs of one domain land with no per-minute refusal, whichever
// minute the API counts: calendar minutes or a sliding 60 s window.
func TestDomainPacingLandsWithoutRefusals(t *testing.T) {
	t.Parallel()
	for _, sliding := range []bool{false, true} {
		t.Run(fmt.Sprintf("sliding=%v", sliding), func(t *testing.T) {
			t.Parallel()
			c, emu, clock, waits := pacedPair(t, apiclient.CDN().Caps.URLsPerDomainPerMinute, sliding)
			ctx := context.Background()
			// Start late in a minute, where a calendar-minute pacer would
			// send the second 1,000 seconds after the first.
			clock.Advance(50 * time.Second)
			start := clock.Now()
			for i, n := range []int{1000, 1000, 500} {
				if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", i*1000, n)}); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
			}
			if got := len(emu.Paths(apiclient.CDN().Actions.Refresh)); got != 2500 {
				t.Fatalf("%d URLs landed", got)
			}
			refusals := 0
			for _, r := range emu.Requests() {
				if r.Code != "" {
					refusals++
				}
			}
			if refusals != 0 || *waits != 2 {
				t.Fatalf("%d refusals, %d waits", refusals, *waits)
			}
			t.Logf("2,500 URLs of one domain against 1,000 per %s: %d refusals, %s of emulator time, %d waits for the window",
				map[bool]string{false: "calendar minute", true: "sliding 60 s"}[sliding], refusals,
				clock.Now().Sub(start).Round(time.Second), *waits)
		})
	}
}

// Without pacing the emulator refuses the second 1,000 of a minute, as a
// per-minute quota error; with a pacer set too high, that refusal blocks
// the domain for the rest of the minute, so the next call waits instead
// of being refused again.
func TestPerMinuteRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _, _, _ := pacedPair(t, 0)
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 1000, 1)})
	if !apiclient.IsPerMinuteQuota(err) || apiclient.Classify(err) != apiclient.ClassQuota {
		t.Fatalf("err = %v", err)
	}
	// Another domain is not held back.
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("img.example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}

	c, emu, clock, waits := pacedPair(t, 2000, true)
	first := clock.Now()
	for i, want := range []bool{true, false, true} {
		_, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", i*1000, 1000)})
		if (err == nil) != want {
			t.Fatalf("call %d: err = %v", i, err)
		}
		// The refusal says when the domain has room again: when the first
		// call's URLs leave the 60 s window (and the pacer's 1 s margin),
		// not at the next calendar minute.
		var w *apiclient.DomainWindowError
		if i == 1 && (!errors.As(err, &w) || !w.Until.Equal(first.Add(61*time.Second))) {
			t.Fatalf("refusal's window end: %#v, want %s", err, first.Add(61*time.Second))
		}
	}
	if got := clock.Now().Sub(first); got != 61*time.Second {
		t.Errorf("third call went %s after the first, want 61s", got)
	}
	if *waits != 1 || len(emu.Paths(apiclient.CDN().Actions.Refresh)) != 2000 {
		t.Fatalf("%d waits, %d paths", *waits, len(emu.Paths(apiclient.CDN().Actions.Refresh)))
	}
}

// The sliding reading of "per minute": 1,000 URLs at :50 and 500 more at
// the next :00 are refused, which is what a pacer counting calendar
// minutes sends.
func TestSlidingEmulatorRefusesTheNextCalendarMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _, clock, _ := pacedPair(t, 0, true)
	clock.Advance(45 * time.Second) // 10:00:50
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 0, 1000)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second) // 10:01:00, a new calendar minute
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 1000, 500)}); !apiclient.IsPerMinuteQuota(err) {
		t.Fatalf("500 URLs 10 s after 1,000: %v, want QuotaPerMinuteExceeded", err)
	}
	clock.Advance(50 * time.Second) // 60 s after the first call
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 1000, 500)}); err != nil {
		t.Fatalf("500 URLs 60 s after 1,000: %v", err)
	}
}
