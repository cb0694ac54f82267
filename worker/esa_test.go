package worker

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// A NATS publisher cannot ask for ESA's hostname or purgeall purges (they
// empty a whole host or site): the message is terminated and reported as
// invalid with the reason, and nothing is sent.
func TestWorkerRefusesWholeSitePurgesFromPublishers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	invalid := make(chan jobs.StatusEvent, 10)
	sub, err := h.nc.Subscribe(h.subjects.Invalid(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			invalid <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, ot := range []string{"purgeall", "hostname"} {
		body := `{"v":1,"id":"whole-` + ot + `","kind":"refresh","refresh":{"object_type":"` + ot + `","paths":["https://example.com/"]}}`
		if _, err := h.js.Publish(h.ctx, h.subjects.Refresh(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	h.runWorker(fastConfig(), "w1")
	h.waitFor("queue drained", 10*time.Second, h.drained)
	for range 2 {
		select {
		case ev := <-invalid:
			if ev.State != jobs.StateInvalid || !strings.Contains(ev.Reason, "only an operator may ask") {
				t.Fatalf("invalid report %+v, want the operator-only reason", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no invalid report")
		}
	}
	if n := h.emu.Calls(apiclient.CDN().Actions.Refresh); n != 0 {
		t.Fatalf("%d refresh calls, want none", n)
	}
}

// withESASite makes the ESA site esa.example.net (SiteId 77, served by the
// harness's emulator) a target of the harness's workers, with its own
// quota mirror fed by GetPurgeQuota, and routes its host names there.
func withESASite(t *testing.T, h *harness) *quota.Mirror {
	t.Helper()
	const site = 77
	p := apiclient.ESASiteProduct(site)
	m := quota.NewMirror(quota.NewMemoryStore(quota.Options{Target: p}), h.client, quota.MirrorConfig{Logger: h.log})
	if err := m.SyncNow(h.ctx); err != nil {
		t.Fatalf("first ESA quota sync: %v", err)
	}
	h.targets = map[apiclient.Product]TargetDeps{p: {API: h.client, Gate: m, Syncer: m}}
	h.productOf = func(host string) apiclient.Product {
		if host == "esa.example.net" || strings.HasSuffix(host, ".esa.example.net") {
			return p
		}
		return apiclient.ProductCDN
	}
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com", "*.example.com", "esa.example.net", "*.esa.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	h.val = v
	return m
}

// A job with URLs on a CDN domain and on an ESA site whose file quota is
// 5: the CDN part lands, 5 ESA URLs land in one PurgeCaches call of type
// file, and the other 3 wait for the site's quota. The site is never
// asked for more than it has (no QuotaExceeded answer, usage exactly 5),
// and the ESA task is followed to Complete with DescribePurgeTasks.
func TestWorkerGatesAnESASiteOnItsOwnQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{emu: cdnemu.Options{
		ESASites: []cdnemu.ESASite{{Name: "esa.example.net", ID: 77}},
		ESAQuota: map[esa.PurgeType]int64{esa.File: 5},
	}})
	withESASite(t, h)
	h.publish(refreshJob(append(urls("esa.example.net", 0, 8), urls("example.com", 0, 2)...)...))
	cfg := fastConfig()
	// The 3 URLs left wait for the site's quota when the worker stops:
	// they are handed back at once, not after the shutdown grace (the
	// quota re-sync they wait in waited for GetPurgeQuota's rate limit).
	cfg.ShutdownGrace = 20 * time.Second
	logs := &jobstest.LogBuffer{}
	h.log = slog.New(slog.NewTextHandler(logs, nil))
	_, stop := h.runWorker(cfg, "w1")
	h.waitFor("5 ESA URLs purged and their task complete", 60*time.Second, func() bool {
		tasks := h.emu.ESATasks()
		done := 0
		for _, tk := range tasks {
			if tk.Status == apiclient.TaskComplete {
				done++
			}
		}
		return h.emu.ESAQuotaUsed(77, esa.File) == 5 && len(h.emu.Paths(apiclient.CDN().Actions.Refresh)) == 2 && done == 5 &&
			h.emu.Calls("DescribePurgeTasks") > 0
	})
	if n := h.emu.Refused("PurgeCaches", "QuotaExceeded.Purge"); n != 0 {
		t.Errorf("%d purges refused for quota: the gate let the site be overspent", n)
	}
	if used := h.emu.ESAQuotaUsed(77, esa.File); used != 5 {
		t.Errorf("site 77 used %d of its 5 file purges", used)
	}
	if n := h.emu.Accepted("PurgeCaches"); n != 1 {
		t.Errorf("%d PurgeCaches calls accepted, want 1", n)
	}
	stop()
	if out := logs.Take(); strings.Contains(out, "shutdown grace passed") || !strings.Contains(out, "handed_back=") {
		t.Errorf("the stop waited out the shutdown grace for a batch waiting for quota, or never ended:\n%s", out)
	}
}

// An ESA site's batches are cut at ESA's per-call caps of their purge type.
func TestESABatchesWithinESACaps(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	site := apiclient.ESASiteProduct(77)
	for ot, want := range map[apiclient.ObjectType]int{
		apiclient.ObjectFile: 1000, apiclient.ObjectDirectory: 100, "CacheTag": 100,
		apiclient.ObjectHostname: 100, apiclient.ObjectPurgeAll: 1, apiclient.ObjectCacheKey: 1000,
	} {
		if got := l.size(GroupKey{Action: ActionRefresh, ObjectType: ot, Target: site}); got != want {
			t.Errorf("%s on an ESA site: %d a call, want %d", ot, got, want)
		}
	}
	if got := l.size(GroupKey{Action: ActionPush, Target: site}); got != 100 {
		t.Errorf("an ESA prefetch: %d a call, want 100", got)
	}
}
