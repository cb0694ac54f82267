package cdnemu

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Default credentials of an emulator configured without any: the pair of the
// worked signature example in the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism".
const (
	DefaultAccessKeyID     = "testid"
	DefaultAccessKeySecret = "testsecret"
	DefaultDomain          = "example.com"
	DefaultInstanceID      = "aliuid-emulator"
	DefaultAccountID       = "1234567890123456"
)

// Options configure an Emulator. The zero value is usable: New fills in the
// defaults named on each field.
type Options struct {
	// AccessKeyID and AccessKeySecret are the account's key pair (defaults
	// DefaultAccessKeyID / DefaultAccessKeySecret).
	AccessKeyID     string
	AccessKeySecret string
	// ExtraKeys are more key pairs of the same account, ID to secret.
	ExtraKeys map[string]string

	// Domains are the account's CDN domains, all online at start (default
	// DefaultDomain, unless DCDNDomains is set). An entry "*.example.com"
	// or ".example.com" also covers every subdomain.
	Domains []string
	// DCDNDomains are the account's DCDN domains (default none), served by
	// the DCDN actions only: a CDN action on one of them answers
	// InvalidDomain.NotFound, and so does a DCDN action on a CDN domain,
	// as the two services do. A domain is on one product, not both.
	DCDNDomains []string

	// Daily CDN quotas; 0 means the apiclient default. Use SetQuota at run
	// time for a quota of zero.
	URLQuota, DirQuota, RegexQuota, PreloadQuota int64
	// Daily DCDN quotas, counted apart from CDN's and reset at the same
	// 00:00 Asia/Shanghai; 0 means the DCDN defaults: 10,000 URLs, 100
	// directories, 1,000 prefetches ("RefreshDcdnObjectCaches",
	// "PreloadDcdnObjectCaches"), and, which DCDN publishes no default
	// for, 20 regex rules and 10,000 IgnoreParams URLs. Use SetDCDNQuota
	// at run time for a quota of zero.
	DCDNURLQuota, DCDNDirQuota, DCDNRegexQuota, DCDNPreloadQuota, DCDNIgnoreParamsQuota int64

	// ESASites are the account's ESA sites (default none), served by the
	// ESA actions (API 2024-09-10); a site without an ID gets one.
	ESASites []ESASite
	// ESAQuota overrides DefaultESAQuota: each site's daily purge quota
	// per type. SetESAQuota changes one site's at run time.
	ESAQuota map[esa.PurgeType]int64

	// RateLimits override publishedRates per action (calls per
	// second, sliding one-second window on the emulator clock); a value <= 0
	// lifts the limit of that action. Actions without a limit are unlimited.
	RateLimits map[string]float64
	// NoRateLimit turns every calls-per-second limit off.
	NoRateLimit bool
	// DomainURLsPerMinute refuses File refreshes beyond this many URLs per
	// domain per calendar minute with QuotaPerMinuteExceeded.Refresh, as
	// the API does at 1,000 ("RefreshObjectCaches"). 0 leaves it
	// off, for tests and benchmarks that need raw speed.
	DomainURLsPerMinute int
	// DCDNDomainURLsPerMinute is DomainURLsPerMinute for DCDN's URL
	// refreshes (File and IgnoreParams); 0 leaves it off. The DCDN pages
	// say 1,000 or 10,000 ("RefreshDcdnObjectCaches").
	DCDNDomainURLsPerMinute int
	// DomainWindowSliding counts both per-domain limits over the last 60
	// seconds of the emulator clock instead of the calendar minute: the
	// other reading of the API's "per minute", under which a pacer that
	// counts calendar minutes is refused.
	DomainWindowSliding bool

	// TaskPending is how long a task stays Pending, then TaskDuration how
	// long it stays Refreshing before it is Complete or Failed. Both 0 make
	// tasks complete at once.
	TaskPending  time.Duration
	TaskDuration time.Duration
	// TaskFailRate is the share of tasks (0..1) that end Failed.
	TaskFailRate float64

	// Faults are injected at start; SetFaults changes them at run time.
	Faults Faults
	// Seed makes task failures, injected faults and RequestIds repeatable.
	Seed uint64

	// ServiceNotOpened starts the account without CDN service, so that
	// OpenCdnService succeeds once. By default the service is open.
	ServiceNotOpened bool
	// InternetChargeType is the billing method of an open service (default
	// PayByTraffic).
	InternetChargeType string
	// InstanceID is reported by DescribeCdnService (default DefaultInstanceID).
	InstanceID string
	// DcdnIpaEnabled makes DescribeDcdnIpaService answer instead of
	// DcdnIpaServiceNotFound.
	DcdnIpaEnabled bool
	// FinancialLock starts the account overdue (see SetFinancialLock).
	FinancialLock bool

	// NoRecordPaths stops recording submitted paths (Paths stays empty);
	// for benchmarks with millions of URLs.
	NoRecordPaths bool
	// RecordRequests is how many recent requests Requests and Nonces keep
	// (default 10,000; negative keeps none).
	RecordRequests int
	// MaxNonces bounds the nonces remembered against replay (default
	// 1,000,000). Each is kept 30 minutes, past the 15-minute timestamp
	// window; beyond the bound the oldest is forgotten first.
	MaxNonces int

	// Admin serves the test-only admin API under AdminPrefix (see
	// admin.go): unauthenticated, for harnesses that run the emulator as
	// its own process. Off by default.
	Admin bool

	// AccountID is the account's ID, as STS GetCallerIdentity reports it
	// (default DefaultAccountID).
	AccountID string
	// OIDCToken, when set, is the one OIDC token AssumeRoleWithOIDC
	// accepts; empty accepts any.
	OIDCToken string
	// STSTokenTTL caps how long the keys AssumeRole mints last (default:
	// the DurationSeconds asked for). Credential providers refresh keys
	// that expire within 3 minutes before every call, so a cap under that
	// makes each call assume the role afresh.
	STSTokenTTL time.Duration

	// Now is the emulator clock (default time.Now). Pass (*Clock).Now in
	// tests to move time without sleeping.
	Now func() time.Time
}

