package webhooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestMatchGlob(t *testing.T) {
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
	r := Rule{StripPrefix: "public/", URLTemplate: "https://static.example.com/{branch}/{path}"}
	if got := r.render("public/img/a b#1.png", "acme/site", "main"); got != "https://static.example.com/main/img/a%20b%231.png" {
		t.Fatalf("render = %q", got)
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	cfg := Config{
		GitHubSecret: "short",
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
		"webhooks.github_secret:",
		"webhooks.rules[0].url_template: files and url_template go together",
		"webhooks.rules[1].url_template:",
		"webhooks.rules[2].url_template:",
		"webhooks.rules[3].source:",
		"webhooks.rules[4].files: the rule does nothing",
		"webhooks.rules[5].deploy_on:",
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
	v, _ := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com"}})
	cfg := Config{GitHubSecret: testGitHubSecret, Rules: []Rule{
		{Files: "public/**", URLTemplate: "https://other.example.com/{path}"},
		{Refresh: []string{"https://static.example.com/a\nb"}},
	}}
	_, err := New(cfg, Deps{Validator: v, Publisher: nopPublisher{}})
	if err == nil || !strings.Contains(err.Error(), "webhooks.rules[0].url_template") || !strings.Contains(err.Error(), "webhooks.rules[1].refresh[0]") {
		t.Fatalf("New = %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("super-secret-value")
	b, _ := s.MarshalJSON()
	for _, out := range []string{s.String(), s.GoString(), string(b)} {
		if strings.Contains(out, "super") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(_ context.Context, j *jobs.Job, _ string) (jobs.Ack, error) {
	return jobs.Ack{JobID: j.ID}, nil
}

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
	rules := testConfig().Rules
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := parseGitHub(event, body)
		if err != nil && (ev.change != nil || ev.deploy != nil) {
			t.Fatal("event and error together")
		}
		if ev.change != nil {
			for _, j := range mapChanges(rules, *ev.change) {
				if len(j.Paths()) == 0 || len(j.Paths()) > maxPathsPerJob {
					t.Fatalf("job with %d paths", len(j.Paths()))
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
