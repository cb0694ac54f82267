package cdnemu

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// esaCall runs an ESA action's handler directly, past authentication
// (which esa_sdk_test.go covers with the official SDK), at the emulator's
// clock.
func esaCall(t *testing.T, e *Emulator, action string, params map[string]string) *answer {
	t.Helper()
	p := url.Values{}
	for k, v := range params {
		p.Set(k, v)
	}
	req := &request{method: "POST", params: p, action: action, product: productESA, id: "test"}
	e.mu.Lock()
	defer e.mu.Unlock()
	return actions[action].handle(e, req, e.now())
}

func TestESAQuotaIsPerSitePerTypePerShanghaiDay(t *testing.T) {
	t.Parallel()
	// 15:30 UTC is 23:30 in Shanghai: half an hour before the reset.
	clock := NewClock(time.Date(2026, 12, 7, 15, 30, 0, 0, time.UTC))
	e, err := New(Options{Now: clock.Now, ESASites: []ESASite{{Name: "a.example"}, {Name: "b.example", ID: 42}},
		ESAQuota: map[esa.PurgeType]int64{esa.File: 3, esa.CacheTag: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := strconv.FormatInt(e.ESASiteID("a.example"), 10), "42"
	purge := func(site, typ, content string) string {
		t.Helper()
		ans := esaCall(t, e, actionPurgeCaches, map[string]string{"SiteId": site, "Type": typ, "Content": content})
		return ans.code
	}
	files := func(host string, n int) string {
		s := `{"Files":[`
		for i := range n {
			if i > 0 {
				s += ","
			}
			s += `"https://` + host + `/f` + strconv.Itoa(i) + `"`
		}
		return s + "]}"
	}
	if code := purge(a, "file", files("a.example", 3)); code != "" {
		t.Fatalf("3 files on a quota of 3: %s", code)
	}
	if code := purge(a, "file", files("a.example", 1)); code != "QuotaExceeded.Purge" {
		t.Errorf("a 4th file: %q, want QuotaExceeded.Purge", code)
	}
	if code := purge(b, "file", files("www.b.example", 3)); code != "" {
		t.Errorf("the other site's file quota is its own: %s", code)
	}
	if code := purge(a, "cachetag", `{"CacheTags":["t1"]}`); code != "" {
		t.Errorf("the cachetag quota is apart from the file quota: %s", code)
	}
	if code := purge(a, "cachetag", `{"CacheTags":["t2"]}`); code != "QuotaExceeded.Purge" {
		t.Errorf("a 2nd tag on a quota of 1: %q", code)
	}
	if got := e.ESAQuotaUsed(42, esa.File); got != 3 {
		t.Errorf("site 42 used %d files, want 3", got)
	}
	q := esaCall(t, e, actionGetPurgeQuota, map[string]string{"SiteId": a, "Type": "cachetag"})
	if q.body["Quota"] != "1" || q.body["Usage"] != "1" {
		t.Errorf("GetPurgeQuota = %v", q.body)
	}

	clock.Advance(30 * time.Minute) // 00:00 in Shanghai
	if code := purge(a, "file", files("a.example", 3)); code != "" {
		t.Errorf("after 00:00 Asia/Shanghai the quota is whole again: %s", code)
	}
	q = esaCall(t, e, actionGetPurgeQuota, map[string]string{"SiteId": a})
	if q.body["Usage"] != "3" || q.body["Usage30Day"] != "6" {
		t.Errorf("GetPurgeQuota(file) on the new day = %v, want usage 3 today, 6 in 30 days", q.body)
	}
}

func TestESAPurgeCachesRefusesWhatIsNotTheSites(t *testing.T) {
	t.Parallel()
	e, err := New(Options{ESASites: []ESASite{{Name: "example.org", ID: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	many := `{"Directories":[`
	for i := range 101 {
		if i > 0 {
			many += ","
		}
		many += `"https://example.org/d` + strconv.Itoa(i) + `/"`
	}
	many += "]}"
	for _, tc := range []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"unknown site", map[string]string{"SiteId": "8", "Content": `{"Files":["https://example.org/a"]}`}, "InvalidSite.NotFound"},
		{"no site", map[string]string{"Content": `{"Files":["https://example.org/a"]}`}, "MissingParameter"},
		{"unknown type", map[string]string{"SiteId": "7", "Type": "regex", "Content": `{"Files":["https://example.org/a"]}`}, "InvalidParameter"},
		{"content not JSON", map[string]string{"SiteId": "7", "Content": `https://example.org/a`}, "InvalidParameter"},
		{"items missing for the type", map[string]string{"SiteId": "7", "Type": "directory", "Content": `{"Files":["https://example.org/a"]}`}, "MissingParameter"},
		{"another host", map[string]string{"SiteId": "7", "Content": `{"Files":["https://example.com/a"]}`}, "InvalidParameter"},
		{"a directory without its slash", map[string]string{"SiteId": "7", "Type": "directory", "Content": `{"Directories":["https://example.org/img"]}`}, "InvalidParameter"},
		{"a hostname of another site", map[string]string{"SiteId": "7", "Type": "hostname", "Content": `{"Hostnames":["www.example.com"]}`}, "InvalidParameter"},
		{"purgeall false", map[string]string{"SiteId": "7", "Type": "purgeall", "Content": `{"PurgeAll":false}`}, "MissingParameter"},
		{"over the per-call cap", map[string]string{"SiteId": "7", "Type": "directory", "Content": many}, "SingleRequest.OverLimit"},
		{"Force not a bool", map[string]string{"SiteId": "7", "Type": "directory", "Force": "yes", "Content": `{"Directories":["https://example.org/img/"]}`}, "InvalidParameter"},
		{"cachekey with headers", map[string]string{"SiteId": "7", "Type": "cachekey", "Content": `{"CacheKeys":[{"Url":"https://example.org/a","Headers":{"UserGeo":"CN"}}]}`}, ""},
		{"purgeall", map[string]string{"SiteId": "7", "Type": "purgeall", "Force": "true", "Content": `{"PurgeAll":true}`}, ""},
		{"hostname", map[string]string{"SiteId": "7", "Type": "hostname", "Content": `{"Hostnames":["www.example.org"]}`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := esaCall(t, e, actionPurgeCaches, tc.params); a.code != tc.code {
				t.Errorf("code %q (%s), want %q", a.code, a.msg, tc.code)
			}
		})
	}
}

func TestESATasksFollowTheTaskClock(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	e, err := New(Options{Now: clock.Now, TaskPending: time.Second, TaskDuration: 4 * time.Second, ESASites: []ESASite{{Name: "example.org", ID: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	pre := esaCall(t, e, actionPreloadCaches, map[string]string{"SiteId": "7", "Content": `["https://example.org/a","https://example.org/b"]`})
	if pre.code != "" {
		t.Fatal(pre.code, pre.msg)
	}
	list := func(action string, extra map[string]string) []map[string]any {
		p := map[string]string{"SiteId": "7"}
		for k, v := range extra {
			p[k] = v
		}
		a := esaCall(t, e, action, p)
		if a.code != "" {
			t.Fatal(a.code, a.msg)
		}
		return a.body["Tasks"].([]map[string]any)
	}
	if got := list(actionDescribePurgeTasks, nil); len(got) != 0 {
		t.Errorf("a prefetch is listed as a purge: %v", got)
	}
	if got := list(actionDescribePreloadTasks, map[string]string{"Status": "Complete"}); len(got) != 0 {
		t.Errorf("complete before its time: %v", got)
	}
	clock.Advance(3 * time.Second)
	got := list(actionDescribePreloadTasks, nil)
	if len(got) != 2 || got[0]["Status"] != apiclient.TaskRefreshing || got[0]["TaskId"] != pre.body["TaskId"] {
		t.Errorf("at 3 s: %v", got)
	}
	clock.Advance(2 * time.Second)
	got = list(actionDescribePreloadTasks, map[string]string{"Content": "https://example.org/b", "Status": "Complete"})
	if len(got) != 1 || got[0]["Process"] != "100%" {
		t.Errorf("at 5 s, by content: %v", got)
	}
	if a := esaCall(t, e, actionDescribePurgeTasks, map[string]string{"SiteId": "7", "PageSize": "51"}); a.code != "InvalidParameter" {
		t.Errorf("PageSize 51: %q, want InvalidParameter", a.code)
	}
}

func TestESASitesFlag(t *testing.T) {
	t.Parallel()
	var f esaSitesFlag
	if err := f.Set("example.org, shop.example.net=42"); err != nil {
		t.Fatal(err)
	}
	if len(f) != 2 || f[0] != (ESASite{Name: "example.org"}) || f[1] != (ESASite{Name: "shop.example.net", ID: 42}) || f.String() != "example.org,shop.example.net=42" {
		t.Errorf("parsed %+v (%s)", f, f.String())
	}
	if err := f.Set("x.example=abc"); err == nil {
		t.Error("a SiteId that is no number is taken")
	}
}

func TestStartQuotaDayRestoresESAQuotas(t *testing.T) {
	t.Parallel()
	e, err := New(Options{ESASites: []ESASite{{Name: "example.org", ID: 7}}, ESAQuota: map[esa.PurgeType]int64{esa.File: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]string{"SiteId": "7", "Content": `{"Files":["https://example.org/a"]}`}
	if a := esaCall(t, e, "PurgeCaches", p); a.code != "" {
		t.Fatal(a.code)
	}
	if a := esaCall(t, e, "PurgeCaches", p); a.code != "QuotaExceeded.Purge" {
		t.Fatalf("second purge: %q", a.code)
	}
	e.StartQuotaDay()
	if a := esaCall(t, e, "PurgeCaches", p); a.code != "" {
		t.Errorf("after StartQuotaDay: %q", a.code)
	}
}
