package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"
)

// ESA (Edge Security Acceleration), API version 2024-09-10. Sources: the
// ESA API reference pages "PurgeCaches", "PreloadCaches", "GetPurgeQuota",
// "DescribePurgeTasks", "DescribePreloadTasks" and "ListSites"
// (https://www.alibabacloud.com/help/en/edge-security-acceleration/esa/api-esa-2024-09-10-purgecaches
// and its siblings), and the console's "Purge cache" pages for the
// per-submission limits and daily quotas
// (https://www.alibabacloud.com/help/doc-detail/2703467.html).
//
// ESA differs from CDN and DCDN beyond names: every call names a site
// (SiteId, from ListSites), a purge carries its items as one JSON Content of
// a purge type instead of an ObjectPath, quotas are per site and per type
// (GetPurgeQuota), and DescribePurgeTasks takes no task ID. The Target
// field wire says so, and the shared methods (actions.go) branch on it into
// the functions below.

const (
	// ProductESA names ESA sites as a purge target.
	ProductESA Product = "esa"
)

// wire is how a target's refresh and push calls carry their items.
type wire uint8

const (
	// wireObjectPath is CDN's and DCDN's: paths joined into ObjectPath.
	wireObjectPath wire = iota
	// wireSiteContent is ESA's: SiteId, Type and one JSON Content.
	wireSiteContent
)

// Object types only ESA purges. Hostname and PurgeAll empty a whole host
// or site: only an operator asks for them (jobs.OperatorOnlyType).
const (
	ObjectCacheKey ObjectType = "CacheKey"
	ObjectHostname ObjectType = "Hostname"
	ObjectPurgeAll ObjectType = "PurgeAll"
)

// ESA returns the ESA target (esa.cn-hangzhou.aliyuncs.com;
// esa.ap-southeast-1.aliyuncs.com serves international accounts). Its
// Site is 0: a caller sets the site its calls name (WithSite). The API
// reference states no per-call maximum of PurgeCaches; the caps are the
// console's per-submission limits (1,000 URLs, 100 directories, 1,000
// cache-key URLs) and, where the console gives none, cdnpurge's cautious
// choice (esa.MaxPerCall). Nor does it publish calls/s: RateLimits is
// empty, so actionRate's default applies.
func ESA() Target {
	return Target{
		Product:  ProductESA,
		Endpoint: "https://esa.cn-hangzhou.aliyuncs.com",
		Version:  esa.Version,
		Actions: Actions{
			Refresh: "PurgeCaches", Push: "PreloadCaches", Quota: "GetPurgeQuota",
			Tasks: "DescribePurgeTasks", TaskByID: "DescribePurgeTasks", PushTasks: "DescribePreloadTasks",
			Sites: "ListSites",
		},
		Caps: Caps{
			URLsPerRefresh: esa.MaxPerCall(esa.File), DirsPerRefresh: esa.MaxPerCall(esa.Directory), URLsPerPush: esa.MaxPerCall(esa.Preload),
			DomainsPerRefresh: 10, PathLength: 1024, TaskIDs: 10, TasksPageSize: esa.MaxTasksPageSize,
		},
		ObjectTypes: map[ObjectType]ObjectType{
			ObjectFile: ObjectType(esa.File), ObjectDirectory: ObjectType(esa.Directory), ObjectExQuery: ObjectType(esa.IgnoreParams),
			objectIgnoreParams: ObjectType(esa.IgnoreParams), ObjectCacheKey: ObjectType(esa.CacheKey),
			ObjectCacheTag: ObjectType(esa.CacheTag), ObjectHostname: ObjectType(esa.Hostname), ObjectPurgeAll: ObjectType(esa.PurgeAll),
		},
		wire: wireSiteContent,
	}
}

// ESASiteProduct names one ESA site as a purge target of its own,
// "esa:<SiteId>": the worker batches, gates and follows each site apart,
// since ESA's quotas and tasks are per site. TargetOf returns ESA()
// WithSite for it; BaseProduct gives back "esa".
func ESASiteProduct(site int64) Product { return Product("esa:" + strconv.FormatInt(site, 10)) }

