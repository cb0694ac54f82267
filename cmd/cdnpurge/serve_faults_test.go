package main

import (
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// runningServe starts serve --emulator on an embedded NATS with a fixed
// port and a temporary store, and waits for /readyz. Its environment is
// env alone (not the process's), so tests using it can run in parallel.
type runningServe struct {
	base, admin, natsURL, storeDir string
	env                            map[string]string
	logs                           *syncBuffer
	stop                           func() error
}

const faultToken = "fault-token-0123456789"

// serveTestEnv is a serve's environment on free ports with a temporary
// store, extra on top.
func serveTestEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"CDNPURGE_WEBHOOKS_LISTEN":         "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"CDNPURGE_ADMIN_LISTEN":            "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"CDNPURGE_NATS_EMBEDDED_PORT":      strconv.Itoa(freePort(t)),
		"CDNPURGE_NATS_EMBEDDED_STORE_DIR": t.TempDir(),
		"CDNPURGE_WORKER_LINGER":           "50ms",
	}
	maps.Copy(env, fastTracker)
	maps.Copy(env, extra)
	return env
}

// startServeWith runs serve with env and args (after the global flags)
// until the test ends; it returns the serve's stop function, which
// returns serve's error.
func startServeWith(t *testing.T, env map[string]string, args []string, stdout, stderr io.Writer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() {
		a := newApp(func(k string) string { return env[k] }, strings.NewReader(""))
		serveErr = a.main(ctx, args, stdout, stderr)
	})
	var once sync.Once
	stop = func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func startServe(t *testing.T, extraEnv map[string]string) *runningServe {
	t.Helper()
	env := serveTestEnv(t, map[string]string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": faultToken})
	maps.Copy(env, extraEnv)
	rs := &runningServe{base: "http://" + env["CDNPURGE_WEBHOOKS_LISTEN"], admin: "http://" + env["CDNPURGE_ADMIN_LISTEN"],
		natsURL: "nats://127.0.0.1:" + env["CDNPURGE_NATS_EMBEDDED_PORT"], storeDir: env["CDNPURGE_NATS_EMBEDDED_STORE_DIR"],
		env: env, logs: &syncBuffer{}}
	rs.stop = startServeWith(t, env, []string{"--log-format", "json", "serve", "--emulator"}, io.Discard, rs.logs)
	waitReady(t, rs.base, "")
	return rs
}

func (rs *runningServe) ready() int { return readyStatus(rs.base) }

func (rs *runningServe) hook(t *testing.T, path string) (int, string) {
	t.Helper()
	return postGenericHook(rs.base, faultToken, `{"kind":"refresh","refresh":{"paths":["`+path+`"]}}`)
}

// readyStatus is what base's /readyz answers, 0 without an answer.
func readyStatus(base string) int {
	r, err := http.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

// waitReady waits until base's /readyz answers 200, and, unless storeDir
// is empty, until serve wrote its state file there.
func waitReady(t *testing.T, base, storeDir string) {
	t.Helper()
	jobstest.Eventually(t, "serve ready", 30*time.Second, func() bool {
		if storeDir != "" {
			if _, err := os.Stat(statePath(storeDir)); err != nil {
				return false
			}
		}
		return readyStatus(base) == http.StatusOK
	})
}

// postGenericHook posts body to base's generic hook with the bearer
// token; it returns the status (0 without an answer) and the body.
func postGenericHook(base, token, body string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A NATS that lost its streams, consumer and buckets under a running serve
// gets them back within seconds: /readyz answers 200 again, a hook gets
// 202 and its path is submitted.
func TestServeRecreatesLostJetStreamState(t *testing.T) {
	t.Parallel()
	rs := startServe(t, nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", rs.logs.String())
		}
	})
	nc, err := nats.Connect(rs.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	for _, name := range []string{"CDNPURGE", "CDNPURGE_SCHED", "CDNPURGE_STATUS", "KV_" + worker.DefaultTaskBucket, "KV_" + operations.DefaultStateBucket} {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	for _, name := range []string{"CDNPURGE", "CDNPURGE_SCHED"} {
		jobstest.Eventually(t, name+" and its consumer to be re-created", 20*time.Second, func() bool {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return false
			}
			_, err = s.Consumer(ctx, "cdnpurge-worker")
			return err == nil
		})
	}
	jobstest.Eventually(t, "the archiver's consumer to be re-created", 20*time.Second, func() bool {
		s, err := js.Stream(ctx, "CDNPURGE_STATUS")
		if err != nil {
			return false
		}
		_, err = s.Consumer(ctx, "cdnpurge-archive")
		return err == nil
	})
	for _, name := range []string{"CDNPURGE_STATUS", "KV_" + worker.DefaultTaskBucket, "KV_" + operations.DefaultStateBucket} {
		jobstest.Eventually(t, name+" to be re-created", 20*time.Second, func() bool {
			_, err := js.Stream(ctx, name)
			return err == nil
		})
	}
	jobstest.Eventually(t, "/readyz to answer 200", 20*time.Second, func() bool { return rs.ready() == http.StatusOK })
	if code, body := rs.hook(t, "https://example.com/after-loss.html"); code != http.StatusAccepted {
		t.Fatalf("hook after the loss: %d %s", code, body)
	}
	jobstest.Eventually(t, "the path submitted", 20*time.Second, func() bool {
		return strings.Contains(scrape(t, rs.admin+"/metrics"), `cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 1`)
	})
	if m := scrape(t, rs.admin+"/metrics"); !strings.Contains(m, `cdnpurge_jetstream_recreated_total{kind="stream"} 5`) {
		t.Errorf("/metrics does not count the 5 re-created streams")
	}
	if err := rs.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	logs := rs.logs.String()
	if !strings.Contains(logs, `"level":"ERROR","msg":"jetstream stream was missing and is re-created empty`) {
		t.Errorf("no ERROR line for the lost stream in:\n%s", logs)
	}
}

// A second serve on the same store directory refuses at once, naming the
// PID of the one running.
func TestServeRefusesSecondOnSameStore(t *testing.T) {
	t.Parallel()
	rs := startServe(t, nil)
	start := time.Now()
	code, _, errOut := runCLIWith(t, rs.env, "", "serve", "--emulator")
	if code == 0 {
		t.Fatal("second serve on the same store started")
	}
	for _, want := range []string{"in use by process " + strconv.Itoa(os.Getpid()), "nats.embedded.store_dir"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("second serve's error lacks %q:\n%s", want, errOut)
		}
	}
	t.Logf("second serve refused after %s", time.Since(start))
	if rs.ready() != http.StatusOK {
		t.Error("the first serve is no longer ready")
	}
}
