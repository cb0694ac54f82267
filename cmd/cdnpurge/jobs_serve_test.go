package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/worker"
)

// beside is a serve --emulator a test started and what a command run
// next to it, as from another terminal, has: no flags, and as its whole
// environment only the data directory (nats.embedded.store_dir) that both
// use. Run in the same working directory they would share data/nats; a
// directory of the test's own lets such tests run in parallel.
type beside struct {
	addr, admin string
	env         map[string]string
}

// run runs a command beside the serve.
func (b *beside) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := newApp(func(k string) string { return b.env[k] }, strings.NewReader("")).main(ctx, args, &out, &errOut)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

// jobState is the job id as jobs show prints it beside the serve.
func (b *beside) jobState(t *testing.T, id string) worker.JobView {
	t.Helper()
	code, out, stderr := b.run(t, "--output", "json", "jobs", "show", id)
	var v worker.JobView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("jobs show %s: exit %d %s %s", id, code, out, stderr)
	}
	return v
}

// startServeBeside runs serve --emulator on free ports with a data
// directory of the test's own; globals go before the command (a --config
// FILE).
func startServeBeside(t *testing.T, globals ...string) *beside {
	t.Helper()
	return startServeBesideWith(t, nil, globals...)
}

// startServeBesideWith is startServeBeside with more environment.
func startServeBesideWith(t *testing.T, extra map[string]string, globals ...string) *beside {
	t.Helper()
	storeDir := t.TempDir()
	b := &beside{addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), admin: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		env: map[string]string{"CDNPURGE_NATS_EMBEDDED_STORE_DIR": storeDir}}
	env := map[string]string{"CDNPURGE_WEBHOOKS_LISTEN": b.addr, "CDNPURGE_ADMIN_LISTEN": b.admin, "CDNPURGE_NATS_EMBEDDED_PORT": strconv.Itoa(freePort(t)),
		"CDNPURGE_NATS_EMBEDDED_STORE_DIR": storeDir, "CDNPURGE_WORKER_LINGER": "50ms", "CDNPURGE_WORKER_DEFER_MAX": "1s"}
	maps.Copy(env, fastTracker)
	maps.Copy(env, extra)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := newApp(func(k string) string { return env[k] }, strings.NewReader("")).main(ctx,
			append(globals, "serve", "--emulator"), &logs, &logs); err != nil {
			t.Errorf("serve: %v\n%s", err, logs.String())
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitReady(t, "http://"+b.addr, storeDir)
	return b
}

