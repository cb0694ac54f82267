package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Refresh by cache tag. CDN API reference "RefreshObjectCacheByCacheTag"
// (https://www.alibabacloud.com/help/en/cdn/developer-reference/api-cdn-2018-05-10-refreshobjectcachebycachetag)
// and DCDN API reference "RefreshDcdnObjectCacheByCacheTag"
// (https://www.alibabacloud.com/help/en/edge-security-acceleration/dcdn/developer-reference/api-dcdn-2018-01-15-refreshdcdnobjectcachebycachetag):
// DomainName (one accelerated domain), CacheTag (tags joined with ","),
// Force (false: the POP revalidates against the origin's Last-Modified;
// true: it fetches again). The answer is RefreshTaskId, and the errors are
// the refresh ones (SingleRequest.OverLimit, QuotaExceeded.Refresh,
// QuotaPerMinuteExceeded.Refresh, TooMany.Refresh), so Class classifies
// them as for RefreshObjectCaches.
const (
	ActionRefreshObjectCacheByCacheTag     = "RefreshObjectCacheByCacheTag"
	ActionRefreshDcdnObjectCacheByCacheTag = "RefreshDcdnObjectCacheByCacheTag"
)

// ObjectCacheTag is the object type cdnpurge gives a refresh by cache tag
// inside the worker (its batches' group); it is not a RefreshObjectCaches
// ObjectType.
const ObjectCacheTag ObjectType = "CacheTag"

// MaxTagsPerRefresh is how many tags cdnpurge puts in one call. Neither
// reference page states a cap; their SingleRequest.OverLimit answer is
// the refresh one, so tags are sent at most as many as directories (100)
// per call, the tighter of the refresh caps. worker.limits.tags_per_refresh
// lowers it.
const MaxTagsPerRefresh = 100

// TagRequest is one refresh by cache tag: tags of one domain.
type TagRequest struct {
	Domain string
	Tags   []string
	// Force is sent when set; the API's default is false.
	Force *bool
}

// params are the request's parameters, the same for CDN and DCDN.
func (r TagRequest) params(action string) (url.Values, error) {
	if r.Domain == "" {
		return nil, fmt.Errorf("%s: no domain", action)
	}
	if len(r.Tags) == 0 {
		return nil, fmt.Errorf("%s: %w", action, ErrEmptyRequest)
	}
	for _, t := range r.Tags {
		if t == "" || strings.ContainsAny(t, ", \t\r\n") {
			return nil, fmt.Errorf("%s: tag %q: empty or holds a separator", action, t)
		}
	}
	p := url.Values{"DomainName": {r.Domain}, "CacheTag": {strings.Join(r.Tags, ",")}}
	if r.Force != nil {
		p.Set("Force", strconv.FormatBool(*r.Force))
	}
	return p, nil
}

// tagAction is target t's refresh-by-tag action.
func tagAction(t Target) string {
	if t.Product == ProductDCDN {
		return ActionRefreshDcdnObjectCacheByCacheTag
	}
	return ActionRefreshObjectCacheByCacheTag
}

// RefreshByCacheTag refreshes the tags of one domain on target t
// (RefreshObjectCacheByCacheTag on CDN, RefreshDcdnObjectCacheByCacheTag
// on DCDN). It does not split: the caller batches.
func (c *Client) RefreshByCacheTag(ctx context.Context, t Target, r TagRequest) (RefreshResult, error) {
	action := tagAction(t)
	p, err := r.params(action)
	if err != nil {
		return RefreshResult{}, err
	}
	rt := c.cdn
	if t.Product == ProductDCDN {
		rt = c.dcdn
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		RefreshTaskID string `json:"RefreshTaskId"`
	}
	if err := c.call(ctx, rt, http.MethodPost, action, p, &out); err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.RefreshTaskID)}, nil
}

// RefreshByCacheTag is the Client's RefreshByCacheTag; the target given
// is the one the client is bound to when t has no product.
func (tc *TargetClient) RefreshByCacheTag(ctx context.Context, t Target, r TagRequest) (RefreshResult, error) {
	if t.Product == "" {
		t = tc.t
	}
	return tc.c.RefreshByCacheTag(ctx, t, r)
}
