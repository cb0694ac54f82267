package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
)

// Location returns the quota day's zone (quota.time_zone); Asia/Shanghai
// works without a time zone database (a fixed UTC+8 zone, exact since
// 1991). It reads the config only: an unknown zone gives Asia/Shanghai
// here and a problem from Validate.
func (c *Config) Location() *time.Location {
	loc, err := loadZone(c.Quota.TimeZone)
	if err != nil {
		return quota.DefaultLocation() // Validate reports it
	}
	return loc
}

// APIClientOptions returns the CDN API client options; log receives retry
// warnings.
func (c *Config) APIClientOptions(log *slog.Logger) apiclient.Options {
	return apiclient.Options{
		Endpoint:    c.CDN.Endpoint,
		Endpoints:   map[apiclient.Product]string{apiclient.ProductDCDN: c.CDN.DCDNEndpoint, apiclient.ProductESA: c.CDN.ESAEndpoint},
		Version:     c.CDN.Version,
		Signature:   c.CDN.Signature,
		STSEndpoint: c.CDN.STSEndpoint,
		Credentials: c.CDN.Credentials.Static.API(),
		Retry:       c.CDN.Retry,
		Breaker:     c.CDN.Breaker,
		RateLimits:  c.CDN.RateLimits,
		RateShare:   c.CDN.RateShare,
		Logger:      log,
	}
}

// ValidatorConfig returns the path validation every producer applies.
func (c *Config) ValidatorConfig() jobs.ValidatorConfig {
	return jobs.ValidatorConfig{Domains: c.DomainNames(), DefaultScheme: c.DefaultScheme}
}

// Subjects returns the NATS subject scheme.
func (c *Config) Subjects() (jobs.Subjects, error) {
	s, err := jobs.NewSubjects(c.NATS.SubjectPrefix)
	if err != nil {
		return jobs.Subjects{}, fmt.Errorf("nats.subject_prefix: %w", err)
	}
	return s, nil
}

// StreamConfig returns the work stream's shape.
func (c *Config) StreamConfig(s jobs.Subjects) queue.StreamConfig {
	return queue.StreamConfig{Name: c.NATS.Stream, Subjects: s, Replicas: c.NATS.Replicas, Duplicates: c.NATS.DuplicateWindow}
}

// StatusStreamConfig returns the status stream's shape.
func (c *Config) StatusStreamConfig(s jobs.Subjects) queue.StatusStreamConfig {
	return queue.StatusStreamConfig{Name: c.NATS.StatusStream, Subjects: s, Replicas: c.NATS.Replicas}
}

// PublisherConfig returns what a job producer needs.
func (c *Config) PublisherConfig(s jobs.Subjects) queue.PublisherConfig {
	pc := queue.PublisherConfig{Subjects: s, Stream: c.NATS.Stream, Timeout: c.NATS.PublishTimeout, Duplicates: c.NATS.DuplicateWindow, Replicas: c.NATS.Replicas,
		Budget: c.Webhooks.PublishBudget}
	if c.NATS.URL == "" && embedded.GroupCommit(c.NATS.Embedded.SyncInterval) {
		// The embedded server on this host: flush what was stored before
		// answering, grouped (docs/internals.md, "Group commit").
		pc.Durable = c.GroupSync(c.NATS.Embedded.StoreDir)
	}
	return pc
}

// GroupSync returns the group commit of the streams producers write to
// (work, urgent, ticks, idempotency keys) in the embedded store at
// storeDir, and of the control bucket: the pauses and cancels of the
// operator are written beside the producers, and so is each replica's
// heartbeat, every 5 s; left to the lazy sync, a power cut could leave
// the bucket's files in a state the server will not restore, and every
// pause and cancel in it would be lost.
func (c *Config) GroupSync(storeDir string) *embedded.GroupSync {
	work := or(c.NATS.Stream, queue.DefaultStreamName)
	return embedded.NewGroupSync(storeDir, work, queue.UrgentStreamName(work), queue.SchedStreamName(work), "KV_"+queue.DefaultIdempotencyBucket,
		"KV_"+worker.DefaultControlBucket)
}

// Warnings returns the risks this valid config accepts, one line each;
// `config check` and `serve` print them.
func (c *Config) Warnings() []string {
	var w []string
	if c.NATS.URL == "" {
		if risk := embedded.LazyRisk(c.NATS.Embedded.SyncInterval); risk != "" {
			w = append(w, risk)
		}
	}
	return w
}

// EmbeddedOptions returns the embedded nats-server's options.
func (c *Config) EmbeddedOptions(log *slog.Logger) embedded.Options {
	e := c.NATS.Embedded
	interval, always, _ := embedded.ParseSyncInterval(e.SyncInterval) // Validate checked it
	return embedded.Options{Host: e.Host, Port: e.Port, StoreDir: e.StoreDir, Logger: log,
		SyncInterval: interval, SyncAlways: always}
}

// NATSURL is nats.url, or the embedded server's address when it is empty
// (where a running `cdnpurge serve` listens).
func (c *Config) NATSURL() string {
	if c.NATS.URL != "" {
		return c.NATS.URL
	}
	return "nats://" + net.JoinHostPort(c.NATS.Embedded.Host, strconv.Itoa(c.NATS.Embedded.Port))
}

// QuotaAccount names the account in the quota mirror, the calls/s budget
// and every other per-account key: cdn.account_id, else the deprecated
// redis.account. Empty means neither is set: the caller asks STS
// GetCallerIdentity (AccountIdentity) and sets cdn.account_id. Never the
// AccessKeyId, which changes with every rotation and STS session.
func (c *Config) QuotaAccount() string {
	return or(c.CDN.AccountID, c.Redis.Account)
}

// ChainOptions returns what credentials.NewChainProvider needs besides
// cdn.credentials.
func (c *Config) ChainOptions() credentials.ChainOptions {
	st := c.CDN.Credentials.Static
	return credentials.ChainOptions{Static: st.API(), StaticSource: st.Source, STSEndpoint: c.CDN.STSEndpoint}
}

// QuotaOptions returns the CDN quota store's options.
func (c *Config) QuotaOptions() quota.Options { return c.QuotaOptionsFor(apiclient.ProductCDN) }

// QuotaOptionsFor returns the options of target p's quota store (one of
// Products): the same prefix, account, day and TTL for every target, and
// keys of p's own.
func (c *Config) QuotaOptionsFor(p apiclient.Product) quota.Options {
	return quota.Options{
		Prefix:         c.Redis.KeyPrefix,
		Account:        c.QuotaAccount(),
		Target:         p,
		Location:       c.Location(),
		ReservationTTL: c.Quota.ReservationTTL,
	}
}

// MirrorConfig returns the quota mirror's sync settings.
func (c *Config) MirrorConfig(log *slog.Logger) quota.MirrorConfig {
	return quota.MirrorConfig{Interval: c.Quota.SyncInterval, BoundaryDelay: c.Quota.BoundaryDelay, Logger: log}
}

// WebhooksConfig returns the webhook server's config, secrets included.
func (c *Config) WebhooksConfig() webhooks.Config { return c.Webhooks.Config }

// WorkerConfig returns the worker's config.
func (c *Config) WorkerConfig() worker.Config {
	w := c.Worker.Config
	w.Location = c.Location()
	return w
}