// During a pause a queued job waits; cancelled, it is never sent; the
// pause shows on /readyz (still 200) and in jobs list.
func TestPauseCancelResumeThroughServe(t *testing.T) {
	t.Parallel()
	b := startServeBeside(t)
	addr, admin := b.addr, b.admin
	if code, out, stderr := b.run(t, "pause", "--reason", "test incident INC-4711 at 10.0.3.7"); code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("pause: %d %s %s", code, out, stderr)
	}
	code, out, stderr := b.run(t, "purge", "https://example.com/never.js")
	if code != 0 {
		t.Fatalf("purge: %d %s %s", code, out, stderr)
	}
	id := strings.Fields(out)[2]
	jobstest.Eventually(t, "the job held back by the pause", 20*time.Second, func() bool {
		v := b.jobState(t, id)
		return v.State == worker.ViewDeferred && strings.Contains(v.Reason, "test incident")
	})
	r, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status string
		Checks map[string]string
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	_ = json.Unmarshal(body, &ready)
	if r.StatusCode != http.StatusOK || ready.Checks["submissions"] != "paused" {
		t.Errorf("/readyz during the pause: %d %+v", r.StatusCode, ready)
	}
	// The public /readyz names no reason, user or host (issue 32).
	host, _ := os.Hostname()
	for _, secret := range []string{"incident", "INC-4711", "10.0.3.7", "operator", host} {
		if secret != "" && strings.Contains(string(body), secret) {
			t.Errorf("/readyz shows %q: %s", secret, body)
		}
	}
	if code, out, _ := b.run(t, "jobs", "list"); code != 0 || !strings.Contains(out, "PAUSED") || !strings.Contains(out, id) {
		t.Errorf("jobs list: %d\n%s", code, out)
	}
	// A queued job's priority is listed.
	code, out, stderr = b.run(t, "purge", "--priority", "high", "https://example.com/urgent.js")
	if code != 0 {
		t.Fatalf("purge --priority high: %d %s %s", code, out, stderr)
	}
	urgent := strings.Fields(out)[2]
	if code, out, _ := b.run(t, "jobs", "list"); code != 0 || !rowHas(out, urgent, "high") || !rowHas(out, id, "normal") {
		t.Errorf("jobs list does not show the priorities: %d\n%s", code, out)
	}
	if code, out, stderr := b.run(t, "jobs", "cancel", urgent); code != 0 {
		t.Fatalf("cancel %s: %d %s %s", urgent, code, out, stderr)
	}
	if code, out, stderr := b.run(t, "jobs", "cancel", id); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("jobs cancel: %d %s %s", code, out, stderr)
	}
	if code, _, _ := b.run(t, "jobs", "cancel", id); code != 1 {
		t.Errorf("cancelling a cancelled job: exit %d, want 1", code)
	}
	if code, _, _ := b.run(t, "jobs", "cancel", "no-such-job"); code != 1 {
		t.Errorf("cancelling an unknown job: exit %d, want 1", code)
	}
	if code, out, _ := b.run(t, "jobs", "retry", id); code != 1 || !strings.Contains(out, "only failed and rejected") {
		t.Errorf("retry of a cancelled job: exit %d %s", code, out)
	}
	if code, _, _ := b.run(t, "resume"); code != 0 {
		t.Fatal("resume failed")
	}
	if v := b.jobState(t, id); v.State != worker.ViewCancelled {
		t.Errorf("after the cancel: state %s", v.State)
	}
	// A job queued after the resume goes out (a replica sees the resume
	// within a second); the cancelled one never did.
	code, out, stderr = b.run(t, "purge", "https://example.com/after.js")
	if code != 0 {
		t.Fatalf("purge after resume: %d %s %s", code, out, stderr)
	}
	after := strings.Fields(out)[2]
	jobstest.Eventually(t, "the job after the resume complete", 30*time.Second, func() bool {
		return b.jobState(t, after).State == worker.ViewComplete
	})
	// The finished job keeps what it was (the job history): jobs list and
	// jobs show print its kind, source, priority and paths.
	jobstest.Eventually(t, "jobs list to print the finished job's kind, priority and paths", 30*time.Second, func() bool {
		_, out, _ := b.run(t, "jobs", "list")
		return rowHas(out, after, "refresh") && rowHas(out, after, "normal") && rowHas(out, after, "1") && rowHas(out, after, "complete")
	})
	if code, out, _ := b.run(t, "jobs", "show", after); code != 0 || !strings.Contains(out, "paths (1):\n  https://example.com/after.js") ||
		!strings.Contains(out, "priority  normal") || !strings.Contains(out, "finished") {
		t.Errorf("jobs show of the finished job: %d\n%s", code, out)
	}
	jobstest.Eventually(t, "the worker to settle the cancelled job", 30*time.Second, func() bool {
		v := b.jobState(t, id)
		last := v.Events[len(v.Events)-1]
		return last.State == "rejected" && v.State == worker.ViewCancelled
	})
	m := scrape(t, "http://"+admin+"/metrics")
	if !strings.Contains(m, `cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 1`) || !strings.Contains(m, "cdnpurge_operator_paused 0") {
		t.Errorf("metrics: want exactly the one path after the resume submitted and no pause:\n%s", grepLines(m, "cdnpurge_paths_submitted_total", "cdnpurge_operator_paused"))
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// rowHas reports whether the table row of id holds the field want.
func rowHas(table, id, want string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == id {
			return slices.Contains(f, want)
		}
	}
	return false
}
