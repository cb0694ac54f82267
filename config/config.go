// Package config is the one typed configuration of cdnpurge: a YAML file,
// then CDNPURGE_* environment overrides, then defaults, then validation that
// names every bad field by its path. It reads files and the environment only;
// it never reaches the network. Each package gets the part it needs through
// a converter (APIClientOptions, WorkerConfig, ValidatorConfig, ...).
package config

import (
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/worker"

	"github.com/cdnpurge/cdnpurge/admin"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// Config is the whole configuration of cdnpurge. Durations are Go duration
// strings in YAML ("1s", "5m"). Load fills it; zero values mean defaults.
type Config struct {
	NATS  NATSConfig  `yaml:"nats" json:"nats"`
	Redis RedisConfig `yaml:"redis" json:"redis"`
	CDN   CDNConfig   `yaml:"cdn" json:"cdn"`
	// Allowlist is the domains cdnpurge may purge, each with the product
	// that serves it (YAML key domains; see Domain). DomainNames lists
	// the names, ProductOf finds a host's product.
	Allowlist     []Domain       `yaml:"domains" json:"domains"`
	DefaultScheme string         `yaml:"default_scheme" json:"default_scheme"`
	Webhooks      WebhooksConfig `yaml:"webhooks" json:"webhooks"`
	Worker        WorkerConfig   `yaml:"worker" json:"worker"`
	Quota         QuotaConfig    `yaml:"quota" json:"quota"`
	Schedules     []Schedule     `yaml:"schedules" json:"schedules"`
	Log           LogConfig      `yaml:"log" json:"log"`
	Metrics       MetricsConfig  `yaml:"metrics" json:"metrics"`
	Admin         AdminConfig    `yaml:"admin" json:"admin"`
	// SecretFiles says how the *_file secrets are read.
	SecretFiles SecretFilesConfig `yaml:"secret_files" json:"secret_files"`

	// source is the file the config was read from ("" for none).
	source string
}

// Source returns the path of the file the config was read from, "" when it
// came from defaults and the environment only.
func (c *Config) Source() string { return c.source }

// NATSConfig says where the job queue lives.
type NATSConfig struct {
	// URL of the NATS server(s), comma-separated; empty runs an embedded
	// server (serve) or connects to it (the other commands).
	URL string `yaml:"url" json:"url"`
	// Name is the client connection name; default "cdnpurge".
	Name          string         `yaml:"name" json:"name"`
	Embedded      EmbeddedConfig `yaml:"embedded" json:"embedded"`
	SubjectPrefix string         `yaml:"subject_prefix" json:"subject_prefix"`
	Stream        string         `yaml:"stream" json:"stream"`
	StatusStream  string         `yaml:"status_stream" json:"status_stream"`
	// Replicas is the JetStream replica count of the streams and bucket.
	Replicas int `yaml:"replicas" json:"replicas"`
	// DuplicateWindow is the Nats-Msg-Id dedupe window (at least 2m).
	DuplicateWindow time.Duration `yaml:"duplicate_window" json:"duplicate_window"`
	// PublishTimeout bounds one publish including its ack.
	PublishTimeout time.Duration `yaml:"publish_timeout" json:"publish_timeout"`

	// Credentials and TLS for nats.url (docs/connections.md): at most one
	// of a credentials file, an nkey seed file, a user with a password file,
	// a token file or user info in the URL.
	CredsFile    string   `yaml:"creds_file" json:"creds_file"`
	NKeyFile     string   `yaml:"nkey_file" json:"nkey_file"`
	User         string   `yaml:"user" json:"user"`
	PasswordFile string   `yaml:"password_file" json:"password_file"`
	TokenFile    string   `yaml:"token_file" json:"token_file"`
	TLS          TLSFiles `yaml:"tls" json:"tls"`
}

// EmbeddedConfig configures the in-process nats-server used without a URL.
type EmbeddedConfig struct {
	Host string `yaml:"host" json:"host"`
	// Port defaults to 4333, not 4222, where a system NATS may run.
	Port     int    `yaml:"port" json:"port"`
	StoreDir string `yaml:"store_dir" json:"store_dir"`
	// SyncInterval is how often JetStream flushes to disk. Empty (the
	// default) flushes every job before its acknowledgement, many jobs per
	// flush (group commit); "always" flushes every write; a duration is
	// lazy: a host crash can lose what was acknowledged since the last
	// flush. See docs/durability.md.
	SyncInterval string `yaml:"sync_interval" json:"sync_interval"`
}

// RedisConfig says where the shared quota mirror lives.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db; empty keeps the quota
	// mirror in memory (one replica only).
	URL       string `yaml:"url" json:"url"`
	KeyPrefix string `yaml:"key_prefix" json:"key_prefix"`
	// Account is deprecated: use cdn.account_id. When cdn.account_id is
	// empty it still names the account in keys (docs/alibaba-cloud.md).
	Account string `yaml:"account" json:"account"`
	// Username is the Redis ACL user (overrides the URL's).
	Username string `yaml:"username" json:"username"`
	// Password comes from CDNPURGE_REDIS_PASSWORD only, never the file.
	Password EnvSecret `yaml:"password,omitempty" json:"password,omitempty"`
	// PasswordFile holds the password on one line.
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// TLS adds a CA and a client certificate to a rediss:// URL (and turns
	// TLS on for Sentinel and Cluster, which have no URL).
	TLS TLSFiles `yaml:"tls" json:"tls"`
	// Sentinel finds the primary through Redis Sentinel; Cluster talks to
	// a Redis Cluster (docs/connections.md). At most one of url,
	// sentinel and cluster.
	Sentinel RedisSentinelConfig `yaml:"sentinel" json:"sentinel"`
	Cluster  RedisClusterConfig  `yaml:"cluster" json:"cluster"`
}

