package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// fakePublisher is a Publisher in memory with the contract of the real
// one: a key is bound to the content of its jobs (a repeat is stored once
// under the first request's job IDs, other content is an
// *queue.IdempotencyConflictError), a message ID is stored once, and the
// acks are those of the jobs in the order given. It never changes the
// caller's jobs.
type fakePublisher struct {
	mu     sync.Mutex
	jobs   []jobs.Job
	msgIDs map[string]bool
	keys   map[string]fakeClaim
	events []jobs.StatusEvent
}

type fakeClaim struct {
	content string
	ids     []string
	kinds   []jobs.Kind
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{msgIDs: map[string]bool{}, keys: map[string]fakeClaim{}}
}

// content is what a key is bound to: the jobs' kinds and sections.
func content(js []*jobs.Job) string {
	type c struct {
		Kind    jobs.Kind
		Refresh *jobs.RefreshSpec
		Push    *jobs.PushSpec
	}
	cs := make([]c, len(js))
	for i, j := range js {
		cs[i] = c{j.Kind, j.Refresh, j.Push}
	}
	b, _ := json.Marshal(cs)
	return string(b)
}

func (p *fakePublisher) PublishSet(_ context.Context, key string, js []*jobs.Job) ([]queue.Ack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, len(js))
	kinds := make([]jobs.Kind, len(js))
	for i, j := range js {
		ids[i], kinds[i] = j.ID, j.Kind
	}
	if key != "" {
		if prev, ok := p.keys[key]; ok {
			if prev.content != content(js) {
				return nil, &queue.IdempotencyConflictError{Key: key, JobIDs: prev.ids, Kinds: prev.kinds}
			}
			ids = prev.ids
		} else {
			p.keys[key] = fakeClaim{content: content(js), ids: ids, kinds: kinds}
		}
	}
	acks := make([]queue.Ack, 0, len(js))
	for i, j := range js {
		msgID := ids[i]
		if key != "" {
			msgID = key + ":" + strconv.Itoa(i)
		}
		if p.msgIDs[msgID] {
			acks = append(acks, queue.Ack{JobID: ids[i], Duplicate: true})
			continue
		}
		// Stored as the stream stores it: in the wire format.
		c := *j
		c.ID = ids[i]
		data, err := jobs.Encode(&c)
		if err != nil {
			return acks, fmt.Errorf("publish job %s: %w", c.ID, err)
		}
		stored, err := jobs.Decode(data)
		if err != nil {
			return acks, fmt.Errorf("publish job %s: %w", c.ID, err)
		}
		p.msgIDs[msgID] = true
		p.jobs = append(p.jobs, *stored)
		acks = append(acks, queue.Ack{JobID: ids[i], Sequence: uint64(len(p.jobs))})
	}
	return acks, nil
}

func (p *fakePublisher) Report(_ context.Context, ev jobs.StatusEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
	return nil
}

// stored returns the jobs stored, in order.
func (p *fakePublisher) stored() []jobs.Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]jobs.Job(nil), p.jobs...)
}

// lastEvent returns the last status event of job id.
func (p *fakePublisher) lastEvent(id string) (jobs.StatusEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.events) - 1; i >= 0; i-- {
		if p.events[i].JobID == id {
			return p.events[i], true
		}
	}
	return jobs.StatusEvent{}, false
}

// memReplay is a ReplayGuard in memory.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *memReplay) Remember(_ context.Context, key string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	if g.seen[key] {
		return false, nil
	}
	g.seen[key] = true
	return true, nil
}

func (g *memReplay) Forget(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.seen, key)
	return nil
}

// memOSSSeen is an OSSSeen in memory. A claim another delivery holds is
// Busy at once (KVOSSSeen waits a moment first).
type memOSSSeen struct {
	mu   sync.Mutex
	rev  uint64
	seen map[string]memSeen
}

type memSeen struct {
	rev  uint64
	done bool
	jobs []string
}

func (s *memOSSSeen) Claim(_ context.Context, key string) (OSSClaim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]memSeen{}
	}
	if e, ok := s.seen[key]; ok {
		if e.done {
			return OSSClaim{Jobs: e.jobs}, nil
		}
		return OSSClaim{Busy: true}, nil
	}
	s.rev++
	s.seen[key] = memSeen{rev: s.rev}
	return OSSClaim{Fresh: true, Rev: s.rev}, nil
}

func (s *memOSSSeen) Done(_ context.Context, key string, rev uint64, jobIDs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[key] = memSeen{rev: rev, done: true, jobs: jobIDs}
	return nil
}

func (s *memOSSSeen) Release(_ context.Context, key string, rev uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.seen[key]; ok && e.rev == rev && !e.done {
		delete(s.seen, key)
	}
	return nil
}
