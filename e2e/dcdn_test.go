package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dcdnBesideCDN is row 14: deploy hooks whose paths are half on a CDN and
// half on a DCDN domain, sent to two replicas sharing Redis, with DCDN's
// daily quota smaller than its share. The CDN paths all land while the
// DCDN ones wait; the replicas together spend exactly DCDN's quota, never
// more (one mirror per product, shared through Redis), without a single
// QuotaExceeded; after the quota day the rest lands.
func dcdnBesideCDN(t *testing.T, run *runState, sz sizes, f *figures) {
	jobs := sz.dcdnJobs
	const perJob = 10 // 5 CDN and 5 DCDN paths
	dcdnQuota := int64(jobs * perJob / 2 / 2)
	c := newCluster(t, run, "dcdn", clusterOpts{urlQuota: 10_000_000, dcdnQuota: dcdnQuota})
	client := &http.Client{Timeout: 10 * time.Second}
	cdnWant, dcdnWant := map[string]bool{}, map[string]bool{}
	for i := range jobs {
		var paths []string
		for k := range perJob / 2 {
			cdn := fmt.Sprintf("example.com/dcdn-row/%d/%d.js", i, k)
			dyn := fmt.Sprintf("%s/row/%d/%d.js", dcdnDomain, i, k)
			cdnWant[cdn], dcdnWant[dyn] = true, true
			paths = append(paths, `"https://`+cdn+`"`, `"https://`+dyn+`"`)
		}
		body := []byte(`{"kind":"refresh","refresh":{"paths":[` + strings.Join(paths, ",") + `]}}`)
		c.postGeneric(t, client, i, body)
	}
	start := time.Now()
	cdn := c.waitLandedOn("RefreshObjectCaches", cdnWant, 2*time.Minute)
	cdnTook := time.Since(start)
	if !waitFor(2*time.Minute, func() bool { return c.stats().DCDNQuota.Used.URL >= dcdnQuota }) {
		t.Errorf("DCDN quota used stayed at %d of %d", c.stats().DCDNQuota.Used.URL, dcdnQuota)
	}
	st := c.stats()
	day1 := c.landedOn("RefreshDcdnObjectCaches")
	overDCDN := st.Actions["RefreshDcdnObjectCaches"].Codes["QuotaExceeded.Refresh"]
	f.add("%d mixed hooks on 2 replicas: CDN %d of %d landed in %s while DCDN waited", jobs, len(cdnWant)-cdn.missing(cdnWant), len(cdnWant), cdnTook.Round(100*time.Millisecond))
	f.add("DCDN day 1: %d landed, quota %d, used %d, QuotaExceeded %d", len(day1.first), dcdnQuota, st.DCDNQuota.Used.URL, overDCDN)
	if n := cdn.missing(cdnWant); n > 0 {
		t.Errorf("%d CDN paths missing while DCDN waited", n)
	}
	if int64(len(day1.first)) > dcdnQuota || st.DCDNQuota.Used.URL > dcdnQuota || overDCDN > 0 {
		t.Errorf("DCDN day 1: %d landed, %d used, quota %d, %d QuotaExceeded: the replicas overspent DCDN's quota",
			len(day1.first), st.DCDNQuota.Used.URL, dcdnQuota, overDCDN)
	}
	if st.Quota.Used.URL != int64(len(cdnWant)) {
		t.Errorf("CDN quota used %d, want %d: DCDN paths spent CDN's quota", st.Quota.Used.URL, len(cdnWant))
	}
	dayAt := time.Now()
	c.emuPost("/_emulator/day", "")
	// The next day's quota is the same: what did not fit on day 1 fits now.
	all := c.waitLandedOn("RefreshDcdnObjectCaches", dcdnWant, 3*time.Minute)
	missing := all.missing(dcdnWant)
	st = c.stats()
	f.add("after the quota day: DCDN %d of %d landed, %s after the rollover; sent twice: DCDN %d, CDN %d",
		len(dcdnWant)-missing, len(dcdnWant), max(0, lastLanding(dcdnWant, all).Sub(dayAt)).Round(100*time.Millisecond),
		st.Paths["RefreshDcdnObjectCaches"].Duplicates, st.Paths["RefreshObjectCaches"].Duplicates)
	if missing > 0 {
		t.Errorf("%d DCDN paths never landed", missing)
	}
}

// waitLandedOn waits until every path of want was accepted on action.
func (c *cluster) waitLandedOn(action string, want map[string]bool, timeout time.Duration) landed {
	c.t.Helper()
	var l landed
	waitFor(timeout, func() bool {
		l = c.landedOn(action)
		return l.missing(want) == 0
	})
	return l
}
