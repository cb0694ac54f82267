package worker

import (
	"slices"
	"sync"
	"time"
)

// batchedPaths indexes every path of the worker not sent yet, whichever stage
// holds it: a group's pool in the batcher, a full batch waiting for a
// submitter, or a batch waiting for quota. A job that asks for a path
// already pending in its group joins that entry and completes with it,
// so quota is spent once. An entry leaves the index when its call is
// about to be sent (a later request is then a new refresh: the file may
// have changed since) or when its jobs are settled without a call.
type batchedPaths struct {
	mu      sync.Mutex
	entries map[pendingKey]*entry
}

type pendingKey struct {
	group GroupKey
	path  string
}

func newBatchedPaths() *batchedPaths { return &batchedPaths{entries: map[pendingKey]*entry{}} }

// attach adds t to the pending entry of path in group k, if there is one.
func (p *batchedPaths) attach(k GroupKey, path string, t *takenJob) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[pendingKey{k, path}]
	if ok {
		e.jobs = append(e.jobs, t)
	}
	return ok
}

// add indexes a new entry of group k.
func (p *batchedPaths) add(k GroupKey, e *entry) {
	p.mu.Lock()
	p.entries[pendingKey{k, e.path}] = e
	p.mu.Unlock()
}

// release takes b's entries out of the index. From then on no job joins
// them, so their job lists may be read without the lock.
func (p *batchedPaths) release(b *batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range b.entries {
		key := pendingKey{b.Key, e.path}
		if p.entries[key] == e {
			delete(p.entries, key)
		}
	}
}

// asked returns latestAsk of each of b's entries, read under the lock
// that jobs join them with: until release, a job may still join.
func (p *batchedPaths) asked(b *batch) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Time, len(b.entries))
	for i, e := range b.entries {
		out[i] = latestAsk(e)
	}
	return out
}

// len is the number of pending paths.
func (p *batchedPaths) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// flights indexes the entries whose call was sent and not yet settled,
// with the time it was sent. A job that asked for such a path before the
// call was sent (its message's stored time, takenJob.asked) is covered by
// that call: it joins the entry when the call settles and completes with
// it, without a call or quota of its own. A job that asked after the call
// was sent does not join: the file may have changed after the call.
//
// The times are compared with coverMargin, as the stored time is the NATS
// server's clock; a delivery again of a message whose own earlier
// delivery is one of the entry's jobs needs no clock: that call was made
// for it, after it was stored, however soon after (fromSameMessage).
type flights struct {
	mu      sync.Mutex
	entries map[pendingKey]*flight
	// landed holds, for a short while, the accepted calls of paths: a
	// copy that passed the Recent check before the call was remembered
	// and reaches the batcher after it landed is covered too.
	landed map[pendingKey]landedCall
}

// landedCall is an accepted call of a path: when it was sent and the
// messages whose jobs it was made for.
type landedCall struct {
	sentAt time.Time
	msgs   []storedMsg
}

// fromSameMessage reports whether t came in a message one of jobs came in:
// a delivery again of it.
func fromSameMessage(jobs []*takenJob, t *takenJob) bool {
	if !t.msgAt.known() {
		return false
	}
	for _, o := range jobs {
		if o != nil && o.msgAt == t.msgAt {
			return true
		}
	}
	return false
}

// landedFor is how long a landed call's paths are kept for late copies;
// longer than a path takes from the intake's Recent check to the batcher.
const landedFor = time.Minute

// joined is what became of a path's request at the batcher.
type joined int

const (
	notJoined     joined = iota
	joinedEntry          // joined a waiting or in-flight entry
	coveredLanded        // covered by a call that already landed
)

type flight struct {
	e       *entry
	sentAt  time.Time
	joiners []*takenJob
}

func newFlights() *flights {
	return &flights{entries: map[pendingKey]*flight{}, landed: map[pendingKey]landedCall{}}
}

// fly records b's entries as sent at sentAt; an entry sent again (a split
// batch) keeps its joiners.
func (f *flights) fly(b *batch, sentAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range b.entries {
		key := pendingKey{b.Key, e.path}
		if fl, ok := f.entries[key]; ok && fl.e == e {
			fl.sentAt = sentAt
			continue
		}
		f.entries[key] = &flight{e: e, sentAt: sentAt}
	}
}

// attach adds t to the flight of path in group k when its call covers t,
// or reports that a landed call covers it. The flight's entry is out of
// the batched index (ledger.join asks it first), so its jobs no longer
// change but here.
func (f *flights) attach(k GroupKey, path string, t *takenJob) joined {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pendingKey{k, path}
	if fl, ok := f.entries[key]; ok && (covers(fl.sentAt, t.asked) || fromSameMessage(fl.e.jobs, t) || fromSameMessage(fl.joiners, t)) {
		fl.joiners = append(fl.joiners, t)
		return joinedEntry
	}
	if c, ok := f.landed[key]; ok && (covers(c.sentAt, t.asked) || slices.Contains(c.msgs, t.msgAt) && t.msgAt.known()) {
		return coveredLanded
	}
	return notJoined
}

// land ends the flights of b's entries and adds their joiners to the
// entries' jobs, so that the settlement resolves them with the rest; an
// accepted call's paths are kept landedFor for late copies.
func (f *flights) land(b *batch, accepted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for key, c := range f.landed {
		if now.Sub(c.sentAt) > landedFor {
			delete(f.landed, key)
		}
	}
	for _, e := range b.entries {
		key := pendingKey{b.Key, e.path}
		if fl, ok := f.entries[key]; ok && fl.e == e {
			e.jobs = append(e.jobs, fl.joiners...)
			delete(f.entries, key)
			if accepted {
				c := landedCall{sentAt: fl.sentAt}
				for _, t := range e.jobs {
					if t != nil && t.msgAt.known() && !slices.Contains(c.msgs, t.msgAt) {
						c.msgs = append(c.msgs, t.msgAt)
					}
				}
				f.landed[key] = c
			}
		}
	}
}
