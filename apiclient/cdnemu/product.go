package cdnemu

import (
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// product is what one product of the account keeps on its own: CDN and
// DCDN each have their domains, daily quota, tasks (with IDs of their own)
// and per-domain minute counts, as the two services do. A domain is on one
// of them: a call of the other product answers InvalidDomain.NotFound.
type product struct {
	name    apiclient.Product
	account account
	tasks   taskStore
	minutes domainMinutes
	// objectTypes are the refresh ObjectTypes the product takes.
	objectTypes map[string]kind
	// pushIDField names the task IDs of a prefetch answer.
	pushIDField string
	// tasksKey names the list in the task page (Tasks.CDNTask or
	// Tasks.Task) and maxPageSize bounds its PageSize.
	tasksKey    string
	maxPageSize int
	// reportsPreloadEdge: DescribeRefreshQuota has PreloadEdge fields,
	// DescribeDcdnRefreshQuota does not.
	reportsPreloadEdge bool
}

// First task IDs: DCDN's start elsewhere, so that an ID of one product
// never finds a task of the other.
const (
	firstCDNTaskID  = firstTaskID
	firstDCDNTaskID = 800000000
)

// DCDN quotas the DCDN API reference states no default for; the emulator's
// choice.
const (
	defaultDCDNRegexQuota        = DefaultRegexQuota
	defaultDCDNIgnoreParamsQuota = DefaultURLQuota
)

func newCDN(o Options, now time.Time) product {
	return product{
		name: apiclient.ProductCDN,
		account: newAccount(apiclient.ProductCDN, o.Domains, Quota{URL: o.URLQuota, Dir: o.DirQuota, Regex: o.RegexQuota,
			Preload: o.PreloadQuota, Block: defaultBlockQuota, IgnoreParams: defaultIgnoreParamsQuota, PreloadEdge: defaultPreloadEdgeQuota}, now),
		tasks:   newTaskStore(o, firstCDNTaskID, 0x7a5c, "directory"),
		minutes: domainMinutes{limit: o.DomainURLsPerMinute, sliding: o.DomainWindowSliding},
		objectTypes: map[string]kind{"": kindFile, string(apiclient.ObjectFile): kindFile, string(apiclient.ObjectDirectory): kindDirectory,
			string(apiclient.ObjectRegex): kindRegex, string(apiclient.ObjectExQuery): kindExQuery},
		pushIDField:        "PushTaskId",
		tasksKey:           "CDNTask",
		maxPageSize:        maxTasksPageSize,
		reportsPreloadEdge: true,
	}
}

// newDCDN is the DCDN side: RefreshDcdnObjectCaches takes File,
// Directory, Regex and IgnoreParams; PreloadDcdnObjectCaches answers
// PreloadTaskId; DescribeDcdnRefreshTasks lists Tasks.Task, at most 50 a
// page, and calls a directory task "path" (the DCDN API reference pages of
// these actions).
func newDCDN(o Options, now time.Time) product {
	return product{
		name: apiclient.ProductDCDN,
		account: newAccount(apiclient.ProductDCDN, o.DCDNDomains, Quota{URL: o.DCDNURLQuota, Dir: o.DCDNDirQuota, Regex: o.DCDNRegexQuota,
			Preload: o.DCDNPreloadQuota, Block: defaultBlockQuota, IgnoreParams: o.DCDNIgnoreParamsQuota}, now),
		tasks:   newTaskStore(o, firstDCDNTaskID, 0xdcd7, "path"),
		minutes: domainMinutes{limit: o.DCDNDomainURLsPerMinute, sliding: o.DomainWindowSliding},
		objectTypes: map[string]kind{"": kindFile, string(apiclient.ObjectFile): kindFile, string(apiclient.ObjectDirectory): kindDirectory,
			string(apiclient.ObjectRegex): kindRegex, "IgnoreParams": kindIgnoreParams},
		pushIDField: "PreloadTaskId",
		tasksKey:    "Task",
		maxPageSize: maxDCDNTasksPageSize,
	}
}

// side returns the state of the product req belongs to; actions of
// neither (STS) get CDN's, which they never touch.
func (e *Emulator) side(req *request) *product {
	if req.product == apiclient.ProductDCDN {
		return &e.dcdn
	}
	return &e.cdn
}

// productOf names the product of action: cdn, dcdn, sts, or "" for an
// action the emulator does not serve.
func productOf(action string) apiclient.Product { return actions[action].product }

// domainByName finds a domain of either product named exactly as configured.
func (e *Emulator) domainByName(name string) *domain {
	if d := e.cdn.account.byName(name); d != nil {
		return d
	}
	return e.dcdn.account.byName(name)
}

// SetDCDNQuota replaces DCDN's daily totals; what today already spent stays
// spent.
func (e *Emulator) SetDCDNQuota(total Quota) { e.dcdn.setQuota(e, total) }

// DCDNQuotaRemaining returns what is left of DCDN's quota today, as
// DescribeDcdnRefreshQuota would report it.
func (e *Emulator) DCDNQuotaRemaining() Quota { return e.dcdn.quotaRemaining(e) }

// DCDNQuotaUsed returns what DCDN calls spent today (Asia/Shanghai).
func (e *Emulator) DCDNQuotaUsed() Quota { return e.dcdn.quotaUsed(e) }

// AddDCDNDomain adds an online DCDN domain to the account.
func (e *Emulator) AddDCDNDomain(name string) {
	e.mu.Lock()
	e.dcdn.account.add(name)
	e.mu.Unlock()
}

// DCDNTasks returns every DCDN task of the last 3 days as
// DescribeDcdnRefreshTasks would show it now, oldest first.
func (e *Emulator) DCDNTasks() []apiclient.Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dcdn.tasks.all(e.now())
}
