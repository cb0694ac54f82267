package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/worker/scheduler"
)

// FieldError is one problem of a config, at a field's YAML path.
type FieldError struct {
	Field string
	Msg   string
}

// Error reads "worker.linger: must be > 0".
func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// problems collects FieldErrors in the order found.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) positive(field string, d time.Duration) {
	if d <= 0 {
		p.add(field, "must be > 0 (a Go duration such as 1s or 5m)")
	}
}

func (p *problems) atLeast(field string, n, min int) {
	if n < min {
		p.add(field, "must be >= %d", min)
	}
}

// Validate returns every problem of c (run WithDefaults first), each a
// FieldError naming its path, joined with errors.Join; nil when c is usable.
func (c *Config) Validate() error {
	var p problems
	c.validateNATS(&p)
	if c.Redis.URL != "" {
		if _, err := redis.ParseURL(c.Redis.URL); err != nil {
			p.add("redis.url", "not a Redis URL (%s); want redis://[user:password@]host:6379/0 or rediss://...", redactErr(err, c.Redis.URL))
		}
	}
	c.validateCDN(&p)
	var validator *jobs.Validator
	if len(c.Domains) == 0 {
		p.add("domains", "empty: list the host names (or *.example.com wildcards) cdnpurge may purge")
	} else if v, err := jobs.NewValidator(c.ValidatorConfig()); err != nil {
		p.add("domains", "%v", err)
	} else {
		validator = v
	}
	if c.DefaultScheme != "http" && c.DefaultScheme != "https" {
		p.add("default_scheme", "%q: want https or http", c.DefaultScheme)
	}
	if err := c.Webhooks.Config.Validate(); err != nil {
		p = append(p, err) // already names webhooks.<field>
	}
	c.validateWorker(&p)
	q := c.Quota
	p.positive("quota.sync_interval", q.SyncInterval)
	p.positive("quota.reservation_ttl", q.ReservationTTL)
	p.positive("quota.boundary_delay", q.BoundaryDelay)
	if _, err := time.LoadLocation(q.TimeZone); err != nil && q.TimeZone != apiclient.QuotaTimeZone {
		p.add("quota.time_zone", "unknown time zone %q; use an IANA name such as Asia/Shanghai", q.TimeZone)
	}
	if err := scheduler.ValidateAll(c.Schedules, validator); err != nil {
		p = append(p, err) // already names schedules[i].<field>
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		p.add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		p.add("log.format", "%q: want auto, text or json", c.Log.Format)
	}
	if !strings.HasPrefix(c.Metrics.Path, "/") {
		p.add("metrics.path", "%q: must start with /", c.Metrics.Path)
	}
	return errors.Join(p...)
}

func (c *Config) validateNATS(p *problems) {
	n := c.NATS
	if n.URL != "" {
		for part := range strings.SplitSeq(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.Host == "" {
				p.add("nats.url", "%q is not a server URL; want nats://host:4222 (comma-separate several)", RedactURL(part))
				continue
			}
			switch u.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				p.add("nats.url", "scheme %q: want nats, tls, ws or wss", u.Scheme)
			}
		}
	}
	if e := n.Embedded.Port; e != jobs.RandomPort && (e < 1 || e > 65535) {
		p.add("nats.embedded.port", "%d: want 1-65535, or -1 for a free port", e)
	}
	if n.Embedded.StoreDir == "" {
		p.add("nats.embedded.store_dir", "must not be empty")
	}
	if _, err := jobs.NewSubjects(n.SubjectPrefix); err != nil {
		p.add("nats.subject_prefix", "%v", err)
	}
	for _, s := range []struct{ field, v string }{{"nats.stream", n.Stream}, {"nats.status_stream", n.StatusStream}, {"worker.task_bucket", c.Worker.TaskBucket}} {
		if s.v == "" || strings.ContainsAny(s.v, " .*>/\\\t") {
			p.add(s.field, "%q: want a name without spaces, dots, wildcards or slashes", s.v)
		}
	}
	if n.Stream == n.StatusStream {
		p.add("nats.status_stream", "must differ from nats.stream")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		p.add("nats.replicas", "%d: want 1-5", n.Replicas)
	}
	if n.DuplicateWindow < 2*time.Minute {
		p.add("nats.duplicate_window", "%s: must be >= 2m so that redelivered webhooks are caught", n.DuplicateWindow)
	}
	p.positive("nats.publish_timeout", n.PublishTimeout)
}