// esaSiteOf returns the SiteId of an ESASiteProduct name.
func esaSiteOf(p Product) (int64, bool) {
	rest, ok := strings.CutPrefix(string(p), "esa:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// BaseProduct is the product p belongs to: "esa" for an ESA site's
// target name, p itself for the others (metric labels, routes).
func BaseProduct(p Product) Product {
	if _, ok := esaSiteOf(p); ok {
		return ProductESA
	}
	return p
}

// WithSite returns t naming site in its calls (ESA's SiteId).
func (t Target) WithSite(site int64) Target {
	t.Site = site
	return t
}

// esaSiteParam names the site of t's calls, or fails when t has none.
func esaSiteParam(t Target, action string) (url.Values, error) {
	if t.Site <= 0 {
		return nil, fmt.Errorf("%s: no ESA site: the target names no SiteId (a config entry's site or site_id)", action)
	}
	return url.Values{"SiteId": {strconv.FormatInt(t.Site, 10)}}, nil
}

// esaURL is an entry of Files or CacheKeys.
type esaURL struct {
	URL     string            `json:"Url"`
	Headers map[string]string `json:"Headers,omitempty"`
}

// esaContent builds PurgeCaches' Content for typ from r.
func esaContent(typ esa.PurgeType, r RefreshRequest) (string, error) {
	var v any
	switch typ {
	case esa.PurgeAll:
		v = map[string]bool{"PurgeAll": true}
	case esa.CacheKey:
		keys := make([]esaURL, len(r.Paths))
		for i, p := range r.Paths {
			keys[i] = esaURL{URL: p, Headers: r.Headers}
		}
		v = map[string]any{"CacheKeys": keys}
	case esa.Hostname:
		hosts := make([]string, 0, len(r.Paths))
		for _, p := range r.Paths {
			if h := PathDomain(p); h != "" {
				p = h
			}
			if !slices.Contains(hosts, p) {
				hosts = append(hosts, p)
			}
		}
		v = map[string]any{"Hostnames": hosts}
	case esa.File, esa.Directory, esa.CacheTag, esa.IgnoreParams:
		v = map[string]any{typ.ContentField(): r.Paths}
	default:
		return "", fmt.Errorf("ESA has no %q purge", typ)
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// esaRefresh is Refresh on a wireSiteContent target: PurgeCaches with the
// site, the purge type of r's object type and one JSON Content.
func (c *Client) esaRefresh(ctx context.Context, rt *route, t Target, action string, r RefreshRequest) (RefreshResult, error) {
	p, err := esaSiteParam(t, action)
	if err != nil {
		return RefreshResult{}, err
	}
	typ := esa.PurgeType(t.wireType(r.ObjectType))
	if !slices.Contains(esa.Types(), typ) {
		return RefreshResult{}, &Error{Action: action, Code: "InvalidObjectType.Malformed",
			Message: fmt.Sprintf("ESA has no %s purge; use File, Directory, ExQuery (ignoreParams), CacheKey or a cache tag", r.ObjectType)}
	}
	content, err := esaContent(typ, r)
	if err != nil {
		return RefreshResult{}, fmt.Errorf("%s: %w", action, err)
	}
	p.Set("Type", string(typ))
	p.Set("Content", content)
	if r.Force != nil && typ.TakesForce() {
		p.Set("Force", strconv.FormatBool(*r.Force))
	}
	var out struct {
		RequestID string `json:"RequestId"`
		TaskID    string `json:"TaskId"`
	}
	// A form body, not the query the official SDK uses: a Content of
	// 1,000 URLs of up to 1,024 bytes each does not fit a URL. RPC actions
	// take their parameters either way.
	if err := c.call(ctx, rt, http.MethodPost, action, p, &out); err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.TaskID)}, nil
}

// esaPush is Push on a wireSiteContent target: PreloadCaches with the
// site, Content a JSON array of URLs and Headers (r.WithHeader) a JSON
// object.
func (c *Client) esaPush(ctx context.Context, rt *route, t Target, action string, r PushRequest) (PushResult, error) {
	p, err := esaSiteParam(t, action)
	if err != nil {
		return PushResult{}, err
	}
	content, err := json.Marshal(r.Paths)
	if err != nil {
		return PushResult{}, fmt.Errorf("%s: %w", action, err)
	}
	p.Set("Content", string(content))
	if r.WithHeader != "" {
		p.Set("Headers", r.WithHeader)
	}
	var out struct {
		RequestID string `json:"RequestId"`
		TaskID    string `json:"TaskId"`
	}
	if err := c.call(ctx, rt, http.MethodPost, action, p, &out); err != nil { // a form body, as esaRefresh
		return PushResult{}, err
	}
	return PushResult{RequestID: out.RequestID, TaskIDs: SplitTaskIDs(out.TaskID)}, nil
}

// esaQuotaKinds are the purge types whose GetPurgeQuota answer fills
// RefreshQuota's CDN-shaped fields.
var esaQuotaKinds = []esa.PurgeType{esa.File, esa.Directory, esa.IgnoreParams, esa.CacheTag, esa.Hostname, esa.PurgeAll, esa.CacheKey}

// esaQuota is DescribeQuota on a wireSiteContent target: one GetPurgeQuota
// call per purge type. file fills URL, directory Dir, ignoreParams
// IgnoreParams; every type is in ESA.
func (c *Client) esaQuota(ctx context.Context, rt *route, t Target, action string) (RefreshQuota, error) {
	// GetPurgeQuota reports no prefetch quota: the mirror is told of one
	// too large to gate, and a refusal of the API (QuotaExceeded*) is the
	// truth that defers a prefetch.
	q := RefreshQuota{ESA: map[esa.PurgeType]esa.Quota{}, PreloadQuota: esa.UnreportedQuota, PreloadRemain: esa.UnreportedQuota}
	for _, typ := range esaQuotaKinds {
		p, err := esaSiteParam(t, action)
		if err != nil {
			return RefreshQuota{}, err
		}
		p.Set("Type", string(typ))
		var raw struct {
			RequestID string `json:"RequestId"`
			Quota     string `json:"Quota"`
			Usage     string `json:"Usage"`
		}
		if err := c.call(ctx, rt, http.MethodGet, action, p, &raw); err != nil {
			return RefreshQuota{}, fmt.Errorf("%s type %s: %w", action, typ, err)
		}
		var f esa.Quota
		for _, n := range []struct {
			name, in string
			out      *int64
		}{{"Quota", raw.Quota, &f.Quota}, {"Usage", raw.Usage, &f.Usage}} {
			v, err := strconv.ParseInt(strings.TrimSpace(n.in), 10, 64)
			if err != nil {
				return RefreshQuota{}, fmt.Errorf("%s type %s: %s %q is not a number (RequestId %s)", action, typ, n.name, n.in, raw.RequestID)
			}
			*n.out = v
		}
		q.RequestID = raw.RequestID
		q.ESA[typ] = f
		switch typ {
		case esa.File:
			q.URLQuota, q.URLRemain = f.Quota, f.Remain()
		case esa.Directory:
			q.DirQuota, q.DirRemain = f.Quota, f.Remain()
		case esa.IgnoreParams:
			q.IgnoreParamsQuota, q.IgnoreParamsRemain = f.Quota, f.Remain()
		}
	}
	return q, nil
}

// esaTask is a task item of DescribePurgeTasks or DescribePreloadTasks.
type esaTask struct {
	TaskID      string `json:"TaskId"`
	Type        string `json:"Type"`
	Content     string `json:"Content"`
	Status      string `json:"Status"`
	Process     string `json:"Process"`
	CreateTime  string `json:"CreateTime"`
	Description string `json:"Description"`
}

func (e esaTask) task(preload bool) Task {
	ot := e.Type
	if preload {
		ot = "preload"
	}
	return Task{TaskID: e.TaskID, ObjectPath: e.Content, Process: e.Process, Status: e.Status,
		CreationTime: e.CreateTime, Description: e.Description, ObjectType: ot}
}

// esaTaskPage lists one page of the site's purge (or prefetch) task
// items. r's ObjectType is the purge type filter, ObjectPath the exact
// Content; TaskId and DomainName are not filters ESA has.
func (c *Client) esaTaskPage(ctx context.Context, rt *route, t Target, action string, preload bool, r DescribeTasksRequest) (TaskPage, error) {
	p, err := esaSiteParam(t, action)
	if err != nil {
		return TaskPage{}, err
	}
	if !preload && r.ObjectType != "preload" {
		setNonEmpty(p, "Type", r.ObjectType)
	}
	setNonEmpty(p, "Content", r.ObjectPath)
	r.setFilter(p)
	var out struct {
		RequestID  string    `json:"RequestId"`
		PageNumber int64     `json:"PageNumber"`
		PageSize   int64     `json:"PageSize"`
		TotalCount int64     `json:"TotalCount"`
		Tasks      []esaTask `json:"Tasks"`
	}
	if err := c.call(ctx, rt, http.MethodGet, action, p, &out); err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{RequestID: out.RequestID, PageNumber: out.PageNumber, PageSize: out.PageSize, TotalCount: out.TotalCount}
	for _, e := range out.Tasks {
		page.Tasks.CDNTask = append(page.Tasks.CDNTask, e.task(preload))
	}
	return page, nil
}

// esaTasks is DescribeTasks on a wireSiteContent target; ObjectType
// "preload" lists prefetches (DescribePreloadTasks).
func (c *Client) esaTasks(ctx context.Context, rt *route, t Target, r DescribeTasksRequest) (TaskPage, error) {
	if r.ObjectType == "preload" {
		return c.esaTaskPage(ctx, rt, t, t.Actions.PushTasks, true, r)
	}
	return c.esaTaskPage(ctx, rt, t, t.Actions.Tasks, false, r)
}

// esaTaskScanPages bounds how many pages of each list esaTasksByID reads.
const esaTaskScanPages = 20

// esaTasksByID is DescribeTasksByID on a wireSiteContent target. ESA
// looks up no task by ID: the site's purge and prefetch lists are read,
// newest first, until every ID is found or esaTaskScanPages pages of each
// were read. An ID not found is not in the answer (as CDN's lookup leaves
// out an unknown ID).
func (c *Client) esaTasksByID(ctx context.Context, rt *route, t Target, ids []string) (TasksByID, error) {
	var out TasksByID
	want := map[string]bool{}
	for _, id := range ids {
		want[strings.TrimSpace(id)] = true
	}
	found := map[string]bool{}
	for _, preload := range []bool{false, true} {
		action := t.Actions.Tasks
		if preload {
			action = t.Actions.PushTasks
		}
		for page := 1; page <= esaTaskScanPages && len(found) < len(want); page++ {
			pg, err := c.esaTaskPage(ctx, rt, t, action, preload, DescribeTasksRequest{PageNumber: page, PageSize: t.Caps.TasksPageSize})
			if err != nil {
				return TasksByID{}, err
			}
			out.RequestID = pg.RequestID
			for _, task := range pg.Tasks.CDNTask {
				if want[task.TaskID] {
					found[task.TaskID] = true
					out.Tasks = append(out.Tasks, task)
				}
			}
			if int64(page)*int64(t.Caps.TasksPageSize) >= pg.TotalCount {
				break
			}
		}
	}
	out.TotalCount = int64(len(out.Tasks))
	return out, nil
}

// esaSite is a site as ListSites reports it.
type esaSite struct {
	ID   int64  `json:"SiteId"`
	Name string `json:"SiteName"`
}

// siteCache keeps the SiteIds ListSites found, by site name, for the
// Client's life: a site's ID does not change.
type siteCache struct {
	mu  sync.Mutex
	ids map[string]int64
}

// SiteID returns the SiteId of the site named name on target t (ESA),
// asking ListSites once per name and client and caching the answer. A
// name ListSites does not know is an error that says so.
func (c *Client) SiteID(ctx context.Context, t Target, name string) (int64, error) {
	action, err := t.action(t.Actions.Sites, "site lookup")
	if err != nil {
		return 0, err
	}
	name = strings.ToLower(strings.TrimSpace(name))
	c.sites.mu.Lock()
	id, ok := c.sites.ids[name]
	c.sites.mu.Unlock()
	if ok {
		return id, nil
	}
	rt, err := c.route(t)
	if err != nil {
		return 0, err
	}
	var out struct {
		RequestID string    `json:"RequestId"`
		Sites     []esaSite `json:"Sites"`
	}
	p := url.Values{"SiteName": {name}, "SiteSearchType": {"exact"}}
	if err := c.call(ctx, rt, http.MethodGet, action, p, &out); err != nil {
		return 0, fmt.Errorf("find the SiteId of ESA site %s: %w", name, err)
	}
	for _, s := range out.Sites {
		if strings.EqualFold(s.Name, name) && s.ID > 0 {
			c.sites.mu.Lock()
			if c.sites.ids == nil {
				c.sites.ids = map[string]int64{}
			}
			c.sites.ids[name] = s.ID
			c.sites.mu.Unlock()
			return s.ID, nil
		}
	}
	return 0, fmt.Errorf("ESA site %s: ListSites does not know it on this account (RequestId %s); check the site's name in the ESA console, or give its site_id", name, out.RequestID)
}
