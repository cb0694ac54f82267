package cdnemu

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// kind is what a task does, and which quota it spends.
type kind uint8

const (
	kindFile kind = iota
	kindDirectory
	kindRegex
	kindExQuery
	kindPreload
	kindIgnoreParams // DCDN's ExQuery
)

// wire is the ObjectType DescribeRefreshTasks filters on. An ExQuery or
// IgnoreParams refresh is reported, and filtered, as a file task.
func (k kind) wire() string {
	return [...]string{"file", "directory", "regex", "file", "preload", "file"}[k]
}

// urls reports a kind whose paths are URLs that count against the
// per-domain per-minute limit.
func (k kind) urls() bool { return k == kindFile || k == kindIgnoreParams }

// parseTaskFilterType reads DescribeRefreshTasks' ObjectType; "path" is the
// older spelling of directory.
func parseTaskFilterType(s string) (kind, bool) {
	switch strings.ToLower(s) {
	case "file":
		return kindFile, true
	case "directory", "path":
		return kindDirectory, true
	case "regex":
		return kindRegex, true
	case "preload":
		return kindPreload, true
	}
	return 0, false
}

// Failure descriptions of failed tasks, as the API words them.
var failDescriptions = [...]string{"", "InternalError", "OriginTimeout", "OriginReturnStatusCode 5XX"}

// firstTaskID is the ID of the first task; real IDs are numbers of this size.
const firstTaskID = 700000000

// taskHistory is how far back DescribeRefreshTasks and
// DescribeRefreshTaskById look; older tasks are forgotten.
const taskHistory = 3 * 24 * time.Hour

// task is one refresh or push task, kept small: a million of them is a
// benchmark's day. Its status is computed from created and the clock.
type task struct {
	id      int64
	path    string
	created int64 // Unix nanoseconds on the emulator clock
	kind    kind
	fail    uint8 // index in failDescriptions; 0 completes
}

// taskStore holds task items in creation order. Items of one task share its
// ID and lie next to each other; IDs grow with the index, so a lookup by ID
// is a binary search.
type taskStore struct {
	tasks    []task
	nextID   int64
	dirWire  string // how a directory task's ObjectType reads
	pending  time.Duration
	duration time.Duration
	failRate float64
	rng      *rand.Rand
}

// newTaskStore numbers tasks from firstID; stream tells the random
// failures of one product's tasks from the other's.
func newTaskStore(o Options, firstID int64, stream uint64, dirWire string) taskStore {
	return taskStore{nextID: firstID, dirWire: dirWire, pending: o.TaskPending, duration: o.TaskDuration,
		failRate: o.TaskFailRate, rng: rand.New(rand.NewPCG(o.Seed, stream))}
}

// prune forgets tasks older than taskHistory.
func (s *taskStore) prune(now time.Time) {
	cut := now.Add(-taskHistory).UnixNano()
	n := 0
	for n < len(s.tasks) && s.tasks[n].created < cut {
		n++
	}
	if n > 0 {
		clear(s.tasks[:n]) // let the paths go
		s.tasks = s.tasks[n:]
	}
}

// add creates the tasks of one call and returns their IDs, comma-joined.
// Like the real API, URL refreshes (File, ExQuery) of one domain in one
// call are merged into one task whose ID covers every URL; directories,
// regex rules and prefetches get a task each.
func (s *taskStore) add(paths []string, k kind, now time.Time) string {
	s.prune(now)
	t := now.UnixNano()
	var b []byte
	newID := func() int64 {
		id := s.nextID
		s.nextID++
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
		return id
	}
	item := func(id int64, p string) {
		var f uint8
		if s.failRate > 0 && s.rng.Float64() < s.failRate {
			f = uint8(1 + s.rng.IntN(len(failDescriptions)-1))
		}
		s.tasks = append(s.tasks, task{id: id, path: p, created: t, kind: k, fail: f})
	}
	if k != kindFile {
		for _, p := range paths {
			item(newID(), p)
		}
		return string(b)
	}
	var order []string
	byHost := map[string][]string{}
	for _, p := range paths {
		h := pathHost(p)
		if _, ok := byHost[h]; !ok {
			order = append(order, h)
		}
		byHost[h] = append(byHost[h], p)
	}
	for _, h := range order {
		id := newID()
		for _, p := range byHost[h] {
			item(id, p)
		}
	}
	return string(b)
}

// byID returns the index range [from, to) of the items of task ID id;
// from == to when there is none.
func (s *taskStore) byID(id string) (from, to int) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil {
		return 0, 0
	}
	from = sort.Search(len(s.tasks), func(i int) bool { return s.tasks[i].id >= n })
	to = from
	for to < len(s.tasks) && s.tasks[to].id == n {
		to++
	}
	return from, to
}

// status computes a task's status and progress at now.
func (s *taskStore) status(t *task, now time.Time) (status, process string) {
	elapsed := time.Duration(now.UnixNano() - t.created)
	switch {
	case elapsed < s.pending:
		return apiclient.TaskPending, "0%"
	case elapsed < s.pending+s.duration:
		pct := int64((elapsed - s.pending) * 100 / s.duration)
		return apiclient.TaskRefreshing, strconv.FormatInt(min(max(pct, 1), 99), 10) + "%"
	case t.fail != 0:
		return apiclient.TaskFailed, "0%"
	}
	return apiclient.TaskComplete, "100%"
}

// view is the wire form of task i at now.
func (s *taskStore) view(i int, now time.Time) apiclient.Task {
	t := &s.tasks[i]
	st, proc := s.status(t, now)
	out := apiclient.Task{
		TaskID:       strconv.FormatInt(t.id, 10),
		ObjectPath:   t.path,
		Process:      proc,
		Status:       st,
		CreationTime: time.Unix(0, t.created).UTC().Format(timestampFormat),
		ObjectType:   t.kind.wire(),
	}
	if t.kind == kindDirectory {
		out.ObjectType = s.dirWire
	}
	if st == apiclient.TaskFailed {
		out.Description = failDescriptions[t.fail]
	}
	return out
}

