package worker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// The submitter with fakes of the gate, the API and the settle step: each
// rule of what a call's answer does to a batch's paths, without NATS.
func TestSubmitterSteersEachAnswer(t *testing.T) {
	t.Parallel()
	bad := "http://a.example.com/bad"
	for _, tc := range []struct {
		name   string
		paths  []string
		refuse map[string]error
		quota  int64 // -1: unlimited
		want   map[string]outcomeKind
		calls  int
	}{
		{"accepted in one call", []string{"http://a.example.com/1", "http://a.example.com/2"}, nil, -1,
			map[string]outcomeKind{"http://a.example.com/1": accepted, "http://a.example.com/2": accepted}, 1},
		{"a refused path is found by halving; the rest lands",
			[]string{"http://a.example.com/1", bad, "http://a.example.com/3", "http://a.example.com/4"},
			map[string]error{bad: apiErr(400, "InvalidObjectPath.Malformed")}, -1,
			map[string]outcomeKind{"http://a.example.com/1": accepted, bad: rejected, "http://a.example.com/3": accepted, "http://a.example.com/4": accepted}, 5},
		{"an unknown domain is split off and rejected; the other domain lands",
			[]string{"http://a.example.com/1", "http://gone.example.com/1"},
			map[string]error{"host:gone.example.com": apiErr(404, "InvalidDomain.NotFound")}, -1,
			map[string]outcomeKind{"http://a.example.com/1": accepted, "http://gone.example.com/1": rejected}, 3},
		{"the API down: handed back", []string{"http://a.example.com/1"},
			map[string]error{"http://a.example.com/1": apiErr(500, "InternalError")}, -1,
			map[string]outcomeKind{"http://a.example.com/1": deferred}, 1},
		{"part of the quota: the granted part goes, the rest is handed back", []string{"http://a.example.com/1", "http://a.example.com/2"}, nil, 1,
			map[string]outcomeKind{"http://a.example.com/1": accepted, "http://a.example.com/2": deferred}, 1},
		{"no quota: handed back without a call", []string{"http://a.example.com/1"}, nil, 0,
			map[string]outcomeKind{"http://a.example.com/1": deferred}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{}.WithDefaults()
			api := &fakeAPI{refuse: tc.refuse}
			gate := &fakeGate{left: tc.quota}
			out := &outcomeLog{}
			targets, err := newTargets(map[apiclient.Product]TargetDeps{apiclient.ProductCDN: {API: api, Gate: gate}})
			if err != nil {
				t.Fatal(err)
			}
			s := newSubmitter(submitterParams{cfg: cfg, targets: targets, ledger: newLedger(cfg.AckWait, nil, nil),
				now: time.Now, log: quietLog(), stop: make(chan struct{}), holdFor: 0, out: out})
			k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}
			b := newBatch(k, time.Now())
			for _, p := range tc.paths {
				b.add(&entry{path: p, domain: apiclient.PathDomain(p), added: time.Now()})
			}
			s.submit(context.Background(), b)
			for p, want := range tc.want {
				got, ok := out.got[p]
				if !ok || got.kind != want {
					t.Errorf("%s: outcome %v (settled %v), want %v", p, got.kind, ok, want)
				}
			}
			if len(out.got) != len(tc.want) {
				t.Errorf("settled %d paths, want %d", len(out.got), len(tc.want))
			}
			if len(api.calls) != tc.calls {
				t.Errorf("API calls %d, want %d: %v", len(api.calls), tc.calls, api.calls)
			}
			var nAccepted int64
			for _, o := range out.got {
				if o.kind == accepted {
					nAccepted++
				}
			}
			if gate.commits != nAccepted {
				t.Errorf("quota committed %d, want %d (one unit per accepted path)", gate.commits, nAccepted)
			}
		})
	}
}

