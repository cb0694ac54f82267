package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// errEmptyRequest is returned for a refresh or push with no paths.
var errEmptyRequest = errors.New("no paths to send")

// action returns t's action name, or an error when t has none.
func (t Target) action(name, op string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%s: the %s API has no %s action", op, t.Product, op)
	}
	return name, nil
}

// Refresh purges paths from target t's cache, joined with "\n" into one
// ObjectPath. It does not split: the caller batches within t.Caps. The
// object type is sent as t spells it (DCDN's IgnoreParams for ExQuery);
// the URLs of a paced type wait for room in the domain pacer first.
func (c *Client) Refresh(ctx context.Context, t Target, r RefreshRequest) (RefreshResult, error) {
	action, err := t.action(t.Actions.Refresh, "refresh")
	if err != nil {
		return RefreshResult{}, err
	}
	if len(r.Paths) == 0 {
		return RefreshResult{}, fmt.Errorf("%s: %w", action, errEmptyRequest)
	}
	rt, err := c.route(t)
	if err != nil {
		return RefreshResult{}, err
	}
	if t.wire == wireSiteContent {
		return c.esaRefresh(ctx, rt, t, action, r)
	}
	ot := t.wireType(r.ObjectType)
	p := url.Values{"ObjectPath": {strings.Join(r.Paths, "\n")}, "ObjectType": {string(ot)}}
	if r.Force != nil && ot != ObjectFile {
		p.Set("Force", strconv.FormatBool(*r.Force))
	}
	var out struct {
		RequestID     string `json:"RequestId"`
		RefreshTaskID string `json:"RefreshTaskId"`
	}
	settle := func(err error) error { return err }
	if rt.pacer != nil && t.paces(ot) {
		s, err := paceRefresh(ctx, rt.pacer, action, r.Paths)
		if err != nil {
			return RefreshResult{}, err
		}
		settle = s
	}
	if err := settle(c.call(ctx, rt, http.MethodPost, action, p, &out)); err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.RefreshTaskID)}, nil
}

