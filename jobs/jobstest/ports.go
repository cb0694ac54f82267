package jobstest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
)

// Ports for the processes and servers tests start come from below Linux's
// ephemeral range (32768 and up), each handed out once per test process:
// a port picked with :0 and closed again can be taken by any outgoing
// connection before the server it was given to binds it ("bind: address
// already in use"), which tests side by side made happen. Each process
// starts at a random point of the range, and a port another process
// holds is skipped.
const (
	portsFrom = 10000
	portsTo   = 32768
)

var nextPort atomic.Int32

func init() { nextPort.Store(int32(portsFrom + rand.IntN(portsTo-portsFrom))) }

// FreePort returns a loopback port that was free a moment ago and that no
// other test of this process was given.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range portsTo - portsFrom {
		p := int(nextPort.Add(1))
		if p >= portsTo {
			nextPort.CompareAndSwap(int32(p), portsFrom)
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // another process's
		}
		l.Close()
		return p
	}
	tb.Fatalf("no free loopback port in %d-%d", portsFrom, portsTo-1)
	return 0
}
