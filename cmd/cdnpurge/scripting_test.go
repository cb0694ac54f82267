package main

import (
	"time"

	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/worker"
)

// purge --wait and tasks --watch agree: failed tasks exit 1, and the
// summary counts the failed task and its paths apart. JSON is snake_case.
func TestFailedTasksExitOneEverywhere(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{TaskFailRate: 1})
	code, out, stderr := runCLIWith(t, env, "", "--output", "json", "purge", "--direct", "--wait", "--poll", "20ms",
		"https://example.com/a.js", "https://example.com/b.js")
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("purge: %v: %q", err, out)
	}
	if code != 1 || sum.Failed != 1 || sum.FailedPaths != 2 || sum.Code != codeFailed || len(sum.Problems) != 2 {
		t.Errorf("purge --wait: exit %d, summary %+v, stderr %q", code, sum, stderr)
	}
	if strings.Contains(stderr, "level=INFO") || strings.Contains(stderr, `"level":"INFO"`) {
		t.Errorf("purge logged at info without --log-level: %q", stderr)
	}
	if len(sum.TaskIDs) != 1 {
		t.Fatalf("task IDs %v", sum.TaskIDs)
	}
	code, out, _ = runCLIWith(t, env, "", "--output", "json", "tasks", "--id", sum.TaskIDs[0], "--watch", "--interval", "20ms")
	dec := json.NewDecoder(strings.NewReader(out))
	var list []map[string]any
	var rep errorBody
	if err := dec.Decode(&list); err != nil || dec.Decode(&rep) != nil {
		t.Fatalf("tasks --watch: want the task list then the error report: %q", out)
	}
	if code != 1 || rep.Code != codeFailed || len(list) == 0 || list[0]["task_id"] != sum.TaskIDs[0] || list[0]["status"] != "Failed" {
		t.Errorf("tasks --watch: exit %d, list %v, report %+v", code, list, rep)
	}
	code, out, _ = runCLIWith(t, env, "", "--output", "json", "quota", "--sync")
	if code != 0 || !strings.Contains(out, `"remaining"`) || strings.Contains(out, `"Remaining"`) {
		t.Errorf("quota json: exit %d %s", code, out)
	}
}

func TestRetryJobKeepsSpecOrGuessesType(t *testing.T) {
	t.Parallel()
	bad := []jobs.Problem{{Path: "https://example.com/img/", Reason: "x"}, {Path: "https://example.com/img/", Reason: "y"}}
	j, err := worker.RetryJob(worker.JobView{ID: "old1", State: worker.ViewFailed, Problems: bad}, "", time.Now())
	if err != nil || j.Refresh == nil || j.Refresh.ObjectType != "Directory" || len(j.Refresh.Paths) != 1 || j.Source != "retry:old1" || j.ID == "" {
		t.Errorf("retry of directory paths = %+v, %v", j, err)
	}
	old := &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: []string{"a", "https://example.com/v.mp4"}, Area: "overseas"}}
	j, err = worker.RetryJob(worker.JobView{ID: "old2", Job: old, Problems: []jobs.Problem{{Path: "https://example.com/v.mp4"}}}, "", time.Now())
	if err != nil || j.Push == nil || j.Push.Area != "overseas" || len(j.Push.Paths) != 1 {
		t.Errorf("retry of a push = %+v, %v", j, err)
	}
	if _, err := worker.RetryJob(worker.JobView{ID: "old3"}, "", time.Now()); err == nil {
		t.Error("a job without recorded paths was retried")
	}
}

// Every command's JSON is snake_case: no key starts with a capital.
func TestJSONIsSnakeCase(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	for _, args := range [][]string{{"quota", "--sync"}, {"service", "status"}, {"tasks", "--limit", "5"}, {"version"}} {
		code, out, stderr := runCLIWith(t, env, "", append([]string{"--output", "json"}, args...)...)
		if code != 0 {
			t.Errorf("%q: exit %d: %s", args, code, stderr)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		if k := capitalKey(v); k != "" {
			t.Errorf("%q: key %q is not snake_case:\n%s", args, k, out)
		}
	}
}

func capitalKey(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k != strings.ToLower(k) {
				return k
			}
			if c := capitalKey(e); c != "" {
				return c
			}
		}
	case []any:
		for _, e := range x {
			if c := capitalKey(e); c != "" {
				return c
			}
		}
	}
	return ""
}

// Commands that need only NATS ask for neither CDN credentials nor a
// domain allowlist; without NATS they say where they looked.
func TestNATSOnlyCommandsNeedNoCDNConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CDNPURGE_NATS_URL": "nats://127.0.0.1:" + strconv.Itoa(freePort(t))}
	for _, args := range [][]string{{"jobs", "list"}, {"pause"}, {"resume"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			// The command waits for NATS until its deadline: a short one.
			code, _, stderr := runAppWithin(t, 2*time.Second, func(k string) string { return env[k] }, "", args...)
			if code != 1 || strings.Contains(stderr, "cdn.credentials") || strings.Contains(stderr, "domains") || !strings.Contains(stderr, "NATS at nats://127.0.0.1:") {
				t.Errorf("%q: exit %d, stderr %q; want 1 naming the NATS it could not reach", args, code, stderr)
			}
		})
	}
	code, _, stderr := runCLIWith(t, env, "", "purge", "https://example.com/a.js")
	if code != 1 || strings.Contains(stderr, "cdn.credentials") || !strings.Contains(stderr, "domains") {
		t.Errorf("purge without domains: exit %d, stderr %q; want the allowlist asked for, not credentials", code, stderr)
	}
}
