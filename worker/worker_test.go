package worker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// 3,000 unique URLs published as 600 messages of 5 reach the API in the
// minimum number of calls, each job is acked, and each job's status shows
// it submitted and then complete.
func TestWorkerBatchesToMinimumCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	events := h.watchStatus()
	var ids []string
	for i := range 600 {
		ids = append(ids, h.publish(refreshJob(urls("static.example.com", i*5, 5)...)))
	}
	cfg := fastConfig()
	// Each batch fills to 1,000 URLs and goes at once; the linger only
	// has to outlast pulling 200 jobs, which took over 500 ms on a
	// loaded machine (a fourth call). A full batch never waits for it.
	cfg.Linger = 5 * time.Second
	h.runWorker(cfg, "w1")
	h.waitFor("every path at the emulator", 30*time.Second, func() bool {
		return len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) >= 3000 && h.drained()
	})
	paths := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if got := h.emu.Accepted(apiclient.CDN().Actions.Refresh); got != 3 {
		t.Errorf("accepted refresh calls = %d, want 3 (the minimum for 3,000 URLs)", got)
	}
	if len(paths) != 3000 || len(uniq(paths)) != 3000 {
		t.Errorf("emulator got %d paths (%d unique), want 3,000 unique", len(paths), len(uniq(paths)))
	}
	h.waitFor("final status of every job", 20*time.Second, func() bool {
		for _, id := range ids {
			if ev, ok := events.Last(id); !ok || ev.State != jobs.StateComplete {
				return false
			}
		}
		return true
	})
	st := events.States(ids[0])
	if !slices.Equal(st, []jobs.State{jobs.StateAccepted, jobs.StateSubmitted, jobs.StateComplete}) {
		t.Errorf("states of job %s = %v, want [accepted submitted complete]", ids[0], st)
	}
}

func uniq(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// Duplicates across jobs in one batch are sent once; directories and push
// URLs respect their own per-call limits; no call has more than 10 domains.
func TestWorkerDedupesAndKeepsLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{DirQuota: 1000, PreloadQuota: 10000}})
	// The same 300 URLs three times over, spread over 20 domains.
	var all []string
	for d := range 20 {
		all = append(all, urls(hostN(d), 0, 15)...)
	}
	for range 3 {
		for i := 0; i < len(all); i += 50 {
			h.publish(refreshJob(all[i : i+50]...))
		}
	}
	dirs := make([]string, 250)
	for i := range dirs {
		dirs[i] = "https://example.com/dir" + itoa(i) + "/"
	}
	for i := 0; i < len(dirs); i += 25 {
		h.publish(&jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{ObjectType: "Directory", Paths: dirs[i : i+25]}})
	}
	push := urls("example.com", 0, 250)
	h.publish(&jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: push, Area: "domestic"}})

	cfg := fastConfig()
	cfg.Linger = 2 * time.Second
	h.runWorker(cfg, "w1")
	h.waitFor("all jobs acked", 30*time.Second, h.drained)

	var files, dirCalls, pushCalls int
	for _, r := range h.emu.Requests() {
		if r.Code != "" {
			continue
		}
		rp := splitLines(r.Params.Get("ObjectPath"))
		n := len(rp)
		switch {
		case r.Action == apiclient.CDN().Actions.Push:
			pushCalls++
			if n > 100 {
				t.Errorf("push call with %d URLs", n)
			}
		case r.Params.Get("ObjectType") == "Directory":
			dirCalls++
			if n > 100 {
				t.Errorf("directory call with %d paths", n)
			}
		case r.Action == apiclient.CDN().Actions.Refresh:
			files++
			if d := len(domainsOf(rp)); d > 10 {
				t.Errorf("refresh call with %d domains", d)
			}
		}
	}
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	fileCount := 0
	for _, p := range got {
		if p[len(p)-1] != '/' {
			fileCount++
		}
	}
	if fileCount != 300 {
		t.Errorf("%d file paths sent, want each of 300 once", fileCount)
	}
	if files != 2 {
		t.Errorf("%d file refresh calls, want 2 (20 domains, 10 per call)", files)
	}
	if dirCalls != 3 || pushCalls != 3 {
		t.Errorf("directory calls %d, push calls %d; want 3 and 3", dirCalls, pushCalls)
	}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func hostN(i int) string { return "d" + itoa(i) + ".example.com" }

func itoa(i int) string {
	return string(rune('a'+i/26)) + string(rune('a'+i%26))
}

func domainsOf(paths []string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		m[apiclient.PathDomain(p)] = true
	}
	return m
}

// Tasks that never finish are followed until the tracking deadline, then
// the job's final event says so instead of waiting for ever.
func TestWorkerReportsUntrackedTasks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{TaskPending: time.Hour}})
	events := h.watchStatus()
	id := h.publish(refreshJob(urls("example.com", 0, 3)...))
	cfg := fastConfig()
	cfg.Tracker.Deadline = 300 * time.Millisecond
	h.runWorker(cfg, "w1")
	h.waitFor("the untracked event", 10*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateUntracked
	})
	if h.emu.Calls(apiclient.CDN().Actions.TaskByID) == 0 {
		t.Fatal("the tasks were never polled")
	}
}
