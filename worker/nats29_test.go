package worker

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// debianNATS is the nats-server Debian packages (2.9 on bookworm). The
// worker must run on it: its consumer may use only what 2.9 has (one
// filter subject at most; this one uses none).
const debianNATS = "/usr/sbin/nats-server"

func TestWorkerOnDebianNATSServer(t *testing.T) {
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", debianNATS)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h := newHarness(t, harnessOpts{natsURL: url})
	events := h.watchStatus()
	id := h.publish(refreshJob(urls("example.com", 0, 30)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the job to complete", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == "complete"
	})
	if n := len(h.emu.Paths(apiclient.ActionRefreshObjectCaches)); n != 30 {
		t.Fatalf("%d paths landed, want 30", n)
	}
}
