package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"encoding/json"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// Job states as `cdnpurge jobs` shows them. Queued, waiting (for quota),
// deferred (for another reason: a pause, an unreachable API) and in_flight
// (submitted, tasks followed) are not final.
const (
	ViewQueued    = "queued"
	ViewWaiting   = "waiting"
	ViewDeferred  = "deferred"
	ViewInFlight  = "in_flight"
	ViewComplete  = "complete"
	ViewFailed    = "failed"
	ViewRejected  = "rejected"
	ViewCancelled = "cancelled"
)

// ViewStates lists every state a JobView can have, in a slice of the
// caller's own.
func ViewStates() []string {
	return []string{ViewQueued, ViewWaiting, ViewDeferred, ViewInFlight, ViewComplete, ViewFailed, ViewRejected, ViewCancelled}
}

// StateCancelled is the status event `cdnpurge jobs cancel` publishes.
const StateCancelled jobs.State = "cancelled"

// JobView is one job as the operator sees it, put together from the work
// stream (jobs not yet acknowledged), the status stream (events), the
// control bucket (cancels) and the archive (failed and rejected jobs kept
// past the status stream's retention).
type JobView struct {
	ID     string    `json:"id"`
	Kind   jobs.Kind `json:"kind,omitempty"`
	Source string    `json:"source,omitempty"`
	// Priority is high, normal or low while the job is queued; "" is
	// normal.
	Priority jobs.Priority `json:"priority,omitempty"`
	State    string        `json:"state"`
	// Until is when the reason a waiting or deferred job waits for ends
	// (the quota reset, the domain's window, the pause's end); zero when
	// it has no known end.
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Paths are the job's paths when it is still queued, else what the
	// events name (submitted and refused paths).
	Paths   []string `json:"paths,omitempty"`
	NPaths  int      `json:"path_count"`
	TaskIDs []string `json:"task_ids,omitempty"`
	// TaskTargets names the product of each non-CDN task ("dcdn").
	TaskTargets map[string]string `json:"task_targets,omitempty"`
	Problems    []jobs.Problem    `json:"problems,omitempty"`
	Received    time.Time         `json:"received_at,omitzero"`
	Updated     time.Time         `json:"updated_at,omitzero"`
	// Events are the job's status events in order.
	Events []jobs.StatusEvent `json:"events,omitempty"`
	// Job is the queued message itself, when the job is not acknowledged.
	Job      *jobs.Job `json:"-"`
	Archived bool      `json:"archived,omitempty"`
	// Pages is how many pages of HistoryPageSize paths the job history
	// keeps (History.PathsPage); 0 or 1 when Paths holds them all.
	Pages int `json:"path_pages,omitempty"`
	// Finished is when a finished job reached its final state.
	Finished time.Time `json:"finished_at,omitzero"`
	// FromHistory is set when the job is known only from the job history
	// (its message and events are gone).
	FromHistory bool `json:"from_history,omitempty"`
	// RetryOf links a job re-queued by `cdnpurge jobs retry` to the old one.
	RetryOf string `json:"retry_of,omitempty"`
}

// Final reports whether the job is over.
func (v JobView) Final() bool {
	switch v.State {
	case ViewComplete, ViewFailed, ViewRejected, ViewCancelled:
		return true
	}
	return false
}

// Inspector reads the job state of every replica for `cdnpurge jobs`.
type Inspector struct {
	JS           jetstream.JetStream
	Stream       string // the work stream
	StatusStream string
	Subjects     jobs.Subjects
	Control      *Control
	Archive      *Archive // may be nil
	History      *History // may be nil
	// MaxScan bounds how many work stream messages are read (10,000 when
	// zero): a deep backlog is listed in part, and Truncated says so.
	MaxScan int
}

// Snapshot is every job seen since a time.
type Snapshot struct {
	Jobs      []JobView `json:"jobs"`
	Truncated bool      `json:"truncated,omitempty"`
	// HistoryError says why the job history could not be read, if so.
	HistoryError string `json:"history_error,omitempty"`
}

// Jobs returns the jobs with events or messages since since, newest first.
func (in *Inspector) Jobs(ctx context.Context, since time.Time) (Snapshot, error) {
	return in.jobs(ctx, since, true)
}

