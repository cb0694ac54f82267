package worker

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Action names a batch's API call.
type Action string

// Batch actions.
const (
	ActionRefresh Action = "refresh"
	ActionPush    Action = "push"
)

// GroupKey holds everything that must be equal inside one API call.
type GroupKey struct {
	Action     Action
	ObjectType apiclient.ObjectType
	// Force is the refresh's Force parameter (non-File types only).
	Force        ForceMode
	Area         string
	L2Preload    bool
	WithHeader   string
	QueryHashkey bool
	// Priority of the jobs; "" is normal. Paths of different priorities
	// never share a call, so that a waiting low batch holds up no high one.
	Priority jobs.Priority
	// Target is the product whose API takes the call; "" is CDN.
	Target apiclient.Product
	// Headers are a CacheKey refresh's headers as canonical JSON (ESA).
	Headers string
	// Share names the quota share (quota.shares) the jobs' source spends
	// from; "" for none. Paths of a capped source never share a call with
	// others, so that its cap holds back no one else's work.
	Share string
}

// ForceMode is a refresh's Force parameter: not sent (the API's
// default), true or false. Calls with different modes never share a batch.
type ForceMode uint8

// The Force modes.
const (
	ForceUnset ForceMode = iota
	ForceOn
	ForceOff
)

// forceOf is the mode of an optional Force flag.
func forceOf(f *bool) ForceMode {
	switch {
	case f == nil:
		return ForceUnset
	case *f:
		return ForceOn
	}
	return ForceOff
}

// param is the mode as the request's optional Force flag.
func (m ForceMode) param() *bool {
	if m == ForceUnset {
		return nil
	}
	on := m == ForceOn
	return &on
}

// product is the target of the group, CDN when unset.
func (k GroupKey) product() apiclient.Product {
	if k.Target == "" {
		return apiclient.ProductCDN
	}
	return k.Target
}

// String names the group for logs and metric labels: "push",
// "refresh/File", and "dcdn/push", "dcdn/refresh/File" on DCDN.
func (k GroupKey) String() string {
	s := "refresh/" + string(k.ObjectType)
	if k.Action == ActionPush {
		s = "push"
	}
	if k.product() != apiclient.ProductCDN {
		s = string(k.product()) + "/" + s
	}
	return s
}

// Limits are the per-request caps a batch is flushed at.
type Limits struct {
	URLsPerRefresh    int `yaml:"urls_per_refresh" json:"urls_per_refresh"`
	DirsPerRefresh    int `yaml:"dirs_per_refresh" json:"dirs_per_refresh"`
	RegexPerRefresh   int `yaml:"regex_per_refresh" json:"regex_per_refresh"`
	URLsPerPush       int `yaml:"urls_per_push" json:"urls_per_push"`
	DomainsPerRefresh int `yaml:"domains_per_refresh" json:"domains_per_refresh"`
	// TagsPerRefresh caps the cache tags of one refresh by tag (tags.go).
	TagsPerRefresh int `yaml:"tags_per_refresh" json:"tags_per_refresh"`
}

// DefaultLimits are the current API's caps (Alibaba Cloud's RefreshObjectCaches
// and PushObjectCache API reference pages).
func DefaultLimits() Limits {
	return Limits{
		URLsPerRefresh:    apiclient.CDN().Caps.URLsPerRefresh,
		DirsPerRefresh:    apiclient.CDN().Caps.DirsPerRefresh,
		RegexPerRefresh:   apiclient.CDN().Caps.RegexPerRefresh,
		URLsPerPush:       apiclient.CDN().Caps.URLsPerPush,
		DomainsPerRefresh: apiclient.CDN().Caps.DomainsPerRefresh,
		TagsPerRefresh:    apiclient.CDN().Caps.TagsPerRefresh,
	}
}

