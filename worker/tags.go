package worker

import (
	"context"
	"fmt"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// Refreshes by cache tag go through the same stages as paths: a tag job's
// paths are its tag keys (jobs.TagPath, "tag://<domain>/<tag>"), so
// intake, the recent-paths memory, progress and history treat each tag as
// one path of its domain. Their group has ObjectType apiclient.ObjectCacheTag;
// a batch holds the tags of one domain (Limits.domains), at most
// Limits.TagsPerRefresh of them, and spends tagQuotaKind, one unit a tag.

// tagQuotaKind is the quota a tag spends on CDN and DCDN. The API
// reference pages of RefreshObjectCacheByCacheTag and
// RefreshDcdnObjectCacheByCacheTag list only the refresh quota's errors
// (QuotaExceeded.Refresh), DescribeRefreshQuota has no tag counter, and
// the DCDN page describes Force as for a directory refresh: a tag is
// gated as one directory, the scarcest refresh quota, so the mirror
// never grants what the API could refuse under either reading. A
// QuotaExceeded answer re-syncs the mirror as for any refresh.
const tagQuotaKind = quota.KindDir

// tagKey is the group of a validated tag job.
func tagKey(j *jobs.Job) GroupKey {
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectCacheTag, Priority: priorityOf(j)}
	k.Force = forceOf(j.Refresh.Force)
	return k
}

// tagsPerCall is how many tags one call of the group carries: the
// configured limit within the target's cap (Caps.TagsPerRefresh).
func tagsPerCall(l Limits, k GroupKey) int {
	n := l.TagsPerRefresh
	caps, ok := targetCaps[k.product()]
	if !ok || caps.TagsPerRefresh <= 0 {
		return max(n, 1)
	}
	if n <= 0 || n > caps.TagsPerRefresh {
		n = caps.TagsPerRefresh
	}
	return n
}

// sendTags makes the refresh-by-tag call of b, whose paths are the tag
// keys of one domain.
func sendTags(ctx context.Context, tg *target, b *batch) (apiclient.RefreshResult, error) {
	req := apiclient.TagRequest{Force: b.Key.Force.param()}
	for _, p := range b.Paths() {
		domain, tag, ok := jobs.ParseTagPath(p)
		if !ok || (req.Domain != "" && domain != req.Domain) {
			return apiclient.RefreshResult{}, fmt.Errorf("tag batch holds %q, not a tag of %s: a batching bug", p, req.Domain)
		}
		req.Domain = domain
		req.Tags = append(req.Tags, tag)
	}
	return tg.api.RefreshByCacheTag(ctx, tg.t, req)
}

// retryTags is the tag refresh a retry of v sends for paths, when they are
// tag keys of one domain (a tag job's failed tags), with the old job's
// Force when it is known; nil otherwise.
func retryTags(v JobView, paths []string) *jobs.RefreshSpec {
	spec := &jobs.RefreshSpec{Type: jobs.RefreshTypeTag}
	for _, p := range paths {
		domain, tag, ok := jobs.ParseTagPath(p)
		if !ok || (spec.Domain != "" && domain != spec.Domain) {
			return nil
		}
		spec.Domain = domain
		spec.Tags = append(spec.Tags, tag)
	}
	if v.Job != nil && v.Job.Refresh != nil {
		spec.Force = v.Job.Refresh.Force
	}
	return spec
}
