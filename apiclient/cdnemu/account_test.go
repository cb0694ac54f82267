package cdnemu

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRequestLimits(t *testing.T) {
	domains := []string{"example.com", "*.wild.test"}
	for i := range 11 {
		domains = append(domains, fmt.Sprintf("d%d.test", i))
	}
	manyDomains := func(n int) string {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf("d%d.test/x.css", i))
		}
		return strings.Join(ps, "\n")
	}
	long := "example.com/" + strings.Repeat("a", 1024-len("example.com/"))
	cases := []struct {
		name   string
		action string
		kv     []string
		status int
		code   string
	}{
		{"1000 urls", "RefreshObjectCaches", []string{"ObjectPath", urls("example.com", 1000)}, 200, ""},
		{"1001 urls", "RefreshObjectCaches", []string{"ObjectPath", urls("example.com", 1001)}, 400, "SingleRequest.OverLimit"},
		{"100 dirs", "RefreshObjectCaches", []string{"ObjectPath", urls("example.com", 100), "ObjectType", "Directory"}, 200, ""},
		{"101 dirs", "RefreshObjectCaches", []string{"ObjectPath", urls("example.com", 101), "ObjectType", "Directory"}, 400, "SingleRequest.OverLimit"},
		{"1 regex", "RefreshObjectCaches", []string{"ObjectPath", "example.com/.*\\.css", "ObjectType", "Regex"}, 200, ""},
		{"2 regex", "RefreshObjectCaches", []string{"ObjectPath", "example.com/a.*\nexample.com/b.*", "ObjectType", "Regex"}, 400, "SingleRequest.OverLimit"},
		{"exquery", "RefreshObjectCaches", []string{"ObjectPath", "example.com/a.css?v=1", "ObjectType", "ExQuery", "Force", "false"}, 200, ""},
		{"bad type", "RefreshObjectCaches", []string{"ObjectPath", "example.com/a", "ObjectType", "file"}, 400, "InvalidObjectType.Malformed"},
		{"bad force", "RefreshObjectCaches", []string{"ObjectPath", "example.com/a", "Force", "yes"}, 400, "InvalidParameter"},
		{"100 push", "PushObjectCache", []string{"ObjectPath", urls("example.com", 100), "Area", "overseas", "L2Preload", "true"}, 200, ""},
		{"101 push", "PushObjectCache", []string{"ObjectPath", urls("example.com", 101)}, 400, "SingleRequest.OverLimit"},
		{"push header", "PushObjectCache", []string{"ObjectPath", "example.com/a", "WithHeader", `{"Origin":"x"}`}, 200, ""},
		{"push bad header", "PushObjectCache", []string{"ObjectPath", "example.com/a", "WithHeader", `Origin: x`}, 400, "InvalidParameter"},
		{"push bad area", "PushObjectCache", []string{"ObjectPath", "example.com/a", "Area", "mars"}, 400, "InvalidParameter"},
		{"10 domains", "RefreshObjectCaches", []string{"ObjectPath", manyDomains(10)}, 200, ""},
		{"11 domains", "RefreshObjectCaches", []string{"ObjectPath", manyDomains(11)}, 400, "SingleRequest.OverLimit"},
		{"1024 chars", "RefreshObjectCaches", []string{"ObjectPath", long}, 200, ""},
		{"1025 chars", "RefreshObjectCaches", []string{"ObjectPath", long + "b"}, 400, "InvalidObjectPath.Size.Malformed"},
		{"other domain", "RefreshObjectCaches", []string{"ObjectPath", "example.com/a\nexample.org/a"}, 404, "InvalidDomain.NotFound"},
		{"subdomain not configured", "RefreshObjectCaches", []string{"ObjectPath", "www.example.com/a"}, 404, "InvalidDomain.NotFound"},
		{"wildcard", "RefreshObjectCaches", []string{"ObjectPath", "https://a.b.wild.test/x"}, 200, ""},
		{"no host", "RefreshObjectCaches", []string{"ObjectPath", "/a.css"}, 400, "InvalidObjectPath.Malformed"},
		{"blank only", "RefreshObjectCaches", []string{"ObjectPath", "\n\r\n"}, 400, "InvalidObjectPath.Malformed"},
		{"no path", "RefreshObjectCaches", []string{"ObjectType", "File"}, 400, "MissingParameter"},
		{"push no path", "PushObjectCache", nil, 400, "MissingParameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := newTestServer(t, Options{Domains: domains})
			c.mode = viaForm
			r := c.call(tc.action, tc.kv...)
			if tc.code == "" {
				r.wantOK(t)
				return
			}
			r.wantErr(t, tc.status, tc.code)
			if used := s.QuotaUsed(); used != (Quota{}) {
				t.Fatalf("refused call spent quota: %+v", used)
			}
			if s.TaskCount() != 0 {
				t.Fatal("refused call made tasks")
			}
		})
	}
}