func (c *Config) validateCDN(p *problems) {
	d := c.CDN
	for _, e := range []struct{ field, v string }{{"cdn.endpoint", d.Endpoint}, {"cdn.dcdn_endpoint", d.DCDNEndpoint}} {
		u, err := url.Parse(e.v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(e.field, "%q: want an http(s) URL such as https://cdn.aliyuncs.com", RedactURL(e.v))
		}
	}
	if d.Version != apiclient.VersionCurrent && d.Version != apiclient.VersionLegacy {
		p.add("cdn.version", "%q: want %s or %s", d.Version, apiclient.VersionCurrent, apiclient.VersionLegacy)
	}
	r := d.Retry
	p.positive("cdn.retry.base", r.Base)
	p.positive("cdn.retry.max", r.Max)
	p.positive("cdn.retry.max_total", r.MaxTotal)
	if r.Base > r.Max && r.Max > 0 {
		p.add("cdn.retry.base", "%s is more than cdn.retry.max (%s)", r.Base, r.Max)
	}
	if r.JitterPercent > 100 {
		p.add("cdn.retry.jitter_percent", "%d: want 0-100", r.JitterPercent)
	}
	if b := d.Breaker; b.Threshold >= 0 {
		p.positive("cdn.breaker.cooldown", b.Cooldown)
		if b.MaxCooldown < b.Cooldown {
			p.add("cdn.breaker.max_cooldown", "%s is less than cdn.breaker.cooldown (%s)", b.MaxCooldown, b.Cooldown)
		}
	}
	if d.RateShare <= 0 || d.RateShare > 1 {
		p.add("cdn.rate_share", "%g: want a share in (0,1], e.g. 0.5 for each of 2 replicas", d.RateShare)
	}
	known := make([]string, 0, len(apiclient.DefaultRateLimits))
	for k := range apiclient.DefaultRateLimits {
		known = append(known, k)
	}
	sort.Strings(known)
	for k := range d.RateLimits {
		if !slices.Contains(known, k) {
			p.add("cdn.rate_limits."+k, "unknown API action; want one of %s", strings.Join(known, ", "))
		}
	}
	cr := d.Credentials
	switch {
	case cr.AccessKeyID == "" && cr.AccessKeySecret == "":
		p.add("cdn.credentials", "no AccessKey pair: set %s and %s, or cdn.credentials_file (or run against the emulator with --emulator / cdn.emulator: true)",
			apiclient.EnvAccessKeyID, apiclient.EnvAccessKeySecret)
	case cr.AccessKeyID == "":
		p.add("cdn.credentials", "the AccessKey secret is set (%s) but not the key ID", cr.Source)
	case cr.AccessKeySecret == "":
		p.add("cdn.credentials", "the AccessKey ID is set (%s) but not the secret", cr.Source)
	}
}

func (c *Config) validateWorker(p *problems) {
	w := c.Worker
	if w.Consumer == "" || strings.ContainsAny(w.Consumer, " .*>/\\\t") {
		p.add("worker.consumer", "%q: want a name without spaces, dots, wildcards or slashes", w.Consumer)
	}
	if err := w.Collapse.Validate(); err != nil {
		*p = append(*p, err) // already names worker.collapse.<field>
	}
	p.positive("worker.linger", w.Linger)
	p.positive("worker.ack_wait", w.AckWait)
	p.positive("worker.quota_hold", w.QuotaHold)
	p.positive("worker.quota_poll", w.QuotaPoll)
	p.positive("worker.defer_max", w.DeferMax)
	p.positive("worker.retry_delay", w.RetryDelay)
	p.positive("worker.pause_for", w.PauseFor)
	p.positive("worker.shutdown_grace", w.ShutdownGrace)
	p.atLeast("worker.submitters", w.Submitters, 1)
	p.atLeast("worker.max_inflight_paths", w.MaxInflightPaths, 1)
	p.atLeast("worker.max_ack_pending", w.MaxAckPending, 1)
	if w.AckWait > 0 && w.AckWait < 3*time.Second {
		p.add("worker.ack_wait", "%s: must be >= 3s; in-flight messages are extended every ack_wait/3", w.AckWait)
	}
	for _, l := range []struct {
		field  string
		v, max int
	}{
		{"worker.limits.urls_per_refresh", w.Limits.URLsPerRefresh, apiclient.MaxURLsPerRefresh},
		{"worker.limits.dirs_per_refresh", w.Limits.DirsPerRefresh, apiclient.MaxDirsPerRefresh},
		{"worker.limits.regex_per_refresh", w.Limits.RegexPerRefresh, apiclient.MaxRegexPerRefresh},
		{"worker.limits.urls_per_push", w.Limits.URLsPerPush, apiclient.MaxURLsPerPush},
		{"worker.limits.domains_per_refresh", w.Limits.DomainsPerRefresh, apiclient.MaxDomainsPerRefresh},
	} {
		if l.v < 1 || l.v > l.max {
			p.add(l.field, "%d: want 1-%d (the API's per-request cap)", l.v, l.max)
		}
	}
	t := w.Tracker
	p.positive("worker.tracker.interval", t.Interval)
	p.positive("worker.tracker.first_poll", t.FirstPoll)
	p.positive("worker.tracker.max_poll_interval", t.MaxPollInterval)
	p.positive("worker.tracker.deadline", t.Deadline)
	p.positive("worker.tracker.lease", t.Lease)
	p.atLeast("worker.tracker.max_per_round", t.MaxPerRound, 1)
}

// RedactURL masks the password of a URL (or each of a comma-separated
// list) for logs and dumps.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			if strings.Contains(part, "@") {
				parts[i] = Redacted
			}
			continue
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else if u.User.Username() != "" {
				// nats://TOKEN@host: the user part is the token.
				u.User = url.User("xxxxx")
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// redactErr keeps a parse error from repeating a URL with its password.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, RedactURL(raw))
	}
	return msg
}
