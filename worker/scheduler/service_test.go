package scheduler

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

func TestFinancialLockPausesPurgesUntilLifted(t *testing.T) {
	// The fake clock starts at the wall clock: Worker.Paused compares the
	// pause with time.Now, not with the worker's injected clock.
	w := newWorld(t, time.Now())
	nc, js := w.connect()
	wk, _ := w.runWorker("r1", js, nil, nil)
	reg := prometheus.NewRegistry()
	// A short pause: the worker hands a held job back until the pause ends
	// (Resume does not bring it back sooner), so this bounds the wait
	// after the lock is lifted.
	chk, err := NewServiceChecker(w.client, wk, CheckerConfig{Interval: time.Minute, PauseFor: 2 * time.Second, IPA: true,
		Registerer: reg, Now: w.clock.Now, Logger: w.log})
	if err != nil {
		t.Fatal(err)
	}
	w.emu.SetDcdnIpa(true)
	watchConn, _ := w.connect()
	events := jobstest.WatchStatus(w.t, watchConn, w.subjects)

	w.emu.SetFinancialLock(true)
	if err := chk.Check(w.ctx); err != nil {
		t.Fatal(err)
	}
	if paused, reason := wk.Paused(); !paused || !strings.Contains(reason, "financially locked") {
		t.Fatalf("worker paused = %v (%q), want paused for the financial lock", paused, reason)
	}
	if got := gaugeValue(t, chk.m.locked.WithLabelValues(ServiceCDN, apiclient.LockReasonFinancial)); got != 1 {
		t.Fatalf("lock gauge = %v, want 1", got)
	}

	pub, err := jobs.NewPublisher(nc, jobs.PublisherConfig{Subjects: w.subjects})
	if err != nil {
		t.Fatal(err)
	}
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://example.com/a.js"}}}
	j.Prepare("test", w.clock.Now())
	if _, err := pub.Publish(w.ctx, j, ""); err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(w.t, "the purge to be held back", 10*time.Second, func() bool { return events.Has(j.ID, jobs.StateDeferred) })
	if got := w.emu.Calls(apiclient.ActionRefreshObjectCaches); got != 0 {
		t.Fatalf("RefreshObjectCaches calls = %d while paused, want 0", got)
	}

	// A check while still locked keeps the pause; once lifted, purges go.
	if err := chk.Check(w.ctx); err != nil || !chk.Paused() {
		t.Fatalf("second check: err %v, paused %v", err, chk.Paused())
	}
	w.emu.SetFinancialLock(false)
	if err := chk.Check(w.ctx); err != nil {
		t.Fatal(err)
	}
	if paused, _ := wk.Paused(); paused || chk.Paused() {
		t.Fatal("still paused after the lock was lifted")
	}
	jobstest.Eventually(w.t, "the purge to be submitted", 10*time.Second, func() bool {
		return w.emu.Accepted(apiclient.ActionRefreshObjectCaches) == 1
	})
	if got := gaugeValue(t, chk.m.locked.WithLabelValues(ServiceCDN, apiclient.LockReasonFinancial)); got != 0 {
		t.Fatalf("lock gauge = %v after the lock was lifted, want 0", got)
	}
}

func TestServiceMetricsShowBillingAndPendingChange(t *testing.T) {
	w := newWorld(t, shanghai(2026, 11, 25, 10, 0, 0))
	reg := prometheus.NewRegistry()
	chk, err := NewServiceChecker(w.client, nil, CheckerConfig{Registerer: reg, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.ModifyCdnService(w.ctx, apiclient.PayByBandwidth); err != nil {
		t.Fatal(err)
	}
	if err := chk.Check(w.ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"billing traffic", gaugeValue(t, chk.m.billing.WithLabelValues(ServiceCDN, apiclient.PayByTraffic)), 1},
		{"billing bandwidth", gaugeValue(t, chk.m.billing.WithLabelValues(ServiceCDN, apiclient.PayByBandwidth)), 0},
		{"pending bandwidth", gaugeValue(t, chk.m.pending.WithLabelValues(ServiceCDN, apiclient.PayByBandwidth)), 1},
		{"effective at", gaugeValue(t, chk.m.pendingAt.WithLabelValues(ServiceCDN)),
			float64(shanghai(2026, 11, 26, 0, 0, 0).Unix())},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The IPA check reports an account without DCDN IPA as an error.
	ipa, err := NewServiceChecker(w.client, nil, CheckerConfig{IPA: true, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := ipa.Check(w.ctx); err == nil || !strings.Contains(err.Error(), "DcdnIpaServiceNotFound") {
		t.Fatalf("IPA check on an account without IPA = %v, want DcdnIpaServiceNotFound", err)
	}
	// A second checker on the same registry is refused, not a panic.
	if _, err := NewServiceChecker(w.client, nil, CheckerConfig{Registerer: reg}); err == nil {
		t.Fatal("second checker on one registry: want an error")
	}
}

func TestServiceCLI(t *testing.T) {
	w := newWorld(t, shanghai(2026, 11, 25, 10, 0, 0))
	var out bytes.Buffer
	if err := OpenService(w.ctx, w.client, &out, apiclient.PayByTraffic); err != nil {
		t.Fatalf("OpenService on an open account = %v, want nil", err)
	}
	if !strings.Contains(out.String(), "already opened") {
		t.Fatalf("OpenService said %q", out.String())
	}
	out.Reset()
	if err := SetBilling(w.ctx, w.client, &out, apiclient.PayByBandwidth); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "from PayByTraffic to PayByBandwidth at 2026-11-25T16:00:00Z (2026-11-26 00:00 CST)") {
		t.Fatalf("SetBilling said %q", s)
	}
	out.Reset()
	if err := SetBilling(w.ctx, w.client, &out, apiclient.PayByBandwidth); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing to do: already changing to PayByBandwidth") {
		t.Fatalf("second SetBilling said %q", out.String())
	}
	if got := w.emu.Calls(apiclient.ActionModifyCdnService); got != 1 {
		t.Fatalf("ModifyCdnService calls = %d, want 1", got)
	}
	out.Reset()
	w.emu.SetFinancialLock(true)
	if err := ServiceStatus(w.ctx, w.client, &out, false, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"billing         PayByTraffic", "pending change  PayByBandwidth at 2026-11-25T16:00:00Z", "financial (overdue payment"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ServiceStatus output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := ServiceStatus(w.ctx, w.client, &out, true, false); err != nil || !strings.Contains(out.String(), `"changing_charge_type": "PayByBandwidth"`) {
		t.Fatalf("ServiceStatus JSON = %v\n%s", err, out.String())
	}
	err := SetBilling(w.ctx, w.client, &out, apiclient.PayByTraffic)
	if apiclient.Classify(err) != apiclient.ClassAccount {
		t.Fatalf("SetBilling on a locked account = %v (class %v), want an account error", err, apiclient.Classify(err))
	}
	if err := SetBilling(w.ctx, w.client, &out, "PayByMonth"); err == nil {
		t.Fatal("SetBilling(PayByMonth) = nil")
	}
}

// gaugeValue reads one gauge.
func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