func TestQuotaSpentAndReset(t *testing.T) {
	s, c, clock := newTestServer(t, Options{URLQuota: 5, DirQuota: 2, RegexQuota: 1, PreloadQuota: 3})
	c.mode = viaForm
	c.call("RefreshObjectCaches", "ObjectPath", urls("example.com", 3)).wantOK(t)
	c.call("RefreshObjectCaches", "ObjectPath", urls("example.com", 3)).wantErr(t, 400, "QuotaExceeded.Refresh")
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/q?x=1", "ObjectType", "ExQuery").wantOK(t)
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/d/\nexample.com/e/", "ObjectType", "Directory").wantOK(t)
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/f/", "ObjectType", "Directory").wantErr(t, 400, "QuotaExceeded.Refresh")
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/.*", "ObjectType", "Regex").wantOK(t)
	c.call("PushObjectCache", "ObjectPath", urls("example.com", 4)).wantErr(t, 400, "QuotaExceeded.Refresh")
	c.call("PushObjectCache", "ObjectPath", urls("example.com", 3)).wantOK(t)

	want := Quota{URL: 1, Dir: 0, Regex: 0, Preload: 0, Block: defaultBlockQuota, IgnoreParams: defaultIgnoreParamsQuota}
	if got := s.QuotaRemaining(); got != want {
		t.Fatalf("QuotaRemaining = %+v, want %+v", got, want)
	}
	r := c.call("DescribeRefreshQuota").wantOK(t)
	for field, v := range map[string]string{"UrlQuota": "5", "UrlRemain": "1", "DirQuota": "2", "DirRemain": "0", "RegexQuota": "1",
		"RegexRemain": "0", "PreloadQuota": "3", "PreloadRemain": "0", "BlockQuota": "100", "BlockRemain": "100",
		"IgnoreParamsQuota": "10", "IgnoreParamsRemain": "10", "PreloadEdgeQuota": "0", "PreloadEdgeRemain": "0"} {
		if got := r.str(field); got != v {
			t.Errorf("%s = %q, want %q (numbers are strings)", field, got, v)
		}
	}

	// 10:00 UTC is 18:00 in Shanghai: the day ends at 16:00 UTC.
	clock.Set(time.Date(2024, 5, 1, 15, 59, 59, 0, time.UTC))
	c.call("PushObjectCache", "ObjectPath", "example.com/a").wantErr(t, 400, "QuotaExceeded.Refresh")
	clock.Set(time.Date(2024, 5, 1, 16, 0, 0, 0, time.UTC))
	c.call("PushObjectCache", "ObjectPath", "example.com/a").wantOK(t)
	if got := s.QuotaRemaining(); got.URL != 5 || got.Dir != 2 || got.Preload != 2 {
		t.Fatalf("after the Shanghai midnight: %+v", got)
	}

	s.SetQuota(Quota{URL: 0, Preload: 10})
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 400, "QuotaExceeded.Refresh")
	if got := s.QuotaRemaining(); got.Preload != 9 {
		t.Fatalf("SetQuota kept today's spending: %+v", got)
	}
}

func TestShanghaiDay(t *testing.T) {
	cases := []struct {
		now, next string
	}{
		{"2024-05-01T10:00:00Z", "2024-05-01T16:00:00Z"},
		{"2024-05-01T15:59:59Z", "2024-05-01T16:00:00Z"},
		{"2024-05-01T16:00:00Z", "2024-05-02T16:00:00Z"},
		{"2024-12-31T20:00:00Z", "2025-01-01T16:00:00Z"},
	}
	for _, c := range cases {
		now, _ := time.Parse(time.RFC3339, c.now)
		if got := nextShanghaiMidnight(now).Format(time.RFC3339); got != c.next {
			t.Errorf("nextShanghaiMidnight(%s) = %s, want %s", c.now, got, c.next)
		}
		if shanghaiDay(now) == shanghaiDay(nextShanghaiMidnight(now)) {
			t.Errorf("%s: day did not change at midnight", c.now)
		}
	}
}

func TestDomainConfigAndState(t *testing.T) {
	s, c, _ := newTestServer(t, Options{Domains: []string{"example.com", "b.test"}})
	c.mode = viaSplit
	c.call("SetHttpHeaderConfig", "DomainName", "example.com", "HeaderKey", "Cache-Control", "HeaderValue", "no-cache").wantOK(t)
	c.call("SetHttpHeaderConfig", "DomainName", "nope.test", "HeaderKey", "x").wantErr(t, 404, "InvalidDomain.NotFound")
	c.call("SetHttpHeaderConfig", "HeaderKey", "x").wantErr(t, 400, "MissingParameter")
	c.call("BatchSetCdnDomainConfig", "DomainNames", "example.com,b.test", "Functions", `[{"functionName":"referer_white_list_set"}]`).wantOK(t)
	got := s.DomainConfigs("example.com")
	if len(got) != 2 || got[0].Action != "SetHttpHeaderConfig" || got[0].Params["HeaderValue"] != "no-cache" || got[0].Params["Signature"] != "" {
		t.Fatalf("DomainConfigs = %+v", got)
	}
	r := c.call("DescribeDomainConfigs", "DomainName", "example.com").wantOK(t)
	if !strings.Contains(string(r.raw), "SetHttpHeaderConfig") {
		t.Fatalf("DescribeDomainConfigs: %s", r.raw)
	}

	c.call("StopCdnDomain", "DomainName", "example.com").wantOK(t)
	if s.DomainStatus("example.com") != "offline" {
		t.Fatal("not offline")
	}
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 404, "InvalidDomain.Offline")
	c.call("StartCdnDomain", "DomainName", "example.com").wantOK(t)
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)

	s.SetDomainConfiguring("b.test", true)
	c.call("RefreshObjectCaches", "ObjectPath", "b.test/a").wantErr(t, 403, "ServiceBusy")
	c.call("SetRefererConfig", "DomainName", "b.test").wantErr(t, 403, "ServiceBusy")
	s.SetDomainConfiguring("b.test", false)
	c.call("RefreshObjectCaches", "ObjectPath", "b.test/a").wantOK(t)

	s.AddDomain("new.test")
	c.call("PushObjectCache", "ObjectPath", "new.test/a").wantOK(t)
}