// RedisSentinelConfig names a primary watched by Redis Sentinel.
type RedisSentinelConfig struct {
	// MasterName is the name the Sentinels monitor (sentinel monitor <name>).
	MasterName string `yaml:"master_name" json:"master_name"`
	// Addrs are the Sentinels, host:port each.
	Addrs []string `yaml:"addrs" json:"addrs"`
	// PasswordFile holds the Sentinels' own password (requirepass of the
	// Sentinel processes) on one line; the data nodes' password is
	// redis.password_file.
	PasswordFile string `yaml:"password_file" json:"password_file"`
}

// RedisClusterConfig lists seed nodes of a Redis Cluster.
type RedisClusterConfig struct {
	// Addrs are some of the cluster's nodes, host:port each; the client
	// learns the rest. One address of a managed service's cluster
	// endpoint works too.
	Addrs []string `yaml:"addrs" json:"addrs"`
}

// CDNConfig configures the CDN API client. Secrets never come from the
// YAML: they come from the environment or from files (CredentialsFile, the
// files of the credential modes); see docs/alibaba-cloud.md.
type CDNConfig struct {
	// Endpoint overrides the endpoint Region picks.
	Endpoint     string `yaml:"endpoint" json:"endpoint"`
	DCDNEndpoint string `yaml:"dcdn_endpoint" json:"dcdn_endpoint"`
	// ESAEndpoint serves the ESA actions (docs/esa.md); default
	// esa.cn-hangzhou.aliyuncs.com.
	ESAEndpoint string `yaml:"esa_endpoint" json:"esa_endpoint"`
	Version     string `yaml:"version" json:"version"`
	// Region picks the documented endpoint: the central one for the
	// mainland, cdn.ap-southeast-1.aliyuncs.com for international regions.
	Region string `yaml:"region" json:"region"`
	// Signature is v3 (ACS3-HMAC-SHA256) or v1 (HMAC-SHA1); empty means v3,
	// and v1 for version 2014-11-11.
	Signature string `yaml:"signature" json:"signature"`
	// AccountID names the account in every shared key (quota mirror,
	// calls/s budget); empty asks STS GetCallerIdentity at start.
	AccountID string `yaml:"account_id" json:"account_id"`
	// STSEndpoint serves GetCallerIdentity and the role modes' AssumeRole.
	STSEndpoint string `yaml:"sts_endpoint" json:"sts_endpoint"`
	// Emulator runs serve against an in-process CDN API emulator instead of
	// the real API. Explicit opt-in only.
	Emulator  bool                    `yaml:"emulator" json:"emulator"`
	Retry     apiclient.RetryPolicy   `yaml:"retry" json:"retry"`
	Breaker   apiclient.BreakerPolicy `yaml:"breaker" json:"breaker"`
	RateShare float64                 `yaml:"rate_share" json:"rate_share"`
	// RateLimits overrides calls/s per API action; negative turns one off.
	RateLimits map[string]float64 `yaml:"rate_limits" json:"rate_limits"`
	// DomainURLsPerMinute paces File refreshes to this many URLs per domain
	// per sliding 60 s, shared by replicas through Redis (default 1,000, the
	// API's limit; off with cdn.emulator); negative turns pacing off.
	DomainURLsPerMinute int `yaml:"domain_urls_per_minute" json:"domain_urls_per_minute"`
	// DCDNDomainURLsPerMinute is the same for DCDN domains (default 1,000,
	// the lower of the values DCDN's pages give; off with cdn.emulator);
	// negative turns it off.
	DCDNDomainURLsPerMinute int `yaml:"dcdn_domain_urls_per_minute" json:"dcdn_domain_urls_per_minute"`
	// CredentialsFile holds the key pair as KEY=VALUE lines (see README);
	// it is the pair of the access_key, sts and ram_role_arn modes.
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file"`

	// Credentials picks where credentials come from (type and the
	// non-secret fields of the mode); see CredentialsConfig.
	Credentials CredentialsConfig `yaml:"credentials" json:"credentials"`
}

