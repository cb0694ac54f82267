package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/config"
)

// serve --emulator with a CDN domain and an ESA site: the official SDK's
// generic OpenAPI client (darabonba-openapi; ACS3-HMAC-SHA256, RPC style,
// parameters in the query, Content as one JSON string, as the ESA SDK
// alibabacloud-go/esa-20240910 sends them) finds the site with ListSites
// and purges, prefetches and lists tasks on it; a wrong secret is refused.
func TestServeEmulatorServesAnESASiteToTheSDK(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - {name: example.org, product: esa, site: example.org}\n"+
		"  - {name: \"*.example.org\", product: esa, site: example.org}\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emu := "127.0.0.1:" + strconv.Itoa(freePort(t))
	startServeWithEmulatorAt(t, emu, "--config", cfgFile)

	sdk := newSDKCaller(t, emu, config.EmulatorAccessKeySecret)
	body, err := sdk.call("ListSites", map[string]any{"SiteName": "example.org", "SiteSearchType": "exact"})
	if err != nil {
		t.Fatalf("ListSites: %v", err)
	}
	sites, _ := body["Sites"].([]any)
	if len(sites) != 1 {
		t.Fatalf("ListSites: %v", body)
	}
	site := fmt.Sprint(sites[0].(map[string]any)["SiteId"])

	for _, c := range []struct {
		typ     string
		content string
	}{
		{"file", `{"Files":["https://example.org/a.css",{"Url":"https://www.example.org/b.js","Headers":{"UserGeo":"CN"}}]}`},
		{"directory", `{"Directories":["https://example.org/img/"]}`},
		{"cachetag", `{"CacheTags":["release-42"]}`},
		{"ignoreParams", `{"IgnoreParams":["https://example.org/photo.jpg"]}`},
	} {
		if body, err := sdk.call("PurgeCaches", map[string]any{"SiteId": site, "Type": c.typ, "Content": c.content, "Force": "true"}); err != nil || body["TaskId"] == "" {
			t.Errorf("PurgeCaches %s: %v %v", c.typ, body, err)
		}
		q, err := sdk.call("GetPurgeQuota", map[string]any{"SiteId": site, "Type": c.typ})
		if err != nil || q["Usage"] == "0" || q["Quota"] == "" {
			t.Errorf("GetPurgeQuota %s: %v %v", c.typ, q, err)
		}
	}
	if body, err := sdk.call("PreloadCaches", map[string]any{"SiteId": site, "Content": `["https://example.org/a.css"]`}); err != nil || body["TaskId"] == "" {
		t.Errorf("PreloadCaches: %v %v", body, err)
	}
	body, err = sdk.call("DescribePurgeTasks", map[string]any{"SiteId": site, "PageSize": "50"})
	if tasks, _ := body["Tasks"].([]any); err != nil || len(tasks) != 5 {
		t.Errorf("DescribePurgeTasks: want 5 items, got %v %v", body, err)
	}

	wrong := newSDKCaller(t, emu, "not-the-secret")
	if _, err := wrong.call("PurgeCaches", map[string]any{"SiteId": site, "Type": "file", "Content": `{"Files":["https://example.org/x"]}`}); sdkErrCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}

