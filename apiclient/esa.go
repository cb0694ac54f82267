package apiclient

// ESA (Edge Security Acceleration), API version 2024-09-10: the names the
// client, the config and the emulator share. Sources: the ESA API reference
// pages "PurgeCaches", "PreloadCaches", "GetPurgeQuota",
// "DescribePurgeTasks", "DescribePreloadTasks" and "ListSites"
// (https://www.alibabacloud.com/help/en/edge-security-acceleration/esa/api-esa-2024-09-10-purgecaches
// and its siblings), and the console's "Purge cache" pages for the
// per-submission limits and daily quotas
// (https://www.alibabacloud.com/help/doc-detail/2703467.html).
const (
	// ProductESA names ESA sites as a purge target.
	ProductESA Product = "esa"
	// ESAVersion is the ESA API version.
	ESAVersion = "2024-09-10"
	// DefaultESAEndpoint serves the mainland; esa.ap-southeast-1.aliyuncs.com
	// serves international accounts.
	DefaultESAEndpoint = "https://esa.cn-hangzhou.aliyuncs.com"

	ActionListSites            = "ListSites"
	ActionPurgeCaches          = "PurgeCaches"
	ActionPreloadCaches        = "PreloadCaches"
	ActionGetPurgeQuota        = "GetPurgeQuota"
	ActionDescribePurgeTasks   = "DescribePurgeTasks"
	ActionDescribePreloadTasks = "DescribePreloadTasks"
)

// ESAPurgeType is PurgeCaches' Type.
type ESAPurgeType string

// The purge types of PurgeCaches; ESAPreload is not one of them but names
// PreloadCaches where a type is wanted (quota kinds, task lists).
const (
	ESAFile         ESAPurgeType = "file"
	ESADirectory    ESAPurgeType = "directory"
	ESACacheTag     ESAPurgeType = "cachetag"
	ESAIgnoreParams ESAPurgeType = "ignoreParams"
	ESAHostname     ESAPurgeType = "hostname"
	ESAPurgeAll     ESAPurgeType = "purgeall"
	ESACacheKey     ESAPurgeType = "cachekey"
	ESAPreload      ESAPurgeType = "preload"
)

// ESAPurgeTypes are PurgeCaches' types in the API reference's order.
func ESAPurgeTypes() []ESAPurgeType {
	return []ESAPurgeType{ESAFile, ESADirectory, ESACacheTag, ESAIgnoreParams, ESAHostname, ESAPurgeAll, ESACacheKey}
}

// ContentField is the key of the Content JSON object that carries the
// type's items ("" for purgeall, which carries PurgeAll: true).
func (t ESAPurgeType) ContentField() string {
	switch t {
	case ESAFile:
		return "Files"
	case ESADirectory:
		return "Directories"
	case ESACacheTag:
		return "CacheTags"
	case ESAIgnoreParams:
		return "IgnoreParams"
	case ESAHostname:
		return "Hostnames"
	case ESACacheKey:
		return "CacheKeys"
	}
	return ""
}

// OperatorOnly reports the types that purge a whole host or site: only an
// operator (the CLI, a schedule) may ask for them, never a hook or a
// message on the queue.
func (t ESAPurgeType) OperatorOnly() bool { return t == ESAHostname || t == ESAPurgeAll }

// TakesForce reports the types whose purge takes Force (the API reference
// of PurgeCaches: every type but file and cachekey).
func (t ESAPurgeType) TakesForce() bool {
	return t != ESAFile && t != ESACacheKey && t != ESAPreload
}

// ESAMaxPerCall is how many items cdnpurge puts in one PurgeCaches or
// PreloadCaches call. The API reference states no per-call maximum; these
// are the console's per-submission limits (1,000 URLs, 100 directories,
// 1,000 cache-key URLs), and for the types the console gives none for,
// cdnpurge's own cautious choice.
func ESAMaxPerCall(t ESAPurgeType) int {
	switch t {
	case ESAFile, ESAIgnoreParams, ESACacheKey:
		return 1000
	case ESADirectory, ESACacheTag, ESAHostname, ESAPreload:
		return 100
	case ESAPurgeAll:
		return 1
	}
	return 0
}

// ESAMaxTasksPageSize bounds DescribePurgeTasks' and DescribePreloadTasks'
// PageSize.
const ESAMaxTasksPageSize = 50
