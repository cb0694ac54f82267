package main

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// minParallel is how many of this package's parallel tests run at once
// when -parallel is not given (go test's default is GOMAXPROCS). They
// wait on serve, NATS, the emulator and timers much more than they use
// the CPU: on a 2-core machine, two at a time left the package's wall
// time close to the sum of its serve tests' times.
const minParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < minParallel {
		if err := flag.Set("test.parallel", strconv.Itoa(minParallel)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
