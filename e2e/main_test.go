package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

var sizeFlag = flag.String("e2e.size", "short", "scenario sizes: short (make test), full (make e2e) or soak (make soak)")

// binPath is the cdnpurge binary TestMain builds for every scenario.
var binPath string

func TestMain(m *testing.M) {
	if os.Getenv(natsHelperEnv) != "" {
		os.Exit(runNATSHelper())
	}
	flag.Parse()
	if sz, ok := sizeTable[*sizeFlag]; ok && sz.parallel {
		// The scenarios' time is mostly their processes waiting (a NATS
		// server down for seconds, a leader killed, a failover): side by
		// side, more of them than there are CPUs share the machine well.
		jobstest.ParallelPerCPU(scenariosPerCPU)
	}
	os.Exit(run(m))
}

// scenariosPerCPU is how many short scenarios run at once per CPU unless
// -test.parallel says otherwise.
const scenariosPerCPU = 2

func run(m *testing.M) int {
	var err error
	binPath, err = buildCdnpurge()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build cdnpurge:", err)
		return 1
	}
	return m.Run()
}

// buildCdnpurge builds ./cmd/cdnpurge into a directory of its own under
// os.TempDir, named after this checkout, and returns the binary's path.
// The directory is kept between runs: go build -o finds a binary whose
// build ID matches the sources and flags up to date and does not link it
// again, which a fresh directory on every run would (seconds of a 2-core
// machine before the first scenario starts). Each checkout has its own
// directory, so that two worktrees never share a binary.
func buildCdnpurge() (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "cdnpurge-e2e-bin-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cdnpurge")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cdnpurge")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", err
	}
	return bin, nil
}
