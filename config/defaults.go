package config

import (
	"maps"
	"net"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
)

// The emulator's default account (apiclient/cdnemu), repeated here because
// production code does not import the emulator; a test keeps them equal.
const (
	EmulatorAccessKeyID     = "testid"
	EmulatorAccessKeySecret = "testsecret"
	EmulatorDomain          = "example.com"
)

// Defaults not owned by another package.
const (
	DefaultNATSName    = "cdnpurge"
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "auto"
	DefaultMetricsPath = "/metrics"
	DefaultScheme      = "https"
)

// WithDefaults returns a copy of c with every zero value filled in. With
// cdn.emulator set, missing credentials become the emulator's pair and an
// empty domain list the emulator's domain, so that serve runs with no
// config at all.
func (c Config) WithDefaults() Config {
	n := &c.NATS
	n.Name = or(n.Name, DefaultNATSName)
	n.Embedded.Host = or(n.Embedded.Host, embedded.DefaultHost)
	if n.Embedded.Port == 0 {
		n.Embedded.Port = embedded.DefaultPort
	}
	n.Embedded.StoreDir = or(n.Embedded.StoreDir, embedded.DefaultStoreDir)
	n.SubjectPrefix = or(n.SubjectPrefix, jobs.DefaultSubjectPrefix)
	n.Stream = or(n.Stream, queue.DefaultStreamName)
	n.StatusStream = or(n.StatusStream, queue.DefaultStatusStreamName)
	if n.Replicas == 0 {
		n.Replicas = 1
	}
	n.DuplicateWindow = orDur(n.DuplicateWindow, queue.DefaultDuplicateWindow)
	n.PublishTimeout = orDur(n.PublishTimeout, queue.DefaultPublishTimeout)

	c.Redis.KeyPrefix = or(c.Redis.KeyPrefix, quota.DefaultPrefix)

	d := &c.CDN
	d.Endpoint = or(d.Endpoint, apiclient.RegionEndpoint(d.Region))
	d.STSEndpoint = or(d.STSEndpoint, defaultSTSEndpoint(d.Endpoint))
	d.DCDNEndpoint = or(d.DCDNEndpoint, apiclient.DCDN().Endpoint)
	d.Version = or(d.Version, apiclient.VersionCurrent)
	d.Retry = d.Retry.WithDefaults()
	d.Breaker = d.Breaker.WithDefaults()
	if d.RateShare == 0 {
		d.RateShare = 1
	}
	d.RateLimits = maps.Clone(d.RateLimits)
	switch {
	case d.DomainURLsPerMinute != 0:
	case d.Emulator:
		// The emulator enforces no per-minute limit unless told to
		// (cdnpurge emulator --domain-urls-per-minute).
		d.DomainURLsPerMinute = -1
	default:
		d.DomainURLsPerMinute = apiclient.CDN().Caps.URLsPerDomainPerMinute
	}
	switch {
	case d.DCDNDomainURLsPerMinute != 0:
	case d.Emulator:
		d.DCDNDomainURLsPerMinute = -1
	default:
		d.DCDNDomainURLsPerMinute = apiclient.DCDN().Caps.URLsPerDomainPerMinute
	}
	if st := &d.Credentials.Static; d.Emulator && d.Credentials.Type == "" && st.AccessKeyID == "" && st.AccessKeySecret == "" {
		*st = Credentials{AccessKeyID: EmulatorAccessKeyID, AccessKeySecret: EmulatorAccessKeySecret, Source: "emulator default"}
	}
	c.Allowlist = c.allowlistWithDefaults()
	c.DefaultScheme = or(c.DefaultScheme, DefaultScheme)

	c.Webhooks.Config = c.Webhooks.Config.WithDefaults()

	q := &c.Quota
	q.SyncInterval = orDur(q.SyncInterval, quota.DefaultSyncInterval)
	q.TimeZone = or(q.TimeZone, apiclient.QuotaTimeZone)
	q.ReservationTTL = orDur(q.ReservationTTL, quota.DefaultReservationTTL)
	q.BoundaryDelay = orDur(q.BoundaryDelay, quota.DefaultBoundaryDelay)

	w := &c.Worker
	w.TaskBucket = or(w.TaskBucket, worker.DefaultTaskBucket)
	w.ArchiveRetention = orDur(w.ArchiveRetention, worker.DefaultArchiveRetention)
	// The worker's day is the quota's (quota.time_zone, defaulted above),
	// set before the worker's own defaults, which only fill what is unset;
	// so that config check prints what runs.
	if w.Location == nil {
		w.Location = c.Location()
	}
	w.Config = w.Config.WithDefaults()

	c.Log.Level = or(c.Log.Level, DefaultLogLevel)
	c.Log.Format = or(c.Log.Format, DefaultLogFormat)
	c.Metrics.Path = or(c.Metrics.Path, DefaultMetricsPath)
	c.Admin = c.Admin.WithDefaults()
	return c
}

// defaultSTSEndpoint is sts.aliyuncs.com, unless cdn.endpoint points away
// from Alibaba Cloud (an emulator, a test double): then STS is asked there
// too, so that the keys meant for it are not sent to the real STS.
func defaultSTSEndpoint(endpoint string) string {
	host := endpoint
	if _, rest, ok := strings.Cut(host, "://"); ok {
		host = rest
	}
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "aliyuncs.com" || strings.HasSuffix(host, ".aliyuncs.com") {
		return credentials.DefaultSTSEndpoint
	}
	return endpoint
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
