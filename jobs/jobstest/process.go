package jobstest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

// NATSServerBinary returns the nats-server RunNATSProcess starts: Debian's.
func NATSServerBinary() string { return "/usr/sbin/nats-server" }

// RunNATSProcess starts NATSServerBinary as its own process with the given
// configuration (without listen or port: it listens on a free loopback
// port, and its JetStream store, if the configuration has a jetstream
// block, should name a temporary directory). It returns the client URLs
// the server reports and kills the server when the test ends. The test is
// skipped when the binary is missing.
func RunNATSProcess(tb testing.TB, conf string) []string {
	tb.Helper()
	bin := NATSServerBinary()
	if _, err := os.Stat(bin); err != nil {
		tb.Skipf("%s not installed: %v", bin, err)
	}
	dir := tb.TempDir()
	full := "listen: 127.0.0.1:-1\nports_file_dir: " + quote(dir) + "\n" + conf
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
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

// SecuredNATS is a nats-server process that requires TLS with a client
// certificate signed by PKI's CA, and either the nkey whose seed is in
// SeedFile or the user "worker" with Password; JetStream is on.
type SecuredNATS struct {
	URL      string
	PKI      *PKI
	SeedFile string
	User     string
	Password string
}

// SecuredNATSPassword is the password of the user "worker" on SecuredNATS.
const SecuredNATSPassword = "n4ts-pa55word-0123456789"

// RunSecuredNATS starts a SecuredNATS (see RunNATSProcess).
func RunSecuredNATS(tb testing.TB) *SecuredNATS {
	tb.Helper()
	pki := NewPKI(tb)
	user, err := nkeys.CreateUser()
	if err != nil {
		tb.Fatal(err)
	}
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(tb.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		tb.Fatal(err)
	}
	conf := `
tls {
  cert_file: ` + quote(pki.ServerCert) + `
  key_file: ` + quote(pki.ServerKey) + `
  ca_file: ` + quote(pki.CAFile) + `
  verify: true
}
authorization {
  users: [
    { nkey: ` + pub + ` }
    { user: worker, password: ` + quote(SecuredNATSPassword) + ` }
  ]
}
jetstream { store_dir: ` + quote(tb.TempDir()) + ` }
`
	urls := RunNATSProcess(tb, conf)
	return &SecuredNATS{URL: urls[0], PKI: pki, SeedFile: seedFile, User: "worker", Password: SecuredNATSPassword}
}
