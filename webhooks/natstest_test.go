package webhooks

import (
	"net"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats-server/v2/server"
)

// testNATS is an embedded JetStream server a test can stop and restart on
// the same port and store.
type testNATS struct {
	tb    testing.TB
	url   string
	port  int
	store string
	srv   *server.Server
}

// runNATS starts an embedded JetStream server on a free port with a temp
// store and stops it when the test ends.
func runNATS(tb testing.TB) *testNATS {
	tb.Helper()
	n := &testNATS{tb: tb, store: tb.TempDir(), port: jobs.RandomPort}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(n.stop)
	return n
}

func (n *testNATS) start() {
	n.tb.Helper()
	srv, url, err := jobs.RunEmbedded(jobs.EmbeddedOptions{Port: n.port, StoreDir: n.store})
	if err != nil {
		n.tb.Fatalf("start embedded NATS: %v", err)
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
