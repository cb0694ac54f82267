package cdnemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// The official SDK's generic OpenAPI client (darabonba-openapi, the
// client every alibabacloud-go product SDK is built on) talks to the
// emulator as it would to esa.cn-hangzhou.aliyuncs.com: signature V3
// (ACS3-HMAC-SHA256), RPC style, every parameter in the query, Content as
// one JSON string, as the ESA SDK (alibabacloud-go/esa-20240910) sends
// them.

// sdkESA is an emulator with a CDN domain and an ESA site, and an SDK
// client for it.
type sdkESA struct {
	srv    *Server
	client *openapi.Client
	siteID int64
}

func newSDKESA(t *testing.T, secret string) *sdkESA {
	t.Helper()
	srv, err := NewServer(Options{Domains: []string{"cdn.example.com"}, ESASites: []ESASite{{Name: "example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := openapi.NewClient(&openapiutil.Config{
		AccessKeyId:     dara.String(DefaultAccessKeyID),
		AccessKeySecret: dara.String(secret),
		Endpoint:        dara.String(srv.Host()),
		Protocol:        dara.String("http"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &sdkESA{srv: srv, client: c, siteID: srv.ESASiteID("example.org")}
}

// call runs action with query parameters as the ESA SDK does, and
// returns the decoded body.
func (s *sdkESA) call(t *testing.T, action string, query map[string]any) (map[string]any, error) {
	t.Helper()
	params := &openapiutil.Params{
		Action: dara.String(action), Version: dara.String(apiclient.ESA().Version), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	req := &openapiutil.OpenApiRequest{Query: openapiutil.Query(query)}
	out, err := s.client.CallApi(params, req, &dara.RuntimeOptions{MaxAttempts: dara.Int(1), Autoretry: dara.Bool(false)})
	if err != nil {
		return nil, err
	}
	body, _ := out["body"].(map[string]any)
	return body, nil
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSDKClientPurgesAnESASite(t *testing.T) {
	t.Parallel()
	s := newSDKESA(t, DefaultAccessKeySecret)
	site := strconv.FormatInt(s.siteID, 10)

	t.Run("ListSites finds the site by name", func(t *testing.T) {
		body, err := s.call(t, actionListSites, map[string]any{"SiteName": "example.org", "SiteSearchType": "exact"})
		if err != nil {
			t.Fatal(err)
		}
		sites, _ := body["Sites"].([]any)
		if len(sites) != 1 {
			t.Fatalf("sites = %v", body)
		}
		got := sites[0].(map[string]any)
		if got["SiteName"] != "example.org" || fmt.Sprint(got["SiteId"]) != strconv.FormatInt(s.siteID, 10) {
			t.Errorf("site = %v, want example.org with id %d", got, s.siteID)
		}
	})

	purges := []struct {
		typ     esa.PurgeType
		content map[string]any
		force   bool
		items   int64
	}{
		{esa.File, map[string]any{"Files": []any{"https://example.org/a.css", map[string]any{"Url": "https://www.example.org/b.js", "Headers": map[string]string{"UserGeo": "CN"}}}}, false, 2},
		{esa.Directory, map[string]any{"Directories": []string{"https://example.org/img/"}}, true, 1},
		{esa.CacheTag, map[string]any{"CacheTags": []string{"release-42", "blog"}}, false, 2},
		{esa.IgnoreParams, map[string]any{"IgnoreParams": []string{"https://example.org/photo.jpg"}}, true, 1},
	}
	for _, p := range purges {
		t.Run("PurgeCaches "+string(p.typ)+" returns a task and spends its quota", func(t *testing.T) {
			q := map[string]any{"SiteId": site, "Type": string(p.typ), "Content": jsonString(t, p.content)}
			if p.force {
				q["Force"] = "true"
			}
			body, err := s.call(t, actionPurgeCaches, q)
			if err != nil {
				t.Fatal(err)
			}
			if id, _ := body["TaskId"].(string); id == "" {
				t.Errorf("no TaskId in %v", body)
			}
			quota, err := s.call(t, actionGetPurgeQuota, map[string]any{"SiteId": site, "Type": string(p.typ)})
			if err != nil {
				t.Fatal(err)
			}
			if quota["Usage"] != strconv.FormatInt(p.items, 10) || quota["Quota"] != strconv.FormatInt(DefaultESAQuota()[p.typ], 10) {
				t.Errorf("GetPurgeQuota(%s) = %v, want usage %d of %d", p.typ, quota, p.items, DefaultESAQuota()[p.typ])
			}
		})
	}

	t.Run("PreloadCaches returns a task", func(t *testing.T) {
		body, err := s.call(t, actionPreloadCaches, map[string]any{"SiteId": site,
			"Content": jsonString(t, []string{"https://example.org/a.css"}), "Headers": jsonString(t, map[string]string{"Accept-Encoding": "gzip"})})
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := body["TaskId"].(string); id == "" {
			t.Errorf("no TaskId in %v", body)
		}
	})

	t.Run("DescribePurgeTasks lists every purged item", func(t *testing.T) {
		body, err := s.call(t, actionDescribePurgeTasks, map[string]any{"SiteId": site, "PageSize": "50"})
		if err != nil {
			t.Fatal(err)
		}
		tasks, _ := body["Tasks"].([]any)
		var got []string
		for _, tk := range tasks {
			m := tk.(map[string]any)
			if m["Status"] != apiclient.TaskComplete || m["Process"] != "100%" {
				t.Errorf("task %v not complete", m)
			}
			got = append(got, m["Type"].(string)+" "+m["Content"].(string))
		}
		want := []string{"cachetag blog", "cachetag release-42", "directory https://example.org/img/",
			"file https://example.org/a.css", "file https://www.example.org/b.js", "ignoreParams https://example.org/photo.jpg"}
		if len(got) == 0 || !strings.HasPrefix(got[0], "ignoreParams ") {
			t.Errorf("the newest task is not first: %q", got)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("tasks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("a URL of the CDN domain is not the site's", func(t *testing.T) {
		_, err := s.call(t, actionPurgeCaches, map[string]any{"SiteId": site, "Type": "file",
			"Content": jsonString(t, map[string]any{"Files": []string{"https://cdn.example.com/a.css"}})})
		if code := sdkCode(err); code != "InvalidParameter" {
			t.Errorf("code %q (%v), want InvalidParameter", code, err)
		}
	})
}

func sdkCode(err error) string {
	if err == nil {
		return ""
	}
	// The client wraps its errors as *tea.SDKError (dara.TeaSDKError).
	var se *tea.SDKError
	if errors.As(err, &se) {
		return tea.StringValue(se.Code)
	}
	return "not an SDK error: " + err.Error()
}

func TestSDKClientWithAWrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	s := newSDKESA(t, "not-the-secret")
	for _, action := range []string{actionListSites, actionPurgeCaches} {
		_, err := s.call(t, action, map[string]any{"SiteId": strconv.FormatInt(s.siteID, 10), "Type": "file",
			"Content": `{"Files":["https://example.org/a.css"]}`})
		if code := sdkCode(err); code != "SignatureDoesNotMatch" {
			t.Errorf("%s with a wrong secret: code %q, want SignatureDoesNotMatch", action, code)
		}
	}
	if n := s.srv.Accepted(actionPurgeCaches); n != 0 {
		t.Errorf("%d purges accepted with a wrong secret", n)
	}
	if len(s.srv.ESATasks()) != 0 {
		t.Errorf("tasks made with a wrong secret: %v", s.srv.ESATasks())
	}
}
