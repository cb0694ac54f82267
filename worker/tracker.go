package worker

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// TrackerConfig tunes the follow-up of submitted tasks.
type TrackerConfig struct {
	// Disabled turns task follow-up off (benchmarks of the submit path).
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Interval is how often the tracker looks for submissions due.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// FirstPoll is the wait after submission before the first poll.
	FirstPoll time.Duration `yaml:"first_poll" json:"first_poll"`
	// MaxPollInterval caps the backoff between polls of one submission.
	MaxPollInterval time.Duration `yaml:"max_poll_interval" json:"max_poll_interval"`
	// Deadline ends the follow-up of a submission whose tasks never finish.
	Deadline time.Duration `yaml:"deadline" json:"deadline"`
	// Lease is how long a replica owns a submission it polls.
	Lease time.Duration `yaml:"lease" json:"lease"`
	// MaxPerRound bounds the submissions claimed per round.
	MaxPerRound int `yaml:"max_per_round" json:"max_per_round"`
}

// WithDefaults fills zero fields with their defaults.
func (c TrackerConfig) WithDefaults() TrackerConfig {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.FirstPoll == 0 {
		c.FirstPoll = 5 * time.Second
	}
	if c.MaxPollInterval == 0 {
		c.MaxPollInterval = time.Minute
	}
	if c.Deadline == 0 {
		c.Deadline = 30 * time.Minute
	}
	if c.Lease == 0 {
		c.Lease = 30 * time.Second
	}
	if c.MaxPerRound == 0 {
		c.MaxPerRound = 200
	}
	return c
}

// tracker polls DescribeRefreshTaskById for stored submissions until each
// task is Complete or Failed, then publishes the outcome of their jobs.
type tracker struct {
	w   *Worker
	cfg TrackerConfig
	log *slog.Logger
}

func newTracker(w *Worker) *tracker {
	return &tracker{w: w, cfg: w.cfg.Tracker, log: w.log.With(slog.String("part", "tracker"))}
}

func (t *tracker) run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.round(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("task follow-up round failed", slog.String("error", err.Error()))
			}
		}
	}
}

