package worker

import (
	"context"
	"log/slog"
	"time"
)

// batcher groups incoming paths (grouper) and queues each batch for the
// submitters when it is full or has lingered long enough. A path already
// pending in its group is not added again: its job joins the entry.
type batcher struct {
	batcherParams
}

// batcherParams are the batcher's dependencies.
type batcherParams struct {
	linger  time.Duration
	limits  Limits
	ledger  *ledger
	metrics *Metrics
	// settle settles a path a landed call covers.
	settle *settler
	// in is intake's output; out, the submitters' queue.
	in  <-chan work
	out *batchQueue
	// line counts the paths in the pools as unsent (priority.go).
	line *gateLine
	// log, if not nil, gets a line per batch formed.
	log *slog.Logger
}

func newBatcher(p batcherParams) *batcher { return &batcher{batcherParams: p} }

// run batches until incoming is closed, then flushes every group and
// closes the queue.
func (bt *batcher) run() {
	g := newGrouper(bt.limits)
	g.added = bt.ledger.batchedEntry
	tick := max(bt.linger/4, 5*time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	send := func(bs []*batch, why string) {
		for _, b := range bs {
			b.counted = bt.line != nil
			bt.metrics.batchFlushed(b)
			if bt.log != nil {
				bt.log.Info("batch formed", slog.String("group", b.Key.String()), slog.Int("paths", b.Len()),
					slog.Int("jobs", batchJobs(b)), slog.String("why", why), slog.Duration("waited", time.Since(b.opened)))
			}
			bt.out.push(b)
		}
	}
	for {
		select {
		case in, ok := <-bt.in:
			if !ok {
				send(g.all(), "intake stopped")
				bt.out.close()
				return
			}
			now := time.Now()
			for _, p := range in.paths {
				switch bt.ledger.join(in.key, p, in.t) {
				case joinedEntry:
					// Pending in the pool, a full batch, a batch waiting
					// for quota, or a call sent after the job asked for
					// the path: the job joins that entry.
					bt.metrics.duplicate()
					continue
				case coveredLanded:
					bt.metrics.duplicate()
					bt.settle.covered(context.Background(), in.t, p)
					continue
				}
				full, dup := g.add(in.key, p, in.t, now)
				if !dup && bt.line != nil {
					bt.line.addUnsent(poolOf(in.key), rankOf(in.key), 1)
				}
				send(full, "full")
			}
			if in.t != nil && in.t.redelivered {
				// Its paths are counted as unsent now (intake.handle).
				bt.ledger.redelivered(in.t.job.ID)
			}
		case <-ticker.C:
			send(g.due(time.Now().Add(-bt.linger)), "linger passed")
		}
	}
}

// batchJobs counts the distinct jobs of b.
func batchJobs(b *batch) int {
	seen := map[*takenJob]bool{}
	for _, e := range b.entries {
		for _, t := range e.jobs {
			seen[t] = true
		}
	}
	return len(seen)
}
