package worker

import (
	"slices"
	"strconv"
	"time"

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
	// Force is "", "true" or "false" (refresh of non-File types only).
	Force        string
	Area         string
	L2Preload    bool
	WithHeader   string
	QueryHashkey bool
}

// String names the group for logs and metric labels.
func (k GroupKey) String() string {
	if k.Action == ActionPush {
		return "push"
	}
	return "refresh/" + string(k.ObjectType)
}

// Limits are the per-request caps a batch is flushed at.
type Limits struct {
	URLsPerRefresh    int `yaml:"urls_per_refresh" json:"urls_per_refresh"`
	DirsPerRefresh    int `yaml:"dirs_per_refresh" json:"dirs_per_refresh"`
	RegexPerRefresh   int `yaml:"regex_per_refresh" json:"regex_per_refresh"`
	URLsPerPush       int `yaml:"urls_per_push" json:"urls_per_push"`
	DomainsPerRefresh int `yaml:"domains_per_refresh" json:"domains_per_refresh"`
}

// DefaultLimits are the current API's caps (API_FACTS.md).
func DefaultLimits() Limits {
	return Limits{
		URLsPerRefresh:    apiclient.MaxURLsPerRefresh,
		DirsPerRefresh:    apiclient.MaxDirsPerRefresh,
		RegexPerRefresh:   apiclient.MaxRegexPerRefresh,
		URLsPerPush:       apiclient.MaxURLsPerPush,
		DomainsPerRefresh: apiclient.MaxDomainsPerRefresh,
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
	return l
}

// size is how many paths one call of the group may carry.
func (l Limits) size(k GroupKey) int {
	if k.Action == ActionPush {
		return l.URLsPerPush
	}
	switch k.ObjectType {
	case apiclient.ObjectDirectory:
		return l.DirsPerRefresh
	case apiclient.ObjectRegex:
		return l.RegexPerRefresh
	}
	return l.URLsPerRefresh
}

// domains is how many distinct domains one call may address; 0 is no cap.
func (l Limits) domains(k GroupKey) int {
	if k.Action == ActionRefresh {
		return l.DomainsPerRefresh
	}
	return 0
}

// keyOf returns the group of a validated refresh or push job.
func keyOf(j *jobs.Job) (GroupKey, bool) {
	switch {
	case j.Refresh != nil:
		ot, err := apiclient.ParseObjectType(j.Refresh.ObjectType)
		if err != nil {
			return GroupKey{}, false
		}
		k := GroupKey{Action: ActionRefresh, ObjectType: ot}
		if j.Refresh.Force != nil && ot != apiclient.ObjectFile {
			k.Force = strconv.FormatBool(*j.Refresh.Force)
		}
		return k, true
	case j.Push != nil:
		return GroupKey{Action: ActionPush, Area: j.Push.Area, L2Preload: j.Push.L2Preload,
			WithHeader: j.Push.WithHeader, QueryHashkey: j.Push.QueryHashkey}, true
	}
	return GroupKey{}, false
}

// entry is one distinct path in a batch and the jobs that asked for it.
type entry struct {
	path   string
	domain string
	jobs   []*tracked
}

// Batch is what one API call sends.
type Batch struct {
	Key     GroupKey
	entries []*entry
	index   map[string]*entry
	domains map[string]int
	opened  time.Time
}

func newBatch(k GroupKey, now time.Time) *Batch {
	return &Batch{Key: k, index: map[string]*entry{}, domains: map[string]int{}, opened: now}
}

// Len is the number of distinct paths.
func (b *Batch) Len() int { return len(b.entries) }

// Paths returns the paths in the order they were added.
func (b *Batch) Paths() []string {
	out := make([]string, len(b.entries))
	for i, e := range b.entries {
		out[i] = e.path
	}
	return out
}

// Domains is the number of distinct domains in the batch.
func (b *Batch) Domains() int { return len(b.domains) }

func (b *Batch) add(e *entry) {
	b.entries = append(b.entries, e)
	b.index[e.path] = e
	b.domains[e.domain]++
}

// split returns the batch as two halves, for finding the paths the API
// refuses one by one.
func (b *Batch) split() (*Batch, *Batch) {
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
func (b *Batch) take(n int) *Batch {
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

// maxOpenPerGroup bounds the open batches of one group; past it the oldest
// is flushed. Several are kept open so that a refresh of paths from more
// than ten domains still fills each call.
const maxOpenPerGroup = 8

// grouper collects paths into open batches per group and hands full ones
// out. It is not safe for concurrent use; the batcher owns it.
type grouper struct {
	limits Limits
	open   map[GroupKey][]*Batch
}

func newGrouper(l Limits) *grouper {
	return &grouper{limits: l.WithDefaults(), open: map[GroupKey][]*Batch{}}
}

// add puts path of job t into an open batch of its group and returns the
// batches that became full. A path already in an open batch of the group
// is not added again: t joins its entry (dedupe).
func (g *grouper) add(k GroupKey, path string, t *tracked, now time.Time) (full []*Batch, dup bool) {
	open := g.open[k]
	for _, b := range open {
		if e, ok := b.index[path]; ok {
			e.jobs = append(e.jobs, t)
			return nil, true
		}
	}
	domain := jobs.Domain(path)
	maxDomains := g.limits.domains(k)
	var b *Batch
	for _, c := range open {
		if maxDomains == 0 || c.domains[domain] > 0 || len(c.domains) < maxDomains {
			b = c
			break
		}
	}
	if b == nil {
		if len(open) >= maxOpenPerGroup {
			full = append(full, open[0])
			open = open[1:]
		}
		b = newBatch(k, now)
		open = append(open, b)
	}
	b.add(&entry{path: path, domain: domain, jobs: []*tracked{t}})
	if b.Len() >= g.limits.size(k) {
		full = append(full, b)
		open = slices.DeleteFunc(open, func(c *Batch) bool { return c == b })
	}
	if len(open) == 0 {
		delete(g.open, k)
	} else {
		g.open[k] = open
	}
	return full, false
}

// due removes and returns the open batches opened at or before cutoff.
func (g *grouper) due(cutoff time.Time) []*Batch {
	var out []*Batch
	for k, open := range g.open {
		keep := open[:0]
		for _, b := range open {
			if !b.opened.After(cutoff) {
				out = append(out, b)
			} else {
				keep = append(keep, b)
			}
		}
		if len(keep) == 0 {
			delete(g.open, k)
		} else {
			g.open[k] = keep
		}
	}
	return out
}

// all removes and returns every open batch.
func (g *grouper) all() []*Batch {
	var out []*Batch
	for k, open := range g.open {
		out = append(out, open...)
		delete(g.open, k)
	}
	return out
}

// Plan cuts a one-shot list of paths of one group into API calls the way
// the worker batches: duplicates dropped, each call within the size and
// domain limits, as few calls as the limits allow. `cdnpurge purge
// --direct` sends these.
func Plan(k GroupKey, paths []string, l Limits) [][]string {
	g := newGrouper(l)
	now := time.Now()
	var out [][]string
	for _, p := range dedupe(paths) {
		full, _ := g.add(k, p, nil, now)
		for _, b := range full {
			out = append(out, b.Paths())
		}
	}
	for _, b := range g.all() {
		out = append(out, b.Paths())
	}
	return out
}
