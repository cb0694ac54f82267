package apiclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

func TestDCDNActionsGoToTheDCDNEndpoint(t *testing.T) {
	t.Parallel()
	type seen struct{ action, version string }
	got := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a, v := r.Form.Get("Action"), r.Form.Get("Version")
		if a == "" {
			a, v = r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version")
		}
		got <- seen{a, v}
		w.Header().Set("Content-Type", "application/json")
		switch a {
		case apiclient.DCDN().Actions.Refresh:
			_, _ = w.Write([]byte(`{"RequestId":"r1","RefreshTaskId":"1,2"}`))
		case apiclient.DCDN().Actions.Push:
			_, _ = w.Write([]byte(`{"RequestId":"r2","PreloadTaskId":"3"}`))
		case apiclient.DCDN().Actions.Quota:
			_, _ = w.Write([]byte(`{"RequestId":"r3","UrlQuota":"10000","UrlRemain":"7"}`))
		default:
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"Code":"InvalidDomain.NotFound","Message":"no"}`))
		}
	}))
	defer srv.Close()
	c, err := apiclient.New(apiclient.Options{Endpoint: "http://127.0.0.1:1", Endpoints: map[apiclient.Product]string{apiclient.ProductDCDN: srv.URL},
		Credentials: credentials.Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref, err := c.Refresh(ctx, apiclient.DCDN(), apiclient.RefreshRequest{Paths: []string{"https://d.example.com/a"}})
	if err != nil || len(ref.TaskIDs) != 2 {
		t.Fatalf("refresh: %+v %v", ref, err)
	}
	pre, err := c.Push(ctx, apiclient.DCDN(), apiclient.PushRequest{Paths: []string{"https://d.example.com/a"}})
	if err != nil || len(pre.TaskIDs) != 1 || pre.TaskIDs[0] != "3" {
		t.Fatalf("preload: %+v %v", pre, err)
	}
	q, err := c.DescribeQuota(ctx, apiclient.DCDN())
	if err != nil || q.URLRemain != 7 {
		t.Fatalf("quota: %+v %v", q, err)
	}
	_, err = c.DescribeTasksByID(ctx, apiclient.DCDN(), []string{"1"})
	if apiclient.Classify(err) != apiclient.ClassBadInput {
		t.Fatalf("task by id: %v, want bad input", err)
	}
	for _, want := range []string{apiclient.DCDN().Actions.Refresh, apiclient.DCDN().Actions.Push,
		apiclient.DCDN().Actions.Quota, apiclient.DCDN().Actions.TaskByID} {
		s := <-got
		if s.action != want || s.version != apiclient.DCDN().Version {
			t.Fatalf("got %+v, want %s version %s", s, want, apiclient.DCDN().Version)
		}
	}
}

func TestTargetOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]apiclient.Product{"": apiclient.ProductCDN, "CDN": apiclient.ProductCDN, "dcdn": apiclient.ProductDCDN} {
		tg, err := apiclient.TargetOf(in)
		if err != nil || tg.Product != want {
			t.Errorf("TargetOf(%q) = %v, %v", in, tg.Product, err)
		}
	}
	if _, err := apiclient.TargetOf("ecdn"); err == nil {
		t.Error("TargetOf(ecdn): no error")
	}
	if apiclient.DefaultRateLimits()[apiclient.DCDN().Actions.Tasks] != 5 {
		t.Error("DescribeDcdnRefreshTasks limit not 5/s")
	}
}

func TestEndpointsOfUnknownProductRefused(t *testing.T) {
	t.Parallel()
	_, err := apiclient.New(apiclient.Options{Credentials: credentials.Credentials{AccessKeyID: "id", AccessKeySecret: "s"},
		Endpoints: map[apiclient.Product]string{"nope": "http://127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("an endpoint for an unknown product: %v", err)
	}
}
