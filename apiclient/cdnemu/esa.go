package cdnemu

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// ESA (Edge Security Acceleration), API 2024-09-10: sites with purge
// quotas per type and day, purge and prefetch tasks. The actions follow
// the ESA API reference pages "ListSites", "PurgeCaches", "PreloadCaches",
// "GetPurgeQuota", "DescribePurgeTasks" and "DescribePreloadTasks"
// (https://www.alibabacloud.com/help/en/edge-security-acceleration/esa/api-esa-2024-09-10-purgecaches
// and its siblings). The official SDK sends every parameter in the query
// and objects and arrays (Content, Headers) as one JSON string each.
//
// Where the reference is silent the emulator chooses, and says so here:
//   - an unknown SiteId answers InvalidSite.NotFound (404), a purge beyond
//     the day's quota of its type QuotaExceeded.Purge (400), more items
//     than esa.MaxPerCall in one call SingleRequest.OverLimit;
//   - GetPurgeQuota and the task lists want a SiteId;
//   - PreloadCaches spends no quota (GetPurgeQuota reports none for it).

// productESA is the ESA actions' product (faults can target it).
const productESA = apiclient.ProductESA

// The ESA actions the emulator serves.
const (
	actionListSites            = "ListSites"
	actionPurgeCaches          = "PurgeCaches"
	actionPreloadCaches        = "PreloadCaches"
	actionGetPurgeQuota        = "GetPurgeQuota"
	actionDescribePurgeTasks   = "DescribePurgeTasks"
	actionDescribePreloadTasks = "DescribePreloadTasks"
)

// firstESASiteID numbers the sites an emulator makes up; firstESATaskID
// its ESA tasks, apart from CDN's and DCDN's.
const (
	firstESASiteID = 7096621098000
	firstESATaskID = 900000000
)

// ESASite is an ESA site of the emulated account. ID 0 gets one assigned.
type ESASite struct {
	Name string
	ID   int64
}

// DefaultESAQuota is the daily purge quota of each type the emulator gives
// a site unless Options.ESAQuota says otherwise. The console's "Purge
// cache" pages list per-plan quotas (URLs 1,000 to 500,000, hostnames 100
// to 2,000, purge-all 5 to 200, cache tags 30,000 on Enterprise); these
// are the emulator's choice among them.
func DefaultESAQuota() map[esa.PurgeType]int64 {
	return map[esa.PurgeType]int64{
		esa.File: 10000, esa.IgnoreParams: 10000, esa.CacheKey: 10000,
		esa.Directory: 100, esa.CacheTag: 30000, esa.Hostname: 100, esa.PurgeAll: 5,
	}
}

// esaSite is one site's state.
type esaSite struct {
	id    int64
	name  string
	total map[esa.PurgeType]int64
	used  map[esa.PurgeType]int64
	// used30 counts every purge since the emulator started (Usage30Day).
	used30 map[esa.PurgeType]int64
	day    int64
	// created is when the site was added (ListSites' CreateTime).
	created time.Time
}

func (s *esaSite) roll(now time.Time) {
	if d := shanghaiDay(now); d != s.day {
		s.day = d
		s.used = map[esa.PurgeType]int64{}
	}
}

// covers reports whether host is the site's name or under it.
func (s *esaSite) covers(host string) bool {
	host = strings.ToLower(host)
	return host == s.name || strings.HasSuffix(host, "."+s.name)
}

// esaTask is one item of a purge or prefetch task: the items of one call
// share its TaskId.
type esaTask struct {
	id      int64
	site    int64
	typ     esa.PurgeType // ESAPreload for a prefetch
	content string
	created int64
	fail    uint8
}

// esaState is the account's ESA side.
type esaState struct {
	sites  []*esaSite
	nextID int64
	quota  map[esa.PurgeType]int64
	tasks  []esaTask
	nextTk int64
	// timing computes a task's status as CDN's tasks do (Options.Task*).
	timing taskStore
	rng    *rand.Rand
}

func newESA(o Options, now time.Time) esaState {
	s := esaState{nextID: firstESASiteID, nextTk: firstESATaskID, quota: DefaultESAQuota(),
		timing: newTaskStore(o, 0, 0, ""), rng: rand.New(rand.NewPCG(o.Seed, 0xe5a))}
	for t, n := range o.ESAQuota {
		s.quota[t] = n
	}
	for _, site := range o.ESASites {
		s.add(site, now)
	}
	return s
}

