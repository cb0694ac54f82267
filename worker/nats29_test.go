package worker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// debianNATS is the nats-server Debian packages (2.9 on bookworm). The
// worker must run on it: its consumer may use only what 2.9 has (one
// filter subject at most; this one uses none).
const debianNATS = "/usr/sbin/nats-server"

// runDebianNATS starts Debian's nats-server on a free port with a temporary
// store, or skips the test when it is not installed.
func runDebianNATS(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(debianNATS); err != nil {
		t.Skipf("%s not installed", debianNATS)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(debianNATS, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())
	// The server says when it listens: wait for that line, not a timer.
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = pw.Close() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for seen := false; sc.Scan(); {
			if !seen && strings.Contains(sc.Text(), "Server is ready") {
				seen = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start", debianNATS)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", port)
}

func TestWorkerOnDebianNATSServer(t *testing.T) {
	t.Parallel()
	url := runDebianNATS(t)
	h := newHarness(t, harnessOpts{natsURL: url})
	events := h.watchStatus()
	id := h.publish(refreshJob(urls("example.com", 0, 30)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the job to complete", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == "complete"
	})
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 30 {
		t.Fatalf("%d paths landed, want 30", n)
	}
}

// On 2.9 a bad message must be terminated once, not redelivered: 2.9 does
// not understand a termination with a reason.
func TestWorkerTerminatesOnDebianNATSServer(t *testing.T) {
	t.Parallel()
	url := runDebianNATS(t)
	h := newHarness(t, harnessOpts{natsURL: url})
	var reports atomic.Int32
	sub, err := h.nc.Subscribe(h.subjects.Invalid(), func(*nats.Msg) { reports.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := h.js.Publish(h.ctx, h.subjects.Refresh(), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	h.runWorker(cfg, "w1")
	h.waitFor("the bad message to leave the stream", 10*time.Second, h.drained)
	// Gone from the stream, it can never come back; the consumer tells
	// how often it was delivered before that: once, if the termination
	// was understood the first time.
	cons, err := h.js.Consumer(h.ctx, queue.DefaultStreamName, cfg.WithDefaults().Consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 1 || info.NumRedelivered != 0 {
		t.Fatalf("the bad message was delivered %d times (%d redelivered), want once", info.Delivered.Consumer, info.NumRedelivered)
	}
	h.waitFor("the bad message reported", 10*time.Second, func() bool { return reports.Load() >= 1 })
	if n := reports.Load(); n != 1 {
		t.Fatalf("the bad message was reported %d times, want once", n)
	}
}
