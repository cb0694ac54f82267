package webhooks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"", "anything/at/all", true},
		{"public/**", "public/a.css", true},
		{"public/**", "public/img/x/y.png", true},
		{"public/**", "src/public/a.css", false},
		{"**/*.css", "a/b/c.css", true},
		{"**/*.css", "c.css", true},
		{"acme/*", "acme/site", true},
		{"acme/*", "acme/web/site", false},
		{"acme/**", "acme/web/site", true},
		{"release/*", "release/1.2", true},
		{"main", "main2", false},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pat, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	r := Rule{StripPrefix: "public/", URLTemplate: "https://static.example.com/{branch}/{path}"}
	if got := r.render("public/img/a b#1.png", "acme/site", "main"); got != "https://static.example.com/main/img/a%20b%231.png" {
		t.Fatalf("render = %q", got)
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	t.Parallel()
	cfg := Config{
		GitHubSecret: "short",
		ReplayBucket: "replay.bucket",
		Rules: []Rule{
			{Files: "public/**"},
			{Files: "x/**", URLTemplate: "https://{repo}.example.com/{path}"},
			{Files: "x/**", URLTemplate: "https://a.example.com/{nope}"},
			{Source: "bitbucket", Refresh: []string{"https://a.example.com/"}},
			{Name: "empty"},
			{Refresh: []string{"https://a.example.com/"}, DeployOn: []string{"merge"}},
		},
	}
	err := cfg.Validate()
	for _, want := range []string{
		"github_secret:",
		`replay_bucket: "replay.bucket": want letters, digits`,
		"rules[0].url_template: files and url_template go together",
		"rules[1].url_template:",
		"rules[2].url_template:",
		"rules[3].source:",
		"rules[4].files: the rule does nothing",
		"rules[5].deploy_on:",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("test config: %v", err)
	}
}

func TestNewChecksRuleURLsAgainstAllowlist(t *testing.T) {
	t.Parallel()
	v, _ := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com"}})
	cfg := Config{GitHubSecret: testGitHubSecret, Rules: []Rule{
		{Files: "public/**", URLTemplate: "https://other.example.com/{path}"},
		{Refresh: []string{"https://static.example.com/a\nb"}},
	}}
	_, err := New(cfg, Deps{Validator: v, Publisher: nopPublisher{}})
	if err == nil || !strings.Contains(err.Error(), "rules[0].url_template") || !strings.Contains(err.Error(), "rules[1].refresh[0]") {
		t.Fatalf("New = %v", err)
	}
}

type nopPublisher struct{}

func (nopPublisher) PublishSet(_ context.Context, _ string, js []*jobs.Job) ([]queue.Ack, error) {
	acks := make([]queue.Ack, len(js))
	for i, j := range js {
		acks[i] = queue.Ack{JobID: j.ID}
	}
	return acks, nil
}

func (nopPublisher) Report(context.Context, jobs.StatusEvent) error { return nil }

func addGolden(f *testing.F, prefix string, add func([]byte)) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzParseGitHub checks the GitHub payload parser never panics and never
// returns both an event and an error.
func FuzzParseGitHub(f *testing.F) {
	events := []string{"push", "deployment_status", "ping", "issues"}
	addGolden(f, "github_", func(b []byte) {
		for _, e := range events {
			f.Add(e, b)
		}
	})
	f.Add("push", []byte(`{"ref":"refs/tags/v1","repository":{"full_name":"a/b"}}`))
	f.Add("push", []byte(`{"ref":"refs/heads/main","repository":{"full_name":"a/b"},"head_commit":{"added":["public/x"]}}`))
	// File names JSON decoding would rewrite, and truncated payloads.
	f.Add("push", []byte("{\"ref\":\"refs/heads/main\",\"repository\":{\"full_name\":\"a/b\"},\"commits\":[{\"modified\":[\"public/a1/\xff\xfe\",\"public/ok\"]}]}"))
	f.Add("push", []byte(`{"ref":"refs/heads/main","repository":{"full_name":"a/b"},"commits":[{"added":["public/\ud83d","public/\udfff\u0041","public/\ud83d\ude00"]}]}`))
	f.Add("push", []byte(`{"ref":"refs/heads/main","size":40,"repository":{"full_name":"a/b"},"commits":[{"added":["public/x"]}]}`))
	rules := truncatedConfig(&OnTruncated{RefreshDirs: []string{"https://static.example.com/"}}).Rules
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := parseGitHub(event, body)
		if err != nil && (ev.change != nil || ev.deploy != nil) {
			t.Fatal("event and error together")
		}
		if ev.change != nil {
			m := mapChanges(rules, *ev.change)
			for _, j := range m.jobs {
				if len(j.Paths()) == 0 || len(j.Paths()) > maxPathsPerJob {
					t.Fatalf("job with %d paths", len(j.Paths()))
				}
				// A file name that is not UTF-8 is refused, never mapped
				// with its bytes replaced.
				for _, p := range j.Paths() {
					if strings.Contains(p, "%EF%BF%BD") && !bytes.Contains(body, []byte("\xef\xbf\xbd")) && !bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
						t.Fatalf("path %q carries a replacement character the body did not", p)
					}
				}
			}
		}
		if ev.deploy != nil {
			mapDeploy(rules, *ev.deploy)
		}
	})
}

// FuzzParseGitLab checks the GitLab payload parser never panics.
func FuzzParseGitLab(f *testing.F) {
	addGolden(f, "gitlab_", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"object_kind":"push","ref":"refs/heads/x","after":"0000000000000000000000000000000000000000","project":{"path_with_namespace":"a/b"}}`))
	f.Add([]byte(`{"object_kind":"merge_request"}`))
	f.Add([]byte(`{"object_kind":"push","ref":"refs/heads/main","after":"1","total_commits_count":57,"project":{"path_with_namespace":"acme/web/site"},"commits":[{"added":["public/x"]}]}`))
	f.Add([]byte("{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"after\":\"1\",\"project\":{\"path_with_namespace\":\"acme/site\"},\"commits\":[{\"removed\":[\"public/\xc0\xaf\"]}]}"))
	rules := testConfig().Rules
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseGitLab(body)
		if err != nil && (ev.change != nil || ev.deploy != nil) {
			t.Fatal("event and error together")
		}
		if ev.change != nil {
			mapChanges(rules, *ev.change)
		}
		if ev.deploy != nil {
			mapDeploy(rules, *ev.deploy)
		}
	})
}

// FuzzParseGeneric checks that whatever the generic parser accepts either
// validates or fails with a *jobs.ValidationError, never anything else.
func FuzzParseGeneric(f *testing.F) {
	for _, s := range []string{
		`{"kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`,
		`{"v":1,"id":"x1","kind":"push","push":{"paths":["www.example.com/"],"area":"domestic"}}`,
		`{"kind":"refresh","refresh":{"object_type":"regex","paths":["static.example.com/.*"]}}`,
		`{"kind":"operation","operation":{"action":"OpenCdnService"}}`,
		"{\"kind\":\"refresh\",\"refresh\":{\"paths\":[\"https://static.example.com/a1/\xff\xfe\"]}}",
		`{"kind":"push","push":{"paths":["https://static.example.com/\ud800x"]}}`,
	} {
		f.Add([]byte(s))
	}
	v, _ := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := parseGeneric(body)
		if err != nil {
			return
		}
		j.ID = ""
		j.Prepare("fuzz", time.Now())
		if err := v.Validate(j); err != nil {
			var ve *jobs.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Validate = %v, want *ValidationError with problems", err)
			}
		}
	})
}
