// Package esa holds the vocabulary of Alibaba Cloud ESA's purge API
// (ESA API reference, version 2024-09-10: PurgeCaches, PreloadCaches,
// GetPurgeQuota): its purge types, what each carries and allows, and the
// per-call and per-page bounds cdnpurge keeps to. The request path itself
// is apiclient's (one method per operation; the ESA target's wire field
// selects the site-and-Content encoding). It imports nothing of the
// project, so that apiclient, its emulator, quota, jobs and worker share
// one spelling.
package esa

// Version is the ESA API version.
const Version = "2024-09-10"

// PurgeType is PurgeCaches' Type.
type PurgeType string

// The purge types of PurgeCaches; Preload is not one of them but names
// PreloadCaches where a type is wanted (quota kinds, task lists).
const (
	File         PurgeType = "file"
	Directory    PurgeType = "directory"
	CacheTag     PurgeType = "cachetag"
	IgnoreParams PurgeType = "ignoreParams"
	Hostname     PurgeType = "hostname"
	PurgeAll     PurgeType = "purgeall"
	CacheKey     PurgeType = "cachekey"
	Preload      PurgeType = "preload"
)

// Types are PurgeCaches' types in the API reference's order.
func Types() []PurgeType {
	return []PurgeType{File, Directory, CacheTag, IgnoreParams, Hostname, PurgeAll, CacheKey}
}

// ContentField is the key of the Content JSON object that carries the
// type's items ("" for purgeall, which carries PurgeAll: true).
func (t PurgeType) ContentField() string {
	switch t {
	case File:
		return "Files"
	case Directory:
		return "Directories"
	case CacheTag:
		return "CacheTags"
	case IgnoreParams:
		return "IgnoreParams"
	case Hostname:
		return "Hostnames"
	case CacheKey:
		return "CacheKeys"
	}
	return ""
}

// OperatorOnly reports the types that purge a whole host or site: only an
// operator (the CLI, a schedule) may ask for them, never a hook or a
// message on the queue.
func (t PurgeType) OperatorOnly() bool { return t == Hostname || t == PurgeAll }

// TakesForce reports the types whose purge takes Force (the API reference
// of PurgeCaches: every type but file and cachekey).
func (t PurgeType) TakesForce() bool {
	return t != File && t != CacheKey && t != Preload
}

// MaxPerCall is how many items cdnpurge puts in one PurgeCaches or
// PreloadCaches call: the console's per-submission limits where it gives
// them (1,000 URLs, 100 directories, 1,000 cache-key URLs), and for the
// other types cdnpurge's own cautious choice.
func MaxPerCall(t PurgeType) int {
	switch t {
	case File, IgnoreParams, CacheKey:
		return 1000
	case Directory, CacheTag, Hostname, Preload:
		return 100
	case PurgeAll:
		return 1
	}
	return 0
}

// UnreportedQuota stands for a quota the ESA API does not report
// (prefetches): large enough never to hold a call back.
const UnreportedQuota = 1 << 40

// MaxTasksPageSize bounds DescribePurgeTasks' and DescribePreloadTasks'
// PageSize.
const MaxTasksPageSize = 50

// Quota is one purge type's daily quota of a site and today's use, as
// GetPurgeQuota reports them.
type Quota struct {
	Quota, Usage int64
}

// Remain is what the day has left.
func (q Quota) Remain() int64 { return max(q.Quota-q.Usage, 0) }
