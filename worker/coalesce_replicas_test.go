package worker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// The backlog with two replicas on one stream, each with its own
// connection and memory, sharing the record of what was sent when in
// Redis: 20,000 distinct URLs and 1,000 copies in separate jobs, queued
// before the workers start. A copy one replica holds while the other's
// call of its path is in flight or landed is covered by that call: no copy
// reaches the API and the calls are the fewest (a quarter with -short).
func TestWorkerCoalescesTheBacklogAcrossReplicas(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	recent := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Hour)
	h := newHarness(t, harnessOpts{recent: recent, emu: cdnemu.Options{URLQuota: 100_000}})
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	cfg.pullBatch = 1 // the replicas take the backlog's jobs in turn
	distinct, perJob, copies := 20000, 1000, 1000
	if testing.Short() {
		distinct, copies = 5000, 250
	}
	for i := range distinct / perJob {
		h.publish(refreshJob(urls("example.com", i*perJob, perJob)...))
	}
	for i := range copies / 10 {
		h.publish(refreshJob(urls("example.com", i*173%(distinct-10), 10)...))
	}
	h.ageBacklog()
	a := h.runReplica(cfg, "w1")
	b := h.runReplica(cfg, "w2")
	h.waitFor("the backlog drained", 60*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	calls := h.emu.Calls(apiclient.CDN().Actions.Refresh)
	t.Logf("%d distinct + %d copies, 2 replicas (%d and %d calls): %d paths sent, %d calls", distinct, copies, a.api.count(), b.api.count(), len(got), calls)
	if len(got) != distinct || len(uniq(got)) != distinct {
		t.Fatalf("%d paths sent (%d distinct), want %d: %d copies reached the API", len(got), len(uniq(got)), distinct, len(got)-distinct)
	}
	if calls != distinct/perJob {
		t.Fatalf("%d calls, want %d", calls, distinct/perJob)
	}
}

// heldAPI holds every refresh call until release is closed, and says on
// entered when one began.
type heldAPI struct {
	API
	entered chan struct{}
	release chan struct{}
}

func (a *heldAPI) Refresh(ctx context.Context, t apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	select {
	case a.entered <- struct{}{}:
	default:
	}
	<-a.release
	return a.API.Refresh(ctx, t, r)
}

// The window the replicas' own memories cannot close: replica A's call of
// a path is in flight when replica B takes a copy that was asked for
// before A sent it. B finds A's claim in the shared record and does not
// send the copy; the copy's job ends covered by A's call, naming its task.
func TestWorkerCopyOnAnotherReplicaJoinsTheCallInFlight(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	recent := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Hour)
	h := newHarness(t, harnessOpts{recent: recent, emu: cdnemu.Options{URLQuota: 100_000}})
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	cfg.pullBatch = 1
	cfg.MaxInflightPaths = 999 // A takes the original only
	origID := h.publish(refreshJob(urls("example.com", 0, 1000)...))
	copyID := h.publish(refreshJob(urls("example.com", 500, 10)...))
	h.ageBacklog()

	held := &heldAPI{API: h.client, entered: make(chan struct{}, 1), release: make(chan struct{})}
	nc, js := h.connect()
	defer nc.Close()
	kv, err := OpenKVStore(h.ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.runWorkerWith(cfg, "a", js, kv, held)
	select {
	case <-held.entered:
	case <-time.After(time.Minute):
		t.Fatal("replica a never sent the original")
	}
	nc2, js2 := h.connect()
	defer nc2.Close()
	kv2, err := OpenKVStore(h.ctx, js2, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	bAPI := &countingAPI{API: h.client}
	wb, _ := h.runWorkerWith(cfg, "b", js2, kv2, bAPI)
	// b either sends the copy or leaves it waiting for a's call.
	h.waitFor("replica b decided on the copy", 30*time.Second, func() bool {
		return bAPI.count() > 0 || wb.submit.awaiting.Load() == 10
	})
	close(held.release)
	h.waitFor("the backlog drained", 60*time.Second, h.drained)
	tasks := func(id string) []string {
		for _, ev := range events.All(id) {
			if ev.State == jobs.StateSubmitted && len(ev.TaskIDs) > 0 {
				return ev.TaskIDs
			}
		}
		return nil
	}
	h.waitFor("the copy's job names a task", 30*time.Second, func() bool { return tasks(copyID) != nil && tasks(origID) != nil })
	if got, want := tasks(copyID), tasks(origID); !slices.Equal(got, want) {
		t.Errorf("the copy's job names tasks %v, want the original call's %v", got, want)
	}
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); len(got) != 1000 {
		t.Fatalf("%d paths sent, want the original's 1,000: the copy on replica b was paid again (b made %d calls)", len(got), bAPI.count())
	}
}

