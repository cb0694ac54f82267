package worker

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// checkPack fails the test unless calls carry exactly counts within the
// limits, and returns how many calls there are.
func checkPack(t *testing.T, counts []int, size, domains int, calls [][]piece) int {
	t.Helper()
	got := make([]int, len(counts))
	for i, c := range calls {
		n := 0
		seen := map[int]bool{}
		for _, p := range c {
			if p.n <= 0 || seen[p.domain] {
				t.Fatalf("call %d of %v: bad piece %+v", i, counts, p)
			}
			seen[p.domain] = true
			n += p.n
			got[p.domain] += p.n
		}
		if n > size || (domains > 0 && len(c) > domains) || n == 0 {
			t.Fatalf("call %d of %v carries %d paths of %d domains (limits %d, %d)", i, counts, n, len(c), size, domains)
		}
	}
	for d := range counts {
		if got[d] != counts[d] {
			t.Fatalf("domain %d: %d paths packed, want %d", d, got[d], counts[d])
		}
	}
	return len(calls)
}

// bruteCalls is the fewest calls found by trying every split of every
// domain over k calls, k counting up.
func bruteCalls(counts []int, size, domains int) int {
	// Below the lower bound nothing fits; start there.
	for k := callsLowerBound(counts, size, domains); ; k++ {
		room := make([]int, k)
		slots := make([]int, k)
		for i := range room {
			room[i] = size
		}
		var try func(d, b, left int) bool
		try = func(d, b, left int) bool {
			if d == len(counts) {
				return true
			}
			if left == 0 {
				if d+1 == len(counts) {
					return true
				}
				return try(d+1, 0, counts[d+1])
			}
			if b == k {
				return false
			}
			// What is left of d must fit in calls b and after.
			free := 0
			for _, r := range room[b:] {
				free += r
			}
			if free < left {
				return false
			}
			// Put 0..min(left, room) of domain d into call b.
			if try(d, b+1, left) {
				return true
			}
			if slots[b] >= domains {
				return false
			}
			slots[b]++
			for n := 1; n <= min(left, room[b]); n++ {
				room[b] -= n
				ok := try(d, b+1, left-n)
				room[b] += n
				if ok {
					slots[b]--
					return true
				}
			}
			slots[b]--
			return false
		}
		if try(0, 0, counts[0]) {
			return k
		}
	}
}

func TestPackTwelveDomainsOfFourHundred(t *testing.T) {
	t.Parallel()
	counts := make([]int, 12)
	for i := range counts {
		counts[i] = 400
	}
	if n := checkPack(t, counts, 1000, 10, pack(counts, 1000, 10)); n != 5 {
		t.Fatalf("12 domains x 400 URLs in %d calls, want 5", n)
	}
}

// Small generated mixes against the brute-force optimum.
func TestPackMatchesBruteForce(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		size, domains := 3+r.IntN(3), 2+r.IntN(2)
		counts := make([]int, 1+r.IntN(5))
		for d := range counts {
			counts[d] = 1 + r.IntN(2*size+2)
			if len(counts) > 3 {
				counts[d] = 1 + r.IntN(size+2)
			}
		}
		name := fmt.Sprintf("%d/%v size %d domains %d", i, counts, size, domains)
		got := checkPack(t, counts, size, domains, pack(counts, size, domains))
		if want := bruteCalls(counts, size, domains); got != want {
			t.Fatalf("%s: %d calls, the fewest is %d", name, got, want)
		}
	}
}

// Generated mixes at the API's limits reach the lower bound.
func TestPackReachesLowerBound(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		counts := make([]int, 1+r.IntN(40))
		for d := range counts {
			switch r.IntN(3) {
			case 0:
				counts[d] = 1 + r.IntN(20)
			case 1:
				counts[d] = 1 + r.IntN(1000)
			default:
				counts[d] = 1 + r.IntN(3000)
			}
		}
		got := checkPack(t, counts, 1000, 10, pack(counts, 1000, 10))
		if lb := callsLowerBound(counts, 1000, 10); got != lb {
			t.Fatalf("%d: %v in %d calls, lower bound %d", i, counts, got, lb)
		}
	}
}

// One job of 12 domains x 400 URLs, its paths interleaved, takes the 5
// calls that suffice within 1,000 URLs and 10 domains per call.
func TestWorkerPacksTwelveDomainsInFiveCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	var paths []string
	for i := range 400 {
		for d := range 12 {
			paths = append(paths, fmt.Sprintf("https://d%d.example.com/%d.js", d, i))
		}
	}
	h.publish(refreshJob(paths...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("queue drained", 20*time.Second, h.drained)
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 4800 {
		t.Fatalf("%d paths landed, want 4,800", n)
	}
	if n := h.emu.Accepted(apiclient.CDN().Actions.Refresh); n != 5 {
		t.Fatalf("%d calls, want 5", n)
	}
}
