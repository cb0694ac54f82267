package operations

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// countingPublisher counts publishes and the ones the stream dropped as
// duplicates.
type countingPublisher struct {
	Publisher
	published, duplicates atomic.Int64
}

func (c *countingPublisher) PublishTick(ctx context.Context, name string, tick time.Time, key string) (queue.Ack, error) {
	ack, err := c.Publisher.PublishTick(ctx, name, tick, key)
	if err == nil {
		c.published.Add(1)
		if ack.Duplicate {
			c.duplicates.Add(1)
		}
	}
	return ack, err
}

// noState is a StateStore that knows nothing, so that only the stream's
// duplicate window can keep replicas from running a tick twice.
type noState struct{}

func (noState) Load(context.Context, string) (State, bool, error)       { return State{}, false, nil }
func (noState) Update(context.Context, string, func(*State) bool) error { return nil }
func (noState) List(context.Context) (map[string]State, error)          { return nil, nil }

// schedStream is the tick stream of the default work stream.
var schedStream = queue.SchedStreamName(queue.DefaultStreamName)

func storedMessages(t *testing.T, w *world, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(w.ctx, schedStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// fireAll fires every replica's scheduler at once, as replicas whose
// clocks agree would.
func fireAll(rs []*replica) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.sched.Fire(context.Background()) })
	}
	wg.Wait()
}

func TestThreeReplicasRunEachTickOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 22, 59, 50))
	var rs []*replica
	for _, name := range []string{"r1", "r2", "r3"} {
		rs = append(rs, w.replica(name, billingSchedules(), true))
	}
	for _, r := range rs {
		r.sched.Start(w.ctx)
	}
	js := rs[0].js

	// 23:00 Shanghai: the night schedule's tick.
	w.clock.Set(shanghai(2026, 11, 25, 23, 0, 0))
	fireAll(rs)
	jobstest.Eventually(w.t, "the night tick to run", 10*time.Second, func() bool {
		st, _, _ := rs[0].state.Load(w.ctx, "night-bandwidth")
		return st.LastResult != "" && jobstest.StreamEmpty(w.ctx, js, schedStream)
	})
	if got := w.emu.Calls(apiclient.CDN().Actions.ModifyService); got != 1 {
		t.Fatalf("ModifyCdnService calls = %d, want 1", got)
	}
	if got := storedMessages(t, w, js); got != 1 {
		t.Fatalf("stream stored %d jobs for one tick, want 1", got)
	}
	// One run: one DescribeCdnService before and one to verify.
	if got := w.emu.Calls(apiclient.CDN().Actions.Service); got != 2 {
		t.Fatalf("DescribeCdnService calls = %d, want 2 (one run)", got)
	}
	cur, pending := w.emu.ChargeType()
	if cur != apiclient.PayByTraffic || pending != apiclient.PayByBandwidth {
		t.Fatalf("emulator charge type = %s pending %s, want PayByTraffic pending PayByBandwidth", cur, pending)
	}
	st, err := w.client.DescribeService(w.ctx, apiclient.CDN())
	if err != nil {
		t.Fatal(err)
	}
	if st.ChangingChargeType != apiclient.PayByBandwidth || st.ChangingAffectTime != "2026-11-25T16:00:00Z" {
		t.Fatalf("DescribeCdnService = %+v, want a pending PayByBandwidth from 2026-11-25T16:00:00Z", st)
	}
	state, _, _ := rs[1].state.Load(w.ctx, "night-bandwidth")
	if state.LastResult != ResultOK || !state.LastRunTick.Equal(shanghai(2026, 11, 25, 23, 0, 0)) {
		t.Fatalf("state = %+v, want ok for the 23:00 tick", state)
	}

	// Firing again at the same time queues nothing new.
	fireAll(rs)
	if got := storedMessages(t, w, js); got != 1 {
		t.Fatalf("stream stored %d jobs after a second fire, want 1", got)
	}

	// 07:00 next day: the change to bandwidth took effect at midnight; the
	// day schedule switches back.
	w.clock.Set(shanghai(2026, 11, 26, 7, 0, 0))
	fireAll(rs)
	jobstest.Eventually(w.t, "the day tick to run", 10*time.Second, func() bool {
		st, _, _ := rs[2].state.Load(w.ctx, "day-traffic")
		return st.LastResult != "" && jobstest.StreamEmpty(w.ctx, js, schedStream)
	})
	if got := w.emu.Calls(apiclient.CDN().Actions.ModifyService); got != 2 {
		t.Fatalf("ModifyCdnService calls = %d after two ticks, want 2", got)
	}
	if cur, pending := w.emu.ChargeType(); cur != apiclient.PayByBandwidth || pending != apiclient.PayByTraffic {
		t.Fatalf("emulator charge type = %s pending %s, want PayByBandwidth pending PayByTraffic", cur, pending)
	}
}