// Redelivered work already sent is not paid twice: replica A's call of a
// job is in flight when A dies (its connection gone, so the job is never
// acked); JetStream delivers the job again to replica B after the ack
// deadline, while A's call is still out. B finds A's claim, waits for the
// call, and settles the job with A's tasks when it lands: its paths are
// paid once.
func TestWorkerRedeliveryOfWorkInFlightIsNotPaidTwice(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	recent := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Hour)
	h := newHarness(t, harnessOpts{recent: recent, emu: cdnemu.Options{URLQuota: 100_000}})
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	// A's pull stops with its connection, and its call must still land
	// and be recorded: past the shutdown grace (5 s in fastConfig) A
	// gives its call up, the claim stays in flight until claimTTL, and B
	// waits that long. Redelivery to B and its decision took longer than
	// 5 s once in CI.
	cfg.ShutdownGrace = time.Minute
	id := h.publish(refreshJob(urls("example.com", 0, 100)...))
	h.ageBacklog()

	held := &heldAPI{API: h.client, entered: make(chan struct{}, 1), release: make(chan struct{})}
	ncA, jsA := h.connect()
	kvA, err := OpenKVStore(h.ctx, jsA, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.runWorkerWith(cfg, "a", jsA, kvA, held)
	select {
	case <-held.entered:
	case <-time.After(time.Minute):
		t.Fatal("replica a never sent the job")
	}
	ncA.Close() // a dies with its call out: the job is never acked

	ncB, jsB := h.connect()
	defer ncB.Close()
	kvB, err := OpenKVStore(h.ctx, jsB, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	bAPI := &countingAPI{API: h.client}
	wb, _ := h.runWorkerWith(cfg, "b", jsB, kvB, bAPI)
	h.waitFor("replica b got the job again and decided on it", time.Minute, func() bool {
		return bAPI.count() > 0 || wb.submit.awaiting.Load() == 100
	})
	close(held.release)
	h.waitFor("the job acked by b", time.Minute, h.drained)
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); len(got) != 100 {
		t.Fatalf("%d paths paid, want 100: the redelivered job was sent again (b made %d calls)", len(got), bAPI.count())
	}
	// The status events come over NATS after the ack.
	named := func() bool {
		return slices.ContainsFunc(events.All(id), func(ev jobs.StatusEvent) bool { return ev.State == jobs.StateSubmitted && len(ev.TaskIDs) > 0 })
	}
	h.waitFor("the job's submitted event", 20*time.Second, func() bool { return named() || events.Has(id, jobs.StateComplete) })
	if !named() {
		t.Errorf("the job's events name no task: %v", events.States(id))
	}
}

// A copy pulled after its original's call landed is skipped at the intake
// and its job's complete event names the covering call's tasks (from the
// shared record).
func TestWorkerCopySkippedAtIntakeNamesTheCoveringTasks(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t)
	recent := NewRedisRecent(rdb, quotatest.Prefix(t, rdb), "acct", time.Hour)
	h := newHarness(t, harnessOpts{recent: recent, emu: cdnemu.Options{URLQuota: 100_000}})
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.RecentWindow = time.Hour
	cfg.pullBatch = 1
	cfg.MaxInflightPaths = 9 // the copy is pulled once the original settled
	origID := h.publish(refreshJob(urls("example.com", 0, 10)...))
	copyID := h.publish(refreshJob(urls("example.com", 5, 3)...))
	h.ageBacklog()
	h.runWorker(cfg, "w1")
	h.waitFor("the copy's job complete", time.Minute, func() bool { return events.Has(copyID, jobs.StateComplete) })
	var orig []string
	for _, ev := range events.All(origID) {
		if ev.State == jobs.StateSubmitted {
			orig = ev.TaskIDs
		}
	}
	last, _ := events.Last(copyID)
	if len(orig) == 0 || !slices.Equal(last.TaskIDs, orig) || !strings.Contains(last.Reason, "covering tasks") {
		t.Fatalf("the copy's complete event: tasks %v, reason %q; want the original's tasks %v named", last.TaskIDs, last.Reason, orig)
	}
	if got := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); got != 10 {
		t.Fatalf("%d paths sent, want 10", got)
	}
}
