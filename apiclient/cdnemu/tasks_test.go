package cdnemu

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
	return v
}

func TestTasksProgressWithClock(t *testing.T) {
	_, c, clock := newTestServer(t, Options{TaskPending: 10 * time.Second, TaskDuration: 60 * time.Second})
	r := c.call("RefreshObjectCaches", "ObjectPath", "example.com/d1/\nexample.com/d2/\nexample.com/d3/", "ObjectType", "Directory").wantOK(t)
	ids := strings.Split(r.str("RefreshTaskId"), ",")
	if len(ids) != 3 {
		t.Fatalf("ids %v", ids)
	}
	for i, id := range ids {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			t.Fatalf("task ID %q is not numeric", id)
		}
		if i > 0 && id == ids[i-1] {
			t.Fatal("repeated ID")
		}
	}
	steps := []struct {
		advance time.Duration
		status  string
		process string
	}{
		{0, "Pending", "0%"},
		{9 * time.Second, "Pending", "0%"},
		{time.Second, "Refreshing", "1%"},
		{30 * time.Second, "Refreshing", "50%"},
		{30 * time.Second, "Complete", "100%"},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		got := decode[apiclient.TasksByID](t, c.call("DescribeRefreshTaskById", "TaskId", strings.Join(ids, ",")).wantOK(t))
		if got.TotalCount != 3 || len(got.Tasks) != 3 {
			t.Fatalf("got %+v", got)
		}
		for i, task := range got.Tasks {
			if task.TaskID != ids[i] || task.Status != st.status || task.Process != st.process || task.ObjectType != "directory" {
				t.Fatalf("after %s: task %d = %+v, want %s %s", st.advance, i, task, st.status, st.process)
			}
			if task.CreationTime != "2024-05-01T10:00:00Z" {
				t.Fatalf("CreationTime %s", task.CreationTime)
			}
		}
	}
}

func TestTaskFailures(t *testing.T) {
	run := func(seed uint64) []apiclient.Task {
		s, c, clock := newTestServer(t, Options{TaskDuration: time.Minute, TaskFailRate: 0.5, Seed: seed, URLQuota: 100000})
		c.mode = viaForm
		c.call("RefreshObjectCaches", "ObjectPath", urls("example.com", 200)).wantOK(t)
		clock.Advance(time.Minute)
		return s.Tasks()
	}
	a, b := run(7), run(7)
	failed := 0
	for i := range a {
		if a[i].Status != b[i].Status || a[i].Description != b[i].Description {
			t.Fatalf("same seed, task %d differs: %+v / %+v", i, a[i], b[i])
		}
		switch a[i].Status {
		case "Failed":
			failed++
			switch a[i].Description {
			case "InternalError", "OriginTimeout", "OriginReturnStatusCode 5XX":
			default:
				t.Fatalf("Description %q", a[i].Description)
			}
		case "Complete":
			if a[i].Description != "" {
				t.Fatalf("complete task with Description %q", a[i].Description)
			}
		default:
			t.Fatalf("status %s", a[i].Status)
		}
	}
	if failed < 60 || failed > 140 {
		t.Fatalf("%d of 200 failed at rate 0.5", failed)
	}
}

