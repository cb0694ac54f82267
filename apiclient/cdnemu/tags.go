package cdnemu

import (
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Refresh by cache tag: CDN's "RefreshObjectCacheByCacheTag" (API
// 2018-05-10) and DCDN's "RefreshDcdnObjectCacheByCacheTag" (2018-01-15)
// take DomainName, CacheTag (comma-separated) and Force, and answer
// RefreshTaskId (the CDN and DCDN API reference pages of the actions).
// Neither page states a per-call cap or which daily quota a tag spends;
// the emulator's choices, which cdnpurge's worker also assumes:
// at most maxTagsPerCall tags a call (SingleRequest.OverLimit
// beyond), and each tag spends one unit of the directory quota.
const (
	actionRefreshByCacheTag     = "RefreshObjectCacheByCacheTag"
	actionRefreshDcdnByCacheTag = "RefreshDcdnObjectCacheByCacheTag"
	// maxTagsPerCall is the emulator's cap on tags a call (as
	// apiclient's Caps.TagsPerRefresh).
	maxTagsPerCall = 100
)

func init() {
	actions[actionRefreshByCacheTag] = action{isCDNVersion2018, handleRefreshByCacheTag, apiclient.ProductCDN}
	actions[actionRefreshDcdnByCacheTag] = action{isDCDNVersion, handleRefreshByCacheTag, apiclient.ProductDCDN}
}

// isCDNVersion2018 accepts only the current CDN API: the 2014-11-11 API
// has no refresh by cache tag.
func isCDNVersion2018(v string) bool { return v == "2018-05-10" }

// TagTaskPath is how the emulator records a tag refresh's task: the
// ObjectPath its task reports.
func TagTaskPath(domain, tag string) string { return "tag://" + domain + "/" + tag }

// handleRefreshByCacheTag answers both tag actions on their product's
// domains, quota and tasks: one task per tag.
func handleRefreshByCacheTag(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	p := req.params
	name := trimmed(p, "DomainName")
	if name == "" {
		return missing("DomainName")
	}
	raw := p.Get("CacheTag")
	if strings.TrimSpace(raw) == "" {
		return missing("CacheTag")
	}
	if f := p.Get("Force"); f != "" && f != "true" && f != "false" {
		return invalid("Force", f)
	}
	e.service.apply(now)
	if pr.name == apiclient.ProductCDN {
		if a := e.service.refuse(); a != nil {
			return a
		}
	} else if e.service.financialLock {
		return fail("InsufficientBalance")
	}
	if strings.HasPrefix(name, "*") {
		return fail("InvalidExtensiveDomain.ValueNotSupported", "The specified ExtensiveDomain is not supported.")
	}
	d := pr.account.byName(name)
	if d == nil {
		if pr.account.byHost(strings.ToLower(name)) != nil {
			// Served only by a wildcard domain of the account.
			return fail("InvalidExtensiveDomain.ValueNotSupported", "The specified ExtensiveDomain is not supported.")
		}
		return pr.account.notFound(strings.ToLower(name))
	}
	switch d.state {
	case domainOffline:
		return fail("InvalidDomain.Offline", "The domain "+d.name+" is offline.")
	case domainConfiguring:
		return fail("ServiceBusy")
	}
	var tags []string
	for _, t := range strings.Split(raw, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		for i := 0; i < len(t); i++ {
			if t[i] < 0x20 || t[i] == 0x7f {
				return fail("InvalidObjectPath.Malformed", "CacheTag contains a control character.")
			}
		}
		if !containsString(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return missing("CacheTag")
	}
	if len(tags) > maxTagsPerCall {
		return fail("SingleRequest.OverLimit", "CacheTag holds ", len(tags), " tags; at most ", maxTagsPerCall, " are allowed.")
	}
	q := &pr.account.quota
	q.roll(now)
	remain := q.remaining()
	if n := int64(len(tags)); n > *kindCacheTag.field(&remain) {
		return fail("QuotaExceeded.Refresh", "The request needs "+strconv.FormatInt(n, 10)+" of today's quota but "+
			strconv.FormatInt(*kindCacheTag.field(&remain), 10)+" remain.")
	}
	*kindCacheTag.field(&q.used) += int64(len(tags))
	paths := make([]string, len(tags))
	for i, t := range tags {
		paths[i] = TagTaskPath(d.name, t)
	}
	ids := pr.tasks.add(paths, kindCacheTag, now)
	e.rec.addPaths(req, paths, now)
	return ok(map[string]any{"RefreshTaskId": ids})
}
