// Package webhooks receives purge requests over HTTP (GitHub, GitLab and a
// generic JSON API), checks their signatures, maps changed files to URLs
// and stores the resulting jobs durably before answering.
package webhooks

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/secretfile"
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
	// DefaultSenderBodyLimit fits the largest payloads GitHub and GitLab
	// send (both cap webhook payloads at 25 MB).
	DefaultSenderBodyLimit = 25 << 20
	// DefaultBufferBudget bounds the bytes of request bodies buffered at
	// once, all hooks together.
	DefaultBufferBudget = 64 << 20
	// DefaultRetryAfter is the Retry-After of a 503 sent while the buffer
	// budget is spent.
	DefaultRetryAfter = 2 * time.Second
	// MaxPublishBudget is the largest webhooks.publish_budget: an answer
	// after the budget still has to reach GitHub within its 10 seconds.
	MaxPublishBudget = 9 * time.Second
	// SpoolOff is the webhooks.spool_dir that turns the spool off.
	SpoolOff = "off"
	// DefaultSpoolMaxBytes is webhooks.spool_max_bytes's default.
	DefaultSpoolMaxBytes = 64 << 20
	// MaxFuture is how far ahead of the server clock a generic hook's
	// timestamp may be: room for clock drift, not for pre-signed requests.
	MaxFuture = 30 * time.Second
	// DefaultReplayBucket is the key-value bucket that remembers the
	// signatures of accepted HMAC-signed generic requests.
	DefaultReplayBucket = "cdnpurge-replay"
)

// Config configures the webhook server. Zero durations and limits take the
// defaults above.
type Config struct {
	// Listen is the address to serve on.
	Listen string `yaml:"listen" json:"listen"`
	// BodyLimit is the largest request body accepted by the generic hook,
	// in bytes.
	BodyLimit int64 `yaml:"body_limit" json:"body_limit"`
	// GitHubBodyLimit and GitLabBodyLimit are the largest bodies of their
	// hooks; payloads of large pushes reach 25 MB.
	GitHubBodyLimit int64 `yaml:"github_body_limit" json:"github_body_limit"`
	GitLabBodyLimit int64 `yaml:"gitlab_body_limit" json:"gitlab_body_limit"`
	// BufferBudget bounds the bytes of request bodies being buffered at
	// once by all hooks; past it new requests get 503 with Retry-After
	// instead of being read.
	BufferBudget int64 `yaml:"buffer_budget" json:"buffer_budget"`
	// RetryAfter is the Retry-After of those 503 answers.
	RetryAfter time.Duration `yaml:"retry_after" json:"retry_after"`
	// PublishBudget bounds how long a hook (and a queued CLI purge, a
	// scheduler tick) keeps retrying a queue passing through a leader
	// election or a reconnect before it answers 503; default 8s, at most
	// MaxPublishBudget (queue.PublisherConfig.Budget).
	PublishBudget time.Duration `yaml:"publish_budget" json:"publish_budget"`
	// SpoolDir is where hooks wait on this host's disk when an outside
	// NATS (nats.url) could not take them within PublishBudget, e.g.
	// during a stream leader election that outlasts it; they are
	// published from there once the queue takes them (jobs/spool).
	// Default: spool/ under nats.embedded.store_dir (serve keeps its
	// state file there with an outside NATS too); "off" answers 503
	// instead. Not used with the embedded server.
	SpoolDir string `yaml:"spool_dir" json:"spool_dir"`
	// SpoolMaxBytes bounds the spool; past it hooks get 503. Default
	// spool.DefaultMaxBytes.
	SpoolMaxBytes     int64         `yaml:"spool_max_bytes" json:"spool_max_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout" json:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout" json:"idle_timeout"`

	// GitHubSecret enables POST /hooks/github (X-Hub-Signature-256).
	GitHubSecret secretfile.Secret `yaml:"github_secret" json:"github_secret"`
	// GitLabToken enables POST /hooks/gitlab (X-Gitlab-Token).
	GitLabToken secretfile.Secret `yaml:"gitlab_token" json:"gitlab_token"`
	// GenericToken enables POST /hooks/generic with Authorization: Bearer.
	GenericToken secretfile.Secret `yaml:"generic_token" json:"generic_token"`
	// GenericHMACSecret enables POST /hooks/generic with
	// X-Cdnpurge-Timestamp and X-Cdnpurge-Signature.
	GenericHMACSecret secretfile.Secret `yaml:"generic_hmac_secret" json:"generic_hmac_secret"`
	// MaxSkew is how far in the past a generic hook's timestamp may be;
	// the signature of an accepted request is remembered that long (plus
	// MaxFuture), so that it is accepted once.
	MaxSkew time.Duration `yaml:"max_skew" json:"max_skew"`
	// ReplayBucket is the JetStream key-value bucket shared by replicas
	// that remembers accepted signatures.
	ReplayBucket string `yaml:"replay_bucket" json:"replay_bucket"`

	// Rules map repository events to URLs.
	Rules []Rule `yaml:"rules" json:"rules"`

	// OSSToken enables POST /hooks/oss (docs/oss.md): the token an
	// EventBridge connection or a forwarder sends as a bearer token, as the
	// password of Basic auth, or in OSSAPIKeyHeader.
	OSSToken secretfile.Secret `yaml:"oss_token" json:"oss_token"`
	// OSSAPIKeyHeader names a header that carries the token itself (an
	// EventBridge connection's API-key authentication); empty: only
	// Authorization is read.
	OSSAPIKeyHeader string `yaml:"oss_api_key_header" json:"oss_api_key_header"`
	// OSSBodyLimit is the largest body of the OSS hook, in bytes.
	OSSBodyLimit int64 `yaml:"oss_body_limit" json:"oss_body_limit"`
	// OSSDedupeWindow is how long a stored OSS event is remembered, so
	// that a redelivery stores nothing (default 24h).
	OSSDedupeWindow time.Duration `yaml:"oss_dedupe_window" json:"oss_dedupe_window"`
	// OSSRules map OSS object events to URLs.
	OSSRules []OSSRule `yaml:"oss_rules" json:"oss_rules"`
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

	// OnTruncated says what a push does whose payload does not list every
	// changed file (GitLab lists at most 20 commits, GitHub caps its
	// lists): refresh fixed URLs and directories besides the listed files,
	// or refuse the push. Unset, only the listed files are refreshed; the
	// answer, a status event and a metric say the push was truncated.
	OnTruncated *OnTruncated `yaml:"on_truncated,omitempty" json:"on_truncated,omitempty"`
	// Priority of the rule's jobs: high, normal (default) or low. When
	// several rules match an event, its jobs take the highest.
	Priority jobs.Priority `yaml:"priority" json:"priority"`
}

