// Package webhooks receives purge requests over HTTP (GitHub, GitLab and a
// generic JSON API), checks their signatures, maps changed files to URLs
// and stores the resulting jobs durably before answering.
package webhooks

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Defaults for Config.
const (
	DefaultListen            = ":8080"
	DefaultBodyLimit         = 1 << 20 // 1 MiB
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 20 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxSkew           = 5 * time.Minute
)

// Secret is a string that never prints: logs, errors and config dumps show
// "[redacted]".
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON redacts the secret in JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// Config configures the webhook server. Zero durations and limits take the
// defaults above.
type Config struct {
	// Listen is the address to serve on.
	Listen string `yaml:"listen" json:"listen"`
	// BodyLimit is the largest request body accepted, in bytes.
	BodyLimit         int64         `yaml:"body_limit" json:"body_limit"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout" json:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout" json:"idle_timeout"`

	// GitHubSecret enables POST /hooks/github (X-Hub-Signature-256).
	GitHubSecret Secret `yaml:"github_secret" json:"github_secret"`
	// GitLabToken enables POST /hooks/gitlab (X-Gitlab-Token).
	GitLabToken Secret `yaml:"gitlab_token" json:"gitlab_token"`
	// GenericToken enables POST /hooks/generic with Authorization: Bearer.
	GenericToken Secret `yaml:"generic_token" json:"generic_token"`
	// GenericHMACSecret enables POST /hooks/generic with
	// X-Cdnpurge-Timestamp and X-Cdnpurge-Signature.
	GenericHMACSecret Secret `yaml:"generic_hmac_secret" json:"generic_hmac_secret"`
	// MaxSkew is how far a generic hook's timestamp may be from now.
	MaxSkew time.Duration `yaml:"max_skew" json:"max_skew"`

	// Rules map repository events to URLs.
	Rules []Rule `yaml:"rules" json:"rules"`
}

// Rule maps events of matching repositories to purge jobs. Empty filters
// match everything. Globs use path.Match syntax per '/'-separated segment,
// plus "**" for any number of segments.
type Rule struct {
	// Name appears in logs and job sources.
	Name string `yaml:"name" json:"name"`
	// Source limits the rule to "github" or "gitlab".
	Source string `yaml:"source" json:"source"`
	// Repository is a glob on "owner/name" (GitLab: the full namespace path).
	Repository string `yaml:"repository" json:"repository"`
	// Branch is a glob on the branch name (push) or deployed ref.
	Branch string `yaml:"branch" json:"branch"`
	// Environment is a glob on the deployment environment; a rule with an
	// environment never matches pipeline events, which have none.
	Environment string `yaml:"environment" json:"environment"`

	// Files is a glob on repository paths of changed files, for example
	// "public/**". Push events map matching files through URLTemplate.
	Files string `yaml:"files" json:"files"`
	// StripPrefix is removed from a file's path to form {path}.
	StripPrefix string `yaml:"strip_prefix" json:"strip_prefix"`
	// URLTemplate builds a URL from {path} (the file path after
	// StripPrefix, escaped), {file} (the full path), {repo}, {branch}.
	URLTemplate string `yaml:"url_template" json:"url_template"`
	// PrefetchChanged also prefetches added and modified files.
	PrefetchChanged bool `yaml:"prefetch_changed" json:"prefetch_changed"`

	// Refresh, RefreshDirs and Prefetch are fixed URLs purged or prefetched
	// after a successful deploy (deployment or pipeline success).
	Refresh     []string `yaml:"refresh" json:"refresh"`
	RefreshDirs []string `yaml:"refresh_dirs" json:"refresh_dirs"`
	Prefetch    []string `yaml:"prefetch" json:"prefetch"`
	// DeployOn lists what counts as a successful deploy: "deployment",
	// "pipeline"; empty means both.
	DeployOn []string `yaml:"deploy_on" json:"deploy_on"`
	// Priority of the rule's jobs: high, normal (default) or low. When
	// several rules match an event, its jobs take the highest.
	Priority jobs.Priority `yaml:"priority" json:"priority"`
}

// highest returns the more urgent of two priorities.
func highest(a, b jobs.Priority) jobs.Priority {
	if b.Rank() >= 0 && (a.Rank() < 0 || b.Rank() < a.Rank()) {
		return b
	}
	return a
}

// WithDefaults returns c with zero values filled in.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	return c
}

// Validate returns every problem of c, each naming its field
// ("webhooks.rules[2].url_template: ...").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhooks.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.BodyLimit < 0 {
		bad("body_limit", "must be > 0 bytes")
	}
	for _, s := range []struct {
		field string
		v     Secret
	}{{"github_secret", c.GitHubSecret}, {"gitlab_token", c.GitLabToken}, {"generic_token", c.GenericToken}, {"generic_hmac_secret", c.GenericHMACSecret}} {
		if s.v != "" && len(s.v) < 16 {
			bad(s.field, "shorter than 16 characters; use a random secret of at least 16")
		}
	}
	for i, r := range c.Rules {
		for _, e := range r.validate() {
			bad(fmt.Sprintf("rules[%d].%s", i, e.field), "%s", e.msg)
		}
	}
	return errors.Join(errs...)
}

type fieldErr struct{ field, msg string }

func (r Rule) validate() []fieldErr {
	var out []fieldErr
	add := func(f, format string, args ...any) { out = append(out, fieldErr{f, fmt.Sprintf(format, args...)}) }
	switch r.Source {
	case "", "github", "gitlab":
	default:
		add("source", "%q: want github, gitlab or empty for both", r.Source)
	}
	if r.Priority.Rank() < 0 {
		add("priority", "%q: want high, normal or low", r.Priority)
	}
	for _, g := range []struct{ f, v string }{{"repository", r.Repository}, {"branch", r.Branch}, {"environment", r.Environment}, {"files", r.Files}} {
		if g.v != "" {
			if _, err := path.Match(strings.ReplaceAll(g.v, "**", "*"), ""); err != nil {
				add(g.f, "glob %q: %v", g.v, err)
			}
		}
	}
	if (r.Files == "") != (r.URLTemplate == "") {
		add("url_template", "files and url_template go together: set both to map changed files, or neither")
	}
	if r.URLTemplate != "" {
		if err := checkTemplate(r.URLTemplate); err != nil {
			add("url_template", "%v", err)
		}
	}
	for _, d := range r.DeployOn {
		if d != "deployment" && d != "pipeline" {
			add("deploy_on", "%q: want deployment or pipeline", d)
		}
	}
	if r.Files == "" && len(r.Refresh)+len(r.RefreshDirs)+len(r.Prefetch) == 0 {
		add("files", "the rule does nothing: set files and url_template, or refresh/refresh_dirs/prefetch")
	}
	return out
}

var placeholders = []string{"{path}", "{file}", "{repo}", "{branch}"}

func checkTemplate(t string) error {
	rest := t
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q: unknown placeholder; use %s", t, strings.Join(placeholders, ", "))
	}
	if !strings.Contains(t, "{path}") && !strings.Contains(t, "{file}") {
		return fmt.Errorf("%q: needs {path} or {file}", t)
	}
	if !strings.HasPrefix(t, "https://") && !strings.HasPrefix(t, "http://") {
		return fmt.Errorf("%q: must start with https:// or http://", t)
	}
	_, afterScheme, _ := strings.Cut(t, "://")
	host, _, _ := strings.Cut(afterScheme, "/")
	if host == "" || strings.Contains(host, "{") {
		return fmt.Errorf("%q: the host must be fixed, for example https://static.example.com/{path}", t)
	}
	return nil
}
