package worker

import (
	"context"
	"errors"
	"fmt"
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

// TaskAPI is what following tasks needs of the API client: a target's
// task lookup by ID (DescribeRefreshTaskById, DescribeDcdnRefreshTaskById);
// *apiclient.Client satisfies it.
type TaskAPI interface {
	DescribeTasksByID(ctx context.Context, t apiclient.Target, ids []string) (apiclient.TasksByID, error)
}

// TaskResult is where one task ID stands.
type TaskResult struct {
	// Status is the task's status; a task ID that stands for many URLs
	// (a merged task) is Refreshing until all of them are final.
	Status string
	// Failures lists the failed paths of a Failed task.
	Failures []jobs.Problem
}

// Final reports whether the task ended.
func (r TaskResult) Final() bool { return apiclient.TaskFinal(r.Status) }

// PollTasks asks tt once for the status of each task of ids, at most
// tt.PerCall IDs per call, and folds the rows of each task into its result.
// It goes on past a failing call and returns what it learned with the
// failures joined; a task the API did not answer for is not in the map.
func PollTasks(ctx context.Context, tt TaskTarget, ids []string) (map[string]TaskResult, error) {
	perCall := tt.PerCall
	if perCall <= 0 {
		perCall = tt.Target.Caps.TaskIDs
	}
	rows := map[string][]apiclient.Task{}
	var errs []error
	for chunk := range slices.Chunk(ids, perCall) {
		res, err := tt.API.DescribeTasksByID(ctx, tt.Target, chunk)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe %d tasks: %w", len(chunk), err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		for _, t := range res.Tasks {
			rows[t.TaskID] = append(rows[t.TaskID], t)
		}
	}
	out := make(map[string]TaskResult, len(rows))
	for id, r := range rows {
		st, failures := TaskOutcome(r)
		out[id] = TaskResult{Status: st, Failures: failures}
	}
	return out, errors.Join(errs...)
}

// FollowTasks polls ids every interval until every task is final, a poll
// fails, or ctx ends; round, when set, is told after each poll how many
// tasks are final. `cdnpurge purge --direct --wait` follows its tasks with
// it; the service's Tracker uses the same PollTasks on stored submissions.
func FollowTasks(ctx context.Context, tt TaskTarget, ids []string, interval time.Duration, round func(final, total int)) (map[string]TaskResult, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	results := make(map[string]TaskResult, len(ids))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return results, ctx.Err()
		case <-t.C:
		}
		var open []string
		for _, id := range ids {
			if !results[id].Final() {
				open = append(open, id)
			}
		}
		got, err := PollTasks(ctx, tt, open)
		for id, r := range got {
			results[id] = r
		}
		if err != nil {
			return results, err
		}
		final := 0
		for _, id := range ids {
			if results[id].Final() {
				final++
			}
		}
		if round != nil {
			round(final, len(ids))
		}
		if final == len(ids) {
			return results, nil
		}
		t.Reset(interval)
	}
}

