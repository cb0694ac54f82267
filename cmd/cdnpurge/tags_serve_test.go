package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// purge --type tag against serve --emulator: queued with --wait it exits 0
// once the tag tasks are complete, on CDN and on a DCDN domain; --direct
// does the same from the CLI; a tag of an unconfigured domain or with a
// comma is refused before anything is sent.
func TestPurgeTagsAgainstServeEmulator(t *testing.T) {
	cleanEnv(t)
	t.Chdir(t.TempDir())
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains:\n  - example.com\n  - name: dyn.example.org\n    product: dcdn\ncdn:\n  emulator: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, admin := startServeBeside(t, "--config", cfgFile)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return runBeside(t, append([]string{"--config", cfgFile}, args...)...)
	}
	code, out, stderr := run("--output", "json", "purge", "--wait", "--timeout", "20s", "--type", "tag", "--domain", "example.com", "home", "product-42")
	var sum summary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 || sum.Paths != 2 || len(sum.TaskIDs) != 2 {
		t.Fatalf("queued tag purge: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = run("purge", "--wait", "--timeout", "20s", "--type", "tag", "--force", "--domain", "dyn.example.org", "home")
	if code != 0 {
		t.Fatalf("queued DCDN tag purge: exit %d\n%s\n%s", code, out, stderr)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`cdnpurge_api_requests_total{action="RefreshObjectCacheByCacheTag",code="",outcome="ok",status="200"} 1`,
		`cdnpurge_api_requests_total{action="RefreshDcdnObjectCacheByCacheTag",code="",outcome="ok",status="200"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, out, stderr = run("--output", "json", "purge", "--direct", "--wait", "--poll", "20ms", "--type", "tag", "--domain", "example.com", "cart")
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Calls != 1 || sum.Completed != 1 {
		t.Fatalf("direct tag purge: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, bad := range [][]string{
		{"purge", "--type", "tag", "--domain", "evil.com", "home"},
		{"purge", "--type", "tag", "--domain", "example.com", "a,b"},
		{"purge", "--type", "tag", "home"},
		{"purge", "--domain", "example.com", "https://example.com/a.js"},
	} {
		if code, out, stderr := run(bad...); code == 0 {
			t.Errorf("%q: exit 0, want a refusal\n%s\n%s", bad, out, stderr)
		}
	}
}
