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
	// ranked counts the jobs of back by rank, so that comingBack is
	// cheap when no more urgent job was handed back.
	ranked [3]int
	// grace is how long past its redelivery time a handed-back job is
	// still counted: it may be delivered to another replica, which this one
	// never hears of. It is never shorter than comeBackGrace, or a prune
	// would forget a job that batches still yield to.
	grace time.Duration
	set   func(quotaPool, int)
}

type handedBack struct {
	kind  quotaPool
	paths int
	// until is when JetStream delivers the job again (real clock).
	until time.Time
	// rank is the job's priority rank (0 is high); ends is when the
	// reason it waits for ends (the quota reset), on the worker's clock.
	rank int
	ends time.Time
}

// comeBackGrace is how long after its redelivery time a handed-back job is
// still expected back by the batches that yield to it (comingBack). An
// idle pull takes it within orderedIdlePoll, but at the reset every job
// handed back for quota is due at once, and a loaded worker was seen
// forming such a job's batch 0.8 to 2.2 s after it was due (half a second,
// then 2 s, let the normal backlog go first). One that went to another
// replica is that replica's to send first: waiting for it costs this
// replica's less urgent batches this long once a day.
const comeBackGrace = 50 * orderedIdlePoll

func newWaitingPaths(grace time.Duration, set func(quotaPool, int)) *waitingPaths {
	return &waitingPaths{memory: map[quotaPool]int{}, back: map[string]handedBack{}, grace: max(grace, comeBackGrace), set: set}
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

// handBack counts the paths of a job of rank handed back for quota until
// until (its redelivery, real clock); ends is when its reason ends, on the
// worker's clock.
func (w *waitingPaths) handBack(jobID string, kind quotaPool, paths int, until time.Time, rank int, ends time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.forget(jobID); ok && old.kind != kind {
		defer w.report(old.kind)
	}
	w.back[jobID] = handedBack{kind: kind, paths: paths, until: until, rank: rank, ends: ends}
	w.ranked[min(max(rank, 0), len(w.ranked)-1)]++
	w.report(kind)
}

// forget stops counting job jobID; callers hold w.mu and report.
func (w *waitingPaths) forget(jobID string) (handedBack, bool) {
	hb, ok := w.back[jobID]
	if ok {
		delete(w.back, jobID)
		w.ranked[min(max(hb.rank, 0), len(w.ranked)-1)]--
	}
	return hb, ok
}

// comingBack counts the paths of kind more urgent than rank that this
// replica handed back until a quota reset (isReset) that has come by now
// (the worker's clock) and that were not delivered again, while their
// redelivery (real clock) is not past wall by more than comeBackGrace.
// Other waits are left out: a mirror that fails, a share or a domain that
// refuses again, would have a batch yield to work that cannot go first.
func (w *waitingPaths) comingBack(kind quotaPool, rank int, now, wall time.Time, isReset func(time.Time) bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for r := range min(rank, len(w.ranked)) {
		n += w.ranked[r]
	}
	if n == 0 {
		return 0
	}
	n = 0
	for _, hb := range w.back {
		if hb.kind == kind && hb.rank < rank && !hb.ends.IsZero() && !hb.ends.After(now) && isReset(hb.ends) &&
			!wall.After(hb.until.Add(comeBackGrace)) {
			n += hb.paths
		}
	}
	return n
}

// delivered stops counting a job handed back, now that it is here again.
func (w *waitingPaths) delivered(jobID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if hb, ok := w.forget(jobID); ok {
		w.report(hb.kind)
	}
}

// prune forgets handed-back jobs whose redelivery is past by the grace.
func (w *waitingPaths) prune(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, hb := range w.back {
		if now.After(hb.until.Add(w.grace)) {
			w.forget(id)
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
