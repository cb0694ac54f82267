package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var sizeFlag = flag.String("e2e.size", "short", "scenario sizes: short (make test), full (make e2e) or soak (make soak)")

// binPath is the cdnpurge binary TestMain builds for every scenario.
var binPath string

func TestMain(m *testing.M) {
	if os.Getenv(natsHelperEnv) != "" {
		os.Exit(runNATSHelper())
	}
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cdnpurge-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "cdnpurge")
	build := exec.Command("go", "build", "-o", binPath, "./cmd/cdnpurge")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build cdnpurge:", err)
		return 1
	}
	return m.Run()
}