func TestDescribeRefreshTasks(t *testing.T) {
	s, c, clock := newTestServer(t, Options{Domains: []string{"a.test", "b.test"}, TaskDuration: time.Minute, NoRateLimit: true})
	c.mode = viaForm
	c.call("RefreshObjectCaches", "ObjectPath", urls("a.test", 25)).wantOK(t)                       // 25 file a
	c.call("RefreshObjectCaches", "ObjectPath", "b.test/dir/", "ObjectType", "Directory").wantOK(t) // dir b
	c.call("RefreshObjectCaches", "ObjectPath", "b.test/.*", "ObjectType", "Regex").wantOK(t)       // regex b
	c.call("PushObjectCache", "ObjectPath", "http://b.test/p.js\nb.test/q.js").wantOK(t)            // 2 preload b
	first := decode[apiclient.TaskPage](t, c.call("DescribeRefreshTasks").wantOK(t))
	if first.TotalCount != 29 || first.PageNumber != 1 || first.PageSize != 20 || len(first.Tasks.CDNTask) != 20 {
		t.Fatalf("default page: %d total, page %d size %d, %d tasks", first.TotalCount, first.PageNumber, first.PageSize, len(first.Tasks.CDNTask))
	}
	if first.Tasks.CDNTask[0].ObjectPath != "b.test/q.js" {
		t.Fatalf("newest first: %+v", first.Tasks.CDNTask[0])
	}
	all := s.Tasks()
	clock.Advance(2 * time.Minute)

	count := func(kv ...string) (int64, []apiclient.Task) {
		t.Helper()
		p := decode[apiclient.TaskPage](t, c.call("DescribeRefreshTasks", kv...).wantOK(t))
		return p.TotalCount, p.Tasks.CDNTask
	}
	cases := []struct {
		name  string
		kv    []string
		total int64
		page  int
	}{
		{"page 2", []string{"PageNumber", "2"}, 29, 9},
		{"page 3", []string{"PageNumber", "3"}, 29, 0},
		{"page size 100", []string{"PageSize", "100"}, 29, 29},
		{"task id", []string{"TaskId", all[25].TaskID}, 1, 1},
		{"merged task id", []string{"TaskId", all[3].TaskID}, 25, 20},
		{"unknown task id", []string{"TaskId", "1"}, 0, 0},
		{"exact path", []string{"ObjectPath", "a.test/static/7.css"}, 1, 1},
		{"path with scheme", []string{"ObjectPath", "http://b.test/p.js"}, 1, 1},
		{"path without scheme", []string{"ObjectPath", "b.test/p.js"}, 1, 1},
		{"path prefix is not exact", []string{"ObjectPath", "a.test/static/"}, 0, 0},
		{"task id and path", []string{"TaskId", all[3].TaskID, "ObjectPath", "a.test/static/4.css"}, 1, 1},
		{"other task id and path", []string{"TaskId", all[25].TaskID, "ObjectPath", "a.test/static/4.css"}, 0, 0},
		{"domain files", []string{"DomainName", "a.test", "ObjectType", "file"}, 25, 20},
		{"domain preload", []string{"DomainName", "b.test", "ObjectType", "preload"}, 2, 2},
		{"directory", []string{"ObjectType", "directory"}, 1, 1},
		{"path is directory", []string{"ObjectType", "path"}, 1, 1},
		{"regex", []string{"ObjectType", "regex"}, 1, 1},
		{"complete", []string{"Status", "Complete", "ObjectType", "file"}, 25, 20},
		{"refreshing", []string{"Status", "Refreshing", "ObjectType", "file"}, 0, 0},
		{"window before", []string{"EndTime", "2024-05-01T09:59:59Z"}, 0, 0},
		{"window around", []string{"StartTime", "2024-05-01T10:00:00Z", "EndTime", "2024-05-01T10:00:00Z"}, 29, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			total, page := count(tc.kv...)
			if total != tc.total || len(page) != tc.page {
				t.Fatalf("total %d page %d, want %d %d", total, len(page), tc.total, tc.page)
			}
		})
	}
	refused := []struct {
		name   string
		kv     []string
		status int
		code   string
	}{
		{"domain without type", []string{"DomainName", "a.test"}, 400, "MissingParameter"},
		{"status without type", []string{"Status", "Complete"}, 400, "MissingParameter"},
		{"bad type", []string{"ObjectType", "files"}, 400, "InvalidObjectType.Malformed"},
		{"bad status", []string{"Status", "Done", "ObjectType", "file"}, 400, "InvalidParameter"},
		{"page size 101", []string{"PageSize", "101"}, 400, "InvalidParameter"},
		{"page 0", []string{"PageNumber", "0"}, 400, "InvalidParameter"},
		{"page 100001", []string{"PageNumber", "100001"}, 400, "InvalidParameter"},
		{"bad start", []string{"StartTime", "yesterday"}, 400, "InvalidStartTime.Malformed"},
		{"unknown domain", []string{"DomainName", "c.test", "ObjectType", "file"}, 404, "InvalidDomain.NotFound"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c.call("DescribeRefreshTasks", tc.kv...).wantErr(t, tc.status, tc.code)
		})
	}

	// Only the last 3 days are kept.
	clock.Advance(3 * 24 * time.Hour)
	if total, _ := count(); total != 0 {
		t.Fatalf("%d tasks older than 3 days", total)
	}
	c.call("DescribeRefreshTaskById", "TaskId", all[0].TaskID).wantOK(t)
	if s.TaskCount() != 0 {
		t.Fatal("old tasks kept")
	}
}

func TestDescribeRefreshTaskByID(t *testing.T) {
	_, c, _ := newTestServer(t, Options{URLQuota: 100, Domains: []string{"example.com", "www.example.com"}})
	var dirs []string
	for i := range 12 {
		dirs = append(dirs, "example.com/d"+strconv.Itoa(i)+"/")
	}
	r := c.call("RefreshObjectCaches", "ObjectPath", strings.Join(dirs, "\n"), "ObjectType", "Directory").wantOK(t)
	ids := strings.Split(r.str("RefreshTaskId"), ",")
	if len(ids) != 12 {
		t.Fatalf("%d directory task IDs, want one per directory", len(ids))
	}
	asked := []string{ids[5], ids[1], "999", ids[0]}
	got := decode[apiclient.TasksByID](t, c.call("DescribeRefreshTaskById", "TaskId", strings.Join(asked, ",")).wantOK(t))
	if got.TotalCount != 3 || got.Tasks[0].TaskID != ids[5] || got.Tasks[1].TaskID != ids[1] || got.Tasks[2].TaskID != ids[0] {
		t.Fatalf("got %+v", got)
	}
	if got.Tasks[0].ObjectPath != "example.com/d5/" {
		t.Fatalf("path %s", got.Tasks[0].ObjectPath)
	}
	c.call("DescribeRefreshTaskById", "TaskId", strings.Join(ids[:10], ",")).wantOK(t)
	c.call("DescribeRefreshTaskById", "TaskId", strings.Join(ids[:11], ",")).wantErr(t, 400, "InvalidParameter")
	c.call("DescribeRefreshTaskById").wantErr(t, 400, "MissingParameter")

	// URLs of two domains in one call: one merged task per domain, and the
	// ID answers with every URL it covers.
	r = c.call("RefreshObjectCaches", "ObjectPath", urls("example.com", 5)+"\n"+urls("www.example.com", 3)).wantOK(t)
	merged := strings.Split(r.str("RefreshTaskId"), ",")
	if len(merged) != 2 {
		t.Fatalf("RefreshTaskId %q, want one ID per domain", r.str("RefreshTaskId"))
	}
	got = decode[apiclient.TasksByID](t, c.call("DescribeRefreshTaskById", "TaskId", strings.Join(merged, ",")).wantOK(t))
	if got.TotalCount != 8 || got.Tasks[0].TaskID != merged[0] || got.Tasks[7].TaskID != merged[1] {
		t.Fatalf("merged tasks: %+v", got)
	}
}
