// Package jobstest gives tests of code around the job queue a real,
// embedded NATS server they can stop and restart, and assertions about
// what the queue holds and what status events say. It is for tests only.
package jobstest

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
)

// NATS is an embedded JetStream server on a free port with a temporary
// store. Stop and Restart keep the port and the store, so clients that
// reconnect find their streams again.
type NATS struct {
	tb       testing.TB
	URL      string
	Port     int
	StoreDir string
	Server   *server.Server

	opts embedded.Options
}

// RunNATS starts a server and stops it when the test ends.
func RunNATS(tb testing.TB) *NATS {
	tb.Helper()
	return RunNATSWith(tb, embedded.Options{})
}

// RunNATSWith is RunNATS with options such as the sync interval; its port
// and store directory are always a free one and a temporary one.
func RunNATSWith(tb testing.TB, opts embedded.Options) *NATS {
	tb.Helper()
	n := &NATS{tb: tb, StoreDir: tb.TempDir(), Port: embedded.RandomPort, opts: opts}
	n.start()
	n.Port = n.Server.Addr().(*net.TCPAddr).Port
	tb.Cleanup(n.Stop)
	return n
}

func (n *NATS) start() {
	n.tb.Helper()
	o := n.opts
	o.Port, o.StoreDir = n.Port, n.StoreDir
	srv, url, err := embedded.Run(o)
	if err != nil {
		n.tb.Fatalf("start embedded NATS: %v", err)
	}
	n.Server, n.URL = srv, url
}

// Stop shuts the server down, as an outage would.
func (n *NATS) Stop() {
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
		n.Server = nil
	}
}

// Restart starts the server again on the same port and store.
func (n *NATS) Restart() {
	n.tb.Helper()
	n.Stop()
	n.start()
}

// Connect returns a client connection that reconnects forever, closed when
// the test ends.
func (n *NATS) Connect() (*nats.Conn, jetstream.JetStream) {
	n.tb.Helper()
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		n.tb.Fatalf("connect to embedded NATS: %v", err)
	}
	n.tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		n.tb.Fatal(err)
	}
	return nc, js
}

// Eventually polls cond every 10ms until it holds, and fails the test when
// d passes first.
func Eventually(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			if cond() {
				return
			}
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// Await waits until cond holds, looking again whenever one of the
// channels the signal funcs return is closed (each is asked anew every
// round: the emulator's Answered, Statuses.Changed), and at least every
// 100 ms for state no signal covers (a stream's contents). It fails the
// test after d.
func Await(tb testing.TB, what string, d time.Duration, cond func() bool, signals ...func() <-chan struct{}) {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		cases := make([]reflect.SelectCase, 0, len(signals)+2)
		for _, sig := range signals {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sig())})
		}
		if cond() {
			return
		}
		fallback := time.NewTimer(100 * time.Millisecond)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(fallback.C)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline.C)})
		chosen, _, _ := reflect.Select(cases)
		fallback.Stop()
		if chosen == len(cases)-1 {
			if cond() {
				return
			}
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// StreamEmpty reports whether stream holds no message. With the work
// queue's retention a job leaves the stream when it is acked or terminated,
// so an empty work stream means every job was settled.
func StreamEmpty(ctx context.Context, js jetstream.JetStream, stream string) bool {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false
	}
	info, err := s.Info(ctx)
	return err == nil && info.State.Msgs == 0
}

// Statuses collects the status events published for every job.
type Statuses struct {
	mu      sync.Mutex
	evs     map[string][]jobs.StatusEvent
	changed chan struct{} // closed and replaced at every event
}

// Changed returns a channel closed when the next status event arrives.
func (s *Statuses) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WatchStatus subscribes to every status subject until the test ends.
func WatchStatus(tb testing.TB, nc *nats.Conn, subjects jobs.Subjects) *Statuses {
	tb.Helper()
	s := &Statuses{evs: map[string][]jobs.StatusEvent{}, changed: make(chan struct{})}
	sub, err := nc.Subscribe(subjects.StatusAll(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			s.mu.Lock()
			s.evs[ev.JobID] = append(s.evs[ev.JobID], ev)
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatalf("subscribe to status events: %v", err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return s
}

// States lists the states a job went through, in order.
func (s *Statuses) States(jobID string) []jobs.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jobs.State
	for _, ev := range s.evs[jobID] {
		out = append(out, ev.State)
	}
	return out
}

// All returns the events of a job in the order they came.
func (s *Statuses) All(jobID string) []jobs.StatusEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jobs.StatusEvent(nil), s.evs[jobID]...)
}

// Last returns the latest event of a job.
func (s *Statuses) Last(jobID string) (jobs.StatusEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.evs[jobID]
	if len(evs) == 0 {
		return jobs.StatusEvent{}, false
	}
	return evs[len(evs)-1], true
}

// Has reports whether a job passed through state.
func (s *Statuses) Has(jobID string, state jobs.State) bool {
	for _, st := range s.States(jobID) {
		if st == state {
			return true
		}
	}
	return false
}

// RunAuthNATS starts a JetStream server whose clients log in as one of
// users, with their permissions, and stops it when the test ends. It
// returns the server's URL.
func RunAuthNATS(tb testing.TB, users ...*server.User) string {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: tb.TempDir(), Users: users})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	tb.Cleanup(s.Shutdown)
	return s.ClientURL()
}
