package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// esaBesideCDN is row 22: deploy hooks whose paths are half on a CDN
// domain and half on an ESA site, sent to two replicas sharing Redis, with
// the site's daily file purge quota smaller than its share. The CDN paths
// all land while the ESA ones wait; the replicas together spend exactly
// the site's quota (one mirror per site, fed by GetPurgeQuota, shared
// through Redis), without a single QuotaExceeded; after the quota day the
// rest lands.
func esaBesideCDN(t *testing.T, run *runState, sz sizes, f *figures) {
	jobs := sz.dcdnJobs
	const perJob = 10 // 5 CDN and 5 ESA paths
	esaQuota := int64(jobs * perJob / 2 / 2)
	c := newCluster(t, run, "esa", clusterOpts{urlQuota: 10_000_000, esaQuota: esaQuota})
	client := &http.Client{Timeout: 10 * time.Second}
	cdnWant, esaWant := map[string]bool{}, map[string]bool{}
	for i := range jobs {
		var paths []string
		for k := range perJob / 2 {
			cdn := fmt.Sprintf("example.com/esa-row/%d/%d.js", i, k)
			site := fmt.Sprintf("%s/row/%d/%d.js", esaSite, i, k)
			cdnWant[cdn], esaWant[site] = true, true
			paths = append(paths, `"https://`+cdn+`"`, `"https://`+site+`"`)
		}
		body := []byte(`{"kind":"refresh","refresh":{"paths":[` + strings.Join(paths, ",") + `]}}`)
		c.postGeneric(t, client, i, body)
	}
	start := time.Now()
	cdn := c.waitLandedOn("RefreshObjectCaches", cdnWant, 2*time.Minute)
	cdnTook := time.Since(start)
	if !waitFor(2*time.Minute, func() bool { return int64(c.landedOn("PurgeCaches").accepted) >= esaQuota }) {
		t.Errorf("ESA purges stayed at %d of %d", c.landedOn("PurgeCaches").accepted, esaQuota)
	}
	day1 := c.landedOn("PurgeCaches")
	over := c.stats().Actions["PurgeCaches"].Codes["QuotaExceeded.Purge"]
	f.add("%d mixed hooks on 2 replicas: CDN %d of %d landed in %s while ESA waited", jobs, len(cdnWant)-cdn.missing(cdnWant), len(cdnWant), cdnTook.Round(100*time.Millisecond))
	f.add("ESA day 1: %d purged, file quota %d, QuotaExceeded %d", day1.accepted, esaQuota, over)
	if n := cdn.missing(cdnWant); n > 0 {
		t.Errorf("%d CDN paths missing while ESA waited", n)
	}
	if int64(day1.accepted) > esaQuota || over > 0 {
		t.Errorf("ESA day 1: %d purged, quota %d, %d QuotaExceeded: the replicas overspent the site's quota", day1.accepted, esaQuota, over)
	}
	if st := c.stats(); st.Quota.Used.URL != int64(len(cdnWant)) {
		t.Errorf("CDN quota used %d, want %d: ESA paths spent CDN's quota", st.Quota.Used.URL, len(cdnWant))
	}
	dayAt := time.Now()
	c.emuPost("/_emulator/day", "")
	all := c.waitLandedOn("PurgeCaches", esaWant, 3*time.Minute)
	missing := all.missing(esaWant)
	f.add("after the quota day: ESA %d of %d landed, %s after the rollover; sent twice: %d",
		len(esaWant)-missing, len(esaWant), max(0, lastLanding(esaWant, all).Sub(dayAt)).Round(100*time.Millisecond), all.accepted-len(all.first))
	if missing > 0 {
		t.Errorf("%d ESA paths never landed", missing)
	}
}
