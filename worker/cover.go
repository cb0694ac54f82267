package worker

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// latestAsk is when the last of e's jobs asked for its path (zero when one
// of them cannot tell: then no earlier call covers it).
func latestAsk(e *entry) time.Time {
	var last time.Time
	for _, t := range e.jobs {
		if t == nil || t.asked.IsZero() {
			return time.Time{}
		}
		if t.asked.After(last) {
			last = t.asked
		}
	}
	return last
}

// claim claims b's paths in the shared record at b.sentAt and splits b:
// the paths this replica sends, and those a call of another replica sent
// after they were asked for covers (in flight or accepted), which wait
// for that call (awaitCovers). Without Redis every path is sent.
func (s *submitter) claim(ctx context.Context, b *batch) (send, wait *batch) {
	paths := b.Paths()
	asked := s.ledger.asked(b)
	got, err := s.claims.Claim(ctx, b.Key.String(), paths, asked, b.sentAt, s.owner)
	if err != nil {
		s.log.Warn("claim paths", slog.String("error", err.Error()))
		return b, nil
	}
	send, wait = newBatch(b.Key, b.opened), newBatch(b.Key, b.opened)
	send.sentAt = b.sentAt
	for i, e := range b.entries {
		if got[i].Sent.IsZero() {
			send.add(e)
		} else {
			wait.add(e)
		}
	}
	return send, wait
}

// awaitCovers moves b, whose paths other replicas' calls cover, off the
// submitter until those calls land (awaitCover).
func (s *submitter) awaitCovers(ctx context.Context, b *batch) {
	for range b.Len() {
		s.metrics.duplicate()
	}
	s.awaiting.Add(int64(b.Len()))
	s.parked.Go(func() {
		defer s.awaiting.Add(-int64(b.Len()))
		s.awaitCover(ctx, b)
	})
}

// awaitCover waits for the calls of other replicas that cover b's paths.
// A path whose covering call was accepted settles with that call's tasks
// (its job completes when they do); a path no call covers any more (the
// call failed, its claim expired) goes through the gate again.
func (s *submitter) awaitCover(ctx context.Context, b *batch) {
	for b.Len() > 0 {
		if !sleep(ctx, s.stop, nil, nil, s.cfg.QuotaPoll) {
			s.handBack(ctx, b, s.now().Add(time.Second), "worker stopping")
			return
		}
		got, err := s.claims.Covering(ctx, b.Key.String(), b.Paths())
		if err != nil {
			s.log.Warn("check the calls covering paths", slog.String("error", err.Error()))
			continue
		}
		still, again := newBatch(b.Key, b.opened), newBatch(b.Key, b.opened)
		landed := map[string]*batch{} // by the covering call's record
		cover := map[string]Cover{}
		for i, e := range b.entries {
			c := got[i]
			switch {
			case c.Sent.IsZero() || !covers(c.Sent, latestAsk(e)) || c.InFlight && c.Owner == s.owner:
				again.add(e)
			case c.InFlight:
				still.add(e)
			default:
				key := c.Sent.String() + " " + joinTasks(c.Tasks)
				if landed[key] == nil {
					landed[key] = newBatch(b.Key, b.opened)
					landed[key].sentAt = c.Sent
					cover[key] = c
				}
				landed[key].add(e)
			}
		}
		for key, part := range landed {
			s.out.settleBatch(ctx, part, outcome{kind: accepted, tasks: cover[key].Tasks})
		}
		if again.Len() > 0 {
			s.submit(ctx, again)
		}
		b = still
	}
}

func joinTasks(ts []string) string { return strings.Join(ts, ",") }
