package main

import (
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// testsPerCPU is how many of this package's parallel tests run at once per
// CPU unless -test.parallel says otherwise: they wait on serve, NATS, the
// emulator and timers much more than they compute; at go test's default
// (GOMAXPROCS) the package took about as long as its serve tests' sum.
const testsPerCPU = 4

func TestMain(m *testing.M) { jobstest.RunParallelPerCPU(m, testsPerCPU) }
