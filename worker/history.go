package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// DefaultHistoryBucket keeps the record of every job (kind, source,
// priority, paths, tasks, times) after its message left the work stream
// and after the status stream forgot its events.
const DefaultHistoryBucket = "CDNPURGE_HISTORY"

// DefaultHistoryMaxBytes bounds the history bucket: when it is full the
// oldest records go first.
const DefaultHistoryMaxBytes = 1 << 30

// HistoryPageSize is how many paths one page of a job's record holds; a
// job's first page is in its record, the others under their own keys.
const HistoryPageSize = 500

// historyQueue bounds the records waiting to be written; beyond it a record
// is dropped (counted and logged) rather than slowing intake down.
const historyQueue = 4096

// JobRecorder is what the worker tells when it takes a job for the first
// time; *History implements it. Record must not block.
type JobRecorder interface {
	Record(j *jobs.Job)
}

// HistoryRecord is what the history keeps of one job.
type HistoryRecord struct {
	ID       string        `json:"id"`
	Kind     jobs.Kind     `json:"kind,omitempty"`
	Source   string        `json:"source,omitempty"`
	Priority jobs.Priority `json:"priority,omitempty"`
	Received time.Time     `json:"received_at,omitzero"`
	// NPaths is the job's number of paths; Paths its first page, Pages
	// the number of pages (PathsPage reads the others).
	NPaths      int               `json:"path_count"`
	Paths       []string          `json:"paths,omitempty"`
	Pages       int               `json:"pages,omitempty"`
	State       string            `json:"state,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	TaskIDs     []string          `json:"task_ids,omitempty"`
	TaskTargets map[string]string `json:"task_targets,omitempty"`
	Problems    []jobs.Problem    `json:"problems,omitempty"`
	Updated     time.Time         `json:"updated_at,omitzero"`
	Finished    time.Time         `json:"finished_at,omitzero"`
}

// History is the job history bucket, shared by the replicas: the worker
// records each job when it takes it (Record, written by Run), and the
// archiver applies each status event (Apply).
type History struct {
	kv     jetstream.KeyValue
	log    *slog.Logger
	queue  chan *jobs.Job
	lost   atomic.Int64
	stream string
	bucket string
}

// OpenHistory creates or opens the history bucket: records expire after
// retention and the bucket holds at most maxBytes (DefaultHistoryMaxBytes
// when 0), dropping its oldest records first.
func OpenHistory(ctx context.Context, js jetstream.JetStream, bucket string, retention time.Duration, maxBytes int64, replicas int, log *slog.Logger) (*History, error) {
	if bucket == "" {
		bucket = DefaultHistoryBucket
	}
	if retention <= 0 {
		retention = DefaultArchiveRetention
	}
	if maxBytes <= 0 {
		maxBytes = DefaultHistoryMaxBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "cdnpurge job history: kind, source, priority, paths, tasks and times of every job",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		TTL:         retention,
		MaxBytes:    maxBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s: %w", bucket, err)
	}
	// A key-value bucket refuses new writes when full; the history should
	// rather forget its oldest jobs.
	stream := "KV_" + bucket
	if st, err := js.Stream(ctx, stream); err == nil {
		if info, err := st.Info(ctx); err == nil && info.Config.Discard != jetstream.DiscardOld {
			cfg := info.Config
			cfg.Discard = jetstream.DiscardOld
			if _, err := js.UpdateStream(ctx, cfg); err != nil {
				return nil, fmt.Errorf("history bucket %s: let it drop its oldest records when full: %w", bucket, err)
			}
		}
	}
	return &History{kv: kv, log: log, queue: make(chan *jobs.Job, historyQueue), stream: stream, bucket: bucket}, nil
}

// LookupHistory opens the history bucket a serve created, without
// creating or changing it (for the CLI); found is false when there is none.
func LookupHistory(ctx context.Context, js jetstream.JetStream, bucket string) (h *History, found bool, err error) {
	if bucket == "" {
		bucket = DefaultHistoryBucket
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open key-value bucket %s: %w", bucket, err)
	}
	return &History{kv: kv, log: slog.New(slog.DiscardHandler), queue: make(chan *jobs.Job, 1), stream: "KV_" + bucket, bucket: bucket}, true, nil
}

func historyKey(id string) string { return "job." + keyID(id) }

func historyPageKey(id string, page int) string {
	return "paths." + keyID(id) + "." + strconv.Itoa(page)
}

// Record queues j's record for Run to write; it never blocks. A full
// queue drops the record (Lost counts them).
func (h *History) Record(j *jobs.Job) {
	select {
	case h.queue <- j:
	default:
		if h.lost.Add(1) == 1 {
			h.log.Warn("job history: records dropped, the history bucket is not keeping up", slog.String("job", j.ID))
		}
	}
}

// Lost is how many records Record dropped.
func (h *History) Lost() int64 { return h.lost.Load() }

// Run writes the records Record queued until ctx ends.
func (h *History) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-h.queue:
			if err := h.Write(ctx, j); err != nil && ctx.Err() == nil {
				h.log.Warn("job history: record job", slog.String("job", j.ID), slog.String("error", err.Error()))
			}
		}
	}
}

// Write stores j's record now: what the job is and its paths, page by
// page. It keeps what events already recorded.
func (h *History) Write(ctx context.Context, j *jobs.Job) error {
	paths := j.Paths()
	pages := (len(paths) + HistoryPageSize - 1) / HistoryPageSize
	for p := 2; p <= pages; p++ {
		page := paths[(p-1)*HistoryPageSize : min(p*HistoryPageSize, len(paths))]
		if _, err := kvjson.Put(ctx, h.kv, historyPageKey(j.ID, p), page); err != nil {
			return err
		}
	}
	first := paths[:min(HistoryPageSize, len(paths))]
	_, _, err := kvjson.Update(ctx, h.kv, historyKey(j.ID), func(r *HistoryRecord, found bool) kvjson.Change {
		r.ID, r.Kind, r.Source, r.Priority, r.Received = j.ID, j.Kind, j.Source, j.Priority, j.ReceivedAt
		r.NPaths, r.Paths, r.Pages = len(paths), first, max(pages, 1)
		if r.State == "" {
			r.State = ViewQueued
		}
		if r.Updated.IsZero() {
			r.Updated = j.ReceivedAt
		}
		return kvjson.Write
	})
	return err
}

// Apply records what a status event says of its job: its state, tasks,
// refused paths and times.
func (h *History) Apply(ctx context.Context, ev jobs.StatusEvent) error {
	if ev.JobID == "" || ev.JobID == jobs.InvalidToken {
		return nil
	}
	_, _, err := kvjson.Update(ctx, h.kv, historyKey(ev.JobID), func(r *HistoryRecord, found bool) kvjson.Change {
		r.ID = ev.JobID
		applyEvent(r, ev)
		return kvjson.Write
	})
	return err
}

// applyEvent moves r by ev, as resolve does for a JobView.
func applyEvent(r *HistoryRecord, ev jobs.StatusEvent) {
	if ev.Time.After(r.Updated) {
		r.Updated = ev.Time
	}
	r.TaskIDs = appendNew(r.TaskIDs, ev.TaskIDs...)
	if len(ev.TaskTargets) > 0 {
		if r.TaskTargets == nil {
			r.TaskTargets = map[string]string{}
		}
		maps.Copy(r.TaskTargets, ev.TaskTargets)
	}
	if len(ev.Problems) > 0 {
		r.Problems = ev.Problems
	}
	final := func(state string) {
		r.State, r.Reason, r.Finished = state, ev.Reason, ev.Time
	}
	switch ev.State {
	case jobs.StateAccepted:
		if r.State == "" {
			r.State = ViewQueued
		}
	case jobs.StateDeferred:
		if !historyFinal(r.State) {
			r.State, r.Reason = ViewDeferred, ev.Reason
		}
	case jobs.StateSubmitted:
		if !historyFinal(r.State) {
			r.State, r.Reason = ViewInFlight, ev.Reason
		}
	case jobs.StateComplete:
		final(ViewComplete)
	case jobs.StateFailed, jobs.StateUntracked:
		final(ViewFailed)
	case jobs.StateRejected, jobs.StateInvalid:
		final(ViewRejected)
	case StateCancelled:
		if !historyFinal(r.State) {
			final(ViewCancelled)
		}
	}
	if len(r.Paths) == 0 {
		// A job recorded only through its events (its record was lost):
		// keep the paths they name.
		for _, p := range ev.Paths {
			if len(r.Paths) < HistoryPageSize {
				r.Paths = appendNew(r.Paths, p)
			}
		}
		for _, p := range ev.Problems {
			if len(r.Paths) < HistoryPageSize {
				r.Paths = appendNew(r.Paths, p.Path)
			}
		}
		r.NPaths = max(r.NPaths, len(r.Paths))
	}
}

func historyFinal(state string) bool {
	switch state {
	case ViewComplete, ViewFailed, ViewRejected, ViewCancelled:
		return true
	}
	return false
}

// Get returns the record of job id.
func (h *History) Get(ctx context.Context, id string) (HistoryRecord, bool, error) {
	var r HistoryRecord
	_, found, err := kvjson.Get(ctx, h.kv, historyKey(id), &r)
	if errors.Is(err, kvjson.ErrDamaged) {
		return r, false, nil
	}
	return r, found, err
}

// PathsPage returns page (1-based) of job id's paths; nil past the last.
func (h *History) PathsPage(ctx context.Context, id string, page int) ([]string, error) {
	if page <= 1 {
		r, ok, err := h.Get(ctx, id)
		if err != nil || !ok {
			return nil, err
		}
		return r.Paths, nil
	}
	var paths []string
	_, _, err := kvjson.Get(ctx, h.kv, historyPageKey(id, page), &paths)
	return paths, err
}

// Since returns the records written or changed since since (all when
// zero), reading the bucket's stream from that time rather than every key.
func (h *History) Since(ctx context.Context, js jetstream.JetStream, since time.Time) ([]HistoryRecord, error) {
	st, err := js.Stream(ctx, h.stream)
	if err != nil {
		return nil, fmt.Errorf("history bucket %s: %w", h.bucket, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("history bucket %s: %w", h.bucket, err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"$KV." + h.bucket + ".job.>"}}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read history bucket %s: %w", h.bucket, err)
	}
	byID := map[string]HistoryRecord{}
	var order []string
	last := info.State.LastSeq
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read history bucket %s: %w", h.bucket, err)
		}
		got := 0
		done := false
		for m := range batch.Messages() {
			got++
			var r HistoryRecord
			if len(m.Data()) > 0 && json.Unmarshal(m.Data(), &r) == nil && r.ID != "" {
				if _, seen := byID[r.ID]; !seen {
					order = append(order, r.ID)
				}
				byID[r.ID] = r
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				done = true
			}
		}
		if done || got == 0 {
			break
		}
	}
	out := make([]HistoryRecord, 0, len(order))
	for _, id := range order {
		out = append(out, byID[id])
	}
	return out, nil
}

// view is r as the operator sees a finished job.
func (r HistoryRecord) view() JobView {
	return JobView{ID: r.ID, Kind: r.Kind, Source: r.Source, Priority: r.Priority, State: r.State, Reason: r.Reason,
		Paths: r.Paths, NPaths: r.NPaths, Pages: r.Pages, TaskIDs: r.TaskIDs, TaskTargets: r.TaskTargets,
		Problems: r.Problems, Received: r.Received, Updated: r.Updated, Finished: r.Finished, FromHistory: true}
}
