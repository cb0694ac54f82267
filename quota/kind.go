// Package quota keeps a mirror of the account's daily refresh and push quota
// (DescribeRefreshQuota) that every replica reserves from before it calls the
// CDN API, so that together the replicas never ask for more than is left.
//
// A Store holds the mirror (RedisStore for several replicas, MemoryStore for
// one); a Mirror keeps it in step with the API and is what the worker uses.
// Each product that purges (Targets: CDN, DCDN with its own daily quota,
// DescribeDcdnRefreshQuota) has a Store and a Mirror of its own.
//
// The account's rate limits (calls per second, URLs per minute per domain)
// are kept in the same Redis under the same account keys, but they space
// calls in time rather than count a day's units: they live in
// quota/ratelimit, which imports this package and is never imported by it.
package quota

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Kind is one of the daily quotas DescribeRefreshQuota reports.
type Kind string

// Quota kinds. KindURL, KindDir, KindRegex and KindPreload are the ones the
// worker spends; the others are mirrored so that the CLI and metrics show
// them, and can be reserved once the worker uses them.
const (
	KindURL          Kind = "url"
	KindDir          Kind = "dir"
	KindRegex        Kind = "regex"
	KindPreload      Kind = "preload"
	KindBlock        Kind = "block"
	KindIgnoreParams Kind = "ignoreparams"
	KindPreloadEdge  Kind = "preloadedge"
	// ESA's purge types with quotas of their own (GetPurgeQuota); an ESA
	// site's file, directory and ignoreParams quotas are KindURL, KindDir
	// and KindIgnoreParams.
	KindCacheTag Kind = "cachetag"
	KindCacheKey Kind = "cachekey"
	KindHostname Kind = "hostname"
	KindPurgeAll Kind = "purgeall"
)

// allKinds lists every kind in the order the CLI prints them.
var allKinds = [...]Kind{KindURL, KindDir, KindRegex, KindPreload, KindBlock, KindIgnoreParams, KindPreloadEdge,
	KindCacheTag, KindCacheKey, KindHostname, KindPurgeAll}

// AllKinds returns every kind in the order the CLI prints them, in a slice
// of the caller's own.
func AllKinds() []Kind { return slices.Clone(allKinds[:]) }

// Valid reports whether k is one of AllKinds.
func (k Kind) Valid() bool {
	for _, a := range allKinds {
		if a == k {
			return true
		}
	}
	return false
}

// ParseKind accepts the names of AllKinds.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); k.Valid() {
		return k, nil
	}
	return "", fmt.Errorf("quota kind %q: want one of url, dir, regex, preload, block, ignoreparams, preloadedge, cachetag, cachekey, hostname, purgeall", s)
}

// KindForRefresh returns the quota a RefreshObjectCaches call of type t
// spends. ExQuery refreshes are counted against the URL quota: each path is
// one URL refresh (ignoring its query string), and DescribeRefreshQuota has
// no separate ExQuery counter.
func KindForRefresh(t apiclient.ObjectType) Kind {
	switch t {
	case apiclient.ObjectDirectory:
		return KindDir
	case apiclient.ObjectRegex:
		return KindRegex
	default: // File, ExQuery
		return KindURL
	}
}

// KindForESA returns the quota an ESA purge of object type t spends (on
// the site's own mirror): each purge type has its own daily quota
// (GetPurgeQuota). Prefetches spend none that the API reports.
func KindForESA(t apiclient.ObjectType) Kind {
	switch esa.PurgeType(apiclient.ESA().ObjectTypes[t]) {
	case esa.Directory:
		return KindDir
	case esa.IgnoreParams:
		return KindIgnoreParams
	case esa.CacheTag:
		return KindCacheTag
	case esa.CacheKey:
		return KindCacheKey
	case esa.Hostname:
		return KindHostname
	case esa.PurgeAll:
		return KindPurgeAll
	}
	return KindURL
}

// KindForPush returns the quota a PushObjectCache call spends.
func KindForPush() Kind { return KindPreload }

// kindValues is the (total, remaining) pair of each kind in q.
func kindValues(q apiclient.RefreshQuota) map[Kind][2]int64 {
	return map[Kind][2]int64{
		KindURL:          {q.URLQuota, q.URLRemain},
		KindDir:          {q.DirQuota, q.DirRemain},
		KindRegex:        {q.RegexQuota, q.RegexRemain},
		KindPreload:      {q.PreloadQuota, q.PreloadRemain},
		KindBlock:        {q.BlockQuota, q.BlockRemain},
		KindIgnoreParams: {q.IgnoreParamsQuota, q.IgnoreParamsRemain},
		KindPreloadEdge:  {q.PreloadEdgeQuota, q.PreloadEdgeRemain},
		KindCacheTag:     esaValues(q, esa.CacheTag),
		KindCacheKey:     esaValues(q, esa.CacheKey),
		KindHostname:     esaValues(q, esa.Hostname),
		KindPurgeAll:     esaValues(q, esa.PurgeAll),
	}
}

// esaValues is the (total, remaining) pair of an ESA purge type in q;
// zero for CDN and DCDN, which have no such quota.
func esaValues(q apiclient.RefreshQuota, t esa.PurgeType) [2]int64 {
	f := q.ESA[t]
	return [2]int64{f.Quota, f.Remain()}
}

// Calendar computes quota days: a day runs from 00:00 to 00:00 in Location.
type Calendar struct {
	Location *time.Location
}

// DefaultLocation is Asia/Shanghai, where the API resets its quota. Without
// a time zone database it is a fixed UTC+8 zone, which is exact: China has
// had no daylight saving time since 1991.
func DefaultLocation() *time.Location { return defaultLocation() }

var defaultLocation = sync.OnceValue(func() *time.Location {
	if loc, err := time.LoadLocation(apiclient.QuotaTimeZone); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
})

func (c Calendar) loc() *time.Location {
	if c.Location == nil {
		return DefaultLocation()
	}
	return c.Location
}

// Day names the quota day of t, "2006-01-02" in the calendar's zone.
func (c Calendar) Day(t time.Time) string { return t.In(c.loc()).Format(time.DateOnly) }

// StartOfDay returns 00:00 of t's quota day.
func (c Calendar) StartOfDay(t time.Time) time.Time {
	t = t.In(c.loc())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc())
}

// NextReset returns the next 00:00 after t, when the API resets its quota.
func (c Calendar) NextReset(t time.Time) time.Time {
	s := c.StartOfDay(t)
	return time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, c.loc())
}

// PrevDay names the quota day before t's.
func (c Calendar) PrevDay(t time.Time) string {
	s := c.StartOfDay(t)
	return c.Day(time.Date(s.Year(), s.Month(), s.Day()-1, 12, 0, 0, 0, c.loc()))
}

// NextReset returns the next 00:00 Asia/Shanghai after now; the worker delays
// work that found no quota until then.
func NextReset(now time.Time) time.Time { return Calendar{}.NextReset(now) }