// OnTruncated is a rule's fallback for truncated pushes. Either Refuse, or
// at least one URL or directory.
type OnTruncated struct {
	// Refuse queues nothing of the rule for a truncated push (the hook
	// answers 422 when no other rule queues anything).
	Refuse bool `yaml:"refuse,omitempty" json:"refuse,omitempty"`
	// Refresh and RefreshDirs are URLs and directories refreshed instead
	// of the files the payload left out; directories are refreshed without
	// Force, so only what changed at the origin is fetched again.
	Refresh     []string `yaml:"refresh,omitempty" json:"refresh,omitempty"`
	RefreshDirs []string `yaml:"refresh_dirs,omitempty" json:"refresh_dirs,omitempty"`
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
	if c.GitHubBodyLimit <= 0 {
		c.GitHubBodyLimit = DefaultSenderBodyLimit
	}
	if c.GitLabBodyLimit <= 0 {
		c.GitLabBodyLimit = DefaultSenderBodyLimit
	}
	if c.OSSDedupeWindow <= 0 {
		c.OSSDedupeWindow = DefaultOSSDedupeWindow
	}
	if c.BufferBudget <= 0 {
		c.BufferBudget = DefaultBufferBudget
	}
	if c.OSSBodyLimit <= 0 {
		// A smaller buffer budget bounds the default: a config that does
		// not use the OSS hook must not fail on its limit.
		c.OSSBodyLimit = min(DefaultBodyLimit, c.BufferBudget)
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.PublishBudget == 0 {
		c.PublishBudget = queue.DefaultPublishBudget
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.ReplayBucket == "" {
		c.ReplayBucket = DefaultReplayBucket
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

// Validate returns every problem of c, each at its field relative to the
// webhooks section ("rules[2].url_template"), in field order. Zero values
// are fine (they take the defaults).
func (c Config) Validate() fielderr.List {
	var errs fielderr.List
	bad := errs.Add
	if c.Listen != "" {
		if err := CheckListen(c.Listen); err != nil {
			bad("listen", "%v", err)
		}
	}
	for _, l := range []struct {
		field string
		v     int64
	}{{"body_limit", c.BodyLimit}, {"github_body_limit", c.GitHubBodyLimit}, {"gitlab_body_limit", c.GitLabBodyLimit}, {"oss_body_limit", c.OSSBodyLimit}} {
		switch {
		case l.v < 0:
			bad(l.field, "must be > 0 bytes")
		case c.BufferBudget > 0 && l.v > c.BufferBudget:
			bad(l.field, "%d bytes is more than webhooks.buffer_budget (%d): no request that large could ever be read; raise buffer_budget or lower the limit", l.v, c.BufferBudget)
		}
	}
	if c.BufferBudget < 0 {
		bad("buffer_budget", "must be > 0 bytes")
	}
	if c.RetryAfter < 0 {
		bad("retry_after", "must be > 0 (a Go duration such as 2s)")
	}
	if c.PublishBudget < 0 || c.PublishBudget > MaxPublishBudget {
		bad("publish_budget", "%s: must be between 0 (the default, %s) and %s: GitHub waits 10s for a webhook's answer and does not redeliver one that timed out",
			c.PublishBudget, queue.DefaultPublishBudget, MaxPublishBudget)
	}
	if c.ReplayBucket != "" && !kvjson.ValidBucket(c.ReplayBucket) {
		bad("replay_bucket", "%q: want letters, digits, '-' and '_' only", clip(c.ReplayBucket, 64))
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout}, {"max_skew", c.MaxSkew}, {"oss_dedupe_window", c.OSSDedupeWindow}} {
		if d.v < 0 {
			bad(d.field, "%s: must be > 0 (a Go duration such as 5s)", d.v)
		}
	}
	for _, s := range []struct {
		field string
		v     secretfile.Secret
	}{{"github_secret", c.GitHubSecret}, {"gitlab_token", c.GitLabToken}, {"generic_token", c.GenericToken}, {"generic_hmac_secret", c.GenericHMACSecret}, {"oss_token", c.OSSToken}} {
		if s.v != "" && len(s.v) < 16 {
			bad(s.field, "shorter than 16 characters; use a random secret of at least 16")
		}
	}
	for i, r := range c.Rules {
		errs.Append(fmt.Sprintf("rules[%d]", i), r.validate())
	}
	if c.OSSAPIKeyHeader != "" && !validHeaderName(c.OSSAPIKeyHeader) {
		bad("oss_api_key_header", "%q: want a header name of letters, digits and '-', such as X-Api-Key", clip(c.OSSAPIKeyHeader, maxEchoValue))
	}
	for i, r := range c.OSSRules {
		errs.Append(fmt.Sprintf("oss_rules[%d]", i), r.validate())
	}
	return errs
}

// CheckListen refuses a listen address that is not host:port (":8080",
// "127.0.0.1:8080", "[::1]:8080"); "8080" alone is the usual slip.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, numErr := strconv.Atoi(addr); numErr == nil {
			return fmt.Errorf("%q is a port without a host; write \":%s\" (all interfaces) or \"127.0.0.1:%s\"", addr, addr, addr)
		}
		return fmt.Errorf("%q: want host:port such as :8080 or 127.0.0.1:8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q: want 0-65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: host %q is not a host name or IP address", addr, host)
	}
	return nil
}

