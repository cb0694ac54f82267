package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// In-memory fakes of what the stages talk to, for stage tests that need
// neither NATS nor the emulator.

// fakeMsg is a message that records what was done to it.
type fakeMsg struct {
	subject string
	mu      sync.Mutex
	did     []string // "ack", "nak 30s", "term", "progress"
}

func (m *fakeMsg) record(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.did = append(m.did, s)
	return nil
}

func (m *fakeMsg) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.did)
}

func (m *fakeMsg) Data() []byte    { return nil }
func (m *fakeMsg) Subject() string { return m.subject }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (m *fakeMsg) Ack() error                         { return m.record("ack") }
func (m *fakeMsg) NakWithDelay(d time.Duration) error { return m.record("nak " + d.String()) }
func (m *fakeMsg) InProgress() error                  { return m.record("progress") }
func (m *fakeMsg) Term() error                        { return m.record("term") }

// fakeStatus records published status events.
type fakeStatus struct {
	mu     sync.Mutex
	events []jobs.StatusEvent
}

func (s *fakeStatus) PublishStatus(ev jobs.StatusEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

// fakeGate grants up to left units (all when left < 0) and records the
// commits and refunds.
type fakeGate struct {
	mu       sync.Mutex
	left     int64
	n        int
	commits  int64
	refunded int
}

func (g *fakeGate) Reserve(_ context.Context, kind quota.Kind, n int64) (quota.Reservation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	grant := n
	if g.left >= 0 {
		grant = min(n, g.left)
		g.left -= grant
	}
	g.n++
	return quota.Reservation{ID: fmt.Sprint(g.n), Kind: kind, Requested: n, Granted: grant,
		Expires: time.Now().Add(time.Hour)}, nil
}

func (g *fakeGate) Commit(_ context.Context, _ quota.Reservation, used int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.commits += used
	return nil
}

func (g *fakeGate) Refund(context.Context, quota.Reservation) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunded++
	return nil
}

func (g *fakeGate) Extend(context.Context, quota.Reservation, time.Duration) error { return nil }

// fakeAPI accepts a call unless one of its paths is in refuse, which
// makes it answer with that path's error; it counts the calls.
type fakeAPI struct {
	refuse map[string]error
	mu     sync.Mutex
	calls  [][]string
}

func (a *fakeAPI) answer(paths []string) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, slices.Clone(paths))
	for _, p := range paths {
		if err, ok := a.refuse[p]; ok {
			return nil, err
		}
		for host, err := range a.refuse {
			if strings.HasPrefix(host, "host:") && apiclient.PathDomain(p) == strings.TrimPrefix(host, "host:") {
				return nil, err
			}
		}
	}
	return []string{fmt.Sprintf("task-%d", len(a.calls))}, nil
}

func (a *fakeAPI) Refresh(_ context.Context, tg apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	ids, err := a.answer(r.Paths)
	return apiclient.RefreshResult{TaskIDs: ids, RequestID: "req"}, err
}

func (a *fakeAPI) Push(_ context.Context, tg apiclient.Target, r apiclient.PushRequest) (apiclient.PushResult, error) {
	ids, err := a.answer(r.Paths)
	return apiclient.PushResult{TaskIDs: ids, RequestID: "req"}, err
}

func (a *fakeAPI) DescribeTasksByID(context.Context, apiclient.Target, []string) (apiclient.TasksByID, error) {
	return apiclient.TasksByID{}, nil
}

// outcomeLog records what the submitter hands to the settle step.
type outcomeLog struct {
	mu  sync.Mutex
	got map[string]outcome // by path
}

func (l *outcomeLog) settleBatch(_ context.Context, b *batch, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got == nil {
		l.got = map[string]outcome{}
	}
	for _, p := range b.Paths() {
		l.got[p] = o
	}
}

func apiErr(status int, code string) error {
	return &apiclient.Error{Action: "RefreshObjectCaches", HTTPStatus: status, Code: code}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
