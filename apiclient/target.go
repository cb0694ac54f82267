package apiclient

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Product names a purge target.
type Product string

// The purge targets cdnpurge knows.
const (
	ProductCDN  Product = "cdn"
	ProductDCDN Product = "dcdn"
)

// Actions are a target's action names, one per operation. An empty name
// means the product has no such operation: the Client's method for it
// fails without a call.
type Actions struct {
	Refresh  string
	Push     string
	Quota    string
	Tasks    string
	TaskByID string
	// Service describes the product's service state; ModifyService and
	// OpenService change the billing method and activate the service.
	Service       string
	ModifyService string
	OpenService   string
	// RefreshByCacheTag refreshes the cache tags of one domain (tags.go).
	RefreshByCacheTag string
	// PushTasks lists prefetch tasks where the product lists them apart
	// from purges (ESA's DescribePreloadTasks); Sites finds a site's ID
	// by its name (ESA's ListSites).
	PushTasks string
	Sites     string
}

// Caps are a target's per-call limits.
type Caps struct {
	URLsPerRefresh    int
	DirsPerRefresh    int
	RegexPerRefresh   int
	URLsPerPush       int
	DomainsPerRefresh int
	// PathLength caps one ObjectPath entry, in bytes.
	PathLength int
	// TaskIDs is the most task IDs one DescribeTasksByID call takes.
	TaskIDs int
	// TasksPageSize is the largest PageSize of DescribeTasks.
	TasksPageSize int
	// URLsPerDomainPerMinute is the product's per-domain limit on refreshed
	// URLs, for sizing a DomainPacer.
	URLsPerDomainPerMinute int
	// TagsPerRefresh is the most cache tags one RefreshByCacheTag call
	// carries (tags.go: cdnpurge's cap, the API states none).
	TagsPerRefresh int
}

// Target describes one product that purges caches: where its API is, the
// version the Client sends, its action names, how a refresh's object type
// is spelled, the shape of its answers, its per-call caps and its calls/s.
// The Client has one method per operation, each taking a Target; adding a
// product is adding a Target value, not methods. CDN() and DCDN() return
// fresh copies, so a caller may change what it got.
type Target struct {
	Product Product
	// Endpoint is the product's default endpoint; the Client's Options may
	// name another.
	Endpoint string
	// Version is the API version sent with every call of the target.
	Version string
	Actions Actions
	Caps    Caps
	// ObjectTypes maps a RefreshRequest's ObjectType to the product's name
	// for it where they differ; a type not in it is sent as it is.
	ObjectTypes map[ObjectType]ObjectType
	// Paced are the object types (as sent) whose URLs a refresh takes from
	// the domain pacer.
	Paced []ObjectType
	// PushTaskIDField names the push answer's comma-separated task IDs.
	PushTaskIDField string
	// TaskListField names the list under Tasks in a DescribeTasks answer.
	TaskListField string
	// RateLimits are the published calls/s of the target's actions.
	RateLimits map[string]float64
	// wire says how refresh and push calls carry their items; the zero
	// value is CDN's ObjectPath (see esa.go for ESA's).
	wire wire
	// Site is the site every call names, for a product whose calls are
	// per site (ESA's SiteId); 0 for the others. See WithSite.
	Site int64
}

// CDN is the Alibaba Cloud CDN API (version 2018-05-10, cdn.aliyuncs.com).
// Its limits are from the CDN API reference pages "RefreshObjectCaches",
// "PushObjectCache", "DescribeRefreshTasks" and "DescribeRefreshTaskById";
// its calls/s from each action's page.
func CDN() Target {
	return Target{
		Product:  ProductCDN,
		Endpoint: "https://cdn.aliyuncs.com",
		Version:  VersionCurrent,
		Actions: Actions{
			Refresh: "RefreshObjectCaches", Push: "PushObjectCache", Quota: "DescribeRefreshQuota",
			Tasks: "DescribeRefreshTasks", TaskByID: "DescribeRefreshTaskById",
			Service: "DescribeCdnService", ModifyService: "ModifyCdnService", OpenService: "OpenCdnService",
			RefreshByCacheTag: "RefreshObjectCacheByCacheTag",
		},
		Caps: Caps{
			URLsPerRefresh: 1000, DirsPerRefresh: 100, RegexPerRefresh: 1, URLsPerPush: 100,
			DomainsPerRefresh: 10, PathLength: 1024, TaskIDs: 10, TasksPageSize: 100,
			URLsPerDomainPerMinute: 1000, TagsPerRefresh: tagsPerRefresh,
		},
		Paced:           []ObjectType{ObjectFile},
		PushTaskIDField: "PushTaskId",
		TaskListField:   "CDNTask",
		RateLimits: map[string]float64{
			"RefreshObjectCaches": 50, "PushObjectCache": 50, "DescribeRefreshQuota": 20,
			"DescribeRefreshTasks": 10, "DescribeRefreshTaskById": 30,
			"DescribeCdnService": 30, "ModifyCdnService": 30, "OpenCdnService": 5,
		},
	}
}

