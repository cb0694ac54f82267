package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrEmptyRequest is returned for a refresh or push with no paths.
var ErrEmptyRequest = fmt.Errorf("no paths to send")

// RefreshObjectCaches purges paths from the CDN cache, joined with "\n" into
// one ObjectPath. It does not split: the caller batches within the limits.
func (c *Client) RefreshObjectCaches(ctx context.Context, r RefreshRequest) (RefreshResult, error) {
	if len(r.Paths) == 0 {
		return RefreshResult{}, fmt.Errorf("%s: %w", ActionRefreshObjectCaches, ErrEmptyRequest)
	}
	ot := r.ObjectType
	if ot == "" {
		ot = ObjectFile
	}
	p := url.Values{
		"ObjectPath": {strings.Join(r.Paths, "\n")},
		"ObjectType": {string(ot)},
	}
	if r.Force != nil && ot != ObjectFile {
		p.Set("Force", strconv.FormatBool(*r.Force))
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		RefreshTaskID string `json:"RefreshTaskId"`
	}
	settle := func(err error) error { return err }
	if c.pacer != nil && ot == ObjectFile {
		s, err := paceRefresh(ctx, c.pacer, ActionRefreshObjectCaches, r.Paths)
		if err != nil {
			return RefreshResult{}, err
		}
		settle = s
	}
	err := c.Call(ctx, ActionRefreshObjectCaches, p, &out)
	err = settle(err)
	if err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.RefreshTaskID)}, nil
}

// params are the request's parameters, the same for PushObjectCache and
// PreloadDcdnObjectCaches.
func (r PushRequest) params() url.Values {
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
	if r.QueryHashkey {
		p.Set("QueryHashkey", "true")
	}
	return p
}

// PushObjectCache prefetches paths into the CDN cache.
func (c *Client) PushObjectCache(ctx context.Context, r PushRequest) (PushResult, error) {
	if len(r.Paths) == 0 {
		return PushResult{}, fmt.Errorf("%s: %w", ActionPushObjectCache, ErrEmptyRequest)
	}
	var out struct {
		RequestID  string `json:"RequestId"`
		PushTaskID string `json:"PushTaskId"`
	}
	if err := c.Call(ctx, ActionPushObjectCache, r.params(), &out); err != nil {
		return PushResult{}, err
	}
	return PushResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.PushTaskID)}, nil
}

// DescribeRefreshQuota returns the account's daily quota and what remains.
func (c *Client) DescribeRefreshQuota(ctx context.Context) (RefreshQuota, error) {
	var raw RawRefreshQuota
	if err := c.get(ctx, ActionDescribeRefreshQuota, nil, &raw); err != nil {
		return RefreshQuota{}, err
	}
	return raw.Parse()
}

// DescribeRefreshTasks lists refresh and push tasks matching r.
func (c *Client) DescribeRefreshTasks(ctx context.Context, r DescribeTasksRequest) (TaskPage, error) {
	p, err := tasksParams(ActionDescribeRefreshTasks, MaxTasksPageSize, r)
	if err != nil {
		return TaskPage{}, err
	}
	var out TaskPage
	err = c.get(ctx, ActionDescribeRefreshTasks, p, &out)
	return out, err
}

// tasksParams checks r against the rules DescribeRefreshTasks and
// DescribeDcdnRefreshTasks share and returns its parameters.
func tasksParams(action string, maxPageSize int, r DescribeTasksRequest) (url.Values, error) {
	if r.PageSize > maxPageSize {
		return nil, fmt.Errorf("%s: page size %d: at most %d", action, r.PageSize, maxPageSize)
	}
	if (r.DomainName != "" || r.Status != "") && r.ObjectType == "" {
		return nil, fmt.Errorf("%s: object type (file, directory, regex or preload) is required with a domain or status filter", action)
	}
	p := url.Values{}
	set := func(k, v string) {
		if v != "" {
			p.Set(k, v)
		}
	}
	set("TaskId", r.TaskID)
	set("ObjectPath", r.ObjectPath)
	set("DomainName", r.DomainName)
	set("ObjectType", r.ObjectType)
	set("Status", r.Status)
	set("StartTime", r.StartTime)
	set("EndTime", r.EndTime)
	if r.PageNumber > 0 {
		p.Set("PageNumber", strconv.Itoa(r.PageNumber))
	}
	if r.PageSize > 0 {
		p.Set("PageSize", strconv.Itoa(r.PageSize))
	}
	return p, nil
}

// DescribeRefreshTaskByID returns the tasks with the given IDs (at most 10).
func (c *Client) DescribeRefreshTaskByID(ctx context.Context, ids []string) (TasksByID, error) {
	if len(ids) == 0 || len(ids) > MaxTaskIDsPerDescribe {
		return TasksByID{}, fmt.Errorf("%s: %d task IDs: want 1 to %d", ActionDescribeRefreshTaskByID, len(ids), MaxTaskIDsPerDescribe)
	}
	var out TasksByID
	err := c.get(ctx, ActionDescribeRefreshTaskByID, url.Values{"TaskId": {strings.Join(ids, ",")}}, &out)
	return out, err
}

// DescribeCdnService returns the CDN service state of the account.
func (c *Client) DescribeCdnService(ctx context.Context) (ServiceStatus, error) {
	var out ServiceStatus
	err := c.get(ctx, ActionDescribeCdnService, nil, &out)
	return out, err
}

// ModifyCdnService changes the billing method from the next 00:00
// Asia/Shanghai. It returns the RequestId.
func (c *Client) ModifyCdnService(ctx context.Context, chargeType string) (string, error) {
	if err := checkChargeType(chargeType); err != nil {
		return "", fmt.Errorf("%s: %w", ActionModifyCdnService, err)
	}
	var out struct {
		RequestID string `json:"RequestId"`
	}
	err := c.Call(ctx, ActionModifyCdnService, url.Values{"InternetChargeType": {chargeType}}, &out)
	return out.RequestID, err
}

// OpenCdnService activates CDN on the account. An account that has it
// already gets an *Error with Code CdnService.HasOpened; see AlreadyOpened.
func (c *Client) OpenCdnService(ctx context.Context, chargeType string) (string, error) {
	if err := checkChargeType(chargeType); err != nil {
		return "", fmt.Errorf("%s: %w", ActionOpenCdnService, err)
	}
	var out struct {
		RequestID string `json:"RequestId"`
	}
	err := c.Call(ctx, ActionOpenCdnService, url.Values{"InternetChargeType": {chargeType}}, &out)
	return out.RequestID, err
}

// AlreadyOpened reports whether err says the CDN service is open already.
func AlreadyOpened(err error) bool { return Code(err) == "CdnService.HasOpened" }

// DescribeDcdnIpaService returns the DCDN IPA service state, from the DCDN
// endpoint and API version.
func (c *Client) DescribeDcdnIpaService(ctx context.Context) (ServiceStatus, error) {
	var out ServiceStatus
	err := c.call(ctx, c.dcdn, http.MethodGet, ActionDescribeDcdnIpaService, nil, &out)
	return out, err
}

func checkChargeType(t string) error {
	if t != PayByTraffic && t != PayByBandwidth {
		return fmt.Errorf("charge type %q: want %s or %s", t, PayByTraffic, PayByBandwidth)
	}
	return nil
}
