package cdnemu

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// handleRefresh answers RefreshObjectCaches: one task per path.
func handleRefresh(e *Emulator, req *request, now time.Time) *answer {
	p := req.params
	objectPath := p.Get("ObjectPath")
	if objectPath == "" {
		return missing("ObjectPath")
	}
	var k kind
	switch ot := p.Get("ObjectType"); ot {
	case "", string(apiclient.ObjectFile):
		k = kindFile
	case string(apiclient.ObjectDirectory):
		k = kindDirectory
	case string(apiclient.ObjectRegex):
		k = kindRegex
	case string(apiclient.ObjectExQuery):
		k = kindExQuery
	default:
		return fail("InvalidObjectType.Malformed", "Specified ObjectType "+ot+" is not valid; use File, Directory, Regex or ExQuery.")
	}
	if f := p.Get("Force"); f != "" && f != "true" && f != "false" {
		return invalid("Force", f)
	}
	return e.submit(req, objectPath, k, "RefreshTaskId", now)
}

// handlePush answers PushObjectCache: one preload task per URL.
func handlePush(e *Emulator, req *request, now time.Time) *answer {
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
	return e.submit(req, objectPath, kindPreload, "PushTaskId", now)
}

// submit checks the account, the paths and the quota, then spends the quota
// and creates the tasks. A refused call spends nothing.
func (e *Emulator) submit(req *request, objectPath string, k kind, idField string, now time.Time) *answer {
	e.service.apply(now)
	if a := e.service.refuse(); a != nil {
		return a
	}
	paths := splitPaths(objectPath)
	if len(paths) == 0 {
		return fail("InvalidObjectPath.Malformed", "ObjectPath holds no path.")
	}
	if a := e.account.checkPaths(paths, k); a != nil {
		return a
	}
	q := &e.account.quota
	q.roll(now)
	remain := q.remaining()
	if n := int64(len(paths)); n > *k.field(&remain) {
		return fail("QuotaExceeded.Refresh", "The request needs "+strconv.FormatInt(n, 10)+" of today's quota but "+
			strconv.FormatInt(*k.field(&remain), 10)+" remain.")
	}
	if k == kindFile {
		if a := e.domainMinutes.admit(e, paths, now); a != nil {
			return a
		}
	}
	*k.field(&q.used) += int64(len(paths))
	ids := e.tasks.add(paths, k, now)
	e.rec.addPaths(req, paths, now)
	return ok(map[string]any{idField: ids})
}

// handleDescribeRefreshQuota answers DescribeRefreshQuota, numbers as
// strings.
func handleDescribeRefreshQuota(e *Emulator, _ *request, now time.Time) *answer {
	q := &e.account.quota
	q.roll(now)
	r := q.remaining()
	s := func(n int64) string { return strconv.FormatInt(n, 10) }
	return ok(map[string]any{
		"UrlQuota": s(q.total.URL), "UrlRemain": s(r.URL),
		"DirQuota": s(q.total.Dir), "DirRemain": s(r.Dir),
		"RegexQuota": s(q.total.Regex), "RegexRemain": s(r.Regex),
		"PreloadQuota": s(q.total.Preload), "PreloadRemain": s(r.Preload),
		"BlockQuota": s(q.total.Block), "BlockRemain": s(r.Block),
		"IgnoreParamsQuota": s(q.total.IgnoreParams), "IgnoreParamsRemain": s(r.IgnoreParams),
		"PreloadEdgeQuota": s(q.total.PreloadEdge), "PreloadEdgeRemain": s(r.PreloadEdge),
	})
}
