package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/quota"
)

// snapshotOf is a synced mirror of target p with 250 URLs reserved.
func snapshotOf(t *testing.T, p apiclient.Product, q apiclient.RefreshQuota) quota.Snapshot {
	t.Helper()
	ctx := t.Context()
	s := quota.NewMemoryStore(quota.Options{Account: "acct", Target: p})
	if err := s.Set(ctx, q, quota.SyncMark{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, quota.KindURL, 250); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestQuotaTableOfEachTarget(t *testing.T) {
	t.Parallel()
	cdn := snapshotOf(t, apiclient.ProductCDN, apiclient.RefreshQuota{URLQuota: 10000, URLRemain: 9000, DirQuota: 100, DirRemain: 100})
	dcdn := snapshotOf(t, apiclient.ProductDCDN, apiclient.RefreshQuota{URLQuota: 2000, URLRemain: 250})

	var one strings.Builder
	if err := writeQuotaTables(&one, []quota.Snapshot{cdn}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(one.String(), "\n"), "\n")
	want := []string{
		"account acct, quota day " + cdn.Day + ", synced",
		"target kind total remaining reserved committed",
		"cdn url 10000 8750 250 0",
		"cdn dir 100 100 0 0",
	}
	if len(lines) != len(want) {
		t.Fatalf("CDN table:\n%s", one.String())
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); !strings.HasPrefix(got, w) {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}

	var two strings.Builder
	if err := writeQuotaTables(&two, []quota.Snapshot{cdn, dcdn}); err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(two.String(), "\n\n")
	if len(blocks) != 2 || blocks[0]+"\n" != one.String() {
		t.Fatalf("two targets:\n%s", two.String())
	}
	if !strings.Contains(squeeze(blocks[1]), "dcdn url 2000 0 250 0") || strings.Contains(blocks[1], " dir ") {
		t.Errorf("DCDN block:\n%s", blocks[1])
	}
}

func TestQuotaJSONOfEachTarget(t *testing.T) {
	t.Parallel()
	cdn := snapshotOf(t, apiclient.ProductCDN, apiclient.RefreshQuota{URLQuota: 10000, URLRemain: 9000})
	dcdn := snapshotOf(t, apiclient.ProductDCDN, apiclient.RefreshQuota{URLQuota: 2000, URLRemain: 250})
	var one map[string]any
	b, _ := json.Marshal(quotaView([]quota.Snapshot{cdn}))
	if err := json.Unmarshal(b, &one); err != nil {
		t.Fatal(err)
	}
	if one["target"] != "cdn" || one["account"] != "acct" || one["kinds"] == nil {
		t.Errorf("CDN-only JSON %s", b)
	}
	if _, ok := one["other_targets"]; ok {
		t.Errorf("CDN-only JSON has other_targets: %s", b)
	}
	var both quotaJSON
	b, _ = json.Marshal(quotaView([]quota.Snapshot{cdn, dcdn}))
	if err := json.Unmarshal(b, &both); err != nil {
		t.Fatal(err)
	}
	if both.Target != "cdn" || len(both.OtherTargets) != 1 || both.OtherTargets[0].Target != "dcdn" ||
		both.OtherTargets[0].Kinds[0].Remaining != 0 || both.OtherTargets[0].Kinds[0].Reserved != 250 {
		t.Errorf("two targets JSON %s", b)
	}
}

// fakeDCDN answers DescribeDcdnRefreshQuota with urlRemain URLs left;
// env's commands call it.
func fakeDCDN(t *testing.T, env map[string]string, urlRemain string) *atomic.Int32 {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.Header.Get("x-acs-action")
		if action == "" {
			action = r.URL.Query().Get("Action")
		}
		if action != apiclient.DCDN().Actions.Quota {
			http.Error(w, `{"Code":"InvalidAction.NotFound"}`, http.StatusBadRequest)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": "dcdn-1", "UrlQuota": "2000", "UrlRemain": urlRemain,
			"DirQuota": "100", "DirRemain": "100", "PreloadQuota": "500", "PreloadRemain": "500"})
	}))
	t.Cleanup(srv.Close)
	env["CDNPURGE_CDN_DCDN_ENDPOINT"] = srv.URL
	return &calls
}