// DCDN is Dynamic Content Delivery Network (API version 2018-01-15,
// dcdn.aliyuncs.com): 1,000 URLs or 100 directories per refresh, 100 URLs
// per preload, DescribeDcdnRefreshTasks' PageSize up to 50. Limits and
// calls/s are from the DCDN API reference pages "RefreshDcdnObjectCaches",
// "PreloadDcdnObjectCaches", "DescribeDcdnRefreshQuota",
// "DescribeDcdnRefreshTasks", "DescribeDcdnRefreshTaskById" and
// "DescribeDcdnIpaService". DCDN answers with the CDN API's error codes
// (its "Error codes" page), so (*Error).Class classifies both.
//
// DCDN spells ExQuery IgnoreParams and counts it against
// IgnoreParamsQuota; its URL refreshes (File, IgnoreParams) are paced. Its
// per-domain minute limit is 1,000 by "Dynamic Content Delivery
// Network:RefreshDcdnObjectCaches" and the October 2024 "Edge Security
// Acceleration:RefreshDcdnObjectCaches", 10,000 by the September 2025 one;
// the lower cannot be refused, and Options.DomainPacers takes a pacer with
// a higher limit for an account known to have it (docs/dcdn.md).
func DCDN() Target {
	return Target{
		Product:  ProductDCDN,
		Endpoint: "https://dcdn.aliyuncs.com",
		Version:  "2018-01-15",
		Actions: Actions{
			Refresh: "RefreshDcdnObjectCaches", Push: "PreloadDcdnObjectCaches", Quota: "DescribeDcdnRefreshQuota",
			Tasks: "DescribeDcdnRefreshTasks", TaskByID: "DescribeDcdnRefreshTaskById",
			Service:           "DescribeDcdnIpaService",
			RefreshByCacheTag: "RefreshDcdnObjectCacheByCacheTag",
		},
		Caps: Caps{
			URLsPerRefresh: 1000, DirsPerRefresh: 100, RegexPerRefresh: 1, URLsPerPush: 100,
			DomainsPerRefresh: 10, PathLength: 1024, TaskIDs: 10, TasksPageSize: 50,
			URLsPerDomainPerMinute: 1000, TagsPerRefresh: tagsPerRefresh,
		},
		ObjectTypes:     map[ObjectType]ObjectType{ObjectExQuery: objectIgnoreParams},
		Paced:           []ObjectType{ObjectFile, objectIgnoreParams},
		PushTaskIDField: "PreloadTaskId",
		TaskListField:   "Task",
		RateLimits: map[string]float64{
			"RefreshDcdnObjectCaches": 30, "PreloadDcdnObjectCaches": 15, "DescribeDcdnRefreshQuota": 20,
			"DescribeDcdnRefreshTasks": 5, "DescribeDcdnRefreshTaskById": 30, "DescribeDcdnIpaService": 20,
		},
	}
}

// Targets returns every target cdnpurge knows, CDN first.
func Targets() []Target { return []Target{CDN(), DCDN(), ESA()} }

// TargetOf returns the Target of a product name ("" is cdn).
func TargetOf(p string) (Target, error) {
	want := Product(strings.ToLower(strings.TrimSpace(p)))
	if want == "" {
		want = ProductCDN
	}
	if site, ok := esaSiteOf(want); ok {
		return ESA().WithSite(site), nil
	}
	names := make([]string, 0, 2)
	for _, t := range Targets() {
		if t.Product == want {
			return t, nil
		}
		names = append(names, string(t.Product))
	}
	return Target{}, fmt.Errorf("product %q: want %s", p, strings.Join(names, " or "))
}

// wireType is how t spells object type ot ("" is File).
func (t Target) wireType(ot ObjectType) ObjectType {
	if ot == "" {
		ot = ObjectFile
	}
	if w, ok := t.ObjectTypes[ot]; ok {
		return w
	}
	return ot
}

// paces reports whether a refresh of wire type ot takes from the pacer.
func (t Target) paces(ot ObjectType) bool { return slices.Contains(t.Paced, ot) }

// defaultRateLimits returns the published calls/s per account of every
// action of every target, a fresh map on each call.
func defaultRateLimits() map[string]float64 {
	out := map[string]float64{}
	for _, t := range Targets() {
		maps.Copy(out, t.RateLimits)
	}
	return out
}
