package worker

import (
	"sync"
)

// rank orders a batch by its jobs' priority: 0 (high) goes first.
func (b *batch) rank() int { return rankOf(b.Key) }

// batchQueue hands batches from the batcher to the submitters, the most
// urgent first and, within a priority, in the order they were cut: when
// calls are short (every submitter busy), a high-priority batch does not
// queue behind bulk work.
type batchQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	byRank [3][]*batch
	closed bool
}

func newBatchQueue() *batchQueue {
	q := &batchQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues b.
func (q *batchQueue) push(b *batch) {
	q.mu.Lock()
	r := b.rank()
	q.byRank[r] = append(q.byRank[r], b)
	q.mu.Unlock()
	q.cond.Signal()
}

// close ends the queue; pop drains what is left, then reports false.
func (q *batchQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop takes the most urgent batch, waiting for one.
func (q *batchQueue) pop() (*batch, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for r := range q.byRank {
			if len(q.byRank[r]) > 0 {
				b := q.byRank[r][0]
				q.byRank[r][0] = nil
				q.byRank[r] = q.byRank[r][1:]
				return b, true
			}
		}
		if q.closed {
			return nil, false
		}
		q.cond.Wait()
	}
}

// gateLine orders the batches waiting for quota: a batch refused once
// joins the line, and a batch may ask the gate only while no batch of the
// same target quota and kind waits ahead of it (a higher priority, or the same one
// and older). So when quota is short the most urgent batch takes what
// frees first, equal priorities keep their order, and a low-priority
// batch waiting never holds up a high one, which goes ahead of it.
//
// The line also counts, per quota and priority, the paths in memory that
// were not sent yet (in the batcher's pools, queued, or at the gate):
// a batch asks the gate only for what the more urgent of them leave
// (reserve), so that when quota is short the urgent paths pulled first
// (ordered.go) are not overtaken by normal work cut into a full batch
// while they linger.
type gateLine struct {
	mu      sync.Mutex
	seq     uint64
	waiting map[*lineTicket]struct{}
	changed chan struct{} // closed and replaced when someone leaves
	unsent  map[quotaPool]*[3]int64
}

// lineTicket is one batch's place: taken when the batch reaches the gate.
type lineTicket struct {
	kind quotaPool
	rank int
	seq  uint64
}

func newGateLine() *gateLine {
	return &gateLine{waiting: map[*lineTicket]struct{}{}, changed: make(chan struct{}), unsent: map[quotaPool]*[3]int64{}}
}

// rankOf is the rank of the paths of group k: 0 (high) goes first.
func rankOf(k GroupKey) int {
	if r := k.Priority.Rank(); r >= 0 {
		return r
	}
	return 1
}

// addUnsent adds n (negative: takes away) to the unsent paths of pool and
// rank.
func (g *gateLine) addUnsent(pool quotaPool, rank int, n int) {
	if n == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.unsent[pool]
	if c == nil {
		c = new([3]int64)
		g.unsent[pool] = c
	}
	c[rank] += int64(n)
}

// unsentAhead is the number of unsent paths of pool more urgent than rank.
func (g *gateLine) unsentAhead(pool quotaPool, rank int) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.unsent[pool]
	if c == nil {
		return 0
	}
	var n int64
	for r := 0; r < rank; r++ {
		n += max(c[r], 0)
	}
	return n
}

// ticket gives a batch arriving at the gate its place in arrival order.
func (g *gateLine) ticket(kind quotaPool, rank int) *lineTicket {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	return &lineTicket{kind: kind, rank: rank, seq: g.seq}
}

// turn reports whether no waiting batch is ahead of t.
func (g *gateLine) turn(t *lineTicket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for o := range g.waiting {
		if o != t && o.kind == t.kind && (o.rank < t.rank || (o.rank == t.rank && o.seq < t.seq)) {
			return false
		}
	}
	return true
}

// wait puts t in the line (it found no quota).
func (g *gateLine) wait(t *lineTicket) {
	g.mu.Lock()
	g.waiting[t] = struct{}{}
	g.mu.Unlock()
}

// leave takes t out of the line and wakes the batches behind it.
func (g *gateLine) leave(t *lineTicket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.waiting[t]; !ok {
		return
	}
	delete(g.waiting, t)
	close(g.changed)
	g.changed = make(chan struct{})
}

// changes returns a channel closed when a batch next leaves the line.
func (g *gateLine) changes() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}
