package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/redact"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// Validate returns every problem of c (run WithDefaults first) as Problems,
// each a FieldError naming its path; nil when c is usable. It only reads
// c. It applies the same checks serve's constructors apply (apiclient.New,
// webhooks.New, worker.New, operations.New, ...), by calling the functions
// they call, so that a config that passes `config check` starts.
//
// Adding a field: put its rule in the owning package's Validate (or a
// Check function the constructor calls too), returning a fielderr.List
// whose fields are relative to the value it is given, and add that here
// with addList and the section's path as prefix; the line in the file and
// the order come from the machinery. No field is ever read back out of an
// error's text.
func (c *Config) Validate() error {
	var p problems
	c.validate(&p)
	if len(p) == 0 {
		return nil
	}
	return p.where(nil)
}

func (c *Config) validate(p *problems) {
	c.validateNATS(p)
	if c.Redis.URL != "" {
		if _, err := redis.ParseURL(c.Redis.URL); err != nil {
			p.add("redis.url", "not a Redis URL (%s); want redis://[user:password@]host:6379/0 or rediss://...", redactErr(err, c.Redis.URL))
		}
	}
	p.addList("", c.connectionProblems())
	c.validateCDN(p)

	var validator *jobs.Validator
	schemeOK := c.DefaultScheme == "http" || c.DefaultScheme == "https"
	if !schemeOK {
		p.add("default_scheme", "%q: want https or http", c.DefaultScheme)
	}
	switch {
	case len(c.DomainNames()) == 0:
		p.add("domains", "empty: list the host names (or *.example.com wildcards) cdnpurge may purge")
	case c.validateDomains(p) && schemeOK:
		v, err := jobs.NewValidator(c.ValidatorConfig())
		if err != nil {
			p.add("domains", "%v", err)
			break
		}
		validator = v
	}

	p.addList("webhooks", c.Webhooks.Config.Validate())
	if validator != nil {
		p.addList("webhooks", webhooks.CheckRuleURLs(c.Webhooks.Rules, validator))
		p.addList("webhooks", webhooks.CheckOSSRuleURLs(c.Webhooks.OSSRules, validator))
	}
	metricsPath := c.Metrics.Path
	if c.Metrics.Disabled {
		metricsPath = DefaultMetricsPath // nothing is mounted; check the rest
	}
	p.addList("", c.Admin.Validate(c.Webhooks.Listen, metricsPath)) // names admin.listen and metrics.path

	p.addList("worker", c.Worker.Config.Validate())
	if !kvjson.ValidBucket(c.Worker.TaskBucket) {
		p.add("worker.task_bucket", "%q: want a key-value bucket name of letters, digits, - and _", c.Worker.TaskBucket)
	}

	c.validateArchive(p)

	q := c.Quota
	positive(p, "quota.sync_interval", q.SyncInterval)
	positive(p, "quota.reservation_ttl", q.ReservationTTL)
	positive(p, "quota.boundary_delay", q.BoundaryDelay)
	for _, sp := range quota.ValidateShares(c.Quota.Shares) {
		p.add(fmt.Sprintf("quota.shares[%d].%s", sp.Index, sp.Field), "%s", sp.Msg)
	}
	if _, err := loadZone(q.TimeZone); err != nil {
		p.add("quota.time_zone", "unknown time zone %q; use an IANA name such as Asia/Shanghai", q.TimeZone)
	}

	p.addList("schedules", operations.ValidateAll(c.Schedules, validator))

	if _, err := ParseLogLevel(c.Log.Level); err != nil {
		p.add("log.level", "%v", err)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		p.add("log.format", "%q: want auto, text or json", c.Log.Format)
	}
}

// loadZone loads the quota day's zone; Asia/Shanghai is quota's, loaded
// once for the process.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == apiclient.QuotaTimeZone {
		return quota.DefaultLocation(), nil
	}
	return time.LoadLocation(name)
}

func positive(p *problems, field string, d time.Duration) {
	if d <= 0 {
		p.add(field, "%s: must be > 0 (a Go duration such as 1s or 5m)", d)
	}
}

// checkName refuses a JetStream stream, consumer or bucket name that
// JetStream would refuse.
func checkName(p *problems, field, v string) {
	if v == "" || strings.ContainsAny(v, " .*>/\\\t") {
		p.add(field, "%q: want a name without spaces, dots, wildcards or slashes", v)
	}
}

func (c *Config) validateNATS(p *problems) {
	n := c.NATS
	if n.URL != "" {
		for part := range strings.SplitSeq(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.Host == "" {
				p.add("nats.url", "%q is not a server URL; want nats://host:4222 (comma-separate several)", redact.URL(part))
				continue
			}
			switch u.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				p.add("nats.url", "scheme %q: want nats, tls, ws or wss", u.Scheme)
			}
		}
	}
	if h := n.Embedded.Host; h == "" || (net.ParseIP(h) == nil && strings.ContainsAny(h, " /:[]")) {
		p.add("nats.embedded.host", "%q: want a host name or IP address without a port, such as 127.0.0.1", h)
	}
	if e := n.Embedded.Port; e != embedded.RandomPort && (e < 1 || e > 65535) {
		p.add("nats.embedded.port", "%d: want 1-65535, or -1 for a free port", e)
	}
	if n.Embedded.StoreDir == "" {
		p.add("nats.embedded.store_dir", "must not be empty")
	}
	if _, err := jobs.NewSubjects(n.SubjectPrefix); err != nil {
		p.add("nats.subject_prefix", "%v", err)
	}
	checkName(p, "nats.stream", n.Stream)
	checkName(p, "nats.status_stream", n.StatusStream)
	if n.Stream == n.StatusStream {
		p.add("nats.status_stream", "must differ from nats.stream")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		p.add("nats.replicas", "%d: want 1-5", n.Replicas)
	}
	if n.DuplicateWindow < 2*time.Minute {
		p.add("nats.duplicate_window", "%s: must be >= 2m so that redelivered webhooks are caught", n.DuplicateWindow)
	}
	positive(p, "nats.publish_timeout", n.PublishTimeout)
}

// validateCDN applies apiclient.New's checks (Options.Validate) to the cdn
// section; the credentials problem gets config's own hint.
func (c *Config) validateCDN(p *problems) {
	p.addList("cdn", c.APIClientOptions(nil).Validate())
	c.validateCredentials(p)
}

// redactErr keeps a parse error from repeating a URL with its password.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, redact.URL(raw))
	}
	return msg
}
