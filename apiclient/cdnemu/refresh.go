package cdnemu

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// handleRefresh answers RefreshObjectCaches and RefreshDcdnObjectCaches:
// one task per path (URLs of one domain share one).
func handleRefresh(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	p := req.params
	objectPath := p.Get("ObjectPath")
	if objectPath == "" {
		return missing("ObjectPath")
	}
	ot := p.Get("ObjectType")
	k, known := pr.objectTypes[ot]
	if !known {
		valid := "File, Directory, Regex or ExQuery"
		if pr.name == apiclient.ProductDCDN {
			valid = "File, Directory, Regex or IgnoreParams"
		}
		return fail("InvalidObjectType.Malformed", "Specified ObjectType "+ot+" is not valid; use "+valid+".")
	}
	if f := p.Get("Force"); f != "" && f != "true" && f != "false" {
		return invalid("Force", f)
	}
	return e.submit(pr, req, objectPath, k, "RefreshTaskId", now)
}

// handlePush answers PushObjectCache and PreloadDcdnObjectCaches: one
// preload task per URL.
func handlePush(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	p := req.params
	objectPath := p.Get("ObjectPath")
	if objectPath == "" {
		return missing("ObjectPath")
	}
	switch area := p.Get("Area"); area {
	case "", "domestic", "overseas", "global":
	default:
		return invalid("Area", area)
	}
	for _, name := range []string{"L2Preload", "QueryHashkey"} {
		if v := p.Get(name); v != "" && v != "true" && v != "false" {
			return invalid(name, v)
		}
	}
	if h := p.Get("WithHeader"); h != "" {
		var headers map[string]any
		if err := json.Unmarshal([]byte(h), &headers); err != nil {
			return invalid("WithHeader", h)
		}
	}
	return e.submit(pr, req, objectPath, kindPreload, pr.pushIDField, now)
}

// submit checks the account, the paths and the quota of product pr, then
// spends the quota and creates the tasks. A refused call spends nothing.
func (e *Emulator) submit(pr *product, req *request, objectPath string, k kind, idField string, now time.Time) *answer {
	e.service.apply(now)
	if pr.name == apiclient.ProductCDN {
		if a := e.service.refuse(); a != nil {
			return a
		}
	} else if e.service.financialLock {
		// DCDN is a service of its own (OpenCdnService does not open
		// it), but an overdue account is overdue for both.
		return fail("InsufficientBalance")
	}
	paths := splitPaths(objectPath)
	if len(paths) == 0 {
		return fail("InvalidObjectPath.Malformed", "ObjectPath holds no path.")
	}
	if a := pr.account.checkPaths(paths, k); a != nil {
		return a
	}
	q := &pr.account.quota
	q.roll(now)
	remain := q.remaining()
	if n := int64(len(paths)); n > *k.field(&remain) {
		code := "QuotaExceeded.Refresh"
		if k == kindPreload && pr.name == apiclient.ProductDCDN {
			code = "QuotaExceeded.Preload" // "PreloadDcdnObjectCaches", error codes
		}
		return fail(code, "The request needs "+strconv.FormatInt(n, 10)+" of today's quota but "+
			strconv.FormatInt(*k.field(&remain), 10)+" remain.")
	}
	if k.urls() {
		if a := pr.minutes.admit(&pr.account, paths, now); a != nil {
			return a
		}
	}
	*k.field(&q.used) += int64(len(paths))
	ids := pr.tasks.add(paths, k, now)
	e.rec.addPaths(req, paths, now)
	return ok(map[string]any{idField: ids})
}

// handleDescribeRefreshQuota answers DescribeRefreshQuota and
// DescribeDcdnRefreshQuota, numbers as strings; DCDN's answer has no
// PreloadEdge fields.
func handleDescribeRefreshQuota(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	q := &pr.account.quota
	q.roll(now)
	r := q.remaining()
	s := func(n int64) string { return strconv.FormatInt(n, 10) }
	body := map[string]any{
		"UrlQuota": s(q.total.URL), "UrlRemain": s(r.URL),
		"DirQuota": s(q.total.Dir), "DirRemain": s(r.Dir),
		"RegexQuota": s(q.total.Regex), "RegexRemain": s(r.Regex),
		"PreloadQuota": s(q.total.Preload), "PreloadRemain": s(r.Preload),
		"BlockQuota": s(q.total.Block), "BlockRemain": s(r.Block),
		"IgnoreParamsQuota": s(q.total.IgnoreParams), "IgnoreParamsRemain": s(r.IgnoreParams),
	}
	if pr.reportsPreloadEdge {
		body["PreloadEdgeQuota"], body["PreloadEdgeRemain"] = s(q.total.PreloadEdge), s(r.PreloadEdge)
	}
	return ok(body)
}