// handleDescribeRefreshTasks answers DescribeRefreshTasks and
// DescribeDcdnRefreshTasks: the product's tasks of the last 3 days, newest
// first, filtered and paged.
func handleDescribeRefreshTasks(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	p := req.params
	pageNumber, pageSize := 1, defaultTasksPageSize
	if v := trimmed(p, "PageNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return invalid("PageNumber", v)
		}
		pageNumber = n
	}
	if v := trimmed(p, "PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > pr.maxPageSize {
			return invalid("PageSize", v)
		}
		pageSize = n
	}
	domainName, status, objectType := trimmed(p, "DomainName"), trimmed(p, "Status"), trimmed(p, "ObjectType")
	if (domainName != "" || status != "") && objectType == "" {
		return fail("MissingParameter", "The input parameter \"ObjectType\" is mandatory when DomainName or Status is set.")
	}
	var wantKind kind
	if objectType != "" {
		k, ok := parseTaskFilterType(objectType)
		if !ok {
			return fail("InvalidObjectType.Malformed", "Specified ObjectType "+objectType+" is not valid; use file, directory, regex or preload.")
		}
		wantKind = k
	}
	switch status {
	case "", apiclient.TaskComplete, apiclient.TaskRefreshing, apiclient.TaskFailed, apiclient.TaskPending:
	default:
		return invalid("Status", status)
	}
	var dom *domain
	if domainName != "" {
		if dom = pr.account.byName(domainName); dom == nil {
			return pr.account.notFound(domainName)
		}
	}
	from, to := now.Add(-taskHistory), now
	if v := trimmed(p, "StartTime"); v != "" {
		t, err := time.Parse(timestampFormat, v)
		if err != nil {
			return fail("InvalidStartTime.Malformed")
		}
		if t.After(from) {
			from = t
		}
	}
	if v := trimmed(p, "EndTime"); v != "" {
		t, err := time.Parse(timestampFormat, v)
		if err != nil {
			return fail("InvalidEndTime.Malformed")
		}
		to = t
	}
	if to.Before(from) && trimmed(p, "StartTime") != "" && trimmed(p, "EndTime") != "" {
		return fail("InvalidParameter", "EndTime is earlier than StartTime.")
	}
	objectPath := withoutScheme(p.Get("ObjectPath"))

	s := &pr.tasks
	s.prune(now)
	fromN, toN := from.UnixNano(), to.UnixNano()
	match := func(i int) bool {
		t := &s.tasks[i]
		if t.created < fromN || t.created > toN {
			return false
		}
		if objectType != "" && t.kind.wire() != wantKind.wire() {
			return false
		}
		if objectPath != "" && withoutScheme(t.path) != objectPath {
			return false
		}
		if dom != nil && pr.account.byHost(pathHost(t.path)) != dom {
			return false
		}
		if status != "" {
			if st, _ := s.status(t, now); st != status {
				return false
			}
		}
		return true
	}
	page := []apiclient.Task{}
	total := 0
	skip := (pageNumber - 1) * pageSize
	collect := func(i int) {
		if !match(i) {
			return
		}
		if total >= skip && len(page) < pageSize {
			page = append(page, s.view(i, now))
		}
		total++
	}
	if id := trimmed(p, "TaskId"); id != "" {
		from, to := s.byID(id)
		for i := from; i < to; i++ {
			collect(i)
		}
	} else {
		for i := len(s.tasks) - 1; i >= 0; i-- {
			collect(i)
		}
	}
	return ok(map[string]any{
		"PageNumber": pageNumber,
		"PageSize":   pageSize,
		"TotalCount": total,
		"Tasks":      map[string]any{pr.tasksKey: page},
	})
}

// handleDescribeRefreshTaskByID answers DescribeRefreshTaskById: up to
// maxTaskIDs comma-separated IDs, in the order asked;
// unknown or expired IDs are left out. More IDs are refused with
// InvalidParameter.
func handleDescribeRefreshTaskByID(e *Emulator, req *request, now time.Time) *answer {
	pr := e.side(req)
	raw := trimmed(req.params, "TaskId")
	if raw == "" {
		return missing("TaskId")
	}
	ids := apiclient.SplitTaskIDs(raw)
	if len(ids) > maxTaskIDs {
		return fail("InvalidParameter", "The specified parameter \"TaskId\" holds "+strconv.Itoa(len(ids))+" IDs; at most 10 are allowed.")
	}
	s := &pr.tasks
	s.prune(now)
	out := make([]apiclient.Task, 0, len(ids))
	for _, id := range ids {
		from, to := s.byID(id)
		for i := from; i < to; i++ {
			out = append(out, s.view(i, now))
		}
	}
	return ok(map[string]any{"Tasks": out, "TotalCount": len(out)})
}

// all is every task of the last 3 days as they read at now, oldest first.
func (s *taskStore) all(now time.Time) []apiclient.Task {
	s.prune(now)
	out := make([]apiclient.Task, len(s.tasks))
	for i := range s.tasks {
		out[i] = s.view(i, now)
	}
	return out
}

// Tasks returns every CDN task of the last 3 days as DescribeRefreshTasks
// would show it now, oldest first (DCDNTasks has DCDN's).
func (e *Emulator) Tasks() []apiclient.Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cdn.tasks.all(e.now())
}

// TaskCount returns how many CDN tasks of the last 3 days the emulator
// holds.
func (e *Emulator) TaskCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cdn.tasks.prune(e.now())
	return len(e.cdn.tasks.tasks)
}
