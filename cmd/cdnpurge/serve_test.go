package main

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// fastTracker makes a serve follow its tasks at once: the emulator
// completes them immediately, and the default first poll (5 s after the
// submission) would be most of a test's run.
var fastTracker = map[string]string{
	"CDNPURGE_WORKER_TRACKER_INTERVAL":   "20ms",
	"CDNPURGE_WORKER_TRACKER_FIRST_POLL": "20ms",
}

// freePort returns a loopback port no other test of this run was given
// (jobstest.FreePort).
func freePort(t *testing.T) int { return jobstest.FreePort(t) }

// serve on embedded defaults with the emulator: a generic deploy hook is
// accepted, its paths are submitted (seen in /metrics on the admin
// listener, not on the webhook one), the health checks answer, and SIGTERM
// (ctx cancelled) stops it cleanly.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	const token = "test-token-0123456789"
	// A fixed NATS port (serveTestEnv's), so that the CLI below finds the
	// embedded NATS.
	env := serveTestEnv(t, map[string]string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": token})
	var errOut syncBuffer
	stop := startServeWith(t, env, []string{"--log-format", "json", "serve", "--emulator"}, io.Discard, &errOut)
	base := "http://" + env["CDNPURGE_WEBHOOKS_LISTEN"]
	admin := "http://" + env["CDNPURGE_ADMIN_LISTEN"]
	waitReady(t, base, "")
	if code, hout, _ := runCLIWith(t, env, "", "healthcheck", "--url", base+"/healthz"); code != 0 || !strings.Contains(hout, "ok") {
		t.Fatalf("healthcheck: exit %d, %q", code, hout)
	}

	body := `{"kind":"refresh","refresh":{"paths":["https://example.com/index.html","https://example.com/app.js"]}}`
	if code, rb := postGenericHook(base, token, body); code != http.StatusAccepted {
		t.Fatalf("generic hook: %d %s", code, rb)
	}
	jobstest.Eventually(t, "the paths submitted", 20*time.Second, func() bool {
		m := scrape(t, admin+"/metrics")
		return strings.Contains(m, `cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 2`)
	})
	// The CLI queues through the running serve and follows the job's
	// status events to the end.
	// A copy: serve goes on reading env. The emulator setting is the same
	// zero config as serve --emulator.
	cliEnv := maps.Clone(env)
	cliEnv["CDNPURGE_CDN_EMULATOR"] = "true"
	code, qout, qerr := runCLIWith(t, cliEnv, "", "--log-level", "warn", "purge", "--wait", "--timeout", "20s", "https://example.com/queued.js")
	if code != 0 || !strings.Contains(qout, "1 complete") {
		t.Fatalf("queued purge --wait: exit %d\nstdout: %s\nstderr: %s", code, qout, qerr)
	}
	m := scrape(t, admin+"/metrics")
	for _, want := range []string{`cdnpurge_api_requests_total{action="RefreshObjectCaches",code="",outcome="ok",status="200"} 2`,
		`cdnpurge_quota_remaining{kind="url",target="cdn"}`, "cdnpurge_webhook_requests_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if r, err := http.Get(base + "/metrics"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the webhook listener: %v %v, want 404", r.StatusCode, err)
	} else {
		r.Body.Close()
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v; stderr:\n%s", err, errOut.String())
	}
	logs := errOut.String()
	for _, want := range []string{"CDN API EMULATOR IN USE", "worker stopped", `"msg":"job submitted"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, token) || strings.Contains(logs, "testsecret") {
		t.Error("a secret reached the logs")
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