// The routes the server serves itself.
const (
	routeHealthz = "GET /healthz"
	routeReadyz  = "GET /readyz"
)

// CheckRuleURLs makes sure every URL a rule can produce is allowed by v, so
// a misconfigured rule fails at start (and in config check) rather than on
// every deploy. New runs it; so does the config's validation. Fields are
// relative to the webhooks section ("rules[2].refresh[0]").
func CheckRuleURLs(rules []Rule, v *jobs.Validator) fielderr.List {
	var errs fielderr.List
	for i, r := range rules {
		if r.URLTemplate != "" {
			sample := r.render("sample/file.css", "owner/repo", "main")
			if _, err := v.Normalize(sample, apiclient.ObjectFile); err != nil {
				errs.Add(fmt.Sprintf("rules[%d].url_template", i), "%v", err)
			}
		}
		for _, list := range []struct {
			field string
			paths []string
			ot    apiclient.ObjectType
		}{{"refresh", r.Refresh, apiclient.ObjectFile}, {"refresh_dirs", r.RefreshDirs, apiclient.ObjectDirectory}, {"prefetch", r.Prefetch, apiclient.ObjectFile},
			{"on_truncated.refresh", r.OnTruncated.refresh(), apiclient.ObjectFile}, {"on_truncated.refresh_dirs", r.OnTruncated.refreshDirs(), apiclient.ObjectDirectory}} {
			for k, p := range list.paths {
				if _, err := v.Normalize(p, list.ot); err != nil {
					errs.Add(fmt.Sprintf("rules[%d].%s[%d]", i, list.field, k), "%v", err)
				}
			}
		}
	}
	return errs
}

// validate returns the rule's problems, each at its field in the rule.
func (r Rule) validate() fielderr.List {
	var out fielderr.List
	add := out.Add
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
	if t := r.OnTruncated; t != nil {
		switch {
		case r.Files == "":
			add("on_truncated", "applies to push mappings only; set files and url_template, or remove on_truncated")
		case t.Refuse && len(t.Refresh)+len(t.RefreshDirs) > 0:
			add("on_truncated", "refuse and refresh/refresh_dirs exclude each other; choose one")
		case !t.Refuse && len(t.Refresh)+len(t.RefreshDirs) == 0:
			add("on_truncated", "empty: set refuse: true, or list refresh URLs or refresh_dirs directories to refresh instead")
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
	return checkFixedHost(t, "https://static.example.com/{path}")
}

// checkFixedHost refuses a URL template that is not http(s) or whose host
// has a placeholder: the allowlist is checked against the host at start.
func checkFixedHost(t, example string) error {
	if !strings.HasPrefix(t, "https://") && !strings.HasPrefix(t, "http://") {
		return fmt.Errorf("%q: must start with https:// or http://", t)
	}
	_, afterScheme, _ := strings.Cut(t, "://")
	host, _, _ := strings.Cut(afterScheme, "/")
	if host == "" || strings.Contains(host, "{") {
		return fmt.Errorf("%q: the host must be fixed, for example %s", t, example)
	}
	return nil
}
