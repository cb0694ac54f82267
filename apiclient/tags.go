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
// them as for RefreshObjectCaches. Neither page publishes calls/s, so the
// limiter's default for an unknown action applies (actionRate).

// ObjectCacheTag is the object type cdnpurge gives a refresh by cache tag
// inside the worker (its batches' group); it is not a RefreshObjectCaches
// ObjectType and is never sent as one.
const ObjectCacheTag ObjectType = "CacheTag"

// tagsPerRefresh is Caps.TagsPerRefresh of CDN and DCDN. Neither reference
// page states a cap; their SingleRequest.OverLimit answer is the refresh
// one, so a call carries at most as many tags as directories (100), the
// tighter of the refresh caps. worker.limits.tags_per_refresh lowers it.
const tagsPerRefresh = 100

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
		return nil, fmt.Errorf("%s: %w", action, errEmptyRequest)
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

// RefreshByCacheTag refreshes the tags of one domain on target t
// (t.Actions.RefreshByCacheTag: RefreshObjectCacheByCacheTag on CDN,
// RefreshDcdnObjectCacheByCacheTag on DCDN). It does not split: the
// caller batches within t.Caps.TagsPerRefresh.
//
// An ESA site has no action of its own for tags: its PurgeCaches takes
// them as the cachetag type (ESA API reference "PurgeCaches"), so the
// request goes the site's one refresh path, the site's tags in Content.
func (c *Client) RefreshByCacheTag(ctx context.Context, t Target, r TagRequest) (RefreshResult, error) {
	if t.wire == wireSiteContent {
		if len(r.Tags) == 0 {
			return RefreshResult{}, fmt.Errorf("refresh by cache tag on %s: %w", t.Product, errEmptyRequest)
		}
		return c.Refresh(ctx, t, RefreshRequest{ObjectType: ObjectCacheTag, Paths: r.Tags, Force: r.Force})
	}
	action, err := t.action(t.Actions.RefreshByCacheTag, "refresh by cache tag")
	if err != nil {
		return RefreshResult{}, err
	}
	if len(r.Tags) > t.Caps.TagsPerRefresh && t.Caps.TagsPerRefresh > 0 {
		return RefreshResult{}, fmt.Errorf("%s: %d tags, at most %d a call", action, len(r.Tags), t.Caps.TagsPerRefresh)
	}
	p, err := r.params(action)
	if err != nil {
		return RefreshResult{}, err
	}
	rt, err := c.route(t)
	if err != nil {
		return RefreshResult{}, err
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
