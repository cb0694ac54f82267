package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/worker"
)

type fakePaused struct {
	mu     sync.Mutex
	on     bool
	reason string
}

func (f *fakePaused) Paused() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on, f.reason
}

func (f *fakePaused) set(on bool, reason string) {
	f.mu.Lock()
	f.on, f.reason = on, reason
	f.mu.Unlock()
}

// A replica's automatic pause (a financial lock) shows in the shared
// control bucket while it holds and goes when it ends.
func TestAutomaticPauseIsReported(t *testing.T) {
	t.Parallel()
	n := jobstest.RunNATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctl, err := worker.OpenControl(t.Context(), js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	c := &control{ctl: ctl}
	w := &fakePaused{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.reportEvery(w, "replica-a", slog.New(slog.DiscardHandler), 10*time.Millisecond)(ctx) }()
	defer func() { cancel(); <-done }()
	w.set(true, "financial lock (overdue payment)")
	jobstest.Eventually(t, "the automatic pause in the bucket", 10*time.Second, func() bool {
		ps, err := ctl.Pauses(t.Context(), time.Now())
		return err == nil && len(ps) == 1 && ps[0].Automatic && ps[0].By == "replica:replica-a" && ps[0].Reason == "financial lock (overdue payment)"
	})
	w.set(false, "")
	jobstest.Eventually(t, "the automatic pause gone", 10*time.Second, func() bool {
		ps, err := ctl.Pauses(t.Context(), time.Now())
		return err == nil && len(ps) == 0
	})
}
