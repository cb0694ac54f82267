package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve applies quota.shares: a queued purge from the CLI spends from its
// share, and /metrics shows the share's use and limit.
func TestServeSpendsFromAQuotaShare(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfgFile, []byte("domains: [example.com]\ncdn:\n  emulator: true\nquota:\n  shares:\n    - source: cli*\n      share: 50%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServeBeside(t, "--config", cfgFile)
	admin := b.admin
	code, out, stderr := b.run(t, "--config", cfgFile, "--output", "json", "purge", "--wait", "--timeout", "20s",
		"https://example.com/a.js", "https://example.com/b.js", "https://example.com/c.js")
	var sum summary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Completed != 1 {
		t.Fatalf("queued purge: exit %d\n%s\n%s", code, out, stderr)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`cdnpurge_quota_share_used{kind="url",source="cli*"} 3`,
		`cdnpurge_quota_share_limit{kind="url",source="cli*"} 5000`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
