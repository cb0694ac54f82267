package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// A config with a DCDN domain: serve --emulator serves it on the emulated
// DCDN, a queued mixed purge completes with each part on its product,
// quota shows both targets, the metrics say which target took the paths,
// jobs show names the DCDN task, and purge --direct splits the same way.
func TestServeAndCLIWithDCDNDomain(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - name: dyn.example.org\n    product: dcdn\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServeBeside(t, "--config", cfgFile)
	admin := b.admin
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return b.run(t, append([]string{"--config", cfgFile}, args...)...)
	}

	code, out, stderr := run("--output", "json", "purge", "--wait", "--timeout", "20s",
		"https://example.com/a.js", "https://dyn.example.org/b.js")
	var sum summary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 || len(sum.Jobs) != 1 {
		t.Fatalf("queued mixed purge: exit %d\n%s\n%s", code, out, stderr)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 1`,
		`cdnpurge_paths_submitted_total{action="refresh",target="dcdn",type="File"} 1`,
		`cdnpurge_api_requests_total{action="RefreshDcdnObjectCaches",code="",outcome="ok",status="200"} 1`,
		`cdnpurge_quota_remaining{kind="url",target="dcdn"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, out, _ := run("jobs", "show", sum.Jobs[0]); code != 0 || !strings.Contains(out, "(dcdn)") {
		t.Errorf("jobs show does not name the DCDN task: exit %d\n%s", code, out)
	}
	if code, out, stderr := run("--output", "json", "quota"); code != 0 || !strings.Contains(out, `"target": "dcdn"`) && !strings.Contains(out, `"target":"dcdn"`) {
		t.Errorf("quota does not show DCDN: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr := run("--output", "json", "tasks", "--target", "dcdn"); code != 0 || !strings.Contains(out, `"target": "dcdn"`) ||
		strings.Contains(out, `"target": "cdn"`) || !strings.Contains(out, "dyn.example.org/b.js") {
		t.Errorf("tasks --target dcdn: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, _ := run("tasks"); code != 0 || !strings.Contains(out, "TARGET") || !strings.Contains(out, "dcdn") || !strings.Contains(out, "example.com/a.js") {
		t.Errorf("tasks lists both products with their target: exit %d\n%s", code, out)
	}
	code, out, stderr = run("--output", "json", "purge", "--direct", "--wait", "--poll", "20ms",
		"https://dyn.example.org/c.js", "https://example.com/d.js")
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Calls != 2 || sum.Completed != 2 || sum.FailedPaths != 0 {
		t.Fatalf("direct mixed purge: want 2 calls (one per product), 2 tasks complete: exit %d\n%s\n%s", code, out, stderr)
	}
}

// Every domain on DCDN: serve runs without a CDN quota mirror, and a
// queued purge completes on DCDN.
func TestServeWithDCDNDomainsOnly(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - name: dyn.example.org\n    product: dcdn\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServeBeside(t, "--config", cfgFile)
	admin := b.admin
	code, out, stderr := b.run(t, "--config", cfgFile, "--output", "json", "purge", "--wait", "--timeout", "20s", "https://dyn.example.org/only.js")
	var sum summary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 {
		t.Fatalf("purge on a DCDN-only config: exit %d\n%s\n%s", code, out, stderr)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	if !strings.Contains(m, `cdnpurge_paths_submitted_total{action="refresh",target="dcdn",type="File"} 1`) || strings.Contains(m, `target="cdn"`) {
		t.Errorf("metrics: want the one DCDN path and no CDN series:\n%s", grepLines(m, "target="))
	}
}

// tasks asks every product; one product down hides nothing the others
// answered: the CDN tasks are listed, and the DCDN failure is named.
func TestTasksShowsWhatAnsweredWhenDCDNIsDown(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{Domains: []string{"example.com"}, DCDNDomains: []string{"dyn.example.org"}})
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - name: dyn.example.org\n    product: dcdn\ncdn:\n  retry:\n    max_attempts: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLIWith(t, env, "", "--config", cfgFile, "purge", "--direct", "https://example.com/a.js", "https://dyn.example.org/b.js"); code != 0 {
		t.Fatalf("purge --direct: exit %d\n%s\n%s", code, out, stderr)
	}
	srv.SetProductOutage(apiclient.ProductDCDN, time.Now().Add(time.Hour))
	code, out, stderr := runCLIWith(t, env, "", "--config", cfgFile, "--log-level", "error", "tasks")
	if code != 0 || !strings.Contains(out, "example.com/a.js") || strings.Contains(out, "dyn.example.org/b.js") || !strings.Contains(stderr, "tasks: dcdn:") {
		t.Errorf("tasks with DCDN down: exit %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	srv.SetProductOutage(apiclient.ProductCDN, time.Now().Add(time.Hour))
	if code, _, stderr := runCLIWith(t, env, "", "--config", cfgFile, "--log-level", "error", "tasks"); code == 0 || !strings.Contains(stderr, "cdn:") {
		t.Errorf("tasks with both down: exit %d, stderr %s; want a failure naming both", code, stderr)
	}
}
