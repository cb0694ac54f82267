package operations

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

func opJob(schedule, action string, tick time.Time, params map[string]string) *jobs.Job {
	return &jobs.Job{ID: "j1", Kind: jobs.KindOperation, Operation: &jobs.OperationSpec{Schedule: schedule, Tick: tick, Action: action, Params: params}}
}

func TestOperatorDomainActionsAndState(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 9, 0, 0))
	state := NewMemoryStateStore()
	op := NewOperator(w.client, OperatorConfig{State: state, Now: w.clock.Now, Allowlist: w.val})
	tick := shanghai(2026, 11, 25, 9, 0, 0)

	err := op.Run(w.ctx, opJob("campaign-on", "SetRefererConfig", tick,
		map[string]string{"DomainName": "example.com", "ReferType": "allow", "ReferList": "a.com,b.com"}))
	if err != nil {
		t.Fatal(err)
	}
	cfgs := w.emu.DomainConfigs("example.com")
	if len(cfgs) != 1 || cfgs[0].Action != "SetRefererConfig" || cfgs[0].Params["ReferList"] != "a.com,b.com" {
		t.Fatalf("emulator configs = %+v", cfgs)
	}
	if st, _, _ := state.Load(w.ctx, "campaign-on"); st.LastResult != ResultOK || !st.LastRunTick.Equal(tick) {
		t.Fatalf("state = %+v", st)
	}

	if err := op.Run(w.ctx, opJob("stop", "StopCdnDomain", tick, map[string]string{"DomainName": "example.com"})); err != nil {
		t.Fatal(err)
	}
	if got := w.emu.DomainStatus("example.com"); got != "offline" {
		t.Fatalf("domain status = %s, want offline", got)
	}

	// A domain off the allowlist never reaches the API.
	calls := w.emu.Calls("StopCdnDomain")
	err = op.Run(w.ctx, opJob("stop", "StopCdnDomain", tick.Add(time.Hour), map[string]string{"DomainName": "nope.org"}))
	if !errors.Is(err, ErrDomainNotAllowed) || w.emu.Calls("StopCdnDomain") != calls {
		t.Fatalf("domain off the allowlist: %v, %d calls; want ErrDomainNotAllowed and no call", err, w.emu.Calls("StopCdnDomain")-calls)
	}

	// Allowed but unknown to the account: the API's bad-input class
	// reaches the worker.
	wide, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com", "nope.org"}})
	if err != nil {
		t.Fatal(err)
	}
	op = NewOperator(w.client, OperatorConfig{State: state, Now: w.clock.Now, Allowlist: wide})
	err = op.Run(w.ctx, opJob("stop", "StopCdnDomain", tick.Add(time.Hour), map[string]string{"DomainName": "nope.org"}))
	if apiclient.Classify(err) != apiclient.ClassBadInput || apiclient.Code(err) != "InvalidDomain.NotFound" {
		t.Fatalf("unknown domain: %v (class %v)", err, apiclient.Classify(err))
	}
	if st, _, _ := state.Load(w.ctx, "stop"); st.LastResult != ResultFailed || !strings.Contains(st.LastMessage, "InvalidDomain.NotFound") {
		t.Fatalf("state after failure = %+v", st)
	}

	// Not in the table, or missing a parameter: refused before any call.
	for _, j := range []*jobs.Job{
		opJob("", "DeleteCdnDomain", tick, map[string]string{"DomainName": "example.com"}),
		opJob("", "SetOptimizeConfig", tick, map[string]string{"DomainName": "example.com"}),
	} {
		if err := op.Run(w.ctx, j); !errors.Is(err, ErrUnknownOperation) {
			t.Errorf("%s: %v, want ErrUnknownOperation", j.Operation.Action, err)
		}
	}

	// OpenCdnService on an open account is a success.
	if err := op.Run(w.ctx, opJob("open", "OpenCdnService", tick, map[string]string{"InternetChargeType": "PayByTraffic"})); err != nil {
		t.Fatalf("OpenCdnService on an open account: %v", err)
	}
	if st, _, _ := state.Load(w.ctx, "open"); st.LastResult != ResultSkipped {
		t.Fatalf("open state = %+v", st)
	}
}

func TestOperatorBillingSkipsWhenAlreadyThere(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 9, 0, 0))
	state := NewMemoryStateStore()
	op := NewOperator(w.client, OperatorConfig{State: state, Now: w.clock.Now, Allowlist: w.val})
	run := func(ct string, tick time.Time) State {
		t.Helper()
		if err := op.Run(w.ctx, opJob("billing", apiclient.CDN().Actions.ModifyService, tick, map[string]string{"InternetChargeType": ct})); err != nil {
			t.Fatal(err)
		}
		st, _, _ := state.Load(w.ctx, "billing")
		return st
	}
	tick := shanghai(2026, 11, 25, 9, 0, 0)
	if st := run(apiclient.PayByTraffic, tick); st.LastResult != ResultSkipped || st.LastMessage != "already billed by PayByTraffic" {
		t.Fatalf("same method: %+v", st)
	}
	if st := run(apiclient.PayByBandwidth, tick.Add(time.Minute)); st.LastResult != ResultOK || !strings.Contains(st.LastMessage, "at 2026-11-25T16:00:00Z") {
		t.Fatalf("change: %+v", st)
	}
	if st := run(apiclient.PayByBandwidth, tick.Add(2*time.Minute)); st.LastResult != ResultSkipped || !strings.Contains(st.LastMessage, "already changing to PayByBandwidth") {
		t.Fatalf("already changing: %+v", st)
	}
	// Back to the current method cancels the pending change.
	if st := run(apiclient.PayByTraffic, tick.Add(3*time.Minute)); st.LastResult != ResultOK || !strings.Contains(st.LastMessage, "cancelled") {
		t.Fatalf("cancel: %+v", st)
	}
	if _, pending := w.emu.ChargeType(); pending != "" {
		t.Fatalf("pending = %q after cancelling", pending)
	}
	if got := w.emu.Calls(apiclient.CDN().Actions.ModifyService); got != 2 {
		t.Fatalf("ModifyCdnService calls = %d, want 2", got)
	}
	// An older tick finishing late does not overwrite a newer result.
	_ = op.Run(w.ctx, opJob("billing", apiclient.CDN().Actions.ModifyService, tick, map[string]string{"InternetChargeType": apiclient.PayByTraffic}))
	if st, _, _ := state.Load(w.ctx, "billing"); !st.LastRunTick.Equal(tick.Add(3 * time.Minute)) {
		t.Fatalf("late old tick overwrote state: %+v", st)
	}
}

