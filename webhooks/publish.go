package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// storedJob is a job the queue acknowledged, with its acknowledgement.
// The ack's JobID is the ID it is stored under: a redelivery's jobs are
// stored under the first delivery's IDs.
type storedJob struct {
	job *jobs.Job
	ack queue.Ack
}

// published is what became of the jobs handed to a Publisher: the ones
// stored, in the order given, and on an error the job it failed on.
type published struct {
	stored []storedJob
	// failed is the first job not stored; nil when every job was stored,
	// or when the publisher's answer does not tell which one failed.
	failed *jobs.Job
	err    error
}

// publishJobs hands js to pub under key and pairs each job with its ack.
// The Publisher contract it relies on, written down once here: the i-th
// ack is the i-th job's, and on an error the acks are those of the jobs
// stored before the one that failed. An answer that breaks it (more acks
// than jobs, or fewer without an error) is an error: nothing is answered
// as stored that may not be.
func publishJobs(ctx context.Context, pub Publisher, key string, js []*jobs.Job) published {
	acks, err := pub.PublishSet(ctx, key, js)
	if len(acks) > len(js) || (err == nil && len(acks) != len(js)) {
		return published{err: fmt.Errorf("the publisher acknowledged %d of %d jobs without saying why; treat the request as not stored", len(acks), len(js))}
	}
	out := published{stored: make([]storedJob, len(acks)), err: err}
	for i, a := range acks {
		out.stored[i] = storedJob{job: js[i], ack: a}
	}
	if err != nil && len(acks) < len(js) {
		out.failed = js[len(acks)]
	}
	return out
}

// publishPlan stores the jobs of p under its key and answers 202 only when
// the queue acknowledged each of them; a partial plan's jobs get a status
// event (state partial) saying what was left out. A publish that started
// completes even if the sender hangs up, so the log says what was stored;
// the publisher bounds its time.
//
// A plan without a key claims nothing: nothing to bind or deduplicate
// (one JetStream write per job; each job's fresh ID is its Nats-Msg-Id).
func (s *Server) publishPlan(r *http.Request, p plan) result {
	res := publishJobs(context.WithoutCancel(r.Context()), s.deps.Publisher, p.key, p.jobs)
	if res.err != nil {
		return s.publishRefusal(p.source, p.key, len(p.jobs), res)
	}
	out := acceptedBody{Status: "accepted", Jobs: make([]acceptedJob, 0, len(res.stored)), Refused: p.refused, Truncated: p.truncated}
	for _, sj := range res.stored {
		n := len(sj.job.Paths())
		out.Jobs = append(out.Jobs, acceptedJob{ID: sj.ack.JobID, Kind: sj.job.Kind, Paths: n, Duplicate: sj.ack.Duplicate})
		out.Paths += n
		s.log.Info("job accepted", slog.String("job", sj.ack.JobID), slog.String("kind", string(sj.job.Kind)), slog.String("source", p.source), slog.Int("paths", n), slog.Bool("duplicate", sj.ack.Duplicate))
		if p.partial() && !sj.ack.Duplicate {
			s.report(r, jobs.StatusEvent{JobID: sj.ack.JobID, State: jobs.StatePartial, Reason: partialReason(p.source, len(p.refused), p.truncated),
				Problems: p.refused, Truncated: p.truncated})
		}
	}
	return out
}

// publishRefusal turns a failed publish into the sender's answer: 409 for
// a key used for other content, 503 when the store or the queue cannot
// take it now, 413 for a job too large for the queue. This is the one
// place that reads the publisher's error kinds.
func (s *Server) publishRefusal(source, key string, jobCount int, res published) *hookError {
	var ce *queue.IdempotencyConflictError
	switch {
	case errors.As(res.err, &ce):
		s.log.Warn("idempotency conflict", slog.String("key", key), slog.String("source", source), slog.String("earlier_jobs", strings.Join(ce.JobIDs, ",")))
		e := refuse(http.StatusConflict, "idempotency_conflict", "key %q was used inside the duplicate window for other content (job %s); nothing was queued, send new content under a new key", key, strings.Join(ce.JobIDs, ", "))
		e.body.Jobs = ce.JobIDs
		return e
	case errors.Is(res.err, queue.ErrStoreUnwritable):
		s.log.Error("publish job", slog.String("source", source), slog.String("error", res.err.Error()))
		return refuse(http.StatusServiceUnavailable, "store_unwritable", "the job store cannot write now (its disk is full or failing); nothing acknowledged, retry later")
	case errors.Is(res.err, queue.ErrTooLarge) && res.failed != nil:
		s.log.Error("publish job", slog.String("job", res.failed.ID), slog.String("source", source), slog.String("error", res.err.Error()))
		return refuse(http.StatusRequestEntityTooLarge, "job_too_large", "job %s is too large for the queue; send fewer paths per request", res.failed.ID)
	}
	s.log.Error("publish job", slog.String("source", source), slog.Int("stored", len(res.stored)), slog.Int("jobs", jobCount), slog.String("error", res.err.Error()))
	return refuse(http.StatusServiceUnavailable, "queue_unavailable", "the job queue cannot take the request now, nothing acknowledged; retry later")
}

func partialReason(source string, refused int, t *jobs.Truncation) string {
	var parts []string
	if refused > 0 {
		parts = append(parts, fmt.Sprintf("%d path(s) of the request refused", refused))
	}
	if t != nil {
		parts = append(parts, "truncated push: "+t.Reason)
	}
	return source + ": " + strings.Join(parts, "; ")
}

// report publishes a status event; a failure is logged, the answer stands.
func (s *Server) report(r *http.Request, ev jobs.StatusEvent) {
	ev.Time = s.deps.Now().UTC()
	if err := s.deps.Publisher.Report(context.WithoutCancel(r.Context()), ev); err != nil {
		s.log.Error("report status event", slog.String("job", ev.JobID), slog.String("state", string(ev.State)), slog.String("error", err.Error()))
	}
}
