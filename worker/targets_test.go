package worker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
)

// dcdnHost is the DCDN domain of the target tests; example.com stays CDN.
const dcdnHost = "dyn.example.org"

// One job with paths on a CDN and a DCDN domain: each part goes to its
// product's refresh action, is followed with that product's task action,
// and the job completes when both parts did.
func TestWorkerSplitsMixedJobByTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	events := h.watchStatus()
	cdnPaths, dcdnPaths := urls("example.com", 0, 30), urls(dcdnHost, 0, 20)
	id := h.publish(refreshJob(append(slices.Clone(cdnPaths), dcdnPaths...)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the mixed job complete", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateComplete
	})
	if got := h.emu.Paths(apiclient.CDN().Actions.Refresh); !sameSet(got, cdnPaths) {
		t.Errorf("CDN refresh got %d paths, want the 30 CDN paths: %v", len(got), got)
	}
	if got := h.emu.Paths(apiclient.DCDN().Actions.Refresh); !sameSet(got, dcdnPaths) {
		t.Errorf("DCDN refresh got %d paths, want the 20 DCDN paths: %v", len(got), got)
	}
	if n := h.emu.Accepted(apiclient.DCDN().Actions.TaskByID); n == 0 {
		t.Error("the DCDN tasks were never followed with DescribeDcdnRefreshTaskById")
	}
	if n := h.emu.Accepted(apiclient.CDN().Actions.TaskByID); n == 0 {
		t.Error("the CDN tasks were never followed with DescribeRefreshTaskById")
	}
	ev, _ := events.Last(id)
	if len(ev.TaskIDs) < 2 {
		t.Errorf("final event names %d tasks, want the tasks of both targets", len(ev.TaskIDs))
	}
	dcdnTasks := 0
	for _, id := range ev.TaskIDs {
		if ev.TaskTargets[id] == "dcdn" {
			dcdnTasks++
		}
	}
	if dcdnTasks == 0 || dcdnTasks == len(ev.TaskIDs) || len(ev.TaskTargets) != dcdnTasks {
		t.Errorf("final event task targets %v for tasks %v: want the DCDN tasks named, the CDN ones not", ev.TaskTargets, ev.TaskIDs)
	}
	if q := h.emu.DCDNQuotaRemaining(); q.URL != 10000-20 {
		t.Errorf("DCDN URL quota left %d, want %d: the DCDN part spends DCDN's quota", q.URL, 10000-20)
	}
}

// DCDN's quota is spent while CDN still has quota: the CDN paths go on,
// the DCDN paths wait, and go when DCDN's quota is back.
func TestWorkerDCDNQuotaOutWhileCDNHasQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	h.setDCDNURLQuota(0)
	events := h.watchStatus()
	cdnJob := h.publish(refreshJob(urls("example.com", 0, 10)...))
	mixed := h.publish(refreshJob(append(urls("example.com", 10, 10), urls(dcdnHost, 0, 10)...)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the CDN-only job complete", 20*time.Second, func() bool {
		ev, ok := events.Last(cdnJob)
		return ok && ev.State == jobs.StateComplete
	})
	h.waitFor("the mixed job deferred for DCDN quota", 20*time.Second, func() bool {
		for _, ev := range events.All(mixed) {
			if ev.State == jobs.StateDeferred && strings.Contains(ev.Reason, "dcdn url quota") {
				return true
			}
		}
		return false
	})
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 20 {
		t.Errorf("CDN got %d paths, want all 20 while DCDN waits", n)
	}
	if n := len(h.emu.Paths(apiclient.DCDN().Actions.Refresh)); n != 0 {
		t.Errorf("DCDN got %d paths with no DCDN quota", n)
	}
	// DCDN's quota is back (a new day, a raised limit): the rest lands.
	h.setDCDNURLQuota(1000)
	h.waitFor("the mixed job complete", 20*time.Second, func() bool {
		ev, ok := events.Last(mixed)
		return ok && ev.State == jobs.StateComplete
	})
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 20 {
		t.Errorf("CDN got %d paths, want 20: its accepted paths are not sent again", n)
	}
	if n := len(h.emu.Paths(apiclient.DCDN().Actions.Refresh)); n != 10 {
		t.Errorf("DCDN got %d paths, want 10", n)
	}
}

