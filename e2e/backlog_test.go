package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// queueHooks sends jobs of perUnit URLs each on /hooks/generic of replica 0
// (bearer token) with the given priority ("" for none), one after the
// other, and returns the URLs (without scheme) of the accepted ones.
func queueHooks(t *testing.T, c *cluster, ctx context.Context, tag, priority string, jobs int) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for u := range jobs {
		paths := make([]string, perUnit)
		for i := range paths {
			paths[i] = fmt.Sprintf("https://%s/e2e/%s/%d-%d.js", hosts[u%3], tag, u, i)
		}
		queueHook(t, c, ctx, fmt.Sprintf("e2e-%s-%d", tag, u), priority, paths)
		for _, p := range paths {
			out[stripScheme(p)] = true
		}
	}
	return out
}

// queueHook sends one job of paths on /hooks/generic of replica 0.
func queueHook(t *testing.T, c *cluster, ctx context.Context, id, priority string, paths []string) {
	t.Helper()
	body := map[string]any{"id": id, "kind": "refresh", "refresh": map[string]any{"paths": paths}}
	if priority != "" {
		body["priority"] = priority
	}
	b, _ := json.Marshal(body)
	req := newJSONRequest(ctx, c.replicas[0].base+"/hooks/generic", b)
	req.Header.Set("Authorization", "Bearer "+c.run.secrets.GenericToken)
	if code := newLoader(c).do(req); code != http.StatusAccepted {
		t.Fatalf("hook %s: answered %d, want 202", id, code)
	}
}

// backlogCoalescing is row 21: 20,000 distinct URLs in jobs of 1,000, then
// 1,000 copies of some of them in jobs of 10, queued while no worker
// runs (worker.recent_window 1h, the record in the shared Redis). Replica
// a's worker starts, is stopped (SIGTERM) after a few calls and started
// again, with replica b's worker beside it from then on: no copy may reach
// the API, and the calls must be the fewest but for the one partial batch
// the stopping worker sends. The emulator answers every
// call after 0.5 s, so that the stop comes in the middle.
func backlogCoalescing(t *testing.T, run *runState, f *figures) {
	const distinct, perJob, copies = 20_000, 1000, 1_000
	c := newCluster(t, run, "backlog-coalescing", clusterOpts{noWorker: true,
		// Each replica holds about 5,000 paths: the backlog is shared out.
		workerYAML: "  recent_window: 1h\n  max_inflight_paths: 5000"})
	ctx := ctxFor(t, 10*time.Minute)
	all := make([]string, distinct)
	for i := range all {
		all[i] = fmt.Sprintf("https://%s/e2e/coalesce/%06d.js", hosts[i%3], i)
	}
	want := map[string]bool{}
	for j := range distinct / perJob {
		queueHook(t, c, ctx, fmt.Sprintf("e2e-coalesce-%d", j), "", all[j*perJob:(j+1)*perJob])
	}
	for _, p := range all {
		want[stripScheme(p)] = true
	}
	for j := range copies / 10 {
		var ps []string
		for i := range 10 {
			ps = append(ps, all[(j*173+i*31)%distinct])
		}
		queueHook(t, c, ctx, fmt.Sprintf("e2e-coalesce-copy-%d", j), "", ps)
	}
	time.Sleep(1100 * time.Millisecond) // the backlog is older than the clocks' margin (1 s)
	f.add("queued before any worker: %d distinct URLs in jobs of %d, %d copies in jobs of 10", distinct, perJob, copies)

	// Calls slow enough (0.5 s each) that the stop comes in the middle.
	c.emuPost("/_emulator/faults", `{"latency":"500ms"}`)
	c.opts.noWorker = false
	a, b := c.replicas[0], c.replicas[1]
	c.killReplica(a)
	c.startReplica(a)
	if !waitFor(2*time.Minute, func() bool { return c.stats().Actions["RefreshObjectCaches"].Accepted >= 5 }) {
		t.Fatalf("replica a made fewer than 5 calls")
	}
	a.proc.stop(30 * time.Second)
	f.add("replica a stopped (SIGTERM) after %d calls", c.stats().Actions["RefreshObjectCaches"].Accepted)
	c.killReplica(b)
	c.startReplica(b)
	c.startReplica(a)
	l := c.waitLanded(want, 5*time.Minute)
	st := c.stats()
	calls := st.Actions["RefreshObjectCaches"].Accepted
	dup := st.Paths["RefreshObjectCaches"].Duplicates
	f.add("landed %d of %d, copies paid %d, RefreshObjectCaches calls %d (minimum %d), refused %v",
		distinct-l.missing(want), distinct, dup, calls, distinct/1000, st.Actions["RefreshObjectCaches"].Codes)
	if m := l.missing(want); m > 0 {
		t.Errorf("%d URLs never landed", m)
	}
	if dup > 0 {
		t.Errorf("%d copies reached the API", dup)
	}
	// A worker that stops sends the batch it was filling (it does not hand
	// back paths it holds): the stop may cost one call that is not full.
	if calls > distinct/1000+1 {
		t.Errorf("%d calls, want at most %d (%d full calls and the batch the stopping worker sends)", calls, distinct/1000+1, distinct/1000)
	}
}

