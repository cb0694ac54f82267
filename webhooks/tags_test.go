package webhooks

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// tagConfig is testConfig with a rule mapping pushed files to one tag per
// top-level folder and production deployments to fixed tags.
func tagConfig() Config {
	cfg := testConfig()
	cfg.Rules = append(cfg.Rules,
		Rule{Name: "tags", Repository: "acme/**", Branch: "main", Files: "public/**", StripPrefix: "public/",
			TagsTemplate: "static-{top}", TagsDomain: "static.example.com"},
		Rule{Name: "deploy-tags", Repository: "acme/**", Environment: "production", DeployOn: []string{"deployment"},
			Tags: []string{"home", "nav"}, TagsDomain: "www.example.com", TagsForce: true},
	)
	return cfg
}

// tagJobs returns the stored tag jobs.
func tagJobs(all []jobs.Job) []jobs.Job {
	var out []jobs.Job
	for _, j := range all {
		if j.Refresh.IsTag() {
			out = append(out, j)
		}
	}
	return out
}

// A GitHub push maps its files to URLs and, through tags_template, to one
// tag per top-level folder; a deployment to the rule's fixed tags with
// Force; a GitLab push likewise.
func TestHooksMapFilesAndDeploysToTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tagConfig())
	body := golden(t, "github_push.json")
	if a := f.post(t, "/hooks/github", githubHeaders("push", "tag-push-1", body, testGitHubSecret), body); a.status != http.StatusAccepted {
		t.Fatalf("push: %d %s", a.status, a.raw)
	}
	got := tagJobs(f.stored(t))
	if len(got) != 1 || got[0].Refresh.Domain != "static.example.com" || got[0].Refresh.Force != nil ||
		!slices.Equal(got[0].Refresh.Tags, []string{"static-img", "static-css", "static-js"}) {
		t.Fatalf("tag jobs after the push: %+v", got)
	}
	if n := len(f.stored(t)); n != 2 {
		t.Fatalf("stored %d jobs, want the URL job and the tag job", n)
	}

	dep := golden(t, "github_deployment_status.json")
	if a := f.post(t, "/hooks/github", githubHeaders("deployment_status", "tag-dep-1", dep, testGitHubSecret), dep); a.status != http.StatusAccepted {
		t.Fatalf("deployment: %d %s", a.status, a.raw)
	}
	got = tagJobs(f.stored(t))
	if len(got) != 2 || got[1].Refresh.Domain != "www.example.com" || got[1].Refresh.Force == nil || !*got[1].Refresh.Force ||
		!slices.Equal(got[1].Refresh.Tags, []string{"home", "nav"}) {
		t.Fatalf("tag jobs after the deployment: %+v", got)
	}

	push := golden(t, "gitlab_push.json")
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Push Hook", "tag-gl-1", testGitLabToken), push); a.status != http.StatusAccepted {
		t.Fatalf("gitlab push: %d %s", a.status, a.raw)
	}
	got = tagJobs(f.stored(t))
	if len(got) != 3 || !slices.Equal(got[2].Refresh.Tags, []string{"static-img", "static-css", "static-js"}) {
		t.Fatalf("tag jobs after the GitLab push: %+v", got)
	}
}

// The generic hook takes a tag job in the wire format, and refuses one of
// a domain not on the allowlist with the field's path.
func TestGenericTagJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	hdr := map[string]string{"Authorization": "Bearer " + testBearer}
	a := f.post(t, "/hooks/generic", hdr, []byte(`{"kind":"refresh","refresh":{"type":"tag","domain":"static.example.com","tags":["a","b"]}}`))
	if a.status != http.StatusAccepted || a.body["paths"] != float64(2) {
		t.Fatalf("tag job: %d %s", a.status, a.raw)
	}
	a = f.post(t, "/hooks/generic", hdr, []byte(`{"kind":"refresh","refresh":{"type":"tag","domain":"evil.example.net","tags":["a"]}}`))
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, "refresh.domain") {
		t.Fatalf("tag job off the allowlist: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("stored %d jobs, want 1", n)
	}
}

// A file whose rendered tag is not a valid tag is listed as refused, the
// rest goes; a file at the root maps to no {top} tag.
func TestTagsTemplateSkipsAndRefuses(t *testing.T) {
	t.Parallel()
	r := Rule{Name: "t", Files: "**", TagsTemplate: "{top}", TagsDomain: "static.example.com"}
	m := mapChanges([]Rule{r}, changeEvent{source: "github", repo: "acme/site", branch: "main",
		changed: []string{"index.html", "img/a.png", "dé/x.css", "img/b.png"}})
	if len(m.jobs) != 1 || !slices.Equal(m.jobs[0].Refresh.Tags, []string{"img"}) {
		t.Fatalf("jobs %+v", m.jobs)
	}
	if len(m.refused) != 1 || m.refused[0].File != "dé/x.css" {
		t.Fatalf("refused %+v, want the non-ASCII folder", m.refused)
	}
}

// Config validation names each tag field's path.
func TestRuleTagValidation(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Rules = []Rule{
		{Name: "no-domain", Files: "**", TagsTemplate: "{top}"},
		{Name: "bad-placeholder", Files: "**", TagsTemplate: "{folder}", TagsDomain: "static.example.com"},
		{Name: "comma", Files: "**", TagsTemplate: "a,{top}", TagsDomain: "static.example.com"},
		{Name: "bad-fixed", Tags: []string{"ok", "has space"}, TagsDomain: "static.example.com"},
		{Name: "template-without-files", TagsTemplate: "{top}", TagsDomain: "static.example.com", Tags: []string{"x"}},
		{Name: "domain-alone", Refresh: []string{"https://static.example.com/a"}, TagsDomain: "static.example.com"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"rules[0].tags_domain", "rules[1].tags_template", "rules[2].tags_template",
		"rules[3].tags[1]", "rules[4].tags_template", "rules[5].tags_domain",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "rules[3].tags[0]") {
		t.Errorf("a valid fixed tag was refused:\n%v", err)
	}

	v, verr := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "*.example.org"}})
	if verr != nil {
		t.Fatal(verr)
	}
	err = CheckRuleURLs([]Rule{
		{Name: "ok", Tags: []string{"a"}, TagsDomain: "static.example.com"},
		{Name: "off", Tags: []string{"a"}, TagsDomain: "evil.example.net"},
		{Name: "wild", Tags: []string{"a"}, TagsDomain: "www.example.org"},
	}, v)
	if err == nil || !strings.Contains(err.Error(), "rules[1].tags_domain") || !strings.Contains(err.Error(), "rules[2].tags_domain") ||
		strings.Contains(err.Error(), "rules[0]") {
		t.Fatalf("CheckRuleURLs = %v", err)
	}
}
