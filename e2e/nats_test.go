package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsHelperEnv makes the test binary run an embedded nats-server instead of
// the tests, for machines without /usr/sbin/nats-server. Its value is
// "<port> <store dir>".
const natsHelperEnv = "CDNPURGE_E2E_NATS_HELPER"

const systemNATS = "/usr/sbin/nats-server"

// natsServer is a nats-server process on a fixed port and store directory,
// so that it can be stopped and started again with its JetStream data.
type natsServer struct {
	t      *testing.T
	logDir string
	port   int
	dir    string
	proc   *proc
	runs   int
}

func (n *natsServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// startNATS runs a nats-server with JetStream on a free port.
func startNATS(t *testing.T, logDir string) *natsServer {
	t.Helper()
	n := &natsServer{t: t, logDir: logDir, port: freePort(t), dir: t.TempDir()}
	n.start()
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	n.runs++
	if systemNATSUsable() {
		n.proc = startProc(n.t, n.logDir, "nats", baseEnv(), systemNATS,
			"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.dir)
	} else {
		env := append(baseEnv(), fmt.Sprintf("%s=%d %s", natsHelperEnv, n.port, n.dir))
		n.proc = startProc(n.t, n.logDir, "nats", env, os.Args[0])
	}
	waitTCP(n.t, n.proc, fmt.Sprintf("127.0.0.1:%d", n.port), 15*time.Second)
}

// stop shuts the server down (SIGTERM, so JetStream flushes its store).
func (n *natsServer) stop() { n.proc.stop(10 * time.Second) }

// systemNATSUsable reports whether /usr/sbin/nats-server exists and is 2.9
// or newer (Debian 12 ships 2.9.10), the oldest server cdnpurge supports.
func systemNATSUsable() bool {
	natsCheck.Do(func() {
		out, err := exec.Command(systemNATS, "--version").Output()
		if err != nil {
			return
		}
		var major, minor int
		if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(string(out), "nats-server: ")), "v%d.%d", &major, &minor); err != nil {
			return
		}
		natsOK = major > 2 || major == 2 && minor >= 9
		natsVersion = strings.TrimSpace(string(out))
	})
	return natsOK
}

var (
	natsCheck   sync.Once
	natsOK      bool
	natsVersion string
)

// runNATSHelper is the helper process: an embedded nats-server until
// SIGTERM.
func runNATSHelper() int {
	var port int
	var dir string
	if _, err := fmt.Sscanf(os.Getenv(natsHelperEnv), "%d %s", &port, &dir); err != nil {
		fmt.Fprintln(os.Stderr, "nats helper:", err)
		return 2
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats helper:", err)
		return 1
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats helper: not ready")
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

func embeddedNATSVersion() string { return "v" + server.VERSION }