func TestStreamDedupeAloneKeepsOneJobPerTick(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 22, 59, 59))
	var pubs []*countingPublisher
	var scheds []*Scheduler
	for range 3 {
		nc, _ := w.connect()
		p, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: w.subjects})
		if err != nil {
			t.Fatal(err)
		}
		cp := &countingPublisher{Publisher: p}
		s, err := New(Config{Schedules: billingSchedules(), Publisher: cp, State: noState{}, Now: w.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		s.Start(w.ctx)
		pubs, scheds = append(pubs, cp), append(scheds, s)
	}
	w.clock.Set(shanghai(2026, 11, 25, 23, 0, 0))
	var wg sync.WaitGroup
	for _, s := range scheds {
		wg.Go(func() { s.Fire(context.Background()) })
	}
	wg.Wait()
	var published, dups int64
	for _, p := range pubs {
		published += p.published.Load()
		dups += p.duplicates.Load()
	}
	_, js := w.connect()
	if published != 3 || dups != 2 || storedMessages(t, w, js) != 1 {
		t.Fatalf("published %d, duplicates %d, stored %d; want 3, 2, 1", published, dups, storedMessages(t, w, js))
	}
}

func TestCatchUpRunsMissedTickOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 22, 0, 0))
	noCatch := billingSchedules()
	noCatch[1].CatchUp = false
	// First generation of replicas sees the schedules, then all go down.
	first := w.replica("gen1", noCatch, false)
	first.sched.Start(w.ctx)

	// Back at 23:30: the 23:00 tick was missed. Two replicas start at once.
	w.clock.Set(shanghai(2026, 11, 25, 23, 30, 0))
	a := w.replica("a", noCatch, true)
	b := w.replica("b", noCatch, true)
	a.sched.Start(w.ctx)
	b.sched.Start(w.ctx)
	fireAll([]*replica{a, b})
	jobstest.Eventually(w.t, "the caught-up tick to run", 10*time.Second, func() bool {
		st, _, _ := a.state.Load(w.ctx, "night-bandwidth")
		return st.LastResult == ResultOK && jobstest.StreamEmpty(w.ctx, a.js, schedStream)
	})
	if got := w.emu.Calls(apiclient.CDN().Actions.ModifyService); got != 1 {
		t.Fatalf("ModifyCdnService calls = %d, want 1 (the missed tick, once)", got)
	}
	if _, pending := w.emu.ChargeType(); pending != apiclient.PayByBandwidth {
		t.Fatalf("pending = %q, want PayByBandwidth", pending)
	}
	st, _, _ := a.state.Load(w.ctx, "night-bandwidth")
	if !st.LastRunTick.Equal(shanghai(2026, 11, 25, 23, 0, 0)) {
		t.Fatalf("caught-up run stands for %v, want the 23:00 tick", st.LastRunTick)
	}

	// A replica restarting later does not run it again, even though the
	// stream's duplicate window has passed.
	w.clock.Set(shanghai(2026, 11, 25, 23, 59, 0))
	c := w.replica("c", noCatch, false)
	c.sched.Start(w.ctx)
	c.sched.Fire(w.ctx)
	if got := storedMessages(t, w, c.js); got != 1 {
		t.Fatalf("stream stored %d jobs, want 1: the restart caught up a tick already run", got)
	}

	// The day schedule (catch_up off) missed 07:00 while all were down: a
	// start at 08:00 leaves it for the next day.
	w.clock.Set(shanghai(2026, 11, 26, 8, 0, 0))
	d := w.replica("d", noCatch, false)
	d.sched.Start(w.ctx)
	d.sched.Fire(w.ctx)
	if got := storedMessages(t, w, d.js); got != 1 {
		t.Fatalf("stream stored %d jobs, want 1: a schedule without catch_up ran a missed tick", got)
	}
}
