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
	ld := newLoader(c)
	r := c.replicas[0]
	out := map[string]bool{}
	for u := range jobs {
		paths := make([]string, perUnit)
		for i := range paths {
			paths[i] = fmt.Sprintf("https://%s/e2e/%s/%d-%d.js", hosts[u%3], tag, u, i)
		}
		body := map[string]any{"id": fmt.Sprintf("e2e-%s-%d", tag, u), "kind": "refresh", "refresh": map[string]any{"paths": paths}}
		if priority != "" {
			body["priority"] = priority
		}
		b, _ := json.Marshal(body)
		req := newJSONRequest(ctx, r.base+"/hooks/generic", b)
		req.Header.Set("Authorization", "Bearer "+c.run.secrets.GenericToken)
		if code := ld.do(req); code != http.StatusAccepted {
			t.Fatalf("hook %s %d: answered %d, want 202", tag, u, code)
		}
		for _, p := range paths {
			out[stripScheme(p)] = true
		}
	}
	return out
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
