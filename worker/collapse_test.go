package worker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestCollapseDeepestCommonDirectories(t *testing.T) {
	t.Parallel()
	var paths []string
	for _, d := range []string{"https://a.example.com/img/x/", "https://a.example.com/img/y/", "https://a.example.com/css/", "https://b.example.com/img/x/"} {
		for i := range 5 {
			paths = append(paths, d+strings.Repeat("f", i+1)+".png")
		}
	}
	paths = append(paths, "https://a.example.com/keep/me.js", "https://a.example.com/q.js?v=1")
	c := CollapseConfig{MinURLs: 10, MaxDirs: 3, Exclude: []string{"https://a.example.com/keep/"}}
	got, ok := c.collapse(paths)
	if !ok {
		t.Fatal("not collapsed")
	}
	// img/x and img/y of a.example.com merge into img/; b stays its own
	// (never across domains).
	want := []string{"https://a.example.com/css/", "https://a.example.com/img/", "https://b.example.com/img/x/"}
	if !slices.Equal(got.dirs, want) || got.covers["https://a.example.com/img/"] != 10 {
		t.Fatalf("dirs %v covers %v, want %v", got.dirs, got.covers, want)
	}
	if !slices.Equal(got.kept, []string{"https://a.example.com/keep/me.js", "https://a.example.com/q.js?v=1"}) {
		t.Fatalf("kept %v", got.kept)
	}
	// Never above a root.
	c = CollapseConfig{MinURLs: 1, MaxDirs: 1, Roots: []string{"https://a.example.com/img/x/", "https://a.example.com/img/y/"}}
	if _, ok := c.collapse(paths); ok {
		t.Fatal("collapsed above a root")
	}
	if _, ok := (CollapseConfig{MinURLs: 100}).collapse(paths); ok {
		t.Fatal("collapsed fewer than min_urls")
	}
	if errs := (CollapseConfig{When: "sometimes", Roots: []string{"img/"}}).Validate(); len(errs) != 2 ||
		errs[0].Field != "when" || errs[1].Field != "roots[0]" {
		t.Fatalf("Validate = %+v, want when and roots[0]", errs)
	}
}

// 3,000 changed files under one directory with 1,000 URLs of quota left:
// with collapse on, one Directory refresh lands now instead of the job
// waiting two days, and the status event says what became what.
func TestWorkerCollapsesWhenURLQuotaIsShort(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{URLQuota: 1000}})
	events := h.watchStatus()
	id := h.publish(refreshJob(urls("example.com", 0, 3000)...))
	cfg := fastConfig()
	cfg.Collapse = CollapseConfig{Enabled: true}
	cfg.Tracker.Disabled = true
	h.runWorker(cfg, "w1")
	h.waitFor("queue drained", 20*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if !slices.Equal(got, []string{"https://example.com/assets/"}) {
		t.Fatalf("sent %d paths (first %v), want the one directory", len(got), got[:min(3, len(got))])
	}
	// The status event travels on its own: the job's ack can reach the
	// stream before the event reaches the test's watch.
	h.waitFor("the job's submitted event", 20*time.Second, func() bool { return events.Has(id, jobs.StateSubmitted) })
	ev, _ := events.Last(id)
	if ev.State != jobs.StateSubmitted || !strings.Contains(ev.Reason, "3000 URLs refreshed as 1 directories") ||
		!strings.Contains(ev.Reason, "https://example.com/assets/ (3000 URLs)") {
		t.Fatalf("last event %+v", ev)
	}
	if q := h.emu.QuotaUsed(); q.URL != 0 || q.Dir != 1 {
		t.Fatalf("quota used %+v, want 0 URLs and 1 directory", q)
	}
}