// String shows the options without the secrets.
func (o Options) String() string {
	return fmt.Sprintf("cdnemu.Options{AccessKeyID: %s, AccessKeySecret: %s, Domains: %v, DCDNDomains: %v, extra keys: %d}",
		o.AccessKeyID, maskSecret(o.AccessKeySecret), o.Domains, o.DCDNDomains, len(o.ExtraKeys))
}

// GoString masks the secrets for %#v.
func (o Options) GoString() string { return o.String() }

func maskSecret(s string) string {
	if s == "" {
		return `""`
	}
	return "***"
}

// withDefaults returns a copy with every zero field filled in.
func (o Options) withDefaults() Options {
	if o.AccessKeyID == "" && o.AccessKeySecret == "" {
		o.AccessKeyID, o.AccessKeySecret = DefaultAccessKeyID, DefaultAccessKeySecret
	}
	if len(o.Domains) == 0 && len(o.DCDNDomains) == 0 {
		o.Domains = []string{DefaultDomain}
	}
	if o.URLQuota == 0 {
		o.URLQuota = DefaultURLQuota
	}
	if o.DirQuota == 0 {
		o.DirQuota = DefaultDirQuota
	}
	if o.RegexQuota == 0 {
		o.RegexQuota = DefaultRegexQuota
	}
	if o.PreloadQuota == 0 {
		o.PreloadQuota = DefaultPreloadQuota
	}
	for _, q := range []struct {
		v   *int64
		def int64
	}{{&o.DCDNURLQuota, DefaultURLQuota}, {&o.DCDNDirQuota, DefaultDirQuota},
		{&o.DCDNRegexQuota, defaultDCDNRegexQuota}, {&o.DCDNPreloadQuota, DefaultPreloadQuota},
		{&o.DCDNIgnoreParamsQuota, defaultDCDNIgnoreParamsQuota}} {
		if *q.v == 0 {
			*q.v = q.def
		}
	}
	if o.InternetChargeType == "" {
		o.InternetChargeType = apiclient.PayByTraffic
	}
	if o.InstanceID == "" {
		o.InstanceID = DefaultInstanceID
	}
	if o.RecordRequests == 0 {
		o.RecordRequests = 10000
	}
	if o.MaxNonces <= 0 {
		o.MaxNonces = 1000000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	return o
}

// Validate reports every problem in o, each naming its command-line flag.
func (o Options) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if o.AccessKeyID == "" && o.AccessKeySecret != "" {
		bad("access-key-id", "empty while --access-key-secret is set")
	}
	if o.AccessKeyID != "" && o.AccessKeySecret == "" {
		bad("access-key-secret", "empty for key %s", o.AccessKeyID)
	}
	cdn := map[string]bool{}
	for _, d := range o.Domains {
		if err := checkDomainName(d); err != nil {
			bad("domains", "%v", err)
		}
		cdn[domainKey(d)] = true
	}
	for _, d := range o.DCDNDomains {
		if err := checkDomainName(d); err != nil {
			bad("dcdn-domains", "%v", err)
		} else if cdn[domainKey(d)] {
			bad("dcdn-domains", "%s is in --domains too; a domain is on CDN or on DCDN, not both", d)
		}
	}
	seenSite := map[string]bool{}
	for _, s := range o.ESASites {
		name := strings.ToLower(strings.TrimSpace(s.Name))
		switch {
		case checkDomainName(name) != nil || strings.HasPrefix(name, "*") || strings.HasPrefix(name, "."):
			bad("esa-sites", "site %q: want a site name such as example.org", s.Name)
		case s.ID < 0:
			bad("esa-sites", "site %q: SiteId %d must be > 0", s.Name, s.ID)
		case seenSite[name]:
			bad("esa-sites", "site %q is listed twice", s.Name)
		}
		seenSite[name] = true
	}
	for t, n := range o.ESAQuota {
		if n < 0 {
			bad("esa-quota", "%s: must be >= 0, got %d", t, n)
		}
	}
	if o.DomainURLsPerMinute < 0 {
		bad("domain-urls-per-minute", "must be >= 0, got %d", o.DomainURLsPerMinute)
	}
	if o.DCDNDomainURLsPerMinute < 0 {
		bad("dcdn-domain-urls-per-minute", "must be >= 0, got %d", o.DCDNDomainURLsPerMinute)
	}
	for _, q := range []struct {
		flag string
		v    int64
	}{{"url-quota", o.URLQuota}, {"dir-quota", o.DirQuota}, {"regex-quota", o.RegexQuota}, {"preload-quota", o.PreloadQuota},
		{"dcdn-url-quota", o.DCDNURLQuota}, {"dcdn-dir-quota", o.DCDNDirQuota}, {"dcdn-regex-quota", o.DCDNRegexQuota},
		{"dcdn-preload-quota", o.DCDNPreloadQuota}, {"dcdn-ignore-params-quota", o.DCDNIgnoreParamsQuota}} {
		if q.v < 0 {
			bad(q.flag, "must be >= 0, got %d", q.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"task-pending", o.TaskPending}, {"task-duration", o.TaskDuration}, {"latency", o.Faults.Latency}} {
		if d.v < 0 {
			bad(d.flag, "must be >= 0, got %s", d.v)
		}
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"task-fail-rate", o.TaskFailRate}, {"error-rate-500", o.Faults.ErrorRate500}, {"error-rate-503", o.Faults.ErrorRate503}} {
		if !(r.v >= 0 && r.v <= 1) {
			bad(r.flag, "must be between 0 and 1, got %v", r.v)
		}
	}
	if o.Faults.ErrorRate500+o.Faults.ErrorRate503 > 1 {
		bad("error-rate-503", "--error-rate-500 plus --error-rate-503 exceed 1")
	}
	if o.InternetChargeType != "" && !validChargeType(o.InternetChargeType) {
		bad("charge-type", "want %s or %s, got %q", apiclient.PayByTraffic, apiclient.PayByBandwidth, o.InternetChargeType)
	}
	return errors.Join(errs...)
}

func checkDomainName(d string) error {
	name := strings.TrimPrefix(strings.TrimPrefix(d, "*"), ".")
	if name == "" || strings.ContainsAny(name, "/: \t\r\n") || strings.Contains(name, "..") {
		return fmt.Errorf("domain %q: want a host name such as example.com or *.example.com", d)
	}
	return nil
}

func validChargeType(s string) bool {
	return s == apiclient.PayByTraffic || s == apiclient.PayByBandwidth
}