// The batcher stage between two channels: what intake sends comes out
// as batches, a path asked for twice joins the first entry, and closing
// its input flushes every open batch.
func TestBatcherStage(t *testing.T) {
	t.Parallel()
	in := make(chan work)
	queue := newBatchQueue()
	l := newLedger(time.Minute, nil, nil)
	bt := newBatcher(batcherParams{linger: time.Hour, limits: Limits{}.WithDefaults(), ledger: l, in: in, out: queue})
	done := make(chan struct{})
	go func() { defer close(done); bt.run() }()
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}
	t1, t2 := &takenJob{job: &jobs.Job{ID: "1"}}, &takenJob{job: &jobs.Job{ID: "2"}}
	var paths []string
	for i := range 1001 {
		paths = append(paths, fmt.Sprintf("http://a.example.com/%d", i))
	}
	in <- work{t: t1, key: k, paths: paths}
	in <- work{t: t2, key: k, paths: paths[1000:]} // pending in the open batch: joins it
	close(in)
	<-done
	var sizes []int
	var joined bool
	for {
		b, ok := queue.pop()
		if !ok {
			break
		}
		sizes = append(sizes, b.Len())
		for _, e := range b.entries {
			joined = joined || len(e.jobs) == 2
		}
	}
	if len(sizes) != 2 || sizes[0]+sizes[1] != 1001 || max(sizes[0], sizes[1]) != 1000 {
		t.Errorf("batches of %v, want one full batch of 1000 and the rest of 1001 paths", sizes)
	}
	if !joined {
		t.Error("the path job 2 asked for again did not join job 1's entry")
	}
}

// claimHook is a claimer of one replica alone (nothing is covered) that
// runs during calls its hook, as if the Redis round trip took that long.
type claimHook struct {
	during func()
}

func (c *claimHook) Claim(_ context.Context, _ string, paths []string, _ []time.Time, _ time.Time, _ string) ([]Cover, error) {
	c.during()
	return make([]Cover, len(paths)), nil
}
func (c *claimHook) Unclaim(context.Context, string, []string, time.Time, string) error { return nil }
func (c *claimHook) Covering(_ context.Context, _ string, paths []string) ([]Cover, error) {
	return make([]Cover, len(paths)), nil
}
func (c *claimHook) RememberTasks(context.Context, string, []string, time.Time, []string) error {
	return nil
}

// A copy asked for before a call is sent that reaches the batcher while
// the call's paths are being claimed joins the call: the path is always in
// the batched index or in flight, never in neither (the copy then made an
// entry of its own and was paid again).
func TestSubmitterCopyArrivingDuringTheClaimJoinsTheCall(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	api := &fakeAPI{}
	targets, err := newTargets(map[apiclient.Product]TargetDeps{apiclient.ProductCDN: {API: api, Gate: &fakeGate{left: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	ledger := newLedger(cfg.AckWait, nil, nil)
	k := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}
	const path = "http://a.example.com/1"
	asked := time.Now().Add(-time.Minute)
	orig := &takenJob{job: &jobs.Job{ID: "orig"}, asked: asked}
	cp := &takenJob{job: &jobs.Job{ID: "copy"}, asked: asked}
	var got joined
	hook := &claimHook{during: func() { got = ledger.join(k, path, cp) }}
	out := &outcomeLog{}
	s := newSubmitter(submitterParams{cfg: cfg, targets: targets, ledger: ledger, now: time.Now, log: quietLog(),
		stop: make(chan struct{}), out: out, claims: hook, owner: "w1"})
	b := newBatch(k, time.Now())
	e := &entry{path: path, domain: "a.example.com", added: time.Now(), jobs: []*takenJob{orig}}
	b.add(e)
	ledger.batchedEntry(k, e)
	s.submit(context.Background(), b)
	if got != joinedEntry {
		t.Fatalf("the copy's join during the claim: %v, want joinedEntry (%v): it would be sent again", got, joinedEntry)
	}
	if len(api.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(api.calls))
	}
	if !slices.Contains(e.jobs, cp) {
		t.Fatalf("the copy's job is not settled with the call: entry jobs %v", e.jobs)
	}
}
