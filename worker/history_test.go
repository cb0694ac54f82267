package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// A finished job keeps its record in the job history: kind, source,
// priority, every path (paged), its tasks and times, shared through the
// bucket; the inspector reads it once the message is gone.
func TestHistoryKeepsFinishedJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	hist, err := OpenHistory(h.ctx, h.js, "", time.Hour, 0, 1, h.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	arch, err := OpenArchive(h.ctx, h.js, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	ar := &Archiver{JS: h.js, StatusStream: queue.DefaultStatusStreamName, Subjects: h.subjects, Archive: arch, History: hist}
	done := make(chan struct{}, 2)
	go func() { _ = ar.Run(ctx); done <- struct{}{} }()
	go func() { _ = hist.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()
	h.history = hist
	// Bounded: at most DefaultHistoryMaxBytes, the oldest records dropped
	// first when full, each record kept for its retention.
	st, err := h.js.Stream(h.ctx, "KV_"+DefaultHistoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(h.ctx); err != nil || info.Config.MaxBytes != DefaultHistoryMaxBytes ||
		info.Config.Discard != jetstream.DiscardOld || info.Config.MaxAge != time.Hour {
		t.Fatalf("history stream config = %+v (%v)", info.Config, err)
	}
	events := h.watchStatus()
	h.runWorker(fastConfig(), "w1")

	paths := urls("static.example.com", 0, HistoryPageSize+20)
	j := refreshJob(paths...)
	j.Priority = jobs.PriorityHigh
	id := h.publish(j)
	h.waitFor("the job complete", time.Minute, func() bool { return events.Has(id, jobs.StateComplete) })

	var rec HistoryRecord
	h.waitFor("the history to record the job complete", time.Minute, func() bool {
		r, ok, err := hist.Get(h.ctx, id)
		rec = r
		return err == nil && ok && r.State == ViewComplete && r.Kind != ""
	})
	if rec.Kind != jobs.KindRefresh || rec.Source != "test" || rec.Priority != jobs.PriorityHigh || rec.NPaths != len(paths) ||
		rec.Pages != 2 || len(rec.Paths) != HistoryPageSize || len(rec.TaskIDs) == 0 || rec.Finished.IsZero() || rec.Received.IsZero() {
		t.Fatalf("record = kind %q source %q priority %q paths %d/%d pages %d tasks %v finished %v",
			rec.Kind, rec.Source, rec.Priority, len(rec.Paths), rec.NPaths, rec.Pages, rec.TaskIDs, rec.Finished)
	}
	page2, err := hist.PathsPage(h.ctx, id, 2)
	if err != nil || len(page2) != 20 || page2[19] != paths[len(paths)-1] {
		t.Fatalf("page 2 = %d paths, err %v", len(page2), err)
	}

	in := &Inspector{JS: h.js, Stream: queue.DefaultStreamName, StatusStream: queue.DefaultStatusStreamName, Subjects: h.subjects, History: hist}
	for name, get := range map[string]func() (JobView, error){
		"Jobs": func() (JobView, error) {
			snap, err := in.Jobs(h.ctx, time.Time{})
			for _, v := range snap.Jobs {
				if v.ID == id {
					return v, err
				}
			}
			return JobView{}, fmt.Errorf("job %s not listed (%v)", id, err)
		},
		"Job": func() (JobView, error) {
			v, ok, err := in.Job(h.ctx, id)
			if !ok {
				return v, fmt.Errorf("job %s not found (%v)", id, err)
			}
			return v, err
		},
	} {
		v, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if v.State != ViewComplete || v.Kind != jobs.KindRefresh || v.Priority != jobs.PriorityHigh || v.Source != "test" ||
			v.NPaths != len(paths) || len(v.Paths) != HistoryPageSize || v.Pages != 2 || len(v.TaskIDs) == 0 {
			t.Errorf("%s: view = state %s kind %q priority %q source %q paths %d/%d pages %d tasks %v",
				name, v.State, v.Kind, v.Priority, v.Source, len(v.Paths), v.NPaths, v.Pages, v.TaskIDs)
		}
	}
}

// Events alone move a record, in any order with its writing, and a final
// state is never undone by a later event.
func TestHistoryApplyOrder(t *testing.T) {
	t.Parallel()
	r := &HistoryRecord{}
	now := time.Now()
	applyEvent(r, jobs.StatusEvent{JobID: "j", State: jobs.StateSubmitted, TaskIDs: []string{"1"}, Time: now})
	applyEvent(r, jobs.StatusEvent{JobID: "j", State: jobs.StateFailed, Reason: "task failed", Time: now.Add(time.Second),
		Problems: []jobs.Problem{{Path: "https://a.example.com/x", Reason: "failed"}}})
	applyEvent(r, jobs.StatusEvent{JobID: "j", State: StateCancelled, Time: now.Add(2 * time.Second)})
	applyEvent(r, jobs.StatusEvent{JobID: "j", State: jobs.StateDeferred, Time: now.Add(3 * time.Second)})
	if r.State != ViewFailed || r.Reason != "task failed" || !r.Finished.Equal(now.Add(time.Second)) || len(r.TaskIDs) != 1 ||
		len(r.Paths) != 1 || r.NPaths != 1 {
		t.Fatalf("record = %+v", r)
	}
}

// The archiver writes one serve log line per operator action it sees on
// the status stream, naming the action, the job or pause, reason and who.
func TestArchiverLogsOperatorActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	arch, err := OpenArchive(h.ctx, h.js, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	ctx, cancel := context.WithCancel(h.ctx)
	ar := &Archiver{JS: h.js, StatusStream: queue.DefaultStatusStreamName, Subjects: h.subjects, Archive: arch,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	done := make(chan struct{})
	go func() { _ = ar.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h.waitFor("the archive consumer", time.Minute, func() bool {
		_, err := h.js.Consumer(h.ctx, queue.DefaultStatusStreamName, archiveConsumer)
		return err == nil
	})
	for _, ev := range []jobs.StatusEvent{
		ActionEvent(ActionPause, "", "incident 9", "operator:ann@host1", time.Time{}),
		ActionEvent(ActionCancel, "job1", "cancelled by operator:ann@host1: wrong file", "operator:ann@host1", time.Time{}),
	} {
		b, _ := json.Marshal(ev)
		if _, err := h.js.Publish(h.ctx, AuditSubject(h.subjects, ev), b); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFor("two action log lines", time.Minute, func() bool { return strings.Count(logs.String(), "operator action") == 2 })
	out := logs.String()
	for _, want := range []string{`action=pause by=operator:ann@host1 reason="incident 9" pause="all submissions"`,
		`action=cancel by=operator:ann@host1 reason="cancelled by operator:ann@host1: wrong file" job=job1`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// syncLog is a log sink safe for concurrent writers.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