// WithDefaults fills zero limits with DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.URLsPerRefresh == 0 {
		l.URLsPerRefresh = d.URLsPerRefresh
	}
	if l.DirsPerRefresh == 0 {
		l.DirsPerRefresh = d.DirsPerRefresh
	}
	if l.RegexPerRefresh == 0 {
		l.RegexPerRefresh = d.RegexPerRefresh
	}
	if l.URLsPerPush == 0 {
		l.URLsPerPush = d.URLsPerPush
	}
	if l.DomainsPerRefresh == 0 {
		l.DomainsPerRefresh = d.DomainsPerRefresh
	}
	if l.TagsPerRefresh == 0 {
		l.TagsPerRefresh = d.TagsPerRefresh
	}
	return l
}

// size is how many paths one call of the group may carry: the configured
// limit, within the per-call caps of the group's target (apiclient.Target;
// CDN's and DCDN's caps are the same today, each product's own pages set
// them).
func (l Limits) size(k GroupKey) int {
	if k.ObjectType == apiclient.ObjectCacheTag {
		return tagsPerCall(l, k)
	}
	n := l.URLsPerRefresh
	switch {
	case k.Action == ActionPush:
		n = l.URLsPerPush
	case k.ObjectType == apiclient.ObjectDirectory:
		n = l.DirsPerRefresh
	case k.ObjectType == apiclient.ObjectRegex:
		n = l.RegexPerRefresh
	}
	base := apiclient.BaseProduct(k.product())
	if base == apiclient.ProductESA && k.Action == ActionRefresh {
		// ESA's caps differ by purge type (cache tags, host names).
		if m := esa.MaxPerCall(esa.PurgeType(apiclient.ESA().ObjectTypes[k.ObjectType])); m > 0 {
			n = min(n, m)
		}
	}
	caps, ok := targetCaps[base]
	if !ok {
		return n
	}
	switch {
	case k.Action == ActionPush:
		n = min(n, caps.URLsPerPush)
	case k.ObjectType == apiclient.ObjectDirectory:
		n = min(n, caps.DirsPerRefresh)
	case k.ObjectType != apiclient.ObjectRegex:
		n = min(n, caps.URLsPerRefresh)
	}
	return n
}

// targetCaps are the per-call caps of each product, read once: size runs
// for every path added.
var targetCaps = func() map[apiclient.Product]apiclient.Caps {
	m := map[apiclient.Product]apiclient.Caps{}
	for _, t := range apiclient.Targets() {
		m[t.Product] = t.Caps
	}
	return m
}()

// domains is how many distinct domains one call may address; 0 is no cap.
func (l Limits) domains(k GroupKey) int {
	if k.ObjectType == apiclient.ObjectCacheTag {
		return 1 // a refresh by tag names one DomainName
	}
	if k.Action == ActionRefresh {
		return l.DomainsPerRefresh
	}
	return 0
}

// keyOf returns the group of a validated refresh or push job.
func keyOf(j *jobs.Job) (GroupKey, bool) {
	switch {
	case j.Refresh.IsTag():
		return tagKey(j), true
	case j.Refresh != nil:
		ot, err := apiclient.ParseObjectType(j.Refresh.ObjectType)
		if err != nil {
			return GroupKey{}, false
		}
		k := GroupKey{Action: ActionRefresh, ObjectType: ot, Priority: priorityOf(j)}
		if ot != apiclient.ObjectFile {
			k.Force = forceOf(j.Refresh.Force)
		}
		if len(j.Refresh.Headers) > 0 {
			b, _ := json.Marshal(j.Refresh.Headers) // map keys sorted: canonical
			k.Headers = string(b)
		}
		return k, true
	case j.Push != nil:
		return GroupKey{Action: ActionPush, Area: j.Push.Area, L2Preload: j.Push.L2Preload,
			WithHeader: j.Push.WithHeader, QueryHashkey: j.Push.QueryHashkey, Priority: priorityOf(j)}, true
	}
	return GroupKey{}, false
}

// priorityOf is j's priority as a group holds it: "" for normal.
func priorityOf(j *jobs.Job) jobs.Priority {
	if j.Priority == jobs.PriorityNormal {
		return ""
	}
	return j.Priority
}

// entry is one distinct path in a batch and the jobs that asked for it.
type entry struct {
	path   string
	domain string
	jobs   []*takenJob
	added  time.Time // when the path reached the batcher
}

