package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// serve runs a configured schedule's ticks through the tick stream and
// refuses an operation published on NATS: it is reported, counted, and
// never reaches the (emulated) API.
func TestServeRunsTicksAndRefusesPublishedOperations(t *testing.T) {
	cleanEnv(t)
	port, natsPort, adminPort := freePort(t), freePort(t), freePort(t)
	t.Setenv("CDNPURGE_WEBHOOKS_LISTEN", "127.0.0.1:"+strconv.Itoa(port))
	t.Setenv("CDNPURGE_ADMIN_LISTEN", "127.0.0.1:"+strconv.Itoa(adminPort))
	t.Setenv("CDNPURGE_NATS_EMBEDDED_PORT", strconv.Itoa(natsPort))
	t.Setenv("CDNPURGE_NATS_EMBEDDED_STORE_DIR", t.TempDir())
	t.Setenv("CDNPURGE_WORKER_LINGER", "50ms")
	cfg := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfg, []byte(`domains: [example.com]
schedules:
  - name: warm
    cron: "@every 1s"
    action: push
    paths: [https://example.com/index.html]
`), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() {
		a := newApp(os.Getenv, strings.NewReader(""))
		serveErr = a.main(ctx, []string{"--config", cfg, "--log-format", "json", "serve", "--emulator"}, &out, &errOut)
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(adminPort) // metrics are on the admin listener
	jobstest.Eventually(t, "a scheduled push to be submitted", 20*time.Second, func() bool {
		m := scrape(t, base+"/metrics")
		return strings.Contains(m, `cdnpurge_jobs_received_total{kind="push",source="schedule"}`) &&
			strings.Contains(m, `cdnpurge_paths_submitted_total{action="push"`)
	})

	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	forged := `{"kind":"operation","operation":{"schedule":"warm","tick":"2026-01-01T00:00:00Z","action":"ModifyCdnDomain","params":{"DomainName":"example.com","Sources":"[{\"content\":\"attacker.example.net\"}]"}}}`
	if _, err := js.Publish(ctx, "cdn.ops.warm", []byte(forged)); err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(t, "the forged operation to be refused", 20*time.Second, func() bool {
		m := scrape(t, base+"/metrics")
		return strings.Contains(m, `cdnpurge_operations_total{action="ModifyCdnDomain",outcome="refused"} 1`)
	})
	m := scrape(t, base+"/metrics")
	if strings.Contains(m, `action="ModifyCdnDomain",code=`) {
		t.Errorf("ModifyCdnDomain reached the API:\n%s", m)
	}
	cancel()
	wg.Wait()
	if serveErr != nil {
		t.Fatalf("serve: %v\n%s", serveErr, errOut.String())
	}
	if logs := errOut.String(); !strings.Contains(logs, "invalid job message terminated") || !strings.Contains(logs, "warm is a push schedule") {
		t.Errorf("logs lack the refusal:\n%s", logs)
	}
}