func (in *Inspector) jobs(ctx context.Context, since time.Time, withHistory bool) (Snapshot, error) {
	views := map[string]*JobView{}
	get := func(id string) *JobView {
		v := views[id]
		if v == nil {
			v = &JobView{ID: id}
			views[id] = v
		}
		return v
	}
	var snap Snapshot
	pending, truncated, err := in.pending(ctx)
	if err != nil {
		return snap, err
	}
	snap.Truncated = truncated
	for _, j := range pending {
		v := get(j.ID)
		v.Job, v.Kind, v.Source, v.Priority, v.Received = j, j.Kind, j.Source, j.Priority, j.ReceivedAt
		v.Paths = j.Paths()
		if j.Source != "" && strings.HasPrefix(j.Source, "retry:") {
			v.RetryOf = strings.TrimPrefix(j.Source, "retry:")
		}
	}
	if err := in.events(ctx, since, func(ev jobs.StatusEvent) {
		if ev.JobID == "" || ev.JobID == jobs.InvalidToken {
			return
		}
		v := get(ev.JobID)
		v.Events = append(v.Events, ev)
	}); err != nil {
		return snap, err
	}
	if in.Archive != nil {
		arch, err := in.Archive.All(ctx)
		if err != nil {
			return snap, err
		}
		for _, a := range arch {
			if v, ok := views[a.ID]; ok && len(v.Events) > 0 {
				v.Kind, v.Source = a.Kind, a.Source
				continue
			}
			a.Archived = true
			views[a.ID] = &a
		}
	}
	if in.History != nil && withHistory {
		// The history completes what the streams say; without it (a NATS
		// user not allowed to read it) the rest is still listed.
		recs, err := in.History.Since(ctx, in.JS, since)
		if err != nil {
			snap.HistoryError = err.Error()
		}
		for _, r := range recs {
			if v, ok := views[r.ID]; ok {
				mergeHistory(v, r)
				continue
			}
			hv := r.view()
			views[r.ID] = &hv
		}
	}
	cancels := map[string]Cancel{}
	if in.Control != nil {
		if cancels, err = in.Control.Cancels(ctx); err != nil {
			return snap, err
		}
	}
	for _, v := range views {
		if !v.Archived && !v.FromHistory {
			resolve(v, v.Job != nil)
		}
		if _, ok := cancels[v.ID]; ok && (!v.Final() || v.State == ViewRejected && cancelledEnd(v)) {
			v.State, v.Reason, v.Until = ViewCancelled, "cancelled by "+cancels[v.ID].By, time.Time{}
		}
		if v.NPaths == 0 {
			v.NPaths = len(v.Paths)
		}
		if v.Updated.Before(since) && v.Received.Before(since) && v.Job == nil {
			continue
		}
		snap.Jobs = append(snap.Jobs, *v)
	}
	sort.Slice(snap.Jobs, func(i, k int) bool {
		a, b := snap.Jobs[i], snap.Jobs[k]
		ta, tb := laterOf(a.Updated, a.Received), laterOf(b.Updated, b.Received)
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return a.ID < b.ID
	})
	return snap, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cancelledEnd reports whether a rejected job was rejected by its cancel.
func cancelledEnd(v *JobView) bool {
	for _, p := range v.Problems {
		if p.Reason != cancelReason {
			return false
		}
	}
	return len(v.Problems) > 0
}

// resolve sets the state of v from its events and whether its message is
// still in the work stream.
func resolve(v *JobView, queued bool) {
	v.State = ViewQueued
	for _, ev := range v.Events {
		v.Updated = ev.Time
		v.TaskIDs = appendNew(v.TaskIDs, ev.TaskIDs...)
		for id, p := range ev.TaskTargets {
			if v.TaskTargets == nil {
				v.TaskTargets = map[string]string{}
			}
			v.TaskTargets[id] = p
		}
		if !queued {
			for _, p := range ev.Paths {
				v.Paths = appendNew(v.Paths, p)
			}
			for _, p := range ev.Problems {
				v.Paths = appendNew(v.Paths, p.Path)
			}
		}
		switch ev.State {
		case jobs.StateAccepted:
		case jobs.StateDeferred:
			v.State, v.Until, v.Reason = ViewDeferred, ev.Until, ev.Reason
			if strings.Contains(ev.Reason, "quota") {
				v.State = ViewWaiting
			}
		case jobs.StateSubmitted:
			v.State, v.Until, v.Reason = ViewInFlight, time.Time{}, ev.Reason
			v.Problems = ev.Problems
		case jobs.StateComplete:
			v.State, v.Reason = ViewComplete, ev.Reason
		case jobs.StateFailed, jobs.StateUntracked:
			v.State, v.Reason, v.Problems = ViewFailed, ev.Reason, ev.Problems
		case jobs.StateRejected, jobs.StateInvalid:
			v.State, v.Reason, v.Problems = ViewRejected, ev.Reason, ev.Problems
		case StateCancelled:
			if !v.Final() {
				v.State, v.Reason, v.Until = ViewCancelled, ev.Reason, time.Time{}
			}
		}
	}
	if queued && v.State == ViewInFlight {
		// Submitted in part and handed back with the rest.
		v.State = ViewDeferred
	}
}

func appendNew(s []string, vs ...string) []string {
	for _, x := range vs {
		if x != "" && !slices.Contains(s, x) {
			s = append(s, x)
		}
	}
	return s
}

// Job returns one job, or false when no source knows it.
func (in *Inspector) Job(ctx context.Context, id string) (JobView, bool, error) {
	snap, err := in.jobs(ctx, time.Time{}, false)
	if err != nil {
		return JobView{}, false, err
	}
	var rec *HistoryRecord
	if in.History != nil {
		if r, ok, err := in.History.Get(ctx, id); err == nil && ok {
			rec = &r
		}
	}
	for _, v := range snap.Jobs {
		if v.ID == id {
			if rec != nil {
				mergeHistory(&v, *rec)
			}
			return v, true, nil
		}
	}
	if rec != nil {
		return rec.view(), true, nil
	}
	return JobView{}, false, nil
}

// mergeHistory completes v, put together from the streams, with what the
// job history keeps: what the job was once its message is gone.
func mergeHistory(v *JobView, r HistoryRecord) {
	if v.Kind == "" {
		v.Kind = r.Kind
	}
	if v.Source == "" {
		v.Source = r.Source
		if strings.HasPrefix(r.Source, "retry:") {
			v.RetryOf = strings.TrimPrefix(r.Source, "retry:")
		}
	}
	if v.Priority == "" {
		v.Priority = r.Priority
	}
	if v.Received.IsZero() {
		v.Received = r.Received
	}
	if v.Job == nil && r.NPaths > 0 {
		// The record's paths are the job's own, not only what events name.
		v.Paths, v.NPaths, v.Pages = r.Paths, r.NPaths, r.Pages
		for _, p := range v.Problems {
			if len(v.Paths) < r.NPaths {
				v.Paths = appendNew(v.Paths, p.Path)
			}
		}
	}
	v.TaskIDs = appendNew(v.TaskIDs, r.TaskIDs...)
	if v.Finished.IsZero() {
		v.Finished = r.Finished
	}
}

// pending reads the jobs still in the urgent and the work stream (not
// acknowledged). An urgent stream that does not exist yet (a deployment
// older than it) holds nothing.
func (in *Inspector) pending(ctx context.Context) ([]*jobs.Job, bool, error) {
	urgent, truncated, err := in.pendingIn(ctx, queue.UrgentStreamName(in.Stream))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		urgent, truncated, err = nil, false, nil
	}
	if err != nil || truncated {
		return urgent, truncated, err
	}
	work, truncated, err := in.pendingIn(ctx, in.Stream)
	return append(urgent, work...), truncated, err
}