// squeeze makes every run of spaces one and drops leading ones, so that
// tests read table rows without their alignment.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func domainsConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuotaCommandShowsEachTarget(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	calls := fakeDCDN(t, env, "0")
	cfg := domainsConfig(t, "domains:\n  - example.com\n  - {name: static.example.com, product: dcdn}\n")

	code, out, stderr := runCLIWith(t, env, "", "--config", cfg, "--log-level", "error", "quota", "--sync")
	if code != 0 {
		t.Fatalf("quota: code %d out %q stderr %q", code, out, stderr)
	}
	blocks := strings.Split(out, "\n\n")
	if len(blocks) != 2 || !strings.Contains(squeeze(blocks[0]), "\ncdn url 10000") || !strings.Contains(squeeze(blocks[1]), "\ndcdn url 2000 0 0 0") {
		t.Errorf("quota with two targets:\n%s", out)
	}
	if calls.Load() != 1 {
		t.Errorf("DescribeDcdnRefreshQuota called %d times, want 1", calls.Load())
	}

	code, out, _ = runCLIWith(t, env, "", "--config", cfg, "--output", "json", "quota", "--sync")
	var v quotaJSON
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("quota json: code %d, %v: %s", code, err, out)
	}
	if v.Target != "cdn" || len(v.OtherTargets) != 1 || v.OtherTargets[0].Target != "dcdn" {
		t.Fatalf("quota json targets: %s", out)
	}
	for _, k := range v.OtherTargets[0].Kinds {
		if k.Kind == "url" && (k.Total != 2000 || k.Remaining != 0) {
			t.Errorf("DCDN url quota %+v, want 2000 total, 0 left", k)
		}
	}
}

// With only CDN domains the command asks only the CDN API, as before.
func TestQuotaCommandCDNOnly(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	calls := fakeDCDN(t, env, "2000")
	code, out, stderr := runCLIWith(t, env, "", "--log-level", "error", "quota", "--sync")
	if code != 0 || strings.Contains(out, "dcdn") || !strings.Contains(squeeze(out), "\ncdn url 10000") || strings.Contains(out, "\n\n") {
		t.Errorf("quota: code %d out %q stderr %q", code, out, stderr)
	}
	if calls.Load() != 0 {
		t.Errorf("DescribeDcdnRefreshQuota called %d times without DCDN domains", calls.Load())
	}
}

// A DCDN outage shows CDN's quota and fails naming DCDN.
func TestQuotaCommandDCDNDown(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	env["CDNPURGE_CDN_DCDN_ENDPOINT"] = "http://127.0.0.1:1"
	env["CDNPURGE_CDN_RETRY_MAX_ATTEMPTS"] = "1"
	cfg := domainsConfig(t, "domains:\n  - example.com\n  - {name: static.example.com, product: dcdn}\n")
	code, out, stderr := runCLIWith(t, env, "", "--config", cfg, "--log-level", "error", "quota", "--sync")
	if code == 0 || !strings.Contains(squeeze(out), "\ncdn url 10000") || !strings.Contains(out, "not synced yet (last sync failed: ") ||
		!strings.Contains(stderr, "sync dcdn quota") || !strings.Contains(stderr, "DescribeDcdnRefreshQuota") {
		t.Errorf("quota with DCDN down: code %d out %q stderr %q", code, out, stderr)
	}
}

func TestQuotaSharesPrintedUnderTheTables(t *testing.T) {
	t.Parallel()
	us := []quota.ShareUsage{{Source: "generic:bulk-sync", Kind: quota.KindURL, Percent: "50%", Limit: 5000, Used: 3120}}
	var out bytes.Buffer
	if err := writeShares(&out, us); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shares of cdn's day (quota.shares)", "generic:bulk-sync", "50%", "5000", "3120"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("shares table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := writeShares(&out, nil); err != nil || out.Len() != 0 {
		t.Errorf("no shares printed %q, %v; want nothing", out.String(), err)
	}
	if got := shareView(us); len(got) != 1 || got[0].Used != 3120 || got[0].Limit != 5000 || got[0].Share != "50%" {
		t.Errorf("JSON view = %+v", got)
	}
}

// quota shows the configured shares of CDN's day, in text and JSON; a
// share config check refuses names the field.
func TestQuotaCommandShowsShares(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{URLQuota: 8000})
	env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = cdnemu.DefaultAccessKeyID
	env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = cdnemu.DefaultAccessKeySecret
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains: [example.com]\nquota:\n  shares:\n    - source: generic:bulk-sync\n      share: 25%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLIWith(t, env, "", "--config", cfgFile, "--log-level", "warn", "quota")
	if code != 0 || !strings.Contains(out, "generic:bulk-sync") || !strings.Contains(out, "2000") {
		t.Fatalf("quota: code %d, want the share of 25%% of 8,000:\n%s%s", code, out, stderr)
	}
	code, out, _ = runCLIWith(t, env, "", "--config", cfgFile, "--log-level", "warn", "--output", "json", "quota")
	if code != 0 || !strings.Contains(out, `"shares"`) || !strings.Contains(out, `"limit": 2000`) {
		t.Errorf("quota --output json: code %d, want the shares:\n%s", code, out)
	}
	if err := os.WriteFile(cfgFile, []byte("domains: [example.com]\nquota:\n  shares:\n    - source: generic:bulk-sync\n      share: 250%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLIWith(t, env, "", "--config", cfgFile, "config", "check")
	if code == 0 || !strings.Contains(out+stderr, "quota.shares[0].share") {
		t.Errorf("config check of a share of 250%%: code %d, want the field named:\n%s%s", code, out, stderr)
	}
}
