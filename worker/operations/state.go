package operations

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// DefaultStateBucket is the JetStream key-value bucket that keeps each
// schedule's last tick and last run, shared by all replicas.
const DefaultStateBucket = "CDNPURGE_SCHEDULES"

// Results of a run, as State.LastResult.
const (
	ResultOK      = "ok"
	ResultSkipped = "skipped"
	ResultFailed  = "failed"
	ResultQueued  = "queued"
)

// State is what the replicas know of one schedule.
type State struct {
	// Schedule is the schedule's name.
	Schedule string `json:"schedule"`
	// Since is when a replica first saw the schedule; catch-up never runs
	// a tick from before it.
	Since time.Time `json:"since,omitzero"`
	// LastTick is the latest tick a replica published.
	LastTick time.Time `json:"last_tick,omitzero"`
	// LastJob is the job ID of LastTick.
	LastJob string `json:"last_job,omitempty"`
	// LastRun is when the last run of an operation finished.
	LastRun time.Time `json:"last_run,omitzero"`
	// LastRunTick is the tick that run stood for.
	LastRunTick time.Time `json:"last_run_tick,omitzero"`
	// LastResult is ok, skipped, failed or queued (refresh and push ticks,
	// which the worker batches like any other job).
	LastResult string `json:"last_result,omitempty"`
	// LastMessage says what happened, for example when a billing change
	// takes effect or why the run failed.
	LastMessage string `json:"last_message,omitempty"`
}

// StateStore keeps State per schedule, shared by the replicas.
type StateStore interface {
	// Load returns the state of schedule name and whether there is one.
	Load(ctx context.Context, name string) (State, bool, error)
	// Update reads the state of name (zero when none), lets fn change it,
	// and writes it unless fn returns false, retrying when another replica
	// wrote in between.
	Update(ctx context.Context, name string, fn func(*State) bool) error
	// List returns the state of every schedule, by name.
	List(ctx context.Context) (map[string]State, error)
}

// KVStateStore is a StateStore in a JetStream key-value bucket.
type KVStateStore struct {
	kv jetstream.KeyValue
}

// OpenKVStateStore creates or opens the bucket (DefaultStateBucket when
// bucket is "") with the given JetStream replica count.
func OpenKVStateStore(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*KVStateStore, error) {
	if bucket == "" {
		bucket = DefaultStateBucket
	}
	kv, err := kvjson.Open(ctx, js, bucket, "cdnpurge schedules: last tick and last run of each schedule", replicas, 0)
	if err != nil {
		return nil, fmt.Errorf("schedule state: %w (check that JetStream is enabled on the NATS server)", err)
	}
	return &KVStateStore{kv: kv}, nil
}

// Load implements StateStore.
func (s *KVStateStore) Load(ctx context.Context, name string) (State, bool, error) {
	st, _, ok, err := s.get(ctx, name)
	return st, ok, err
}

func (s *KVStateStore) get(ctx context.Context, name string) (State, uint64, bool, error) {
	var st State
	rev, found, err := kvjson.Get(ctx, s.kv, name, &st)
	switch {
	case errors.Is(err, kvjson.ErrDamaged):
		// A damaged record must not stop the schedule; start afresh.
		return State{Schedule: name}, rev, false, nil
	case err != nil:
		return State{}, 0, false, fmt.Errorf("read state of schedule %s: %w", name, err)
	}
	st.Schedule = name
	return st, rev, found, nil
}

// Update implements StateStore with compare-and-set on the key's revision;
// a lost race is retried, other failures are returned.
func (s *KVStateStore) Update(ctx context.Context, name string, fn func(*State) bool) error {
	_, _, err := kvjson.Update(ctx, s.kv, name, func(st *State, _ bool) kvjson.Change {
		st.Schedule = name
		if !fn(st) {
			return kvjson.Keep
		}
		return kvjson.Write
	})
	if err != nil {
		return fmt.Errorf("write state of schedule %s: %w", name, err)
	}
	return nil
}

// List implements StateStore.
func (s *KVStateStore) List(ctx context.Context) (map[string]State, error) {
	out := map[string]State{}
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list schedule states: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		st, ok, err := s.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = st
		}
	}
	return out, nil
}

// MemoryStateStore is a StateStore in memory, for one process and tests.
type MemoryStateStore struct {
	mu     sync.Mutex
	states map[string]State
}

// NewMemoryStateStore returns an empty MemoryStateStore.
func NewMemoryStateStore() *MemoryStateStore { return &MemoryStateStore{states: map[string]State{}} }

// Load implements StateStore.
func (s *MemoryStateStore) Load(_ context.Context, name string) (State, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[name]
	if !ok {
		st.Schedule = name
	}
	return st, ok, nil
}

// Update implements StateStore.
func (s *MemoryStateStore) Update(_ context.Context, name string, fn func(*State) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[name]
	if !ok {
		st.Schedule = name
	}
	if fn(&st) {
		s.states[name] = st
	}
	return nil
}

// List implements StateStore.
func (s *MemoryStateStore) List(context.Context) (map[string]State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]State, len(s.states))
	for k, v := range s.states {
		out[k] = v
	}
	return out, nil
}

// BindKVStateStore opens the existing state bucket without changing it
// (see kvjson.Bind), for readers such as `cdnpurge schedules`.
func BindKVStateStore(ctx context.Context, js jetstream.JetStream, bucket string) (*KVStateStore, error) {
	if bucket == "" {
		bucket = DefaultStateBucket
	}
	kv, err := kvjson.Bind(ctx, js, bucket)
	if err != nil {
		return nil, fmt.Errorf("schedule state: %w", err)
	}
	return &KVStateStore{kv: kv}, nil
}