// pendingIn reads the jobs still in stream.
func (in *Inspector) pendingIn(ctx context.Context, stream string) ([]*jobs.Job, bool, error) {
	st, err := in.JS.Stream(ctx, stream)
	if err != nil {
		return nil, false, fmt.Errorf("work stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("work stream %s: %w", stream, err)
	}
	limit := in.MaxScan
	if limit <= 0 {
		limit = 10000
	}
	var out []*jobs.Job
	s := info.State
	if s.Msgs == 0 {
		return nil, false, nil
	}
	n := 0
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		if n >= limit {
			return out, true, nil
		}
		n++
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("read work stream message %d: %w", seq, err)
		}
		j, err := jobs.Decode(m.Data)
		if err != nil || j.ID == "" {
			continue
		}
		out = append(out, j)
		if uint64(len(out)) >= s.Msgs {
			break
		}
	}
	return out, false, nil
}

// events calls fn with every status event since since, in order.
func (in *Inspector) events(ctx context.Context, since time.Time, fn func(jobs.StatusEvent)) error {
	st, err := in.JS.Stream(ctx, in.StatusStream)
	if err != nil {
		return fmt.Errorf("status stream %s: %w", in.StatusStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{in.Subjects.StatusAll()}}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read status stream: %w", err)
	}
	last := info.State.LastSeq
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read status stream: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var ev jobs.StatusEvent
			if json.Unmarshal(m.Data(), &ev) == nil {
				fn(ev)
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				return nil
			}
		}
		if got == 0 {
			return nil // caught up (no event since since)
		}
	}
}
