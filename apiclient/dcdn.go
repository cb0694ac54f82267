package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DCDN refresh and prefetch actions (API version 2018-01-15, endpoint
// dcdn.aliyuncs.com). Limits are from the DCDN API reference pages
// "RefreshDcdnObjectCaches", "PreloadDcdnObjectCaches",
// "DescribeDcdnRefreshQuota", "DescribeDcdnRefreshTasks" and
// "DescribeDcdnRefreshTaskById"; their calls/s are in DefaultRateLimits.
// DCDN answers with the CDN API's error codes (the DCDN "Error codes"
// page: InvalidDomain.NotFound, ServiceBusy, QuotaExceeded.Refresh, ...),
// so (*Error).Class classifies both.
const (
	ActionRefreshDcdnObjectCaches     = "RefreshDcdnObjectCaches"
	ActionPreloadDcdnObjectCaches     = "PreloadDcdnObjectCaches"
	ActionDescribeDcdnRefreshQuota    = "DescribeDcdnRefreshQuota"
	ActionDescribeDcdnRefreshTasks    = "DescribeDcdnRefreshTasks"
	ActionDescribeDcdnRefreshTaskByID = "DescribeDcdnRefreshTaskById"
)

// ObjectIgnoreParams is the DCDN object type that refreshes a URL with its
// query string ignored ("RefreshDcdnObjectCaches", ObjectType): what CDN
// calls ExQuery. DCDN counts it against IgnoreParamsQuota.
const ObjectIgnoreParams ObjectType = "IgnoreParams"

// MaxDCDNTasksPageSize is DescribeDcdnRefreshTasks' largest PageSize (50;
// CDN's DescribeRefreshTasks allows 100).
const MaxDCDNTasksPageSize = 50

// Product names a purge target.
type Product string

// The purge targets cdnpurge knows.
const (
	ProductCDN  Product = "cdn"
	ProductDCDN Product = "dcdn"
)

// Target describes one product that purges caches: its actions, per-call
// limits and API version. CDN and DCDN are two values of this type, so a
// caller submits and follows a batch the same way for both.
type Target struct {
	Product           Product
	Version           string // empty: the client's CDN version
	RefreshAction     string
	PushAction        string
	QuotaAction       string
	TasksAction       string
	TaskByIDAction    string
	MaxURLsPerRefresh int
	MaxDirsPerRefresh int
	MaxURLsPerPush    int
	MaxTaskIDs        int
	MaxTasksPageSize  int
	// URLsPerDomainPerMinute is the product's per-domain limit on
	// refreshed URLs, for sizing a DomainPacer.
	URLsPerDomainPerMinute int
}

// CDNTarget is the CDN API: behaviour unchanged from the CDN methods.
var CDNTarget = Target{
	Product: ProductCDN, RefreshAction: ActionRefreshObjectCaches, PushAction: ActionPushObjectCache,
	QuotaAction: ActionDescribeRefreshQuota, TasksAction: ActionDescribeRefreshTasks, TaskByIDAction: ActionDescribeRefreshTaskByID,
	MaxURLsPerRefresh: MaxURLsPerRefresh, MaxDirsPerRefresh: MaxDirsPerRefresh, MaxURLsPerPush: MaxURLsPerPush,
	MaxTaskIDs: MaxTaskIDsPerDescribe, MaxTasksPageSize: MaxTasksPageSize, URLsPerDomainPerMinute: URLsPerDomainPerMinute,
}

// DCDNTarget is DCDN: 1,000 URLs or 100 directories per refresh, 100 URLs
// per preload ("RefreshDcdnObjectCaches", "PreloadDcdnObjectCaches").
var DCDNTarget = Target{
	Product: ProductDCDN, Version: DCDNVersion, RefreshAction: ActionRefreshDcdnObjectCaches, PushAction: ActionPreloadDcdnObjectCaches,
	QuotaAction: ActionDescribeDcdnRefreshQuota, TasksAction: ActionDescribeDcdnRefreshTasks, TaskByIDAction: ActionDescribeDcdnRefreshTaskByID,
	MaxURLsPerRefresh: 1000, MaxDirsPerRefresh: 100, MaxURLsPerPush: 100, MaxTaskIDs: 10,
	MaxTasksPageSize: MaxDCDNTasksPageSize, URLsPerDomainPerMinute: DCDNURLsPerDomainPerMinute,
}

// TargetOf returns the Target of a product name ("" is cdn).
func TargetOf(p string) (Target, error) {
	switch Product(strings.ToLower(strings.TrimSpace(p))) {
	case "", ProductCDN:
		return CDNTarget, nil
	case ProductDCDN:
		return DCDNTarget, nil
	}
	return Target{}, fmt.Errorf("product %q: want cdn or dcdn", p)
}

// RefreshTarget refreshes paths on target t. For CDN it is
// RefreshObjectCaches (with its domain pacing); for DCDN
// RefreshDcdnObjectCaches, with ExQuery sent as DCDN's IgnoreParams and
// URL refreshes (File, IgnoreParams) paced by the DCDN domain pacer.
func (c *Client) RefreshTarget(ctx context.Context, t Target, r RefreshRequest) (RefreshResult, error) {
	if t.Product != ProductDCDN {
		return c.RefreshObjectCaches(ctx, r)
	}
	if len(r.Paths) == 0 {
		return RefreshResult{}, fmt.Errorf("%s: %w", t.RefreshAction, ErrEmptyRequest)
	}
	ot := r.ObjectType
	switch ot {
	case "":
		ot = ObjectFile
	case ObjectExQuery:
		ot = ObjectIgnoreParams
	}
	p := url.Values{"ObjectPath": {strings.Join(r.Paths, "\n")}, "ObjectType": {string(ot)}}
	if r.Force != nil && ot != ObjectFile {
		p.Set("Force", strconv.FormatBool(*r.Force))
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		RefreshTaskID string `json:"RefreshTaskId"`
	}
	settle := func(err error) error { return err }
	if c.dcdnPacer != nil && (ot == ObjectFile || ot == ObjectIgnoreParams) {
		s, err := paceRefresh(ctx, c.dcdnPacer, t.RefreshAction, r.Paths)
		if err != nil {
			return RefreshResult{}, err
		}
		settle = s
	}
	err := c.call(ctx, c.dcdn, http.MethodPost, t.RefreshAction, p, &out)
	err = settle(err)
	if err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.RefreshTaskID)}, nil
}

