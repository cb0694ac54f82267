package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/worker"
)

// purge --type tag against serve --emulator: queued with --wait it exits 0
// once the tag tasks are complete, on CDN and on a DCDN domain; --direct
// does the same from the CLI; a tag of an unconfigured domain or with a
// comma is refused before anything is sent.
func TestPurgeTagsAgainstServeEmulator(t *testing.T) {
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

// A GitHub push to serve --emulator whose rule maps files to cache tags
// (one per top-level folder) purges those tags: the hook's tag job
// completes, the emulator took RefreshObjectCacheByCacheTag, and jobs
// show lists the tags.
func TestGitHubPushPurgesMappedTags(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	cfg := `domains:
  - example.com
webhooks:
  rules:
    - name: tags
      repository: "acme/**"
      files: "public/**"
      strip_prefix: public/
      tags_template: "site-{top}"
      tags_domain: example.com
cdn:
  emulator: true
`
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "gh-secret-0123456789abcdef"
	b := startServeBesideWith(t, map[string]string{"CDNPURGE_WEBHOOKS_GITHUB_SECRET": secret}, "--config", cfgFile)
	addr, admin := b.addr, b.admin
	body := []byte(`{"ref":"refs/heads/main","after":"b0a1c2d3","repository":{"full_name":"acme/site"},
"commits":[{"id":"b0a1c2d3","added":["public/img/logo.svg"],"modified":["public/css/site.css","README.md"],"removed":["public/img/old.png"]}],
"head_commit":{"id":"b0a1c2d3"}}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "tags-e2e-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ans struct {
		Jobs []struct {
			ID string `json:"id"`
		} `json:"jobs"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &ans) != nil || len(ans.Jobs) != 1 {
		t.Fatalf("push: HTTP %d %s", resp.StatusCode, raw)
	}
	id := ans.Jobs[0].ID
	var v worker.JobView
	jobstest.Eventually(t, "the tag job complete", 20*time.Second, func() bool {
		v = b.jobState(t, id)
		return v.Final()
	})
	if v.State != worker.ViewComplete || !slices.Equal(v.Paths, []string{"tag://example.com/site-img", "tag://example.com/site-css"}) {
		t.Fatalf("job %s: state %s, paths %q", id, v.State, v.Paths)
	}
	m := scrape(t, "http://"+admin+"/metrics")
	if want := `cdnpurge_api_requests_total{action="RefreshObjectCacheByCacheTag",code="",outcome="ok",status="200"} 1`; !strings.Contains(m, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