// add adds a site (or returns the one of that name) and returns its ID.
func (s *esaState) add(site ESASite, now time.Time) int64 {
	name := strings.ToLower(strings.TrimSpace(site.Name))
	if old := s.byName(name); old != nil {
		return old.id
	}
	id := site.ID
	if id == 0 {
		id = s.nextID
		s.nextID++
	}
	st := &esaSite{id: id, name: name, total: map[esa.PurgeType]int64{}, used: map[esa.PurgeType]int64{},
		used30: map[esa.PurgeType]int64{}, day: shanghaiDay(now), created: now}
	for t, n := range s.quota {
		st.total[t] = n
	}
	s.sites = append(s.sites, st)
	return id
}

func (s *esaState) byName(name string) *esaSite {
	for _, st := range s.sites {
		if st.name == name {
			return st
		}
	}
	return nil
}

func (s *esaState) byID(id int64) *esaSite {
	for _, st := range s.sites {
		if st.id == id {
			return st
		}
	}
	return nil
}

// esaActions are the ESA actions; actions.go adds them to its table.
func esaActions() map[string]action {
	esa := func(h func(*Emulator, *request, time.Time) *answer) action {
		return action{isESAVersion, h, productESA}
	}
	return map[string]action{
		actionListSites:            esa(handleListSites),
		actionPurgeCaches:          esa(handlePurgeCaches),
		actionPreloadCaches:        esa(handlePreloadCaches),
		actionGetPurgeQuota:        esa(handleGetPurgeQuota),
		actionDescribePurgeTasks:   esa(handleDescribeESATasks),
		actionDescribePreloadTasks: esa(handleDescribeESATasks),
	}
}

func isESAVersion(v string) bool { return v == esa.Version }

// siteOf finds the site SiteId names; the answer is an error when there is
// none.
func (e *Emulator) siteOf(req *request, now time.Time) (*esaSite, *answer) {
	raw := trimmed(req.params, "SiteId")
	if raw == "" {
		return nil, missing("SiteId")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, invalid("SiteId", raw)
	}
	st := e.esa.byID(id)
	if st == nil {
		return nil, fail("InvalidSite.NotFound", "The site "+raw+" does not exist or does not belong to you.")
	}
	st.roll(now)
	return st, nil
}

// handleListSites answers ListSites: the sites, filtered by SiteName
// (SiteSearchType exact, prefix, suffix, or fuzzy, the default), paged.
func handleListSites(e *Emulator, req *request, now time.Time) *answer {
	p := req.params
	name := strings.ToLower(trimmed(p, "SiteName"))
	match := func(s string) bool { return strings.Contains(s, name) }
	switch mode := trimmed(p, "SiteSearchType"); mode {
	case "", "fuzzy":
	case "exact":
		match = func(s string) bool { return s == name }
	case "prefix":
		match = func(s string) bool { return strings.HasPrefix(s, name) }
	case "suffix":
		match = func(s string) bool { return strings.HasSuffix(s, name) }
	default:
		return invalid("SiteSearchType", mode)
	}
	number, size, a := esaPage(p, 500)
	if a != nil {
		return a
	}
	var all []map[string]any
	for _, st := range e.esa.sites {
		if name != "" && !match(st.name) {
			continue
		}
		all = append(all, map[string]any{
			"SiteId": st.id, "SiteName": st.name, "Status": "active", "AccessType": "NS", "Coverage": "domestic",
			"InstanceId": "esa-site-emulator", "PlanName": "basic", "CreateTime": st.created.UTC().Format(timestampFormat),
		})
	}
	return ok(map[string]any{"TotalCount": len(all), "PageNumber": number, "PageSize": size, "Sites": pageOf(all, number, size)})
}

// esaPage reads PageNumber (default 1) and PageSize (default 20, at most
// max).
func esaPage(p map[string][]string, max int) (number, size int, a *answer) {
	number, size = 1, 20
	get := func(name string) string {
		if v := p[name]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	if raw := get("PageNumber"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100000 {
			return 0, 0, invalid("PageNumber", raw)
		}
		number = n
	}
	if raw := get("PageSize"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > max {
			return 0, 0, invalid("PageSize", raw)
		}
		size = n
	}
	return number, size, nil
}

func pageOf[T any](all []T, number, size int) []T {
	from := min((number-1)*size, len(all))
	to := min(from+size, len(all))
	out := all[from:to]
	if out == nil {
		out = []T{}
	}
	return out
}

// esaURL is an entry of Files or CacheKeys: a URL alone or with headers.
type esaURL struct {
	URL     string            `json:"Url"`
	Headers map[string]string `json:"Headers,omitempty"`
}

func (u *esaURL) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		u.URL = s
		return nil
	}
	type plain esaURL
	return json.Unmarshal(b, (*plain)(u))
}