// lyingAPI accepts ModifyCdnService but never shows the change.
type lyingAPI struct{ OperatorAPI }

func (lyingAPI) DescribeService(context.Context, apiclient.Target) (apiclient.ServiceStatus, error) {
	return apiclient.ServiceStatus{InternetChargeType: apiclient.PayByTraffic}, nil
}
func (lyingAPI) ModifyService(context.Context, apiclient.Target, string) (string, error) {
	return "rid", nil
}

func TestOperatorVerifiesBillingChange(t *testing.T) {
	t.Parallel()
	op := NewOperator(lyingAPI{}, OperatorConfig{})
	err := op.Run(context.Background(), opJob("b", apiclient.CDN().Actions.ModifyService, time.Now(),
		map[string]string{"InternetChargeType": apiclient.PayByBandwidth}))
	if !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Run = %v, want ErrNotVerified", err)
	}
}

// fakeTimer is an After whose channels fire when the test says so.
type fakeTimer struct {
	mu    sync.Mutex
	waits []chan time.Time
	asked chan time.Duration
}

func newFakeTimer() *fakeTimer { return &fakeTimer{asked: make(chan time.Duration, 100)} }

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.mu.Lock()
	f.waits = append(f.waits, c)
	f.mu.Unlock()
	f.asked <- d
	return c
}

func (f *fakeTimer) fire(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.waits {
		c <- now
	}
	f.waits = nil
}

type recordingPublisher struct {
	mu   sync.Mutex
	keys []string
}

func (p *recordingPublisher) PublishTick(_ context.Context, _ string, _ time.Time, key string) (queue.Ack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, key)
	return queue.Ack{JobID: key}, nil
}

func (p *recordingPublisher) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

func TestRunWaitsForTheNextTickOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 10, 29, 0, 0, time.UTC)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	timer := newFakeTimer()
	pub := &recordingPublisher{}
	state := NewMemoryStateStore()
	s, err := New(Config{Publisher: pub, State: state, Now: clock, After: timer.After, Schedules: []Schedule{
		{Name: "warm", Cron: "@every 30m", Action: ActionPush, Paths: []string{"https://example.com/index.html"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	if d := <-timer.asked; d != time.Minute {
		t.Fatalf("first wait = %v, want 1m (until 10:30)", d)
	}
	mu.Lock()
	now = start.Add(time.Minute)
	mu.Unlock()
	timer.fire(now)
	if d := <-timer.asked; d != time.Minute {
		t.Fatalf("wait after the tick = %v, want the 1m cap", d)
	}
	want := DedupeKey("warm", time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC))
	if got := pub.got(); len(got) != 1 || got[0] != want {
		t.Fatalf("published %v, want [%s]", got, want)
	}
	if st, _, _ := state.Load(ctx, "warm"); st.LastResult != ResultQueued {
		t.Fatalf("state = %+v, want queued", st)
	}
	cancel()
	timer.fire(now)
	<-done

	// What `cdnpurge schedules` shows (cmd/cdnpurge renders the rows).
	states, _ := state.List(ctx)
	rows, err := Rows([]Schedule{{Name: "warm", Cron: "@every 30m", Action: ActionPush, Paths: []string{"https://example.com/"}}}, states, now, 2)
	if err != nil || len(rows) != 1 {
		t.Fatalf("Rows = %v, %v; want one row", rows, err)
	}
	r := rows[0]
	const layout = "2006-01-02 15:04:05"
	var next []string
	for _, at := range r.Next {
		next = append(next, at.Format(layout))
	}
	if r.Name != "warm" || r.TimeZone != "Asia/Shanghai" || strings.Join(next, ", ") != "2026-11-25 19:00:00, 2026-11-25 19:30:00" {
		t.Errorf("row = %+v (next %v), want warm in Asia/Shanghai next 19:00 and 19:30", r, next)
	}
	if got := r.LastRunLocal().Format(layout); got != "2026-11-25 18:30:00" {
		t.Errorf("last run in the schedule's zone = %s, want 2026-11-25 18:30:00", got)
	}
	if r.State.LastResult != ResultQueued || !strings.HasPrefix(r.State.LastMessage, "push job") {
		t.Errorf("state = %+v, want queued with a push job message", r.State)
	}
}
