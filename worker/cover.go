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

// claim claims b's paths in the shared record at b.sentAt and returns the
// batch of those this replica sends. The paths a call of another replica
// sent after they were asked for covers (in flight or accepted) are not
// sent: they wait for that call off the submitter (awaitCover). Without
// Redis every path is sent.
func (s *submitter) claim(ctx context.Context, tg *target, b *batch) *batch {
	paths := b.Paths()
	asked := make([]time.Time, len(b.entries))
	for i, e := range b.entries {
		asked[i] = latestAsk(e)
	}
	got, err := s.claims.Claim(ctx, b.Key.String(), paths, asked, b.sentAt, s.owner)
	if err != nil {
		s.log.Warn("claim paths", slog.String("error", err.Error()))
		return b
	}
	send, wait := newBatch(b.Key, b.opened), newBatch(b.Key, b.opened)
	send.sentAt = b.sentAt
	for i, e := range b.entries {
		if got[i].Sent.IsZero() {
			send.add(e)
		} else {
			wait.add(e)
		}
	}
	if wait.Len() > 0 {
		for range wait.Len() {
			s.metrics.duplicate()
		}
		s.awaiting.Add(int64(wait.Len()))
		s.parked.Go(func() {
			defer s.awaiting.Add(-int64(wait.Len()))
			s.awaitCover(ctx, wait)
		})
	}
	return send
}

// awaitCover waits for the calls of other replicas that cover b's paths.
// A path whose covering call was accepted settles with that call's tasks
// (its job completes when they do); a path no call covers any more (the
// call failed, its claim expired) goes through the gate again.
func (s *submitter) awaitCover(ctx context.Context, b *batch) {
	for b.Len() > 0 {
		if !sleep(ctx, s.stop, nil, nil, s.cfg.QuotaPoll) {
			s.handBack(ctx, b, time.Now().Add(time.Second), "worker stopping")
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