// WebhooksConfig is webhooks.Config plus a *_file path per secret, read by
// Load into the secret itself.
type WebhooksConfig struct {
	webhooks.Config `yaml:",inline"`

	GitHubSecretFile      string `yaml:"github_secret_file" json:"github_secret_file"`
	GitLabTokenFile       string `yaml:"gitlab_token_file" json:"gitlab_token_file"`
	GenericTokenFile      string `yaml:"generic_token_file" json:"generic_token_file"`
	GenericHMACSecretFile string `yaml:"generic_hmac_secret_file" json:"generic_hmac_secret_file"`
	OSSTokenFile          string `yaml:"oss_token_file" json:"oss_token_file"`
}

// WorkerConfig tunes the worker: worker.Config (see it for each field)
// and the name of the bucket that keeps tasks for follow-up.
type WorkerConfig struct {
	worker.Config `yaml:",inline"`
	TaskBucket    string `yaml:"task_bucket" json:"task_bucket"`
	// ArchiveRetention is how long failed and rejected jobs stay in the
	// dead-letter archive `cdnpurge jobs` reads (14 days by default).
	ArchiveRetention time.Duration `yaml:"archive_retention" json:"archive_retention"`
}

// QuotaConfig tunes the quota mirror.
type QuotaConfig struct {
	SyncInterval time.Duration `yaml:"sync_interval" json:"sync_interval"`
	// TimeZone is where the API's quota day starts; Asia/Shanghai.
	TimeZone       string        `yaml:"time_zone" json:"time_zone"`
	ReservationTTL time.Duration `yaml:"reservation_ttl" json:"reservation_ttl"`
	BoundaryDelay  time.Duration `yaml:"boundary_delay" json:"boundary_delay"`
	// Shares cap what one job source may spend of a day's CDN quota kind
	// (opt-in; none by default). See docs/quota.md.
	Shares []quota.Share `yaml:"shares,omitempty" json:"shares,omitempty"`
}

// Schedule is one cron entry of the scheduler (worker/operations).
type Schedule = operations.Schedule

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" json:"level"`
	// Format is auto (coloured text on a terminal, JSON otherwise), text or
	// json.
	Format string `yaml:"format" json:"format"`
}

// AdminConfig is the admin listener (metrics, pprof), see
// admin.AdminConfig.
type AdminConfig = admin.AdminConfig

// MetricsConfig configures the Prometheus endpoint, served on the admin
// listener (admin.listen).
type MetricsConfig struct {
	// Disabled turns /metrics off.
	Disabled bool   `yaml:"disabled" json:"disabled"`
	Path     string `yaml:"path" json:"path"`
}