// TaskOutcome folds the rows one task ID answers with (one per URL of a
// merged task) into the task's status: Refreshing while any row is not
// final, else Failed when any row failed (with each failed path and its
// Description), else Complete.
func TaskOutcome(rows []apiclient.Task) (status string, failures []jobs.Problem) {
	status = apiclient.TaskComplete
	for _, r := range rows {
		switch {
		case r.Status == apiclient.TaskFailed:
			failures = append(failures, jobs.Problem{Path: r.ObjectPath, Reason: failReason(r)})
		case !r.Done():
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

// TaskTarget is one target's task follow-up: the API client, the target
// and how many task IDs one call may ask for (0: Target.Caps.TaskIDs).
type TaskTarget struct {
	API     TaskAPI
	Target  apiclient.Target
	PerCall int
}

// TaskTargetOf is how the tasks of product p are followed: with api, as
// many task IDs a call as the product's task action takes (an unknown
// product is followed as CDN).
func TaskTargetOf(p apiclient.Product, api TaskAPI) TaskTarget {
	t, err := apiclient.TargetOf(string(p))
	if err != nil {
		t = apiclient.CDN()
	}
	return TaskTarget{API: api, Target: t, PerCall: t.Caps.TaskIDs}
}

// TrackerDeps are what the tracker is wired to.
type TrackerDeps struct {
	Store *KVStore
	// Targets follows the tasks of each product; a submission of a product
	// without an entry waits (and is reported by the log).
	Targets map[apiclient.Product]TaskTarget
	// Status publishes each job's final event.
	Status  StatusPublisher
	Metrics *Metrics
	Logger  *slog.Logger
	// Name identifies this replica in leases.
	Name string
}

// StatusPublisher sends a job's status events.
type StatusPublisher interface {
	PublishStatus(ev jobs.StatusEvent)
}

// Tracker polls the task API of each stored submission's target until
// every task is Complete or Failed, then publishes the outcome of the
// submission's jobs. Replicas share the work through leases on the
// submissions (KVStore.claim).
type Tracker struct {
	cfg  TrackerConfig
	deps TrackerDeps
	log  *slog.Logger
}

// NewTracker returns a Tracker; cfg's zero fields take the defaults.
func NewTracker(cfg TrackerConfig, d TrackerDeps) (*Tracker, error) {
	if d.Store == nil {
		return nil, errors.New("tracker: no task store")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Name == "" {
		d.Name = jobs.NewID()
	}
	return &Tracker{cfg: cfg.WithDefaults(), deps: d, log: d.Logger.With(slog.String("part", "tracker"))}, nil
}

// Run follows submissions until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
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
func (t *Tracker) round(ctx context.Context) error {
	st := t.deps.Store
	ids, err := st.submissionIDs(ctx)
	if err != nil {
		return err
	}
	t.deps.Metrics.tracked(len(ids))
	now := time.Now()
	var subs []*submission
	for _, id := range ids {
		if len(subs) >= t.cfg.MaxPerRound {
			break
		}
		sub, ok, err := st.claim(ctx, id, t.deps.Name, now, t.cfg.Lease)
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
	open := map[apiclient.Product][]string{}
	for _, s := range subs {
		if s.Status == nil {
			s.Status = map[string]string{}
		}
		for _, id := range s.TaskIDs {
			if !apiclient.TaskFinal(s.Status[id]) {
				open[s.product()] = append(open[s.product()], id)
			}
		}
	}
	results := map[apiclient.Product]map[string]TaskResult{}
	for p, ids := range open {
		tt, ok := t.deps.Targets[p]
		if !ok || tt.API == nil {
			t.log.Warn("no task API for this product; its submissions wait", slog.String("product", string(p)), slog.Int("tasks", len(ids)))
			continue
		}
		got, err := PollTasks(ctx, tt, ids)
		if err != nil {
			// The tasks not answered are asked again after the lease.
			t.log.Warn("describe tasks", slog.String("product", string(p)), slog.Int("tasks", len(ids)), slog.String("error", err.Error()))
		}
		results[p] = got
	}
	now = time.Now()
	for _, s := range subs {
		s.fold(results[s.product()])
		s.Polls++
		s.Owner, s.LeaseUntil = "", time.Time{}
		switch {
		case s.finished():
			t.finish(ctx, s, false)
		case now.Sub(s.SubmittedAt) > t.cfg.Deadline:
			t.finish(ctx, s, true)
		default:
			s.NextPoll = now.Add(t.backoff(s.Polls))
			if err := st.putSubmission(ctx, s); err != nil {
				t.log.Warn("store submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
			}
		}
	}
	return nil
}

// fold records the polled results of s's tasks.
func (s *submission) fold(results map[string]TaskResult) {
	for _, id := range s.TaskIDs {
		r, ok := results[id]
		if !ok {
			continue
		}
		if r.Status == apiclient.TaskFailed {
			for _, f := range r.Failures {
				f.Field = "task " + id
				s.Failures = append(s.Failures, f)
			}
		}
		s.Status[id] = r.Status
	}
}

// finished reports whether every task of s is final.
func (s *submission) finished() bool {
	for _, id := range s.TaskIDs {
		if !apiclient.TaskFinal(s.Status[id]) {
			return false
		}
	}
	return true
}

func (t *Tracker) backoff(polls int) time.Duration {
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
func (t *Tracker) finish(ctx context.Context, s *submission, timedOut bool) {
	counts := map[string]int{}
	for _, id := range s.TaskIDs {
		st := s.Status[id]
		if !apiclient.TaskFinal(st) {
			st = "Unfinished"
		}
		counts[st]++
	}
	for st, n := range counts {
		t.deps.Metrics.taskFinished(st, s.product(), n)
	}
	t.deps.Metrics.submissionDone(time.Since(s.SubmittedAt))
	if timedOut {
		s.TimedOut = true
		s.Failures = append(s.Failures, jobs.Problem{Field: "submission " + s.ID,
			Reason: "tasks unfinished when the tracking deadline passed"})
	}
	for _, jobID := range s.Jobs {
		found, err := t.applyDone(ctx, jobID, s)
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
		if err := t.deps.Store.putSubmissionDone(ctx, s); err != nil {
			t.log.Warn("store finished submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
		}
		if _, err := t.applyDone(ctx, jobID, s); err != nil {
			t.log.Warn("update job record", slog.String("job", jobID), slog.String("error", err.Error()))
		}
	}
	if err := t.deps.Store.deleteSubmission(ctx, s.ID); err != nil {
		t.log.Warn("forget submission", slog.String("submission", s.ID), slog.String("error", err.Error()))
	}
	t.log.Debug("submission finished", slog.String("submission", s.ID), slog.Int("tasks", len(s.TaskIDs)),
		slog.Int("failures", len(s.Failures)), slog.Bool("timed_out", timedOut))
}

// collect applies the submissions of rec whose follow-up ended before rec
// was stored (the job took longer than its first tasks).
func (t *Tracker) collect(ctx context.Context, rec *jobRecord) {
	for _, id := range rec.Pending {
		sub, ok, err := t.deps.Store.getSubmissionDone(ctx, id)
		if err != nil || !ok {
			continue
		}
		if _, err := t.applyDone(ctx, rec.JobID, sub); err != nil {
			t.log.Warn("update job record", slog.String("job", rec.JobID), slog.String("error", err.Error()))
		}
	}
}

// applyDone folds a finished submission into the record of one of its jobs
// and publishes the job's final event if it was the last. It is idempotent:
// a submission no longer pending in the record changes nothing. found is
// false when the job has no record (yet).
func (t *Tracker) applyDone(ctx context.Context, jobID string, s *submission) (found bool, err error) {
	var final *jobRecord
	_, found, err = t.deps.Store.updateJob(ctx, jobID, func(r *jobRecord) recordChange {
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
		t.publishFinal(final)
	}
	return found, err
}

// publishFinal publishes the last event of a job whose tasks all ended.
func (t *Tracker) publishFinal(r *jobRecord) {
	ev := jobs.StatusEvent{JobID: r.JobID, TaskIDs: r.TaskIDs, TaskTargets: r.TaskTargets}
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
	if t.deps.Status != nil {
		t.deps.Status.PublishStatus(ev)
	}
	t.log.Info("job finished", slog.String("job", r.JobID), slog.String("state", string(ev.State)),
		slog.Int("tasks", len(r.TaskIDs)), slog.Int("failures", len(r.Failures)))
}
