package cdnemu

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// RegisterFlags binds the options to flags on fs, with the defaults New
// would use, so that a command can configure an emulator from its
// arguments. Options.Validate names these flags in its errors.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.AccessKeyID, "access-key-id", DefaultAccessKeyID, "AccessKeyId the emulator accepts")
	fs.StringVar(&o.AccessKeySecret, "access-key-secret", DefaultAccessKeySecret, "AccessKeySecret of --access-key-id (never logged)")
	if len(o.Domains) == 0 {
		o.Domains = []string{DefaultDomain}
	}
	fs.Var((*listFlag)(&o.Domains), "domains", "comma-separated CDN domains of the account (*.example.com covers subdomains)")
	fs.Var((*listFlag)(&o.DCDNDomains), "dcdn-domains", "comma-separated DCDN domains of the account, served by the DCDN actions only (default none)")
	fs.Int64Var(&o.URLQuota, "url-quota", DefaultURLQuota, "daily URL refresh quota")
	fs.Int64Var(&o.DirQuota, "dir-quota", DefaultDirQuota, "daily directory refresh quota")
	fs.Int64Var(&o.RegexQuota, "regex-quota", DefaultRegexQuota, "daily regex refresh quota")
	fs.Int64Var(&o.PreloadQuota, "preload-quota", DefaultPreloadQuota, "daily prefetch (PushObjectCache) URL quota")
	fs.Int64Var(&o.DCDNURLQuota, "dcdn-url-quota", DefaultURLQuota, "DCDN's daily URL refresh quota (counted apart from CDN's)")
	fs.Int64Var(&o.DCDNDirQuota, "dcdn-dir-quota", DefaultDirQuota, "DCDN's daily directory refresh quota")
	fs.Int64Var(&o.DCDNRegexQuota, "dcdn-regex-quota", defaultDCDNRegexQuota, "DCDN's daily regex refresh quota")
	fs.Int64Var(&o.DCDNPreloadQuota, "dcdn-preload-quota", DefaultPreloadQuota, "DCDN's daily prefetch (PreloadDcdnObjectCaches) URL quota")
	fs.Int64Var(&o.DCDNIgnoreParamsQuota, "dcdn-ignore-params-quota", defaultDCDNIgnoreParamsQuota, "DCDN's daily IgnoreParams refresh quota")
	fs.DurationVar(&o.TaskPending, "task-pending", o.TaskPending, "how long a task stays Pending")
	fs.DurationVar(&o.TaskDuration, "task-duration", o.TaskDuration, "how long a task stays Refreshing before it ends")
	fs.Float64Var(&o.TaskFailRate, "task-fail-rate", o.TaskFailRate, "share of tasks (0..1) that end Failed")
	fs.Float64Var(&o.Faults.ErrorRate500, "error-rate-500", o.Faults.ErrorRate500, "share of calls (0..1) answered 500 InternalError")
	fs.Float64Var(&o.Faults.ErrorRate503, "error-rate-503", o.Faults.ErrorRate503, "share of calls (0..1) answered 503 ServiceUnAvailable")
	fs.DurationVar(&o.Faults.Latency, "latency", o.Faults.Latency, "latency added to every answer")
	fs.BoolVar(&o.NoRateLimit, "no-rate-limit", o.NoRateLimit, "turn the per-action calls/s limits off")
	fs.IntVar(&o.DomainURLsPerMinute, "domain-urls-per-minute", o.DomainURLsPerMinute, "refuse File refreshes beyond N URLs per domain per minute (the API's is 1000; 0 is off)")
	fs.IntVar(&o.DCDNDomainURLsPerMinute, "dcdn-domain-urls-per-minute", o.DCDNDomainURLsPerMinute, "refuse DCDN URL refreshes beyond N URLs per domain per minute (DCDN's pages say 1000 or 10000; 0 is off)")
	fs.BoolVar(&o.DomainWindowSliding, "domain-window-sliding", o.DomainWindowSliding, "count the per-domain URL limits over the last 60 s instead of the calendar minute")
	if o.RateLimits == nil {
		o.RateLimits = map[string]float64{}
	}
	fs.Var(rateFlag(o.RateLimits), "rate-limit", "per-action calls/s, Action=N[,Action=N] (N <= 0 lifts the limit); repeatable")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for task failures, injected faults and RequestIds")
	fs.BoolVar(&o.ServiceNotOpened, "service-not-opened", o.ServiceNotOpened, "start without CDN service, so OpenCdnService succeeds once")
	fs.StringVar(&o.InternetChargeType, "charge-type", apiclient.PayByTraffic, "billing method of the open service: PayByTraffic or PayByBandwidth")
	fs.BoolVar(&o.DcdnIpaEnabled, "dcdn-ipa", o.DcdnIpaEnabled, "answer DescribeDcdnIpaService as enabled")
	fs.BoolVar(&o.FinancialLock, "financial-lock", o.FinancialLock, "start the account overdue (InsufficientBalance)")
	fs.BoolVar(&o.Admin, "admin", o.Admin, "serve the unauthenticated test-only admin API under "+AdminPrefix+" (stats, faults, outage, quota, new quota day)")
	fs.BoolVar(&o.NoRecordPaths, "no-record-paths", o.NoRecordPaths, "do not record submitted paths")
	fs.StringVar(&o.AccountID, "account-id", DefaultAccountID, "account ID STS GetCallerIdentity reports")
	fs.StringVar(&o.OIDCToken, "oidc-token", o.OIDCToken, "the one OIDC token AssumeRoleWithOIDC accepts (empty accepts any)")
	fs.DurationVar(&o.STSTokenTTL, "sts-token-ttl", o.STSTokenTTL, "cap on the lifetime of STS keys (0: as asked, 15m to 12h)")
}

// listFlag is a comma-separated list; each use replaces the list.
type listFlag []string

// String joins the list with commas.
func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the comma-separated values of s.
func (l *listFlag) Set(s string) error {
	*l = (*l)[:0]
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// rateFlag adds Action=N pairs to a map.
type rateFlag map[string]float64

// String lists the pairs, sorted.
func (r rateFlag) String() string {
	parts := make([]string, 0, len(r))
	for a, n := range r {
		parts = append(parts, a+"="+strconv.FormatFloat(n, 'g', -1, 64))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Set adds the Action=N pairs of s.
func (r rateFlag) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		action, n, found := strings.Cut(strings.TrimSpace(pair), "=")
		if !found || action == "" {
			return fmt.Errorf("want Action=N, got %q", pair)
		}
		v, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return fmt.Errorf("%s: calls/s %q is not a number", action, n)
		}
		r[action] = v
	}
	return nil
}
