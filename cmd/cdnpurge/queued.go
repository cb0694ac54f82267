package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/redact"
)

// runQueued publishes the paths as jobs for the worker of a running serve
// and, with --wait, follows their status events.
func (a *app) runQueued(ctx context.Context, s *setup, req request, f purgeFlags, stdout io.Writer, prog *progress) (summary, error) {
	sum := summary{Action: actionName(req), Mode: "queued", Paths: len(req.paths), Unit: "jobs", start: time.Now()}
	nc, _, subj, err := s.connectNATS("cdnpurge-cli")
	if err != nil {
		return sum, err
	}
	defer nc.Close()
	pub, err := queue.NewPublisher(nc, a.publisherConfig(s.cfg, subj))
	if err != nil {
		return sum, err
	}
	// Subscribe before publishing so that no event is missed.
	events := make(chan *nats.Msg, 1024)
	if f.wait {
		sub, err := nc.ChanSubscribe(subj.StatusAll(), events)
		if err != nil {
			return sum, fmt.Errorf("subscribe to status events: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	size := jobs.DefaultMaxPaths
	if req.kind == jobs.KindRefresh && req.ot == apiclient.ObjectRegex {
		size = 1 // one rule per job
	}
	source := "cli"
	if u, err := user.Current(); err == nil {
		source = "cli:" + u.Username
	}
	var js []*jobs.Job
	for chunk := range slices.Chunk(req.paths, size) {
		j := req.job(chunk)
		if f.idemKey != "" {
			j.ID = jobs.IDFromKey("cli:" + f.idemKey + ":" + strconv.Itoa(len(js)))
		}
		j.Prepare(source, time.Now())
		js = append(js, j)
	}
	pathsOf := map[string]int{}
	queued := func(j *jobs.Job, ack queue.Ack) {
		// ack.JobID, not j.ID: a repeat under --idempotency-key is stored
		// under the first request's IDs.
		sum.Jobs = append(sum.Jobs, ack.JobID)
		n := len(j.Paths())
		sum.Submitted += n
		pathsOf[ack.JobID] = n
		if a.g.output == "text" {
			dup := ""
			if ack.Duplicate {
				dup = ", already queued under this --idempotency-key"
			}
			fmt.Fprintf(stdout, "queued job %s (%s%s)\n", ack.JobID, plural(n, "path"), dup)
		}
		prog.set("queued", sum.Submitted, sum.Paths, "paths")
	}
	if f.idemKey != "" {
		// One key for the whole request, bound to all its paths.
		acks, err := pub.PublishSet(ctx, "cli:"+f.idemKey, js)
		for i, ack := range acks {
			queued(js[i], ack)
		}
		if err != nil {
			return sum, queueError(err, f.idemKey, s)
		}
	} else {
		for _, j := range js {
			// No key: nothing to claim, one JetStream write per job.
			acks, err := pub.PublishSet(ctx, "", []*jobs.Job{j})
			if err != nil {
				return sum, queueError(err, "", s)
			}
			queued(j, acks[0])
		}
	}
	if !f.wait {
		return sum, nil
	}
	sum.Waited = true
	sum.Pending = len(sum.Jobs)
	jobsDone := 0
	for sum.Pending > 0 {
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case m := <-events:
			var ev jobs.StatusEvent
			if json.Unmarshal(m.Data, &ev) != nil {
				continue
			}
			n, ours := pathsOf[ev.JobID]
			if !ours {
				continue
			}
			ended, done := sum.queuedEvent(ev, n, stdout, a.g.output == "text")
			if !ended {
				continue
			}
			delete(pathsOf, ev.JobID)
			sum.Pending--
			if done {
				jobsDone++
				prog.set("jobs done", jobsDone, len(sum.Jobs), "jobs")
			}
		}
	}
	return sum, nil
}

// queueError explains a failed publish: an idempotency key used for other
// paths, or a queue that cannot be reached.
func queueError(err error, key string, s *setup) error {
	var ce *queue.IdempotencyConflictError
	if errors.As(err, &ce) {
		return fmt.Errorf("--idempotency-key %q was used for other paths by job %s inside the duplicate window; nothing new was queued, use a new key: %w",
			key, strings.Join(ce.JobIDs, ", "), err)
	}
	return fmt.Errorf("queue job: %w (is `cdnpurge serve` running at %s? set nats.url, or use --direct)",
		err, redact.URL(s.cfg.NATSURL()))
}

// queuedEvent applies a status event of one of the CLI's jobs (of n
// paths) to the summary. ended is whether the CLI stops waiting for the
// job; done whether it ended done (complete or failed), not deferred: a
// deferred job is reported with the time it waits for, never counted done.
func (sum *summary) queuedEvent(ev jobs.StatusEvent, n int, stdout io.Writer, text bool) (ended, done bool) {
	switch ev.State {
	case jobs.StateSubmitted:
		sum.TaskIDs = append(sum.TaskIDs, ev.TaskIDs...)
		return false, false
	case jobs.StateComplete:
		sum.Completed++
	case jobs.StateDeferred:
		sum.wait(n, ev.Until)
		if text {
			fmt.Fprintf(stdout, "job %s deferred until %s: %s\n", ev.JobID, ev.Until.Format(time.RFC3339), ev.Reason)
		}
		return true, false
	case jobs.StateFailed, jobs.StateRejected, jobs.StateInvalid, jobs.StateUntracked:
		sum.fail(failure{What: "job " + ev.JobID, Reason: fmt.Sprintf("%s: %s", ev.State, ev.Reason), Job: ev.JobID}, n)
	default:
		// Accepted, or a state this CLI does not know yet: not an end.
		return false, false
	}
	return true, true
}