// esaContent is PurgeCaches' Content.
type esaContent struct {
	Files        []esaURL `json:"Files"`
	Directories  []string `json:"Directories"`
	CacheTags    []string `json:"CacheTags"`
	IgnoreParams []string `json:"IgnoreParams"`
	Hostnames    []string `json:"Hostnames"`
	PurgeAll     bool     `json:"PurgeAll"`
	CacheKeys    []esaURL `json:"CacheKeys"`
}

// items returns the entries of Content that type t purges.
func (c *esaContent) items(t esa.PurgeType, site string) []string {
	urls := func(us []esaURL) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.URL
		}
		return out
	}
	switch t {
	case esa.File:
		return urls(c.Files)
	case esa.CacheKey:
		return urls(c.CacheKeys)
	case esa.Directory:
		return c.Directories
	case esa.CacheTag:
		return c.CacheTags
	case esa.IgnoreParams:
		return c.IgnoreParams
	case esa.Hostname:
		return c.Hostnames
	case esa.PurgeAll:
		if c.PurgeAll {
			return []string{site}
		}
	}
	return nil
}

// handlePurgeCaches answers PurgeCaches: one task for the call, its items
// spending the site's quota of the type.
func handlePurgeCaches(e *Emulator, req *request, now time.Time) *answer {
	st, a := e.siteOf(req, now)
	if a != nil {
		return a
	}
	p := req.params
	typ := esa.PurgeType(trimmed(p, "Type"))
	if typ == "" {
		typ = esa.File
	}
	if !slices.Contains(esa.Types(), typ) {
		return invalid("Type", string(typ))
	}
	for _, b := range []string{"Force", "EdgeComputePurge"} {
		if v := trimmed(p, b); v != "" && v != "true" && v != "false" {
			return invalid(b, v)
		}
	}
	raw := p.Get("Content")
	if raw == "" {
		return missing("Content")
	}
	var c esaContent
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return fail("InvalidParameter", "The specified parameter \"Content\" is not a JSON object: "+err.Error())
	}
	items := c.items(typ, st.name)
	if len(items) == 0 {
		field := typ.ContentField()
		if field == "" {
			field = "PurgeAll"
		}
		return fail("MissingParameter", "Content."+field+" is required for type "+string(typ)+".")
	}
	if len(items) > esa.MaxPerCall(typ) {
		return fail("SingleRequest.OverLimit", "At most "+strconv.Itoa(esa.MaxPerCall(typ))+" items of type "+string(typ)+" in one request.")
	}
	if a := checkESAItems(st, typ, items); a != nil {
		return a
	}
	n := int64(len(items))
	if st.used[typ]+n > st.total[typ] {
		return fail("QuotaExceeded.Purge", "The "+string(typ)+" purge quota of site "+st.name+" for today is not enough for this request.")
	}
	st.used[typ] += n
	st.used30[typ] += n
	id := e.esa.addTask(st.id, typ, items, now)
	e.rec.addPaths(req, items, now)
	return ok(map[string]any{"TaskId": strconv.FormatInt(id, 10)})
}

// checkESAItems refuses an item that is not the site's: a URL or hostname
// on another host, a malformed URL, a directory without its trailing
// slash, an empty tag.
func checkESAItems(st *esaSite, typ esa.PurgeType, items []string) *answer {
	for _, it := range items {
		if len(it) > 1024 || strings.TrimSpace(it) == "" || strings.ContainsAny(it, "\r\n") {
			return fail("InvalidParameter", "The content item "+strconv.Quote(it)+" is not valid.")
		}
		switch typ {
		case esa.CacheTag, esa.PurgeAll:
			continue
		case esa.Hostname:
			if !st.covers(it) {
				return fail("InvalidParameter", "The hostname "+it+" is not on site "+st.name+".")
			}
			continue
		}
		if !strings.HasPrefix(it, "http://") && !strings.HasPrefix(it, "https://") {
			return fail("InvalidParameter", "The URL "+strconv.Quote(it)+" must start with http:// or https://.")
		}
		if !st.covers(pathHost(it)) {
			return fail("InvalidParameter", "The URL "+it+" is not on site "+st.name+".")
		}
		if typ == esa.Directory && !strings.HasSuffix(it, "/") {
			return fail("InvalidParameter", "The directory "+it+" must end with /.")
		}
	}
	return nil
}