// backlogPriority is row 20: 2,000 normal URLs, then 500 with
// "priority":"high", all through /hooks/generic while no worker runs, with
// quota for 1,000 today. Then the worker starts: all 500 urgent URLs must
// be among the day's 1,000.
func backlogPriority(t *testing.T, run *runState, f *figures) {
	const quota = 1000
	// The worker holds at most 1,000 paths in memory: the backlog is
	// larger than what it can order itself, so the stream's order counts.
	c := newCluster(t, run, "backlog-priority", clusterOpts{replicas: 1, urlQuota: quota, noWorker: true,
		workerYAML: "  max_inflight_paths: 1000"})
	ctx := ctxFor(t, 5*time.Minute)
	normal := queueHooks(t, c, ctx, "normal", "", 20)
	urgent := queueHooks(t, c, ctx, "urgent", "high", 5)
	f.add("queued before the worker: %d normal URLs, then %d high-priority; quota %d", len(normal), len(urgent), quota)

	c.opts.noWorker = false
	r := c.replicas[0]
	c.killReplica(r)
	started := time.Now()
	c.startReplica(r)
	if !waitFor(2*time.Minute, func() bool { return c.stats().Quota.Used.URL >= quota }) {
		t.Errorf("quota used stayed at %d of %d", c.stats().Quota.Used.URL, quota)
	}
	l := c.landed()
	gotUrgent, gotNormal := 0, 0
	var lastUrgent time.Time
	for p, at := range l.first {
		switch {
		case urgent[p]:
			gotUrgent++
			if at.After(lastUrgent) {
				lastUrgent = at
			}
		case normal[p]:
			gotNormal++
		}
	}
	f.add("refreshed today: %d high-priority, %d normal (last high one %s after the worker started)",
		gotUrgent, gotNormal, max(0, lastUrgent.Sub(started)).Round(100*time.Millisecond))
	st := c.stats()
	f.add("RefreshObjectCaches calls %d, refused %v", st.Actions["RefreshObjectCaches"].Accepted, st.Actions["RefreshObjectCaches"].Codes)
	if gotUrgent != len(urgent) {
		t.Errorf("%d of %d high-priority URLs refreshed today, want all", gotUrgent, len(urgent))
	}
	if gotUrgent+gotNormal > quota {
		t.Errorf("%d URLs refreshed on a quota of %d", gotUrgent+gotNormal, quota)
	}
	if strings.Contains(fmt.Sprint(st.Actions["RefreshObjectCaches"].Codes), "Quota") {
		t.Errorf("the API refused calls for quota: %v", st.Actions["RefreshObjectCaches"].Codes)
	}
}
