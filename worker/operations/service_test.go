package operations

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

func TestFinancialLockPausesPurgesUntilLifted(t *testing.T) {
	t.Parallel()
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
	if got := gaugeValue(t, chk.metrics.locked.WithLabelValues(ServiceCDN, apiclient.LockReasonFinancial)); got != 1 {
		t.Fatalf("lock gauge = %v, want 1", got)
	}

	pub, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: w.subjects})
	if err != nil {
		t.Fatal(err)
	}
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://example.com/a.js"}}}
	j.Prepare("test", w.clock.Now())
	if _, err := pub.Publish(w.ctx, j, ""); err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(w.t, "the purge to be held back", 10*time.Second, func() bool { return events.Has(j.ID, jobs.StateDeferred) })
	if got := w.emu.Calls(apiclient.CDN().Actions.Refresh); got != 0 {
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
		return w.emu.Accepted(apiclient.CDN().Actions.Refresh) == 1
	})
	if got := gaugeValue(t, chk.metrics.locked.WithLabelValues(ServiceCDN, apiclient.LockReasonFinancial)); got != 0 {
		t.Fatalf("lock gauge = %v after the lock was lifted, want 0", got)
	}
}

func TestServiceMetricsShowBillingAndPendingChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 10, 0, 0))
	reg := prometheus.NewRegistry()
	chk, err := NewServiceChecker(w.client, nil, CheckerConfig{Registerer: reg, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.ModifyService(w.ctx, apiclient.CDN(), apiclient.PayByBandwidth); err != nil {
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
		{"billing traffic", gaugeValue(t, chk.metrics.billing.WithLabelValues(ServiceCDN, apiclient.PayByTraffic)), 1},
		{"billing bandwidth", gaugeValue(t, chk.metrics.billing.WithLabelValues(ServiceCDN, apiclient.PayByBandwidth)), 0},
		{"pending bandwidth", gaugeValue(t, chk.metrics.pending.WithLabelValues(ServiceCDN, apiclient.PayByBandwidth)), 1},
		{"effective at", gaugeValue(t, chk.metrics.pendingAt.WithLabelValues(ServiceCDN)),
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

// The operator's direct service actions (cmd/cdnpurge renders their
// results): opening an open account changes nothing, a billing change is
// made once and verified, the pending change is read back with its time,
// and a locked account's change is an account error.
func TestServiceOperatorActions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 10, 0, 0))
	o, err := OpenService(w.ctx, w.client, apiclient.PayByTraffic)
	if err != nil || o.Opened || o.ChargeType != apiclient.PayByTraffic {
		t.Fatalf("OpenService on an open account = %+v, %v; want not opened again and no error", o, err)
	}
	if got := w.emu.Calls(apiclient.CDN().Actions.OpenService); got != 1 {
		t.Fatalf("OpenCdnService calls = %d, want 1", got)
	}
	r, err := ChangeBilling(w.ctx, w.client, apiclient.PayByBandwidth)
	if err != nil {
		t.Fatal(err)
	}
	midnight := shanghai(2026, 11, 26, 0, 0, 0)
	if r.Skipped || r.RequestID == "" || !r.EffectiveAt.Equal(midnight) || r.After.InternetChargeType != apiclient.PayByTraffic {
		t.Fatalf("ChangeBilling = %+v, want a change to PayByBandwidth from PayByTraffic at %v", r, midnight)
	}
	if r, err = ChangeBilling(w.ctx, w.client, apiclient.PayByBandwidth); err != nil || !r.Skipped {
		t.Fatalf("second ChangeBilling = %+v, %v; want skipped", r, err)
	}
	if got := w.emu.Calls(apiclient.CDN().Actions.ModifyService); got != 1 {
		t.Fatalf("ModifyCdnService calls = %d, want 1", got)
	}
	w.emu.SetFinancialLock(true)
	rep, err := ReadService(w.ctx, w.client, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := rep.CDN; !st.Opened() || st.InternetChargeType != apiclient.PayByTraffic || st.ChangingChargeType != apiclient.PayByBandwidth ||
		!st.ChangeAt.Equal(midnight) || !st.FinanciallyLocked() || rep.IPA != nil {
		t.Fatalf("ReadService = %+v, want opened, PayByTraffic changing to PayByBandwidth at %v, financially locked, no IPA", rep, midnight)
	}
	if _, err := ReadService(w.ctx, w.client, true); err == nil || !strings.Contains(err.Error(), "DcdnIpaServiceNotFound") {
		t.Fatalf("ReadService with IPA on an account without it = %v, want DcdnIpaServiceNotFound", err)
	}
	_, err = ChangeBilling(w.ctx, w.client, apiclient.PayByTraffic)
	if apiclient.Classify(err) != apiclient.ClassAccount {
		t.Fatalf("ChangeBilling on a locked account = %v (class %v), want an account error", err, apiclient.Classify(err))
	}
	if _, err := ChangeBilling(w.ctx, w.client, "PayByMonth"); err == nil {
		t.Fatal("ChangeBilling(PayByMonth) = nil")
	}
	if _, err := OpenService(w.ctx, w.client, "PayByMonth"); err == nil {
		t.Fatal("OpenService(PayByMonth) = nil")
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