// addTask records the items of one call under a new TaskId.
func (s *esaState) addTask(site int64, typ esa.PurgeType, items []string, now time.Time) int64 {
	cut := now.Add(-taskHistory).UnixNano()
	i := 0
	for i < len(s.tasks) && s.tasks[i].created < cut {
		i++
	}
	s.tasks = s.tasks[i:]
	id := s.nextTk
	s.nextTk++
	for _, it := range items {
		var f uint8
		if s.timing.failRate > 0 && s.rng.Float64() < s.timing.failRate {
			f = uint8(1 + s.rng.IntN(len(failDescriptions)-1))
		}
		s.tasks = append(s.tasks, esaTask{id: id, site: site, typ: typ, content: it, created: now.UnixNano(), fail: f})
	}
	return id
}

// handlePreloadCaches answers PreloadCaches: Content is a JSON array of
// URLs, Headers a JSON object.
func handlePreloadCaches(e *Emulator, req *request, now time.Time) *answer {
	st, a := e.siteOf(req, now)
	if a != nil {
		return a
	}
	raw := req.params.Get("Content")
	if raw == "" {
		return missing("Content")
	}
	var urls []string
	if err := json.Unmarshal([]byte(raw), &urls); err != nil {
		return fail("InvalidParameter", "The specified parameter \"Content\" is not a JSON array of URLs: "+err.Error())
	}
	if h := req.params.Get("Headers"); h != "" {
		var m map[string]string
		if err := json.Unmarshal([]byte(h), &m); err != nil {
			return fail("InvalidParameter", "The specified parameter \"Headers\" is not a JSON object: "+err.Error())
		}
	}
	if len(urls) == 0 {
		return missing("Content")
	}
	if len(urls) > esa.MaxPerCall(esa.Preload) {
		return fail("SingleRequest.OverLimit", "At most "+strconv.Itoa(esa.MaxPerCall(esa.Preload))+" URLs in one prefetch request.")
	}
	if a := checkESAItems(st, esa.Preload, urls); a != nil {
		return a
	}
	id := e.esa.addTask(st.id, esa.Preload, urls, now)
	e.rec.addPaths(req, urls, now)
	return ok(map[string]any{"TaskId": strconv.FormatInt(id, 10)})
}

// handleGetPurgeQuota answers GetPurgeQuota: the site's daily quota of the
// type (file by default) and today's usage, as strings.
func handleGetPurgeQuota(e *Emulator, req *request, now time.Time) *answer {
	st, a := e.siteOf(req, now)
	if a != nil {
		return a
	}
	typ := esa.PurgeType(trimmed(req.params, "Type"))
	if typ == "" {
		typ = esa.File
	}
	if !slices.Contains(esa.Types(), typ) {
		return invalid("Type", string(typ))
	}
	str := func(n int64) string { return strconv.FormatInt(n, 10) }
	return ok(map[string]any{"Quota": str(st.total[typ]), "Usage": str(st.used[typ]), "Quota30Day": "0", "Usage30Day": str(st.used30[typ])})
}

// handleDescribeESATasks answers DescribePurgeTasks (Type filters) and
// DescribePreloadTasks: the site's task items of the last 3 days, newest
// first, filtered by Status, exact Content and StartTime/EndTime, at most
// 50 a page.
func handleDescribeESATasks(e *Emulator, req *request, now time.Time) *answer {
	st, a := e.siteOf(req, now)
	if a != nil {
		return a
	}
	p := req.params
	preload := req.action == actionDescribePreloadTasks
	typ := esa.PurgeType(trimmed(p, "Type"))
	if preload {
		typ = esa.Preload
	} else if typ != "" && !slices.Contains(esa.Types(), typ) {
		return invalid("Type", string(typ))
	}
	status := trimmed(p, "Status")
	if status != "" && status != apiclient.TaskComplete && status != apiclient.TaskRefreshing && status != apiclient.TaskFailed {
		return invalid("Status", status)
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"StartTime", &from}, {"EndTime", &to}} {
		if raw := trimmed(p, f.name); raw != "" {
			t, err := time.Parse(timestampFormat, raw)
			if err != nil {
				return fail("Invalid" + f.name + ".Malformed")
			}
			*f.t = t
		}
	}
	number, size, a := esaPage(p, esa.MaxTasksPageSize)
	if a != nil {
		return a
	}
	content := p.Get("Content")
	var all []map[string]any
	for i := len(e.esa.tasks) - 1; i >= 0; i-- {
		t := &e.esa.tasks[i]
		if t.site != st.id || (preload != (t.typ == esa.Preload)) || (typ != "" && t.typ != typ) {
			continue
		}
		created := time.Unix(0, t.created)
		if (!from.IsZero() && created.Before(from)) || (!to.IsZero() && created.After(to)) || (content != "" && t.content != content) {
			continue
		}
		s, proc := e.esa.timing.status(&task{created: t.created, fail: t.fail}, now)
		if status != "" && s != status {
			continue
		}
		v := map[string]any{"TaskId": strconv.FormatInt(t.id, 10), "Content": t.content, "Status": s, "Process": proc,
			"CreateTime": created.UTC().Format(timestampFormat)}
		if !preload {
			v["Type"] = string(t.typ)
		}
		if s == apiclient.TaskFailed {
			v["Description"] = failDescriptions[t.fail]
		}
		all = append(all, v)
	}
	return ok(map[string]any{"TotalCount": len(all), "PageNumber": number, "PageSize": size, "Tasks": pageOf(all, number, size)})
}