// batch is what one API call sends.
type batch struct {
	Key     GroupKey
	entries []*entry
	index   map[string]*entry
	domains map[string]int
	opened  time.Time
	// sentAt is when the batch's call was sent (Recent).
	sentAt time.Time
	// counted is set on a batch the batcher cut: its paths are counted
	// as unsent in the gate line until they are sent or leave the gate.
	counted bool
}

func newBatch(k GroupKey, now time.Time) *batch {
	return &batch{Key: k, index: map[string]*entry{}, domains: map[string]int{}, opened: now}
}

// Len is the number of distinct paths.
func (b *batch) Len() int { return len(b.entries) }

// Paths returns the paths in the order they were added.
func (b *batch) Paths() []string {
	out := make([]string, len(b.entries))
	for i, e := range b.entries {
		out[i] = e.path
	}
	return out
}

// Domains is the number of distinct domains in the batch.
func (b *batch) Domains() int { return len(b.domains) }

func (b *batch) add(e *entry) {
	b.entries = append(b.entries, e)
	b.index[e.path] = e
	b.domains[e.domain]++
}

// split returns the batch as two halves, for finding the paths the API
// refuses one by one.
func (b *batch) split() (*batch, *batch) {
	mid := len(b.entries) / 2
	left, right := newBatch(b.Key, b.opened), newBatch(b.Key, b.opened)
	for i, e := range b.entries {
		if i < mid {
			left.add(e)
		} else {
			right.add(e)
		}
	}
	return left, right
}

// take splits off the first n entries; b keeps the rest.
func (b *batch) take(n int) *batch {
	head := newBatch(b.Key, b.opened)
	rest := newBatch(b.Key, b.opened)
	for i, e := range b.entries {
		if i < n {
			head.add(e)
		} else {
			rest.add(e)
		}
	}
	*b = *rest
	return head
}

// grouper collects paths into a pool per group and cuts the pools into
// calls: at once the calls that are sure to be full, the rest when the
// linger time of its oldest path passes. Cutting a whole pool at a time
// lets the packing reach the fewest calls the limits allow (pack). It is
// not safe for concurrent use; the batcher owns it.
type grouper struct {
	limits Limits
	pools  map[GroupKey]*pool
	// added, when set, is told of every new entry (the worker indexes it
	// as pending).
	added func(GroupKey, *entry)
}

// pool is a group's paths not cut into calls yet, per domain in arrival
// order.
type pool struct {
	byDomain map[string][]*entry
	domains  []string // in order of first arrival
	index    map[string]*entry
	n        int
}

func newGrouper(l Limits) *grouper {
	return &grouper{limits: l.WithDefaults(), pools: map[GroupKey]*pool{}}
}

// add puts path of job t into its group's pool and returns the calls that
// became full. A path already in the pool is not added again: t joins its
// entry (dedupe).
func (g *grouper) add(k GroupKey, path string, t *takenJob, now time.Time) (full []*batch, dup bool) {
	p := g.pools[k]
	if p == nil {
		p = &pool{byDomain: map[string][]*entry{}, index: map[string]*entry{}}
		g.pools[k] = p
	}
	if e, ok := p.index[path]; ok {
		e.jobs = append(e.jobs, t)
		return nil, true
	}
	domain := apiclient.PathDomain(path)
	e := &entry{path: path, domain: domain, jobs: []*takenJob{t}, added: now}
	if _, ok := p.byDomain[domain]; !ok {
		p.domains = append(p.domains, domain)
	}
	p.byDomain[domain] = append(p.byDomain[domain], e)
	p.index[path] = e
	p.n++
	if g.added != nil {
		g.added(k, e)
	}
	size, maxDomains := g.limits.size(k), g.limits.domains(k)
	switch {
	case maxDomains == 0 || len(p.domains) <= maxDomains:
		// No domain cap binds: every full call is as good as any.
		if p.n >= size {
			full = g.cut(k, false)
		}
	case len(p.byDomain[domain]) >= 2*size:
		// A domain this large fills calls of its own; one of its calls'
		// worth stays to fill calls of others.
		full = []*batch{g.takeDomain(k, domain, size)}
	case p.n >= size*maxDomains:
		full = g.cut(k, false)
	}
	return full, false
}