// round claims the submissions due and polls their unfinished tasks.
func (t *tracker) round(ctx context.Context) error {
	st := t.w.d.Store
	ids, err := st.SubmissionIDs(ctx)
	if err != nil {
		return err
	}
	t.w.m.tracked(len(ids))
	now := time.Now()
	var subs []*Submission
	for _, id := range ids {
		if len(subs) >= t.cfg.MaxPerRound {
			break
		}
		sub, _, ok, err := st.Claim(ctx, id, t.w.d.Name, now, t.cfg.Lease)
		if err != nil {
			return err
		}
		if ok {
			subs = append(subs, sub)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	var pending []string
	for _, s := range subs {
		if s.Status == nil {
			s.Status = map[string]string{}
		}
		for _, id := range s.TaskIDs {
			if st := s.Status[id]; st != apiclient.TaskComplete && st != apiclient.TaskFailed {
				pending = append(pending, id)
			}
		}
	}
	items := map[string][]apiclient.Task{}
	for chunk := range slices.Chunk(pending, apiclient.MaxTaskIDsPerDescribe) {
		res, err := t.w.d.API.DescribeRefreshTaskByID(ctx, chunk)
		if err != nil {
			// Leave them to the next round after their lease.
			t.log.Warn("describe tasks", slog.Int("tasks", len(chunk)), slog.String("error", err.Error()))
			continue
		}
		for _, it := range res.Tasks {
			items[it.TaskID] = append(items[it.TaskID], it)
		}
	}
	now = time.Now()
	for _, s := range subs {
		t.update(s, items)
		s.Polls++
		s.Owner, s.LeaseUntil = "", time.Time{}
		switch {
		case t.finished(s):
			t.finish(ctx, s, false)
		case now.Sub(s.SubmittedAt) > t.cfg.Deadline:
			t.finish(ctx, s, true)
		default:
			s.NextPoll = now.Add(t.backoff(s.Polls))
			if err := st.PutSubmission(ctx, s); err != nil {
				t.log.Warn("store submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
			}
		}
	}
	return nil
}

// update folds the polled items of each task into its status.
func (t *tracker) update(s *Submission, items map[string][]apiclient.Task) {
	for _, id := range s.TaskIDs {
		its, ok := items[id]
		if !ok {
			continue
		}
		status, failures := TaskOutcome(its)
		if status == apiclient.TaskFailed {
			for _, f := range failures {
				f.Field = "task " + id
				s.Failures = append(s.Failures, f)
			}
		}
		s.Status[id] = status
	}
}

// TaskOutcome folds the rows one task ID answers with (one per URL of a
// merged task) into the task's status: Refreshing while any row is not
// final, else Failed when any row failed (with each failed path and its
// Description), else Complete.
func TaskOutcome(rows []apiclient.Task) (status string, failures []jobs.Problem) {
	status = apiclient.TaskComplete
	for _, r := range rows {
		switch r.Status {
		case apiclient.TaskComplete:
		case apiclient.TaskFailed:
			failures = append(failures, jobs.Problem{Path: r.ObjectPath, Reason: failReason(r)})
		default:
			return apiclient.TaskRefreshing, nil
		}
	}
	if len(failures) > 0 {
		status = apiclient.TaskFailed
	}
	return status, failures
}

func failReason(it apiclient.Task) string {
	if it.Description != "" {
		return it.Description
	}
	return "task failed"
}

func (t *tracker) finished(s *Submission) bool {
	for _, id := range s.TaskIDs {
		if st := s.Status[id]; st != apiclient.TaskComplete && st != apiclient.TaskFailed {
			return false
		}
	}
	return true
}

func (t *tracker) backoff(polls int) time.Duration {
	d := t.cfg.FirstPoll
	for range polls {
		d *= 2
		if d >= t.cfg.MaxPollInterval {
			return t.cfg.MaxPollInterval
		}
	}
	return d
}

// finish publishes the end of a submission to its jobs and forgets it.
func (t *tracker) finish(ctx context.Context, s *Submission, timedOut bool) {
	counts := map[string]int{}
	for _, id := range s.TaskIDs {
		st := s.Status[id]
		if st != apiclient.TaskComplete && st != apiclient.TaskFailed {
			st = "Unfinished"
		}
		counts[st]++
	}
	for st, n := range counts {
		t.w.m.taskFinished(st, n)
	}
	t.w.m.submissionDone(time.Since(s.SubmittedAt))
	if timedOut {
		s.TimedOut = true
		s.Failures = append(s.Failures, jobs.Problem{Field: "submission " + s.ID,
			Reason: "tasks unfinished when the tracking deadline passed"})
	}
	for _, jobID := range s.Jobs {
		found, err := t.w.applyDone(ctx, jobID, s)
		if err != nil {
			t.log.Warn("update job record", slog.String("job", jobID), slog.String("error", err.Error()))
			continue
		}
		if found {
			continue
		}
		// The job is not acknowledged yet (it waits for its other paths).
		// Leave the outcome where the job looks when it is, then look once
		// more: one of the two sides sees the other's write.
		if err := t.w.d.Store.PutSubmissionDone(ctx, s); err != nil {
			t.log.Warn("store finished submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
		}
		if _, err := t.w.applyDone(ctx, jobID, s); err != nil {
			t.log.Warn("update job record", slog.String("job", jobID), slog.String("error", err.Error()))
		}
	}
	if err := t.w.d.Store.DeleteSubmission(ctx, s.ID); err != nil {
		t.log.Warn("forget submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
	}
	t.log.Debug("submission finished", slog.String("submission", s.ID), slog.Int("tasks", len(s.TaskIDs)),
		slog.Int("failures", len(s.Failures)), slog.Bool("timed_out", timedOut))
}

// applyDone folds a finished submission into the record of one of its jobs
// and publishes the job's final event if it was the last. It is idempotent:
// a submission no longer pending in the record changes nothing. found is
// false when the job has no record (yet).
func (w *Worker) applyDone(ctx context.Context, jobID string, s *Submission) (found bool, err error) {
	var final *JobRecord
	_, found, err = w.d.Store.UpdateJob(ctx, jobID, func(r *JobRecord) recordChange {
		if !slices.Contains(r.Pending, s.ID) {
			return recordUnchanged
		}
		r.Pending = slices.DeleteFunc(r.Pending, func(id string) bool { return id == s.ID })
		r.Failures = append(r.Failures, s.Failures...)
		r.Untracked = r.Untracked || s.TimedOut
		if len(r.Pending) == 0 {
			final = r
			return recordDone
		}
		return recordChanged
	})
	if final != nil {
		w.publishFinal(final)
	}
	return found, err
}

// publishFinal publishes the last event of a job whose tasks all ended.
func (w *Worker) publishFinal(r *JobRecord) {
	ev := jobs.StatusEvent{JobID: r.JobID, Time: w.now(), TaskIDs: r.TaskIDs}
	switch {
	case r.Untracked:
		ev.State = jobs.StateUntracked
		ev.Reason = "some tasks had not finished when the tracking deadline passed"
	case len(r.Failures) > 0:
		ev.State = jobs.StateFailed
		ev.Reason = r.Failures[0].Reason
	default:
		ev.State = jobs.StateComplete
	}
	ev.Problems = append(append([]jobs.Problem(nil), r.Rejected...), r.Failures...)
	if jobs.ValidToken(r.JobID) {
		w.publish(w.d.Subjects.Status(r.JobID), ev)
	}
	w.log.Info("job finished", slog.String("job", r.JobID), slog.String("state", string(ev.State)),
		slog.Int("tasks", len(r.TaskIDs)), slog.Int("failures", len(r.Failures)))
}
