package worker

import (
	"time"
)

// ledger is the worker's shared bookkeeping of where its jobs and paths
// stand, one per Worker (and one per purge --direct run). The stages read
// and write it only through these methods:
//
//   - jobs taken from the queue and not settled yet: they bound pulling
//     (intake), the heartbeat extends them, shutdown hands them back;
//   - paths waiting in a batch, by group, which a later request for the
//     same path joins (batcher) until the call is made (submitter);
//   - paths whose call was sent and not settled, which a request made
//     before the call was sent joins (coalescing by request time);
//   - paths waiting for quota, in memory or handed back (metrics, and
//     the order in which waiting batches get quota);
//   - the submissions pause after an account error or a financial lock.
type ledger struct {
	taken   *takenJobs
	batched *batchedPaths
	flights *flights
	waiting *waitingPaths
	paused  *pause
}

// now is the worker's clock (Deps.Now), on which a pause ends; time.Now
// when nil.
func newLedger(ackWait time.Duration, m *Metrics, now func() time.Time) *ledger {
	return &ledger{taken: newTakenJobs(), batched: newBatchedPaths(), flights: newFlights(),
		waiting: newWaitingPaths(ackWait, m.waiting), paused: &pause{changed: m.paused, now: now}}
}

// take records a job taken from the queue.
func (l *ledger) take(t *takenJob) { l.taken.add(t) }

// takenPaths is the number of paths of the jobs taken and not settled.
func (l *ledger) takenPaths() int {
	l.taken.mu.Lock()
	defer l.taken.mu.Unlock()
	return l.taken.paths
}

// settled forgets a settled job and lets pulling go on.
func (l *ledger) settled(t *takenJob) { l.taken.remove(t) }

// unsettled returns the jobs taken and not yet forgotten.
func (l *ledger) unsettled() []*takenJob { return l.taken.snapshot() }

// waitBelow blocks while more than max paths are taken, or until stop is
// closed; wake releases it at shutdown.
func (l *ledger) waitBelow(max int, stop <-chan struct{}) { l.taken.waitBelow(max, stop) }

func (l *ledger) wake() { l.taken.wake() }

// join attaches job t to path's entry of group k when that path already
// waits in a batch, or its call is in flight and was sent after t asked
// for it; it reports what it did (coveredLanded: a call that already
// landed covers t, which then needs no entry).
func (l *ledger) join(k GroupKey, path string, t *takenJob) joined {
	if l.batched.attach(k, path, t) {
		return joinedEntry
	}
	return l.flights.attach(k, path, t)
}

// flying records b's call as sent at sentAt: requests made before then
// join its entries (flights).
func (l *ledger) flying(b *batch, sentAt time.Time) { l.flights.fly(b, sentAt) }

// landed adds to b's entries the jobs that joined them in flight, before
// b is settled with o.
func (l *ledger) landed(b *batch, o outcome) { l.flights.land(b, o.kind == accepted) }

// asked is when the last job of each of b's entries asked for its path;
// b's entries may still be joined (b not sent yet).
func (l *ledger) asked(b *batch) []time.Time { return l.batched.asked(b) }

// batchedEntry records a new entry of group k waiting in a batch.
func (l *ledger) batchedEntry(k GroupKey, e *entry) { l.batched.add(k, e) }

// sent forgets b's paths as waiting in a batch: from its call on, a
// request for one of them is a new refresh.
func (l *ledger) sent(b *batch) { l.batched.release(b) }

// holdForQuota counts n paths of a batch waiting in memory for pool's
// quota in place of the prev it counted before; it returns n.
func (l *ledger) holdForQuota(pool quotaPool, prev, n int) int { return l.waiting.hold(pool, prev, n) }

// handedBack counts n paths of job jobID, of priority rank, handed back to
// wait for pool's quota: delivered again at until (real clock), the wait's
// reason ending at ends (the worker's clock).
func (l *ledger) handedBack(jobID string, pool quotaPool, n int, until time.Time, rank int, ends time.Time) {
	l.waiting.handBack(jobID, pool, n, until, rank, ends)
}

// urgentComingBack counts the paths of pool more urgent than rank that were
// handed back until a quota reset (isReset) that has come (now, the
// worker's clock) and are due back (wall, the real clock) but not here yet.
func (l *ledger) urgentComingBack(pool quotaPool, rank int, now, wall time.Time, isReset func(time.Time) bool) int {
	return l.waiting.comingBack(pool, rank, now, wall, isReset)
}

// redelivered forgets what job jobID was counted as waiting for when it
// was handed back.
func (l *ledger) redelivered(jobID string) { l.waiting.delivered(jobID) }

// prune forgets handed-back paths whose wait ended long ago.
func (l *ledger) prune(now time.Time) { l.waiting.prune(now) }

// pauseUntil stops submissions until until (the latest of the pauses).
func (l *ledger) pauseUntil(until time.Time, reason string) { l.paused.set(until, reason) }

// resume lifts the pause.
func (l *ledger) resume() { l.paused.clear() }

// pausedNow reports whether submissions are paused at now (the worker's
// clock) and why.
func (l *ledger) pausedNow() (bool, string) {
	until, reason := l.paused.get()
	return l.paused.clock().Before(until), reason
}

// pausedUntil returns when the pause ends and why.
func (l *ledger) pausedUntil() (time.Time, string) { return l.paused.get() }
