package cdnemu

import (
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Quota is a set of daily refresh and push counts, one per kind.
type Quota struct {
	URL          int64
	Dir          int64
	Regex        int64
	Preload      int64
	Block        int64
	IgnoreParams int64
	PreloadEdge  int64
}

// Reported-only quotas: the emulator answers them in DescribeRefreshQuota
// but no action it serves spends them.
const (
	defaultBlockQuota        = 100
	defaultIgnoreParamsQuota = 10
	defaultPreloadEdgeQuota  = 0
)

// quotaState is the daily quota: totals, what today spent, and the
// Asia/Shanghai day it belongs to.
type quotaState struct {
	total Quota
	used  Quota
	day   int64
}

// roll starts a new day's quota when the Asia/Shanghai date changed.
func (q *quotaState) roll(now time.Time) {
	if d := shanghaiDay(now); d != q.day {
		q.day = d
		q.used = Quota{}
	}
}

func (q *quotaState) remaining() Quota {
	rem := func(total, used int64) int64 { return max(total-used, 0) }
	return Quota{
		URL:          rem(q.total.URL, q.used.URL),
		Dir:          rem(q.total.Dir, q.used.Dir),
		Regex:        rem(q.total.Regex, q.used.Regex),
		Preload:      rem(q.total.Preload, q.used.Preload),
		Block:        rem(q.total.Block, q.used.Block),
		IgnoreParams: rem(q.total.IgnoreParams, q.used.IgnoreParams),
		PreloadEdge:  rem(q.total.PreloadEdge, q.used.PreloadEdge),
	}
}

// field returns the counter of kind k in q.
func (k kind) field(q *Quota) *int64 {
	switch k {
	case kindDirectory:
		return &q.Dir
	case kindRegex:
		return &q.Regex
	case kindPreload:
		return &q.Preload
	case kindIgnoreParams:
		// DCDN counts URLs refreshed with their query strings ignored
		// apart ("DescribeDcdnRefreshQuota", IgnoreParamsQuota).
		return &q.IgnoreParams
	}
	// File and ExQuery both spend URL quota: an ExQuery refresh names URLs
	// (with their query strings ignored), and the API counts it as such.
	return &q.URL
}

// domainState is a domain's DomainStatus.
type domainState uint8

const (
	domainOnline domainState = iota
	domainOffline
	domainConfiguring
)

// domain is one accelerated domain of the account.
type domain struct {
	name    string
	state   domainState
	configs []ConfigChange
}

// ConfigChange is one accepted domain configuration call.
type ConfigChange struct {
	Time   time.Time
	Action string
	// Params are the call's own parameters, without the common ones.
	Params map[string]string
}

// account is one product's domains and quota.
type account struct {
	product apiclient.Product
	domains map[string]*domain
	quota   quotaState
}

func newAccount(p apiclient.Product, domains []string, total Quota, now time.Time) account {
	a := account{product: p, domains: map[string]*domain{}}
	for _, d := range domains {
		a.add(d)
	}
	a.quota.total = total
	a.quota.day = shanghaiDay(now)
	return a
}

// notFound is the answer for a domain the product does not serve, in the
// words of its API reference: CDN's "Common error codes" and DCDN's
// "Error codes" both answer 404 InvalidDomain.NotFound.
func (a *account) notFound(name string) *answer {
	if a.product == apiclient.ProductDCDN {
		return fail("InvalidDomain.NotFound", "The domain "+name+" does not exist, or it does not belong to you (it is not a DCDN domain of this account).")
	}
	return fail("InvalidDomain.NotFound", "The domain "+name+" does not belong to this account.")
}

// domainKey spells a domain as the account's map holds it: lower case, a
// wildcard as "*.example.com".
func domainKey(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if strings.HasPrefix(name, ".") {
		name = "*" + name
	}
	return name
}

func (a *account) add(name string) {
	k := domainKey(name)
	if _, ok := a.domains[k]; !ok {
		a.domains[k] = &domain{name: k}
	}
}

// byName finds a domain named exactly as configured.
func (a *account) byName(name string) *domain { return a.domains[domainKey(name)] }

// byHost finds the domain that serves host: the exact name, else the
// nearest wildcard above it.
func (a *account) byHost(host string) *domain {
	if d := a.domains[host]; d != nil {
		return d
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if d := a.domains["*"+host[i:]]; d != nil {
				return d
			}
		}
	}
	return nil
}