// startServeWithEmulatorAt runs serve --emulator with its emulator on
// emuAddr, as startServeBeside does otherwise.
func startServeWithEmulatorAt(t *testing.T, emuAddr string, globals ...string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	storeDir := t.TempDir()
	env := map[string]string{"CDNPURGE_WEBHOOKS_LISTEN": addr, "CDNPURGE_ADMIN_LISTEN": "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"CDNPURGE_NATS_EMBEDDED_PORT": strconv.Itoa(freePort(t)), "CDNPURGE_NATS_EMBEDDED_STORE_DIR": storeDir, "CDNPURGE_WORKER_LINGER": "50ms"}
	maps.Copy(env, fastTracker)
	_, port, _ := strings.Cut(emuAddr, ":")
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := newApp(func(k string) string { return env[k] }, strings.NewReader("")).main(ctx,
			append(globals, "serve", "--emulator", "--emulator-port", port), &logs, &logs); err != nil {
			t.Errorf("serve: %v\n%s", err, logs.String())
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitReady(t, "http://"+addr, storeDir)
}

type sdkCaller struct{ c *openapi.Client }

func newSDKCaller(t *testing.T, hostPort, secret string) sdkCaller {
	t.Helper()
	c, err := openapi.NewClient(&openapiutil.Config{AccessKeyId: dara.String(config.EmulatorAccessKeyID),
		AccessKeySecret: dara.String(secret), Endpoint: dara.String(hostPort), Protocol: dara.String("http")})
	if err != nil {
		t.Fatal(err)
	}
	return sdkCaller{c}
}

// call sends action as the ESA SDK does: POST, RPC, every parameter in
// the query, signature V3.
func (s sdkCaller) call(action string, query map[string]any) (map[string]any, error) {
	params := &openapiutil.Params{
		Action: dara.String(action), Version: dara.String(apiclient.ESA().Version), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	out, err := s.c.CallApi(params, &openapiutil.OpenApiRequest{Query: openapiutil.Query(query)},
		&dara.RuntimeOptions{MaxAttempts: dara.Int(1), Autoretry: dara.Bool(false)})
	if err != nil {
		return nil, err
	}
	body, _ := out["body"].(map[string]any)
	// Numbers arrive as json.Number or float64 depending on the SDK's
	// decoder; tests compare them as text.
	for k, v := range body {
		if n, ok := v.(json.Number); ok {
			body[k] = n.String()
		}
	}
	return body, nil
}

func sdkErrCode(err error) string {
	var se *tea.SDKError
	if errors.As(err, &se) {
		return tea.StringValue(se.Code)
	}
	return fmt.Sprint(err)
}

// A config with a CDN domain and an ESA site: a queued purge of both
// completes, each part on its product; the ESA part is one PurgeCaches
// call of type file on the site (found by ListSites) and its task is
// followed to Complete; tasks --target esa shows it, quota shows the
// site's kinds, and the metrics label it esa. A CacheKey refresh with
// headers goes out as a cachekey purge.
func TestServeAndCLIWithAnESASite(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - {name: example.org, product: esa, site: example.org}\n"+
		"  - {name: \"*.example.org\", product: esa, site: example.org}\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServeBeside(t, "--config", cfgFile)
	admin := b.admin
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return b.run(t, append([]string{"--config", cfgFile}, args...)...)
	}
	code, out, stderr := run("--output", "json", "purge", "--wait", "--timeout", "20s",
		"https://example.com/a.js", "https://example.org/b.js", "https://www.example.org/c.css")
	var sum summary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 {
		t.Fatalf("queued purge on CDN and ESA: exit %d\n%s\n%s", code, out, stderr)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`cdnpurge_paths_submitted_total{action="refresh",target="esa",type="File"} 2`,
		`cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 1`,
		`cdnpurge_api_requests_total{action="PurgeCaches",code="",outcome="ok",status="200"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, out, stderr = run("--output", "json", "tasks", "--target", "esa")
	if code != 0 || !strings.Contains(out, "https://www.example.org/c.css") || strings.Contains(out, "example.com/a.js") || !strings.Contains(out, `"target": "esa:`) {
		t.Errorf("tasks --target esa: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = run("--output", "json", "quota")
	if code != 0 || !strings.Contains(out, `"target": "esa:`) || !strings.Contains(out, `"kind": "cachetag"`) {
		t.Errorf("quota does not show the ESA site's kinds: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = run("--output", "json", "purge", "--direct", "--wait", "--poll", "20ms", "--type", "ignoreparams", "https://example.org/p.jpg")
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Calls != 1 || sum.Completed != 1 {
		t.Errorf("direct ignoreParams purge on the ESA site: exit %d\n%s\n%s", code, out, stderr)
	}
	// Cache tags on the ESA site: queued and direct, each one PurgeCaches
	// of type cachetag, spending the site's cachetag quota.
	code, out, stderr = run("--output", "json", "purge", "--wait", "--timeout", "20s", "--type", "tag", "--domain", "example.org", "home", "sku-1")
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 || sum.Paths != 2 {
		t.Errorf("queued tag purge on the ESA site: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = run("--output", "json", "purge", "--direct", "--wait", "--poll", "20ms", "--type", "tag", "--domain", "example.org", "cart")
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Calls != 1 || sum.Completed != 1 {
		t.Errorf("direct tag purge on the ESA site: exit %d\n%s\n%s", code, out, stderr)
	}
	m = scrape(t, "http://"+admin+"/metrics")
	if want := `cdnpurge_paths_submitted_total{action="refresh",target="esa",type="CacheTag"} 2`; !strings.Contains(m, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	code, out, stderr = run("--output", "json", "quota")
	var q struct {
		OtherTargets []struct {
			Target string
			Kinds  []struct {
				Kind             string
				Total, Remaining int64
			}
		} `json:"other_targets"`
	}
	_ = json.Unmarshal([]byte(out), &q)
	used := int64(-1)
	for _, tg := range q.OtherTargets {
		for _, k := range tg.Kinds {
			if strings.HasPrefix(tg.Target, "esa:") && k.Kind == "cachetag" {
				used = k.Total - k.Remaining
			}
		}
	}
	if code != 0 || used != 3 {
		t.Errorf("the ESA site's cachetag quota used %d after 3 tags, want 3: exit %d\n%s\n%s", used, code, out, stderr)
	}
}

// The operator's whole-site purges and cache-key purges on an ESA site:
// purgeall and hostname only with --direct (refused queued, before
// anything is published), cachekey with its headers.
func TestPurgeOperatorTypesOnAnESASite(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - {name: \"*.example.org\", product: esa, site: example.org}\n"+
		"  - {name: example.org, product: esa, site: example.org}\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServeBeside(t, "--config", cfgFile)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return b.run(t, append([]string{"--config", cfgFile}, args...)...)
	}
	if code, out, stderr := run("purge", "--type", "purgeall", "https://example.org/"); code == 0 || !strings.Contains(stderr, "add --direct") {
		t.Errorf("a queued purgeall: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"--type", "purgeall", "--force", "https://example.org/"},
		{"--type", "hostname", "https://www.example.org/"},
		{"--type", "cachekey", "--header", "UserGeo=CN", "https://example.org/k.html"},
	} {
		code, out, stderr := run(append([]string{"--output", "json", "purge", "--direct", "--wait", "--poll", "20ms"}, args...)...)
		var sum summary
		if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Calls != 1 || sum.Completed != 1 {
			t.Errorf("purge --direct %v: exit %d\n%s\n%s", args, code, out, stderr)
		}
	}
	code, out, stderr := run("--output", "json", "tasks", "--target", "esa")
	for _, want := range []string{`"object_type": "purgeall"`, `"object_type": "hostname"`, `"object_type": "cachekey"`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("tasks --target esa lacks %s: exit %d\n%s\n%s", want, code, out, stderr)
		}
	}
	if code, _, stderr := run("purge", "--direct", "--type", "cachekey", "https://example.org/k.html"); code == 0 || !strings.Contains(stderr, "--header") {
		t.Errorf("cachekey without headers: exit %d %s", code, stderr)
	}
}
