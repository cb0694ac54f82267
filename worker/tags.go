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

// TagAPI is what a target's API needs to refresh cache tags. The CDN and
// DCDN clients have it; a target without it refuses tag batches.
type TagAPI interface {
	RefreshByCacheTag(ctx context.Context, t apiclient.Target, r apiclient.TagRequest) (apiclient.RefreshResult, error)
}

// tagKey is the group of a validated tag job.
func tagKey(j *jobs.Job) GroupKey {
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectCacheTag, Priority: priorityOf(j)}
	k.Force = forceOf(j.Refresh.Force)
	return k
}

// tagsPerCall is how many tags one call of the group carries.
func tagsPerCall(l Limits, k GroupKey) int {
	n := l.TagsPerRefresh
	if n <= 0 || n > apiclient.MaxTagsPerRefresh {
		n = apiclient.MaxTagsPerRefresh
	}
	return n
}

// errNoTagAPI is the answer for a tag batch on a target whose API cannot
// refresh tags: bad input for that target, reported, never retried.
type errNoTagAPI struct{ product apiclient.Product }

func (e errNoTagAPI) Error() string {
	return fmt.Sprintf("%s cannot refresh by cache tag here; send the tags of a domain served by CDN or DCDN", e.product)
}

// sendTags makes the refresh-by-tag call of b, whose paths are the tag
// keys of one domain.
func sendTags(ctx context.Context, tg *target, b *batch) (apiclient.RefreshResult, error) {
	api, ok := tg.api.(TagAPI)
	if !ok {
		return apiclient.RefreshResult{}, &apiclient.Error{Code: "InvalidParameter", Message: errNoTagAPI{tg.product}.Error()}
	}
	t, err := apiclient.TargetOf(string(tg.product))
	if err != nil {
		return apiclient.RefreshResult{}, err
	}
	req := apiclient.TagRequest{Force: b.Key.Force.param()}
	for _, p := range b.Paths() {
		domain, tag, ok := jobs.ParseTagPath(p)
		if !ok || (req.Domain != "" && domain != req.Domain) {
			return apiclient.RefreshResult{}, fmt.Errorf("tag batch holds %q, not a tag of %s: a batching bug", p, req.Domain)
		}
		req.Domain = domain
		req.Tags = append(req.Tags, tag)
	}
	return api.RefreshByCacheTag(ctx, t, req)
}
