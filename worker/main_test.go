package worker

import (
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// workerTestsPerCPU is how many worker tests run at once per CPU unless
// -test.parallel says otherwise: most of a harness test's time is its
// worker waiting (linger, a quota hold, a hand-back's redelivery, the
// emulator's task clock), not computing.
const workerTestsPerCPU = 4

func TestMain(m *testing.M) { jobstest.RunParallelPerCPU(m, workerTestsPerCPU) }
