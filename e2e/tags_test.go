package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cacheTags is row 23: generic hooks carrying tag jobs (the wire format's
// "type":"tag") for a CDN domain and for an ESA site, sent to two replicas
// sharing Redis, with CDN's directory quota (what a tag refresh spends)
// and the site's cachetag quota each half of what the hooks ask for. The
// replicas together spend exactly each day's quota, without one
// QuotaExceeded; after the quota day the rest lands, each tag once.
func cacheTags(t *testing.T, run *runState, sz sizes, f *figures) {
	hooks := sz.dcdnJobs / 2
	const perJob = 5
	quota := int64(hooks * perJob / 2 / 2)
	c := newCluster(t, run, "tags", clusterOpts{urlQuota: 10_000_000, esaQuota: 1, esaTagQuota: quota, dirQuota: quota})
	client := &http.Client{Timeout: 10 * time.Second}
	cdnWant, esaWant := map[string]bool{}, map[string]bool{}
	for i := range hooks {
		domain, want := "example.com", cdnWant
		if i%2 == 1 {
			domain, want = esaSite, esaWant
		}
		var tags []string
		for k := range perJob {
			tag := fmt.Sprintf("row23-%s-%d-%d", run.id, i, k)
			// As the emulator records them: CDN's tag task paths
			// (tag://domain/tag, scheme stripped), ESA's items as sent.
			if domain == esaSite {
				want[tag] = true
			} else {
				want[domain+"/"+tag] = true
			}
			tags = append(tags, `"`+tag+`"`)
		}
		body := []byte(`{"kind":"refresh","refresh":{"type":"tag","domain":"` + domain + `","tags":[` + strings.Join(tags, ",") + `]}}`)
		c.postGeneric(t, client, i, body)
	}
	const cdnAction, esaAction = "RefreshObjectCacheByCacheTag", "PurgeCaches"
	day := func(action string) bool { return int64(c.landedOn(action).accepted) >= quota }
	if !waitFor(2*time.Minute, func() bool { return day(cdnAction) && day(esaAction) }) {
		t.Errorf("day 1: CDN tags %d, ESA tags %d, each quota %d", c.landedOn(cdnAction).accepted, c.landedOn(esaAction).accepted, quota)
	}
	st := c.stats()
	cdnDay1, esaDay1 := c.landedOn(cdnAction).accepted, c.landedOn(esaAction).accepted
	cdnOver := st.Actions[cdnAction].Codes["QuotaExceeded.Refresh"]
	esaOver := st.Actions[esaAction].Codes["QuotaExceeded.Purge"]
	f.add("%d tag hooks of %d tags on 2 replicas, CDN dir and ESA cachetag quota %d each", hooks, perJob, quota)
	f.add("day 1: CDN %d tags (QuotaExceeded %d), ESA %d tags (QuotaExceeded %d)", cdnDay1, cdnOver, esaDay1, esaOver)
	if int64(cdnDay1) > quota || int64(esaDay1) > quota || cdnOver > 0 || esaOver > 0 {
		t.Errorf("day 1 overspent: CDN %d, ESA %d of %d; QuotaExceeded CDN %d, ESA %d", cdnDay1, esaDay1, quota, cdnOver, esaOver)
	}
	dayAt := time.Now()
	c.emuPost("/_emulator/day", "")
	cdn := c.waitLandedOn(cdnAction, cdnWant, 3*time.Minute)
	esa := c.waitLandedOn(esaAction, esaWant, 3*time.Minute)
	cdnMissing, esaMissing := cdn.missing(cdnWant), esa.missing(esaWant)
	f.add("after the quota day: CDN %d of %d, ESA %d of %d landed, %s after the rollover; sent twice: CDN %d, ESA %d",
		len(cdnWant)-cdnMissing, len(cdnWant), len(esaWant)-esaMissing, len(esaWant),
		max(0, lastLanding(cdnWant, cdn).Sub(dayAt), lastLanding(esaWant, esa).Sub(dayAt)).Round(100*time.Millisecond),
		cdn.accepted-len(cdn.first), esa.accepted-len(esa.first))
	if cdnMissing > 0 || esaMissing > 0 {
		t.Errorf("tags never landed: CDN %d, ESA %d", cdnMissing, esaMissing)
	}
}