// AddESASite adds an ESA site to the account (a name already there keeps
// its ID) and returns its SiteId.
func (e *Emulator) AddESASite(site ESASite) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.esa.add(site, e.now())
}

// ESASiteID returns the SiteId of the site named name, 0 when there is none.
func (e *Emulator) ESASiteID(name string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.esa.byName(strings.ToLower(name)); st != nil {
		return st.id
	}
	return 0
}

// SetESAQuota sets the daily quota of one type of one site; what today
// spent stays spent. It reports whether the site exists.
func (e *Emulator) SetESAQuota(siteID int64, typ esa.PurgeType, total int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.esa.byID(siteID)
	if st == nil {
		return false
	}
	st.total[typ] = total
	return true
}

// ESAQuotaUsed returns what today's purges of the type spent on the site.
func (e *Emulator) ESAQuotaUsed(siteID int64, typ esa.PurgeType) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.esa.byID(siteID)
	if st == nil {
		return 0
	}
	st.roll(e.now())
	return st.used[typ]
}

// ESATask is one item of an ESA purge or prefetch task as the emulator
// keeps it.
type ESATask struct {
	TaskID  string
	SiteID  int64
	Type    esa.PurgeType
	Content string
	Status  string
}

// ESATasks returns every ESA task item of the last 3 days, oldest first.
func (e *Emulator) ESATasks() []ESATask {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]ESATask, 0, len(e.esa.tasks))
	for i := range e.esa.tasks {
		t := &e.esa.tasks[i]
		s, _ := e.esa.timing.status(&task{created: t.created, fail: t.fail}, now)
		out = append(out, ESATask{TaskID: strconv.FormatInt(t.id, 10), SiteID: t.site, Type: t.typ, Content: t.content, Status: s})
	}
	return out
}

// esaSitesFlag is --esa-sites: NAME or NAME=SITEID, comma-separated.
type esaSitesFlag []ESASite

func (f *esaSitesFlag) String() string {
	parts := make([]string, 0, len(*f))
	for _, s := range *f {
		if s.ID > 0 {
			parts = append(parts, s.Name+"="+strconv.FormatInt(s.ID, 10))
		} else {
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ",")
}

func (f *esaSitesFlag) Set(v string) error {
	*f = (*f)[:0]
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, id, hasID := strings.Cut(part, "=")
		s := ESASite{Name: strings.TrimSpace(name)}
		if hasID {
			n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q: want NAME=SITEID with a positive SiteId", part)
			}
			s.ID = n
		}
		*f = append(*f, s)
	}
	return nil
}

// esaQuotaFlag is --esa-quota: TYPE=N, comma-separated.
type esaQuotaFlag map[esa.PurgeType]int64

func (f *esaQuotaFlag) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, 0, len(*f))
	for t, n := range *f {
		parts = append(parts, string(t)+"="+strconv.FormatInt(n, 10))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (f *esaQuotaFlag) Set(v string) error {
	if *f == nil {
		*f = map[esa.PurgeType]int64{}
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, raw, ok := strings.Cut(part, "=")
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if !ok || err != nil || n < 0 || !slices.Contains(esa.Types(), esa.PurgeType(strings.TrimSpace(t))) {
			return fmt.Errorf("%q: want TYPE=N with TYPE one of file, directory, cachetag, ignoreParams, hostname, purgeall, cachekey", part)
		}
		(*f)[esa.PurgeType(strings.TrimSpace(t))] = n
	}
	return nil
}
