package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
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
	t.Parallel()
	env := serveTestEnv(t, nil)
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

	ctx := t.Context()
	var errOut syncBuffer
	stop := startServeWith(t, env, []string{"--config", cfg, "--log-format", "json", "serve", "--emulator"}, io.Discard, &errOut)
	base := "http://" + env["CDNPURGE_ADMIN_LISTEN"] // metrics are on the admin listener
	jobstest.Eventually(t, "a scheduled push to be submitted", 20*time.Second, func() bool {
		m := scrape(t, base+"/metrics")
		return strings.Contains(m, `cdnpurge_jobs_received_total{kind="push",source="schedule"}`) &&
			strings.Contains(m, `cdnpurge_paths_submitted_total{action="push"`)
	})

	nc, err := nats.Connect("nats://127.0.0.1:" + env["CDNPURGE_NATS_EMBEDDED_PORT"])
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
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, errOut.String())
	}
	if logs := errOut.String(); !strings.Contains(logs, "invalid job message terminated") || !strings.Contains(logs, "warm is a push schedule") {
		t.Errorf("logs lack the refusal:\n%s", logs)
	}
}
