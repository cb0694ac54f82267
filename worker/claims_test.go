package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// The claim scripts against a real Redis: a call in flight of another
// replica covers a path asked for before it was sent, never one asked for
// after, and never its own owner's; a failed call's claims go; an accepted
// call keeps its tasks, is not overwritten by an older one, and covers
// at the intake (Fresh) while a claim in flight does not.
func TestClaims(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	r := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Minute)
	ctx := context.Background()
	paths := []string{"https://example.com/a", "https://example.com/b"}
	asked := time.Now().Add(-time.Hour)
	sentA := time.Now()
	at := func(ts ...time.Time) []time.Time { return ts }

	got, err := r.Claim(ctx, "refresh", paths, at(asked, asked), sentA, "a")
	if err != nil || !got[0].Sent.IsZero() || !got[1].Sent.IsZero() {
		t.Fatalf("first claim: %+v %v, want both claimed", got, err)
	}
	// b asked for path 0 before a's call, for path 1 after it.
	got, err = r.Claim(ctx, "refresh", paths, at(asked, sentA.Add(time.Millisecond)), sentA.Add(time.Second), "b")
	if err != nil || !got[0].InFlight || got[0].Owner != "a" || !got[0].Sent.Equal(sentA.Truncate(time.Millisecond)) {
		t.Fatalf("path 0: %+v %v, want covered by a's call in flight", got, err)
	}
	if !got[1].Sent.IsZero() {
		t.Fatalf("path 1 asked for after a's call was sent is covered: %+v", got[1])
	}
	// a's own later call is not covered by its own claim.
	if got, _ = r.Claim(ctx, "refresh", paths[:1], at(asked), sentA.Add(2*time.Second), "a"); !got[0].Sent.IsZero() {
		t.Fatalf("a's own claim covers a's next call: %+v", got[0])
	}
	// At the intake a call in flight covers nothing.
	if fresh, _ := r.Fresh(ctx, "refresh", paths, asked); len(fresh) != 2 {
		t.Fatalf("Fresh = %v with calls only in flight, want both", fresh)
	}
	// a's call of path 0 (claimed at sentA+2s) fails: its claim goes.
	if err := r.Unclaim(ctx, "refresh", paths[:1], sentA.Add(2*time.Second), "a"); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Covering(ctx, "refresh", paths); !c[0].Sent.IsZero() || c[1].Owner != "b" {
		t.Fatalf("after the unclaim: %+v, want path 0 free and path 1 b's", c)
	}
	// b's call of path 1 lands with its tasks; an older call's record does
	// not replace it.
	sentB := sentA.Add(time.Second)
	if err := r.RememberTasks(ctx, "refresh", paths[1:], sentB, []string{"7", "8"}); err != nil {
		t.Fatal(err)
	}
	if err := r.RememberTasks(ctx, "refresh", paths[1:], sentA, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	c, _ := r.Covering(ctx, "refresh", paths[1:])
	if c[0].InFlight || !slices.Equal(c[0].Tasks, []string{"7", "8"}) {
		t.Fatalf("path 1's record: %+v, want b's accepted call with tasks 7,8", c[0])
	}
	if fresh, _ := r.Fresh(ctx, "refresh", paths[1:], asked); len(fresh) != 0 {
		t.Fatalf("Fresh = %v, want path 1 covered by b's accepted call", fresh)
	}
}
