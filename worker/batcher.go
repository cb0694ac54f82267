package worker

import (
	"time"
)

// batcher groups incoming paths (grouper) and queues each batch for the
// submitters when it is full or has lingered long enough. A path already
// pending in its group is not added again: its job joins the entry.
type batcher struct {
	linger   time.Duration
	limits   Limits
	pending  *pending
	queue    *batchQueue
	metrics  *Metrics
	incoming <-chan work
}

// run batches until incoming is closed, then flushes every group and
// closes the queue.
func (bt *batcher) run() {
	g := newGrouper(bt.limits)
	g.added = bt.pending.add
	tick := max(bt.linger/4, 5*time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	send := func(bs []*batch) {
		for _, b := range bs {
			bt.metrics.batchFlushed(b)
			bt.queue.push(b)
		}
	}
	for {
		select {
		case in, ok := <-bt.incoming:
			if !ok {
				send(g.all())
				bt.queue.close()
				return
			}
			now := time.Now()
			for _, p := range in.paths {
				if bt.pending.attach(in.key, p, in.t) {
					// Pending in the pool, a full batch or a batch
					// waiting for quota: the job joins that entry.
					bt.metrics.duplicate()
					continue
				}
				full, _ := g.add(in.key, p, in.t, now)
				send(full)
			}
		case <-ticker.C:
			send(g.due(time.Now().Add(-bt.linger)))
		}
	}
}
