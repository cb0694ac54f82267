package cdnemu

// The API as the emulator serves it: action names, versions, per-call
// limits and default quotas, written here from the CDN and DCDN API
// references and not taken from apiclient, so that a change on the
// client's side shows up as a disagreement in the tests instead of
// changing both sides at once.

// CDN actions (API version 2018-05-10; 2014-11-11 is accepted too).
const (
	actRefresh       = "RefreshObjectCaches"
	actPush          = "PushObjectCache"
	actQuota         = "DescribeRefreshQuota"
	actTasks         = "DescribeRefreshTasks"
	actTaskByID      = "DescribeRefreshTaskById"
	actDescribeCdn   = "DescribeCdnService"
	actModifyCdn     = "ModifyCdnService"
	actOpenCdn       = "OpenCdnService"
	cdnVersion       = "2018-05-10"
	cdnLegacyVersion = "2014-11-11"
)

// DCDN actions (API version 2018-01-15).
const (
	actDcdnRefresh  = "RefreshDcdnObjectCaches"
	actDcdnPreload  = "PreloadDcdnObjectCaches"
	actDcdnQuota    = "DescribeDcdnRefreshQuota"
	actDcdnTasks    = "DescribeDcdnRefreshTasks"
	actDcdnTaskByID = "DescribeDcdnRefreshTaskById"
	actionDcdnIpa   = "DescribeDcdnIpaService"
	dcdnVersion     = "2018-01-15"
)

// Per-call limits ("RefreshObjectCaches", "PushObjectCache",
// "DescribeRefreshTasks", "DescribeRefreshTaskById" and their DCDN pages;
// DCDN's DescribeDcdnRefreshTasks stops at 50 a page).
const (
	maxURLsPerRefresh    = 1000
	maxDirsPerRefresh    = 100
	maxRegexPerRefresh   = 1
	maxURLsPerPush       = 100
	maxDomainsPerRefresh = 10
	maxPathLength        = 1024
	maxTaskIDs           = 10
	maxTasksPageSize     = 100
	maxDCDNTasksPageSize = 50
	defaultTasksPageSize = 20
)

// Default daily quotas of a new account ("DescribeRefreshQuota").
const (
	DefaultURLQuota     = 10000
	DefaultDirQuota     = 100
	DefaultRegexQuota   = 20
	DefaultPreloadQuota = 1000
)

// timestampFormat is the UTC layout of Timestamp and x-acs-date.
const timestampFormat = "2006-01-02T15:04:05Z"

// rateLimits are the published calls/s per account of the actions the
// emulator throttles (each action's page of the API references).
var publishedRates = map[string]float64{
	actRefresh: 50, actPush: 50, actQuota: 20, actTasks: 10, actTaskByID: 30,
	actDescribeCdn: 30, actModifyCdn: 30, actOpenCdn: 5, actionDcdnIpa: 20,
	actDcdnRefresh: 30, actDcdnPreload: 15, actDcdnQuota: 20, actDcdnTasks: 5, actDcdnTaskByID: 30,
}