// Push prefetches paths into target t's cache (PushObjectCache,
// PreloadDcdnObjectCaches: both take Area, L2Preload, WithHeader and
// QueryHashkey).
func (c *Client) Push(ctx context.Context, t Target, r PushRequest) (PushResult, error) {
	action, err := t.action(t.Actions.Push, "push")
	if err != nil {
		return PushResult{}, err
	}
	if len(r.Paths) == 0 {
		return PushResult{}, fmt.Errorf("%s: %w", action, errEmptyRequest)
	}
	rt, err := c.route(t)
	if err != nil {
		return PushResult{}, err
	}
	if t.wire == wireSiteContent {
		return c.esaPush(ctx, rt, t, action, r)
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
	if r.QueryHashkey {
		p.Set("QueryHashkey", "true")
	}
	var out map[string]json.RawMessage
	if err := c.call(ctx, rt, http.MethodPost, action, p, &out); err != nil {
		return PushResult{}, err
	}
	var res PushResult
	var ids string
	_ = json.Unmarshal(out["RequestId"], &res.RequestID)
	if raw, ok := out[t.PushTaskIDField]; ok {
		if err := json.Unmarshal(raw, &ids); err != nil {
			return PushResult{}, fmt.Errorf("%s: decode %s (RequestId %s): %w", action, t.PushTaskIDField, res.RequestID, err)
		}
	}
	res.TaskIDs = SplitTaskIDs(ids)
	return res, nil
}

// DescribeQuota returns target t's daily quota and what remains. DCDN
// answers Url, Dir, Regex, Preload, Block and IgnoreParams, numbers as
// strings like CDN's; it has no PreloadEdge, which stays 0.
func (c *Client) DescribeQuota(ctx context.Context, t Target) (RefreshQuota, error) {
	action, err := t.action(t.Actions.Quota, "quota")
	if err != nil {
		return RefreshQuota{}, err
	}
	rt, err := c.route(t)
	if err != nil {
		return RefreshQuota{}, err
	}
	if t.wire == wireSiteContent {
		return c.esaQuota(ctx, rt, t, action)
	}
	var raw rawRefreshQuota
	if err := c.call(ctx, rt, http.MethodGet, action, nil, &raw); err != nil {
		return RefreshQuota{}, err
	}
	return raw.parse(action)
}

// DescribeTasks lists target t's refresh and push tasks matching r, at
// most t.Caps.TasksPageSize a page. DCDN's answer holds its tasks in
// Tasks.Task; every target's are returned in TaskPage.Tasks.CDNTask, so
// callers read one shape. DCDN reports a directory task's ObjectType as
// "path".
func (c *Client) DescribeTasks(ctx context.Context, t Target, r DescribeTasksRequest) (TaskPage, error) {
	action, err := t.action(t.Actions.Tasks, "tasks")
	if err != nil {
		return TaskPage{}, err
	}
	if r.PageSize > t.Caps.TasksPageSize {
		return TaskPage{}, fmt.Errorf("%s: page size %d: at most %d", action, r.PageSize, t.Caps.TasksPageSize)
	}
	if (r.DomainName != "" || r.Status != "") && r.ObjectType == "" && t.wire != wireSiteContent {
		return TaskPage{}, fmt.Errorf("%s: object type (file, directory, regex or preload) is required with a domain or status filter", action)
	}
	rt, err := c.route(t)
	if err != nil {
		return TaskPage{}, err
	}
	if t.wire == wireSiteContent {
		return c.esaTasks(ctx, rt, t, r)
	}
	p := url.Values{}
	setNonEmpty(p, "TaskId", r.TaskID)
	setNonEmpty(p, "ObjectPath", r.ObjectPath)
	setNonEmpty(p, "DomainName", r.DomainName)
	setNonEmpty(p, "ObjectType", r.ObjectType)
	r.setFilter(p)
	var out struct {
		RequestID  string                     `json:"RequestId"`
		PageNumber int64                      `json:"PageNumber"`
		PageSize   int64                      `json:"PageSize"`
		TotalCount int64                      `json:"TotalCount"`
		Tasks      map[string]json.RawMessage `json:"Tasks"`
	}
	if err := c.call(ctx, rt, http.MethodGet, action, p, &out); err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{RequestID: out.RequestID, PageNumber: out.PageNumber, PageSize: out.PageSize, TotalCount: out.TotalCount}
	if raw, ok := out.Tasks[t.TaskListField]; ok {
		if err := json.Unmarshal(raw, &page.Tasks.CDNTask); err != nil {
			return TaskPage{}, fmt.Errorf("%s: decode Tasks.%s (RequestId %s): %w", action, t.TaskListField, out.RequestID, err)
		}
	}
	return page, nil
}

// DescribeTasksByID returns target t's tasks with the given IDs (1 to
// t.Caps.TaskIDs of them).
func (c *Client) DescribeTasksByID(ctx context.Context, t Target, ids []string) (TasksByID, error) {
	action, err := t.action(t.Actions.TaskByID, "task lookup")
	if err != nil {
		return TasksByID{}, err
	}
	if len(ids) == 0 || len(ids) > t.Caps.TaskIDs {
		return TasksByID{}, fmt.Errorf("%s: %d task IDs: want 1 to %d", action, len(ids), t.Caps.TaskIDs)
	}
	rt, err := c.route(t)
	if err != nil {
		return TasksByID{}, err
	}
	if t.wire == wireSiteContent {
		return c.esaTasksByID(ctx, rt, t, ids)
	}
	var out TasksByID
	err = c.call(ctx, rt, http.MethodGet, action, url.Values{"TaskId": {strings.Join(ids, ",")}}, &out)
	return out, err
}

// DescribeService returns target t's service state (DescribeCdnService,
// DescribeDcdnIpaService).
func (c *Client) DescribeService(ctx context.Context, t Target) (ServiceStatus, error) {
	action, err := t.action(t.Actions.Service, "service status")
	if err != nil {
		return ServiceStatus{}, err
	}
	rt, err := c.route(t)
	if err != nil {
		return ServiceStatus{}, err
	}
	var out ServiceStatus
	err = c.call(ctx, rt, http.MethodGet, action, nil, &out)
	return out, err
}

// ModifyService changes target t's billing method from the next 00:00
// Asia/Shanghai (ModifyCdnService). It returns the RequestId.
func (c *Client) ModifyService(ctx context.Context, t Target, chargeType string) (string, error) {
	return c.chargeCall(ctx, t, t.Actions.ModifyService, "billing change", chargeType)
}

// OpenService activates target t on the account (OpenCdnService). An
// account that has it already gets an *Error with Code
// CdnService.HasOpened; see AlreadyOpened.
func (c *Client) OpenService(ctx context.Context, t Target, chargeType string) (string, error) {
	return c.chargeCall(ctx, t, t.Actions.OpenService, "service activation", chargeType)
}

// chargeCall sends an action that takes InternetChargeType and answers a
// RequestId.
func (c *Client) chargeCall(ctx context.Context, t Target, name, op, chargeType string) (string, error) {
	action, err := t.action(name, op)
	if err != nil {
		return "", err
	}
	if chargeType != PayByTraffic && chargeType != PayByBandwidth {
		return "", fmt.Errorf("%s: charge type %q: want %s or %s", action, chargeType, PayByTraffic, PayByBandwidth)
	}
	rt, err := c.route(t)
	if err != nil {
		return "", err
	}
	var out struct {
		RequestID string `json:"RequestId"`
	}
	err = c.call(ctx, rt, http.MethodPost, action, url.Values{"InternetChargeType": {chargeType}}, &out)
	return out.RequestID, err
}

// AlreadyOpened reports whether err says the CDN service is open already.
func AlreadyOpened(err error) bool { return Code(err) == "CdnService.HasOpened" }

// setNonEmpty sets k to v unless v is empty.
func setNonEmpty(p url.Values, k, v string) {
	if v != "" {
		p.Set(k, v)
	}
}

// setFilter sets the filter and paging parameters every product's task
// listing shares (Status, StartTime, EndTime, PageNumber, PageSize).
func (r DescribeTasksRequest) setFilter(p url.Values) {
	setNonEmpty(p, "Status", r.Status)
	setNonEmpty(p, "StartTime", r.StartTime)
	setNonEmpty(p, "EndTime", r.EndTime)
	if r.PageNumber > 0 {
		p.Set("PageNumber", strconv.Itoa(r.PageNumber))
	}
	if r.PageSize > 0 {
		p.Set("PageSize", strconv.Itoa(r.PageSize))
	}
}
