package worker

import "sync"

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

// len is the number of pending paths.
func (p *batchedPaths) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}