// PushTarget prefetches paths on target t: PushObjectCache or
// PreloadDcdnObjectCaches (which takes the same Area, L2Preload,
// WithHeader and QueryHashkey).
func (c *Client) PushTarget(ctx context.Context, t Target, r PushRequest) (PushResult, error) {
	if t.Product != ProductDCDN {
		return c.PushObjectCache(ctx, r)
	}
	if len(r.Paths) == 0 {
		return PushResult{}, fmt.Errorf("%s: %w", t.PushAction, ErrEmptyRequest)
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		PreloadTaskID string `json:"PreloadTaskId"`
	}
	if err := c.call(ctx, c.dcdn, http.MethodPost, t.PushAction, r.params(), &out); err != nil {
		return PushResult{}, err
	}
	return PushResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.PreloadTaskID)}, nil
}

// QuotaOf returns target t's daily quota. DescribeDcdnRefreshQuota
// answers Url, Dir, Regex, Preload, Block and IgnoreParams, numbers as
// strings like CDN's; it has no PreloadEdge, which stays 0.
func (c *Client) QuotaOf(ctx context.Context, t Target) (RefreshQuota, error) {
	if t.Product != ProductDCDN {
		return c.DescribeRefreshQuota(ctx)
	}
	var raw RawRefreshQuota
	if err := c.call(ctx, c.dcdn, http.MethodGet, t.QuotaAction, nil, &raw); err != nil {
		return RefreshQuota{}, err
	}
	return raw.parse(t.QuotaAction)
}

// TasksByIDOf returns target t's tasks with the given IDs.
func (c *Client) TasksByIDOf(ctx context.Context, t Target, ids []string) (TasksByID, error) {
	if t.Product != ProductDCDN {
		return c.DescribeRefreshTaskByID(ctx, ids)
	}
	if len(ids) == 0 || len(ids) > t.MaxTaskIDs {
		return TasksByID{}, fmt.Errorf("%s: %d task IDs: want 1 to %d", t.TaskByIDAction, len(ids), t.MaxTaskIDs)
	}
	var out TasksByID
	err := c.call(ctx, c.dcdn, http.MethodGet, t.TaskByIDAction, url.Values{"TaskId": {strings.Join(ids, ",")}}, &out)
	return out, err
}

// TasksOf lists target t's tasks matching r. DCDN's answer holds its tasks
// in Tasks.Task; they are returned in TaskPage.Tasks.CDNTask all the same,
// so callers read one shape. DCDN reports a directory task's ObjectType
// as "path".
func (c *Client) TasksOf(ctx context.Context, t Target, r DescribeTasksRequest) (TaskPage, error) {
	if t.Product != ProductDCDN {
		return c.DescribeRefreshTasks(ctx, r)
	}
	p, err := tasksParams(t.TasksAction, t.MaxTasksPageSize, r)
	if err != nil {
		return TaskPage{}, err
	}
	var out struct {
		RequestID  string `json:"RequestId"`
		PageNumber int64  `json:"PageNumber"`
		PageSize   int64  `json:"PageSize"`
		TotalCount int64  `json:"TotalCount"`
		Tasks      struct {
			Task []Task `json:"Task"`
		} `json:"Tasks"`
	}
	if err := c.call(ctx, c.dcdn, http.MethodGet, t.TasksAction, p, &out); err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{RequestID: out.RequestID, PageNumber: out.PageNumber, PageSize: out.PageSize, TotalCount: out.TotalCount}
	page.Tasks.CDNTask = out.Tasks.Task
	return page, nil
}

// RefreshDcdnObjectCaches is RefreshTarget on DCDNTarget.
func (c *Client) RefreshDcdnObjectCaches(ctx context.Context, r RefreshRequest) (RefreshResult, error) {
	return c.RefreshTarget(ctx, DCDNTarget, r)
}

// PreloadDcdnObjectCaches is PushTarget on DCDNTarget.
func (c *Client) PreloadDcdnObjectCaches(ctx context.Context, r PushRequest) (PushResult, error) {
	return c.PushTarget(ctx, DCDNTarget, r)
}

// DescribeDcdnRefreshQuota is QuotaOf on DCDNTarget.
func (c *Client) DescribeDcdnRefreshQuota(ctx context.Context) (RefreshQuota, error) {
	return c.QuotaOf(ctx, DCDNTarget)
}

// DescribeDcdnRefreshTaskByID is TasksByIDOf on DCDNTarget.
func (c *Client) DescribeDcdnRefreshTaskByID(ctx context.Context, ids []string) (TasksByID, error) {
	return c.TasksByIDOf(ctx, DCDNTarget, ids)
}

// DescribeDcdnRefreshTasks is TasksOf on DCDNTarget.
func (c *Client) DescribeDcdnRefreshTasks(ctx context.Context, r DescribeTasksRequest) (TaskPage, error) {
	return c.TasksOf(ctx, DCDNTarget, r)
}
