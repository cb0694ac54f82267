package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// A source with a share of 50% of the day's URLs sends up to that share
// and waits with a reason that names it; another source's work, urgent or
// not, is not held by it and spends the rest.
func TestQuotaShareHoldsOnlyItsSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{URLQuota: 1000}})
	shares := []quota.Share{{Source: "generic:bulk-*", Share: "50%"}}
	if p := quota.ValidateShares(shares); len(p) > 0 {
		t.Fatal(p)
	}
	var err error
	h.shares, err = quota.NewShares(shares, quota.NewMemoryShareCounter(), h.mirror, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := h.watchStatus()
	bulk := refreshJob(urls("a.example.com", 0, 800)...)
	bulk.Source = "generic:bulk-sync"
	bulkID := h.publish(bulk)
	deploy := refreshJob(urls("b.example.com", 0, 300)...)
	deploy.Source = "generic:deploy"
	deployID := h.publish(deploy)
	urgent := refreshJob(urls("c.example.com", 0, 100)...)
	urgent.Source = "generic:hotfix"
	urgent.Priority = jobs.PriorityHigh
	urgentID := h.publish(urgent)
	_, stop := h.runWorker(fastConfig(), "a")
	defer stop()

	h.waitFor("the bulk sync waiting for its share, the others sent", 20*time.Second, func() bool {
		ev, ok := events.Last(bulkID)
		return ok && ev.State == jobs.StateDeferred && strings.Contains(ev.Reason, "share") &&
			events.Has(deployID, jobs.StateSubmitted) && events.Has(urgentID, jobs.StateSubmitted)
	})
	perDomain := map[string]int{}
	for _, p := range h.emu.Paths(apiclient.CDN().Actions.Refresh) {
		perDomain[apiclient.PathDomain(p)]++
	}
	if perDomain["a.example.com"] != 500 || perDomain["b.example.com"] != 300 || perDomain["c.example.com"] != 100 {
		t.Errorf("sent per domain = %v, want 500 of the bulk sync, 300 of the deploy, 100 urgent", perDomain)
	}
	ev, _ := events.Last(bulkID)
	if want := "source generic:bulk-* spent its share of today's"; !strings.Contains(ev.Reason, want) || !strings.Contains(ev.Reason, "50%: 500") {
		t.Errorf("deferred reason %q, want it to name the share (%q, 50%%: 500)", ev.Reason, want)
	}
	if next := h.mirror.NextReset(time.Now()); !ev.Until.Equal(next) {
		t.Errorf("the bulk sync waits until %s, want the quota reset %s", ev.Until, next)
	}
	if used := h.emu.QuotaUsed().URL; used != 900 {
		t.Errorf("quota used %d, want 900", used)
	}
}
