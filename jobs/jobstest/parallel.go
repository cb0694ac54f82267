package jobstest

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// ParallelPerCPU lets perCPU tests per CPU run at once (t.Parallel), for
// a package whose tests mostly wait (embedded servers, timers, processes
// failing over) rather than compute: go test's default, -test.parallel =
// GOMAXPROCS, leaves a 2-core machine idle while they wait. It counts the
// machine's CPUs, not GOMAXPROCS: make test runs each package on one P
// (.ci/gotest), and its tests still wait side by side. A -test.parallel
// on the command line wins. Call it from TestMain after flag.Parse.
func ParallelPerCPU(perCPU int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(perCPU*runtime.NumCPU()))
	}
}

// RunParallelPerCPU is a whole TestMain: it parses the flags, lets perCPU
// tests per CPU run at once (ParallelPerCPU) and runs the tests.
func RunParallelPerCPU(m *testing.M, perCPU int) {
	flag.Parse()
	ParallelPerCPU(perCPU)
	os.Exit(m.Run())
}
