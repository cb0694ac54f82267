package queue

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"

	"github.com/nats-io/nats-server/v2/server"
)

// testNATS is an embedded server a test can stop and start again on the
// same port and store.
type testNATS struct {
	t     *testing.T
	url   string
	port  int
	store string
	srv   *server.Server
}

// runNATS starts an embedded JetStream server on a free port with a temp
// store and stops it when the test ends.
func runNATS(t *testing.T) *testNATS {
	t.Helper()
	n := &testNATS{t: t, store: t.TempDir(), port: embedded.RandomPort}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *testNATS) start() {
	n.t.Helper()
	srv, url, err := embedded.Run(embedded.Options{Port: n.port, StoreDir: n.store})
	if err != nil {
		n.t.Fatalf("start embedded NATS: %v", err)
	}
	n.srv, n.url = srv, url
}

func (n *testNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *testNATS) restart() {
	n.t.Helper()
	n.stop()
	n.start()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testValidator(t testing.TB) *jobs.Validator {
	t.Helper()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "*.cdn.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pollUntil asks cond every 5 ms until it holds, for state that signals
// nothing (what the server's stream holds, the client's reconnect
// buffer); it fails the test when d passes first.
func pollUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			if cond() {
				return
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}
