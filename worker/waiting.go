package worker

import (
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
)

// quotaPool is one target's quota of one kind: what a batch waits for.
type quotaPool struct {
	target apiclient.Product
	kind   quota.Kind
}

// String names the pool in reasons: "url" on CDN, "dcdn url" on DCDN.
func (p quotaPool) String() string {
	if p.target == "" || p.target == apiclient.ProductCDN {
		return string(p.kind)
	}
	return string(p.target) + " " + string(p.kind)
}

// waitingPaths counts the paths waiting for quota, by target quota and kind: those of
// batches waiting in memory, and those of jobs handed back for quota until
// they are delivered again. It feeds cdnpurge_paths_waiting_for_quota.
type waitingPaths struct {
	mu     sync.Mutex
	memory map[quotaPool]int
	back   map[string]handedBack // by job ID
	// grace is how long past its redelivery time a handed-back job is
	// still counted: it may be delivered to another replica, which this one
	// never hears of.
	grace time.Duration
	set   func(quotaPool, int)
}

type handedBack struct {
	kind  quotaPool
	paths int
	until time.Time
}

func newWaitingPaths(grace time.Duration, set func(quotaPool, int)) *waitingPaths {
	return &waitingPaths{memory: map[quotaPool]int{}, back: map[string]handedBack{}, grace: grace, set: set}
}

// hold counts n paths of kind waiting in memory, replacing what the same
// waiter held before (prev); it returns n for the next call.
func (w *waitingPaths) hold(kind quotaPool, prev, n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.memory[kind] += n - prev
	w.report(kind)
	return n
}

// handBack counts the paths of a job handed back for quota until until.
func (w *waitingPaths) handBack(jobID string, kind quotaPool, paths int, until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.back[jobID] = handedBack{kind: kind, paths: paths, until: until}
	w.report(kind)
}

// delivered stops counting a job handed back, now that it is here again.
func (w *waitingPaths) delivered(jobID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if hb, ok := w.back[jobID]; ok {
		delete(w.back, jobID)
		w.report(hb.kind)
	}
}

// prune forgets handed-back jobs whose redelivery is past by the grace.
func (w *waitingPaths) prune(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, hb := range w.back {
		if now.After(hb.until.Add(w.grace)) {
			delete(w.back, id)
			w.report(hb.kind)
		}
	}
}

// total returns the paths of kind waiting; callers hold w.mu.
func (w *waitingPaths) total(kind quotaPool) int {
	n := w.memory[kind]
	for _, hb := range w.back {
		if hb.kind == kind {
			n += hb.paths
		}
	}
	return n
}

func (w *waitingPaths) report(kind quotaPool) {
	if w.set != nil {
		w.set(kind, w.total(kind))
	}
}
