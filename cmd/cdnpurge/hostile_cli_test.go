package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// A job a raw NATS publisher stored with ESC sequences and a newline in
// its source (the hooks refuse such a source, NATS cannot): jobs list and
// jobs show print it escaped, on its own row, and no forged row appears.
func TestJobsTablesEscapeHostileSource(t *testing.T) {
	t.Parallel()
	env := serveTestEnv(t, map[string]string{"CDNPURGE_DOMAINS": "example.com"})
	startServeWith(t, env, []string{"--log-format", "json", "serve", "--emulator", "--worker=false"}, io.Discard, io.Discard)
	waitReady(t, "http://"+env["CDNPURGE_WEBHOOKS_LISTEN"], "")
	nc, err := nats.Connect("nats://127.0.0.1:" + env["CDNPURGE_NATS_EMBEDDED_PORT"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hostile := "\x1b[2J\x1b[1;31mFAKE\nforged-row  refresh  high  cli  9  complete"
	msg := `{"v":1,"id":"hostile1","kind":"refresh","source":"` + strings.ReplaceAll(strings.ReplaceAll(hostile, "\x1b", `\u001b`), "\n", `\n`) +
		`","refresh":{"paths":["https://example.com/x.js"]}}`
	if _, err := js.Publish(ctx, "cdn.purge.refresh", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	var list string
	jobstest.Eventually(t, "jobs list to show the job", 10*time.Second, func() bool {
		_, list, _ = runApp(t, getenv, "", "jobs", "list")
		return strings.Contains(list, "hostile1")
	})
	_, show, _ := runApp(t, getenv, "", "jobs", "show", "hostile1")
	for name, out := range map[string]string{"jobs list": list, "jobs show": show} {
		if strings.Contains(out, "\x1b") {
			t.Errorf("%s prints a raw ESC:\n%q", name, out)
		}
		if !strings.Contains(out, `\x1b[2J\x1b[1;31mFAKE\nforged-row`) {
			t.Errorf("%s does not show the source escaped:\n%s", name, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "forged-row") {
				t.Errorf("%s has a forged row:\n%s", name, out)
			}
		}
	}
}