// splitPaths splits ObjectPath on "\n" or "\r\n", skipping blank lines. The
// parts share the memory of objectPath.
func splitPaths(objectPath string) []string {
	n := strings.Count(objectPath, "\n") + 1
	out := make([]string, 0, n)
	for len(objectPath) > 0 {
		line := objectPath
		if i := strings.IndexByte(objectPath, '\n'); i >= 0 {
			line, objectPath = objectPath[:i], objectPath[i+1:]
		} else {
			objectPath = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// pathHost returns the lower-case host of a path given as host/path or
// http(s)://host/path, without a port; "" when there is none.
func pathHost(p string) string {
	if len(p) >= 8 && strings.EqualFold(p[:8], "https://") {
		p = p[8:]
	} else if len(p) >= 7 && strings.EqualFold(p[:7], "http://") {
		p = p[7:]
	}
	if i := strings.IndexAny(p, "/?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, ':'); i >= 0 {
		p = p[:i]
	}
	if p == "" || strings.ContainsAny(p, " \t*") {
		return ""
	}
	return strings.ToLower(p)
}

// withoutScheme strips http:// or https:// so that both spellings of a path
// compare equal.
func withoutScheme(p string) string {
	if len(p) >= 8 && strings.EqualFold(p[:8], "https://") {
		return p[8:]
	}
	if len(p) >= 7 && strings.EqualFold(p[:7], "http://") {
		return p[7:]
	}
	return p
}

// checkPaths validates the paths of one refresh or push call against the
// per-request limits and the account's domains.
func (a *account) checkPaths(paths []string, k kind) *answer {
	// DCDN's per-call limits are CDN's: 1,000 URLs or 100 directories a
	// refresh, 100 URLs a preload ("RefreshDcdnObjectCaches",
	// "PreloadDcdnObjectCaches").
	limit := maxURLsPerRefresh
	switch k {
	case kindDirectory:
		limit = maxDirsPerRefresh
	case kindRegex:
		limit = maxRegexPerRefresh
	case kindPreload:
		limit = maxURLsPerPush
	}
	if len(paths) > limit {
		return fail("SingleRequest.OverLimit", "ObjectPath holds ", len(paths), " paths; at most ", limit, " are allowed for this ObjectType.")
	}
	var hosts []string // at most 11 distinct: a linear scan beats a map
	for _, p := range paths {
		if len(p) > maxPathLength {
			return fail("InvalidObjectPath.Size.Malformed", "A path of ", len(p), " characters exceeds 1024: ", p[:64], "...")
		}
		for i := 0; i < len(p); i++ {
			if p[i] < 0x20 || p[i] == 0x7f {
				return fail("InvalidObjectPath.Malformed", "ObjectPath contains a control character.")
			}
		}
		host := pathHost(p)
		if host == "" {
			return fail("InvalidObjectPath.Malformed", "Path "+p+" does not start with a domain name.")
		}
		d := a.byHost(host)
		if d == nil {
			return a.notFound(host)
		}
		switch d.state {
		case domainOffline:
			return fail("InvalidDomain.Offline", "The domain "+d.name+" is offline.")
		case domainConfiguring:
			return fail("ServiceBusy")
		}
		if k != kindPreload && !containsString(hosts, d.name) {
			hosts = append(hosts, d.name)
			if len(hosts) > maxDomainsPerRefresh {
				return fail("SingleRequest.OverLimit", "ObjectPath holds paths of more than 10 domains.")
			}
		}
	}
	return nil
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SetQuota replaces CDN's daily totals; what today already spent stays spent.
func (e *Emulator) SetQuota(total Quota) { e.cdn.setQuota(e, total) }

// QuotaRemaining returns what is left of CDN's quota today on the emulator
// clock, as DescribeRefreshQuota would report it.
func (e *Emulator) QuotaRemaining() Quota { return e.cdn.quotaRemaining(e) }

// QuotaUsed returns what CDN calls spent today (Asia/Shanghai).
func (e *Emulator) QuotaUsed() Quota { return e.cdn.quotaUsed(e) }

// setQuota replaces p's daily totals; what today already spent stays spent.
func (p *product) setQuota(e *Emulator, total Quota) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p.account.quota.roll(e.now())
	p.account.quota.total = total
}

// quotaRemaining is what is left of p's quota today.
func (p *product) quotaRemaining(e *Emulator) Quota {
	e.mu.Lock()
	defer e.mu.Unlock()
	p.account.quota.roll(e.now())
	return p.account.quota.remaining()
}

// quotaUsed is what p's calls spent today.
func (p *product) quotaUsed(e *Emulator) Quota {
	e.mu.Lock()
	defer e.mu.Unlock()
	p.account.quota.roll(e.now())
	return p.account.quota.used
}

// AddDomain adds an online CDN domain to the account.
func (e *Emulator) AddDomain(name string) {
	e.mu.Lock()
	e.cdn.account.add(name)
	e.mu.Unlock()
}

// SetDomainConfiguring puts a domain (of CDN or DCDN) in the
// "configuring" state, in which refreshes and pushes of its paths are
// answered 403 ServiceBusy, or back online. It reports whether the domain
// exists.
func (e *Emulator) SetDomainConfiguring(name string, configuring bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.domainByName(name)
	if d == nil {
		return false
	}
	if configuring {
		d.state = domainConfiguring
	} else {
		d.state = domainOnline
	}
	return true
}

// DomainStatus returns "online", "offline" or "configuring", or "" for a
// domain the account does not have.
func (e *Emulator) DomainStatus(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.domainByName(name)
	if d == nil {
		return ""
	}
	return [...]string{"online", "offline", "configuring"}[d.state]
}

// DomainConfigs returns the configuration calls accepted for a domain, in
// order.
func (e *Emulator) DomainConfigs(name string) []ConfigChange {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.domainByName(name)
	if d == nil {
		return nil
	}
	return append([]ConfigChange(nil), d.configs...)
}
