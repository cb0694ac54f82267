package apiclient

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// DCDN refresh and prefetch actions (API version 2018-01-15, endpoint
// dcdn.aliyuncs.com). Limits are from the DCDN API reference pages
// "RefreshDcdnObjectCaches", "PreloadDcdnObjectCaches",
// "DescribeDcdnRefreshQuota", "DescribeDcdnRefreshTasks" and
// "DescribeDcdnRefreshTaskById". Error codes are those of the CDN API and
// are classified by the same (*Error).Class.
const (
	ActionRefreshDcdnObjectCaches     = "RefreshDcdnObjectCaches"
	ActionPreloadDcdnObjectCaches     = "PreloadDcdnObjectCaches"
	ActionDescribeDcdnRefreshQuota    = "DescribeDcdnRefreshQuota"
	ActionDescribeDcdnRefreshTasks    = "DescribeDcdnRefreshTasks"
	ActionDescribeDcdnRefreshTaskByID = "DescribeDcdnRefreshTaskById"
)

// ObjectIgnoreParams is the DCDN object type that refreshes a URL with its
// query string ignored ("RefreshDcdnObjectCaches", ObjectType).
const ObjectIgnoreParams ObjectType = "IgnoreParams"

func init() {
	// Calls per second per account, from each action's page.
	for a, n := range map[string]float64{
		ActionRefreshDcdnObjectCaches:     30,
		ActionPreloadDcdnObjectCaches:     15,
		ActionDescribeDcdnRefreshQuota:    20,
		ActionDescribeDcdnRefreshTasks:    5,
		ActionDescribeDcdnRefreshTaskByID: 30,
	} {
		DefaultRateLimits[a] = n
	}
}

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
}

// CDNTarget is the CDN API: behaviour unchanged from the CDN methods.
var CDNTarget = Target{
	Product: ProductCDN, RefreshAction: ActionRefreshObjectCaches, PushAction: ActionPushObjectCache,
	QuotaAction: ActionDescribeRefreshQuota, TasksAction: ActionDescribeRefreshTasks, TaskByIDAction: ActionDescribeRefreshTaskByID,
	MaxURLsPerRefresh: MaxURLsPerRefresh, MaxDirsPerRefresh: MaxDirsPerRefresh, MaxURLsPerPush: MaxURLsPerPush, MaxTaskIDs: MaxTaskIDsPerDescribe,
}

// DCDNTarget is DCDN: 1,000 URLs or 100 directories per refresh, 100 URLs
// per preload ("RefreshDcdnObjectCaches", "PreloadDcdnObjectCaches").
var DCDNTarget = Target{
	Product: ProductDCDN, Version: DCDNVersion, RefreshAction: ActionRefreshDcdnObjectCaches, PushAction: ActionPreloadDcdnObjectCaches,
	QuotaAction: ActionDescribeDcdnRefreshQuota, TasksAction: ActionDescribeDcdnRefreshTasks, TaskByIDAction: ActionDescribeDcdnRefreshTaskByID,
	MaxURLsPerRefresh: 1000, MaxDirsPerRefresh: 100, MaxURLsPerPush: 100, MaxTaskIDs: 10,
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

func (c *Client) targetCall(ctx context.Context, t Target, method, action string, p url.Values, out any) error {
	if t.Product == ProductDCDN {
		return c.call(ctx, c.dcdnEndpoint, DCDNVersion, method, action, p, out)
	}
	return c.call(ctx, c.endpoint, c.version, method, action, p, out)
}

// RefreshTarget refreshes paths on target t. For CDN it is
// RefreshObjectCaches (with its domain pacing); for DCDN
// RefreshDcdnObjectCaches.
func (c *Client) RefreshTarget(ctx context.Context, t Target, r RefreshRequest) (RefreshResult, error) {
	if t.Product != ProductDCDN {
		return c.RefreshObjectCaches(ctx, r)
	}
	if len(r.Paths) == 0 {
		return RefreshResult{}, fmt.Errorf("%s: %w", t.RefreshAction, ErrEmptyRequest)
	}
	ot := r.ObjectType
	if ot == "" {
		ot = ObjectFile
	}
	p := url.Values{"ObjectPath": {strings.Join(r.Paths, "\n")}, "ObjectType": {string(ot)}}
	if r.Force != nil && ot != ObjectFile {
		p.Set("Force", fmt.Sprint(*r.Force))
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		RefreshTaskID string `json:"RefreshTaskId"`
	}
	if err := c.targetCall(ctx, t, "POST", t.RefreshAction, p, &out); err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.RefreshTaskID)}, nil
}

// PushTarget prefetches paths on target t: PushObjectCache or
// PreloadDcdnObjectCaches (which has no QueryHashkey).
func (c *Client) PushTarget(ctx context.Context, t Target, r PushRequest) (PushResult, error) {
	if t.Product != ProductDCDN {
		return c.PushObjectCache(ctx, r)
	}
	if len(r.Paths) == 0 {
		return PushResult{}, fmt.Errorf("%s: %w", t.PushAction, ErrEmptyRequest)
	}
	p := url.Values{"ObjectPath": {strings.Join(r.Paths, "\n")}}
	if r.Area != "" {
		p.Set("Area", r.Area)
	}
	if r.L2Preload {
		p.Set("L2Preload", "true")
	}
	if r.WithHeader != "" {
		p.Set("WithHeader", r.WithHeader)
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		PreloadTaskID string `json:"PreloadTaskId"`
	}
	if err := c.targetCall(ctx, t, "POST", t.PushAction, p, &out); err != nil {
		return PushResult{}, err
	}
	return PushResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.PreloadTaskID)}, nil
}

// QuotaOf returns target t's daily quota (DescribeRefreshQuota or
// DescribeDcdnRefreshQuota; both answer numbers as strings).
func (c *Client) QuotaOf(ctx context.Context, t Target) (RefreshQuota, error) {
	var raw RawRefreshQuota
	if err := c.targetCall(ctx, t, "GET", t.QuotaAction, nil, &raw); err != nil {
		return RefreshQuota{}, err
	}
	return raw.Parse()
}

// TasksByIDOf returns target t's tasks with the given IDs.
func (c *Client) TasksByIDOf(ctx context.Context, t Target, ids []string) (TasksByID, error) {
	if len(ids) == 0 || len(ids) > t.MaxTaskIDs {
		return TasksByID{}, fmt.Errorf("%s: %d task IDs: want 1 to %d", t.TaskByIDAction, len(ids), t.MaxTaskIDs)
	}
	var out TasksByID
	err := c.targetCall(ctx, t, "GET", t.TaskByIDAction, url.Values{"TaskId": {strings.Join(ids, ",")}}, &out)
	return out, err
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
