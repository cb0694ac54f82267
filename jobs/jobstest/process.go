package jobstest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NATSServerBinary is the nats-server RunNATSProcess starts.
var NATSServerBinary = "/usr/sbin/nats-server"

// RunNATSProcess starts NATSServerBinary as its own process with the given
// configuration (without listen or port: it listens on a free loopback
// port, and its JetStream store, if the configuration has a jetstream
// block, should name a temporary directory). It returns the client URLs
// the server reports and kills the server when the test ends. The test is
// skipped when the binary is missing.
func RunNATSProcess(tb testing.TB, conf string) []string {
	tb.Helper()
	if _, err := os.Stat(NATSServerBinary); err != nil {
		tb.Skipf("%s not installed: %v", NATSServerBinary, err)
	}
	dir := tb.TempDir()
	full := "listen: 127.0.0.1:-1\nports_file_dir: " + quote(dir) + "\n" + conf
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(NATSServerBinary, "-c", path)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", NATSServerBinary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
	})
	var ports struct {
		Nats []string `json:"nats"`
	}
	Eventually(tb, "nats-server to write its ports file", 10*time.Second, func() bool {
		select {
		case <-exited:
			out, _ := os.ReadFile(logFile.Name())
			tb.Fatalf("nats-server exited:\n%s", out)
		default:
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
		if len(matches) == 0 {
			return false
		}
		data, err := os.ReadFile(matches[0])
		return err == nil && json.Unmarshal(data, &ports) == nil && len(ports.Nats) > 0
	})
	return ports.Nats
}

// quote makes s a NATS configuration string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