// takeDomain cuts one call of n paths of domain out of k's pool.
func (g *grouper) takeDomain(k GroupKey, domain string, n int) *batch {
	p := g.pools[k]
	es := p.byDomain[domain]
	b := newBatch(k, es[0].added)
	for _, e := range es[:n] {
		b.add(e)
		delete(p.index, e.path)
	}
	p.byDomain[domain] = es[n:]
	p.n -= n
	g.tidy(k)
	return b
}

// cut packs k's pool into calls and removes them from it: all of them, or
// only the full ones.
func (g *grouper) cut(k GroupKey, all bool) []*batch {
	p := g.pools[k]
	if p == nil {
		return nil
	}
	size := g.limits.size(k)
	counts := make([]int, len(p.domains))
	for i, d := range p.domains {
		counts[i] = len(p.byDomain[d])
	}
	var out []*batch
	for _, call := range pack(counts, size, g.limits.domains(k)) {
		n := 0
		for _, pc := range call {
			n += pc.n
		}
		if !all && n < size {
			continue
		}
		var b *batch
		for _, pc := range call {
			d := p.domains[pc.domain]
			es := p.byDomain[d]
			if b == nil {
				b = newBatch(k, es[0].added)
			}
			for _, e := range es[:pc.n] {
				b.add(e)
				delete(p.index, e.path)
				if e.added.Before(b.opened) {
					b.opened = e.added
				}
			}
			p.byDomain[d] = es[pc.n:]
			p.n -= pc.n
		}
		out = append(out, b)
	}
	g.tidy(k)
	return out
}

// tidy drops the emptied domains of k's pool, and the pool once empty.
func (g *grouper) tidy(k GroupKey) {
	p := g.pools[k]
	if p.n == 0 {
		delete(g.pools, k)
		return
	}
	p.domains = slices.DeleteFunc(p.domains, func(d string) bool {
		if len(p.byDomain[d]) == 0 {
			delete(p.byDomain, d)
			return true
		}
		return false
	})
}

// oldest is when the longest-waiting path of p arrived.
func (p *pool) oldest() time.Time {
	var t time.Time
	for _, d := range p.domains {
		if es := p.byDomain[d]; len(es) > 0 && (t.IsZero() || es[0].added.Before(t)) {
			t = es[0].added
		}
	}
	return t
}

// due cuts and returns the pools whose oldest path arrived at or before
// cutoff.
func (g *grouper) due(cutoff time.Time) []*batch {
	var out []*batch
	for k, p := range g.pools {
		if !p.oldest().After(cutoff) {
			out = append(out, g.cut(k, true)...)
		}
	}
	return out
}

// all cuts and returns every pool.
func (g *grouper) all() []*batch {
	var out []*batch
	for k := range g.pools {
		out = append(out, g.cut(k, true)...)
	}
	return out
}

// Plan cuts a one-shot list of paths of one group into API calls the way
// the worker batches: duplicates dropped, each call within the size and
// domain limits, as few calls as the limits allow. `cdnpurge purge
// --direct` sends these.
func Plan(k GroupKey, paths []string, l Limits) [][]string {
	l = l.WithDefaults()
	var domains []string
	byDomain := map[string][]string{}
	for _, p := range jobs.Distinct(paths) {
		d := apiclient.PathDomain(p)
		if _, ok := byDomain[d]; !ok {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], p)
	}
	counts := make([]int, len(domains))
	for i, d := range domains {
		counts[i] = len(byDomain[d])
	}
	var out [][]string
	for _, call := range pack(counts, l.size(k), l.domains(k)) {
		var c []string
		for _, pc := range call {
			d := domains[pc.domain]
			c = append(c, byDomain[d][:pc.n]...)
			byDomain[d] = byDomain[d][pc.n:]
		}
		out = append(out, c)
	}
	return out
}