// DCDN is down (every DCDN call answers 503) while CDN answers: CDN jobs
// complete, DCDN paths wait, and land once DCDN is back.
func TestWorkerDCDNOutageWhileCDNAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	h.emu.SetProductOutage(apiclient.ProductDCDN, time.Now().Add(time.Hour))
	events := h.watchStatus()
	cdnJob := h.publish(refreshJob(urls("example.com", 0, 10)...))
	dcdnJob := h.publish(refreshJob(urls(dcdnHost, 0, 10)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the CDN job complete during the DCDN outage", 20*time.Second, func() bool {
		ev, ok := events.Last(cdnJob)
		return ok && ev.State == jobs.StateComplete
	})
	h.waitFor("the DCDN job deferred", 20*time.Second, func() bool { return events.Has(dcdnJob, jobs.StateDeferred) })
	if events.Has(dcdnJob, jobs.StateRejected) {
		t.Fatalf("the DCDN job was rejected during an outage: %v", events.States(dcdnJob))
	}
	h.emu.SetProductOutage(apiclient.ProductDCDN, time.Time{})
	h.waitFor("the DCDN job complete after the outage", 20*time.Second, func() bool {
		ev, ok := events.Last(dcdnJob)
		return ok && ev.State == jobs.StateComplete
	})
	if got := h.emu.Paths(apiclient.DCDN().Actions.Refresh); !sameSet(got, urls(dcdnHost, 0, 10)) {
		t.Errorf("DCDN got %v", got)
	}
}

// A DCDN ExQuery refresh is sent as IgnoreParams and spends DCDN's
// IgnoreParams quota, not its URL quota.
func TestWorkerDCDNExQuerySpendsIgnoreParams(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	events := h.watchStatus()
	j := refreshJob(urls(dcdnHost, 0, 5)...)
	j.Refresh.ObjectType = string(apiclient.ObjectExQuery)
	id := h.publish(j)
	h.runWorker(fastConfig(), "w1")
	h.waitFor("the ExQuery job complete", 20*time.Second, func() bool {
		ev, ok := events.Last(id)
		return ok && ev.State == jobs.StateComplete
	})
	q := h.emu.DCDNQuotaRemaining()
	if q.IgnoreParams != 10000-5 || q.URL != 10000 {
		t.Errorf("DCDN quota left: IgnoreParams %d (want %d), URL %d (want 10000)", q.IgnoreParams, 10000-5, q.URL)
	}
	snap, err := h.dcdn.Snapshot(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Get(quota.KindIgnoreParams).Remaining; got != 10000-5 {
		t.Errorf("the DCDN mirror's IgnoreParams remaining = %d, want %d", got, 10000-5)
	}
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && len(uniq(a)) == len(b) && func() bool {
		m := uniq(a)
		for _, x := range b {
			if !m[x] {
				return false
			}
		}
		return true
	}()
}

// A batch waiting for DCDN's quota does not hold a submitter: with one
// submitter and the DCDN batch waiting in memory for an hour, a CDN job
// behind it still lands.
func TestWorkerDCDNWaitHoldsNoSubmitter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	h.setDCDNURLQuota(0)
	events := h.watchStatus()
	cfg := fastConfig()
	cfg.Submitters = 1
	cfg.QuotaHold = time.Hour
	w, _ := h.runWorker(cfg, "w1")
	h.publish(refreshJob(urls(dcdnHost, 0, 10)...))
	h.waitFor("the DCDN batch waiting in memory", 20*time.Second, func() bool {
		wp := w.ledger.waiting
		wp.mu.Lock()
		defer wp.mu.Unlock()
		return wp.memory[quotaPool{target: apiclient.ProductDCDN, kind: quota.KindURL}] == 10
	})
	cdnJob := h.publish(refreshJob(urls("example.com", 0, 10)...))
	h.waitFor("the CDN job complete while DCDN waits", 30*time.Second, func() bool {
		ev, ok := events.Last(cdnJob)
		return ok && ev.State == jobs.StateComplete
	})
}

// An account may purge DCDN domains only: the worker and SendDirect need
// no CDN quota gate then.
func TestDCDNOnlyNeedsNoCDNGate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}})
	dcdn := map[apiclient.Product]TargetDeps{apiclient.ProductDCDN: {API: h.client, Gate: h.dcdn, Syncer: h.dcdn}}
	if _, err := New(fastConfig(), Deps{JS: h.js, Stream: queue.DefaultStreamName, Subjects: h.subjects, Validator: h.val,
		API: h.client, Targets: dcdn, ProductOf: h.productOf, Store: h.kv}); err != nil {
		t.Fatalf("worker with DCDN only: %v", err)
	}
	j := refreshJob(urls(dcdnHost, 0, 3)...)
	j.Prepare("test", time.Now())
	rep, err := SendDirect(h.ctx, fastConfig(), DirectDeps{Targets: dcdn, ProductOf: h.productOf}, j)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Submitted != 3 || rep.Calls != 1 || len(rep.Tasks) != 1 || rep.Tasks[0].Target != apiclient.ProductDCDN {
		t.Fatalf("report %+v: want 3 paths in one DCDN call", rep)
	}
	if got := h.emu.Paths(apiclient.DCDN().Actions.Refresh); len(got) != 3 {
		t.Errorf("DCDN got %v", got)
	}
}

// setDCDNURLQuota sets DCDN's daily URL quota on the emulator and syncs
// the DCDN mirror.
func (h *harness) setDCDNURLQuota(n int64) {
	h.t.Helper()
	h.emu.SetDCDNQuota(cdnemu.Quota{URL: n, Dir: 100, Regex: 20, Preload: 1000, IgnoreParams: 100})
	if err := h.dcdn.SyncNow(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}
