package cdnemu_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

// cdnpurge's own client on the ESA target: the one method per operation,
// branching on the target's wire field, against the emulator (whose ESA side the
// official SDK checks in esa_sdk_test.go).

func esaPair(t *testing.T, o cdnemu.Options) (*apiclient.Client, *cdnemu.Server, *cdnemu.Clock) {
	t.Helper()
	clock := cdnemu.NewClock(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	o.Now = clock.Now
	o.Domains = []string{"example.com"}
	o.ESASites = []cdnemu.ESASite{{Name: "example.org", ID: 7}}
	emu, err := cdnemu.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	c, err := apiclient.New(apiclient.Options{
		Endpoint:    emu.URL,
		Endpoints:   map[apiclient.Product]string{apiclient.ProductESA: emu.URL},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret},
		Retry:       apiclient.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Now:         clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, emu, clock
}

func TestClientPurgesAnESASiteByEveryType(t *testing.T) {
	t.Parallel()
	c, emu, clock := esaPair(t, cdnemu.Options{TaskPending: time.Second, TaskDuration: 10 * time.Second})
	ctx := context.Background()
	site, err := c.SiteID(ctx, apiclient.ESA(), "Example.org")
	if err != nil || site != 7 {
		t.Fatalf("SiteID = %d, %v; want 7", site, err)
	}
	if again, err := c.SiteID(ctx, apiclient.ESA(), "example.org"); err != nil || again != 7 || emu.Calls("ListSites") != 1 {
		t.Errorf("a second lookup: %d %v after %d ListSites calls, want the cached 7 after 1", again, err, emu.Calls("ListSites"))
	}
	if _, err := c.SiteID(ctx, apiclient.ESA(), "other.example"); err == nil || !strings.Contains(err.Error(), "ListSites does not know it") {
		t.Errorf("an unknown site: %v", err)
	}
	tg := apiclient.ESA().WithSite(site)
	force := true
	var ids []string
	for _, r := range []apiclient.RefreshRequest{
		{Paths: []string{"https://example.org/a.css", "https://www.example.org/b.js"}},
		{ObjectType: apiclient.ObjectDirectory, Paths: []string{"https://example.org/img/"}, Force: &force},
		{ObjectType: apiclient.ObjectExQuery, Paths: []string{"https://example.org/p.jpg"}},
		{ObjectType: apiclient.ObjectCacheKey, Paths: []string{"https://example.org/k.html"}, Headers: map[string]string{"UserGeo": "CN"}},
		{ObjectType: "CacheTag", Paths: []string{"release-42"}},
		{ObjectType: apiclient.ObjectHostname, Paths: []string{"https://www.example.org/"}, Force: &force},
		{ObjectType: apiclient.ObjectPurgeAll, Paths: []string{"https://example.org/"}},
	} {
		res, err := c.Refresh(ctx, tg, r)
		if err != nil || len(res.TaskIDs) != 1 {
			t.Fatalf("Refresh %s: %+v %v", r.ObjectType, res, err)
		}
		ids = append(ids, res.TaskIDs[0])
	}
	if _, err := c.Refresh(ctx, tg, apiclient.RefreshRequest{ObjectType: apiclient.ObjectRegex, Paths: []string{"https://example.org/.*"}}); apiclient.Code(err) != "InvalidObjectType.Malformed" {
		t.Errorf("a regex on ESA: %v, want InvalidObjectType.Malformed before any call", err)
	}
	push, err := c.Push(ctx, tg, apiclient.PushRequest{Paths: []string{"https://example.org/a.css"}, WithHeader: `{"Accept-Encoding":"gzip"}`})
	if err != nil || len(push.TaskIDs) != 1 {
		t.Fatalf("Push: %+v %v", push, err)
	}
	ids = append(ids, push.TaskIDs[0])

	types := map[esa.PurgeType]string{}
	for _, tk := range emu.ESATasks() {
		types[tk.Type] += tk.Content + " "
	}
	for typ, want := range map[esa.PurgeType]string{
		esa.File: "https://example.org/a.css https://www.example.org/b.js ", esa.Directory: "https://example.org/img/ ",
		esa.IgnoreParams: "https://example.org/p.jpg ", esa.CacheKey: "https://example.org/k.html ",
		esa.CacheTag: "release-42 ", esa.Hostname: "www.example.org ", esa.PurgeAll: "example.org ",
		esa.Preload: "https://example.org/a.css ",
	} {
		if types[typ] != want {
			t.Errorf("%s items %q, want %q", typ, types[typ], want)
		}
	}

	q, err := c.DescribeQuota(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	def := cdnemu.DefaultESAQuota()
	if q.URLQuota != def[esa.File] || q.URLRemain != def[esa.File]-2 || q.DirRemain != def[esa.Directory]-1 ||
		q.ESA[esa.CacheTag].Usage != 1 || q.ESA[esa.PurgeAll] != (esa.Quota{Quota: def[esa.PurgeAll], Usage: 1}) {
		t.Errorf("quota %+v", q)
	}

	byID, err := c.DescribeTasksByID(ctx, tg, ids)
	if err != nil || len(byID.Tasks) != 9 { // 2 files, 6 single items, 1 prefetch
		t.Fatalf("tasks by ID: %d tasks, %v", len(byID.Tasks), err)
	}
	if byID.Tasks[0].Status != apiclient.TaskPending {
		t.Errorf("a new task is %s", byID.Tasks[0].Status)
	}
	clock.Advance(11 * time.Second)
	byID, err = c.DescribeTasksByID(ctx, tg, ids[len(ids)-2:])
	if err != nil || len(byID.Tasks) != 2 || !byID.Tasks[0].Done() || !byID.Tasks[1].Done() ||
		!slices.ContainsFunc(byID.Tasks, func(t apiclient.Task) bool { return t.ObjectType == "preload" }) {
		t.Errorf("after the tasks' time: %+v %v", byID.Tasks, err)
	}
	page, err := c.DescribeTasks(ctx, tg, apiclient.DescribeTasksRequest{ObjectType: "directory", PageSize: 50})
	if err != nil || len(page.Tasks.CDNTask) != 1 || page.Tasks.CDNTask[0].ObjectPath != "https://example.org/img/" {
		t.Errorf("directory tasks: %+v %v", page, err)
	}
}

func TestClientESAErrorsAreClassified(t *testing.T) {
	t.Parallel()
	c, emu, _ := esaPair(t, cdnemu.Options{})
	ctx := context.Background()
	emu.SetESAQuota(7, esa.File, 1)
	tg := apiclient.ESA().WithSite(7)
	r := apiclient.RefreshRequest{Paths: []string{"https://example.org/a", "https://example.org/b"}}
	_, err := c.Refresh(ctx, tg, r)
	if cls := apiclient.Classify(err); apiclient.Code(err) != "QuotaExceeded.Purge" || cls != apiclient.ClassQuota {
		t.Errorf("over the site's file quota: %v, class %s; want QuotaExceeded.Purge, quota", err, cls)
	}
	_, err = c.Refresh(ctx, apiclient.ESA().WithSite(8), r)
	if cls := apiclient.Classify(err); apiclient.Code(err) != "InvalidSite.NotFound" || cls != apiclient.ClassBadInput {
		t.Errorf("an unknown site: %v, class %s; want InvalidSite.NotFound, bad_input", err, cls)
	}
	if _, err := c.Refresh(ctx, apiclient.ESA(), r); err == nil || !strings.Contains(err.Error(), "no ESA site") {
		t.Errorf("a target without a site: %v", err)
	}
}

// ESA's throttling code goes through the one classification as CDN's.
func TestESAThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	e := &apiclient.Error{Action: "PurgeCaches", HTTPStatus: 400, Code: "TooManyRequests"}
	if e.Class() != apiclient.ClassThrottled {
		t.Errorf("TooManyRequests is %s, want throttled", e.Class())
	}
}

// A full call of 1,000 long URLs (about 1 MB of Content) is sent and
// purged whole. (Purges go as a form body because gateways limit URLs;
// the emulator itself enforces no URL length.)
func TestClientPurgesAFullCallOfLongURLs(t *testing.T) {
	t.Parallel()
	c, emu, _ := esaPair(t, cdnemu.Options{})
	paths := make([]string, 1000)
	for i := range paths {
		paths[i] = "https://example.org/" + strings.Repeat("a", 990) + "/" + strconv.Itoa(i)
	}
	if _, err := c.Refresh(context.Background(), apiclient.ESA().WithSite(7), apiclient.RefreshRequest{Paths: paths}); err != nil {
		t.Fatal(err)
	}
	if n := emu.ESAQuotaUsed(7, esa.File); n != 1000 {
		t.Errorf("%d URLs purged, want 1000", n)
	}
}
