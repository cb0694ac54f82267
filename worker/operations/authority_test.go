package operations

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

const goodSources = `[{"content":"origin.example.com","type":"domain","port":443}]`

func originSchedules() []Schedule {
	return append(billingSchedules(), Schedule{Name: "origin-fix", Cron: "0 9 * * *", Action: "ModifyCdnDomain",
		Params: map[string]string{"DomainName": "example.com", "Sources": goodSources}})
}

// invalidReports collects the reasons published on the invalid subject.
type invalidReports struct {
	mu      sync.Mutex
	reasons []string
}

func watchInvalid(t *testing.T, nc *nats.Conn, s jobs.Subjects) *invalidReports {
	t.Helper()
	r := &invalidReports{}
	sub, err := nc.Subscribe(s.Invalid(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			r.mu.Lock()
			r.reasons = append(r.reasons, ev.Reason)
			r.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return r
}

func (r *invalidReports) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

// rawPublish stores data on subject as any NATS client could, with msgID
// as its Nats-Msg-Id when not empty.
func rawPublish(t *testing.T, js jetstream.JetStream, subject, msgID, data string) {
	t.Helper()
	m := &nats.Msg{Subject: subject, Data: []byte(data), Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
}

func opMessage(t *testing.T, schedule string, tick time.Time, action string, params map[string]string) string {
	t.Helper()
	j := &jobs.Job{Version: 1, Kind: jobs.KindOperation, Operation: &jobs.OperationSpec{Schedule: schedule, Tick: tick, Action: action, Params: params}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestForgedOperationsAreRefusedAndOnlyConfiguredTicksRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 8, 59, 50))
	r := w.replica("r1", originSchedules(), true)
	r.sched.Start(w.ctx)
	nc, js := w.connect()
	reports := watchInvalid(t, nc, w.subjects)
	nine := shanghai(2026, 11, 25, 9, 0, 0)
	evil := `[{"content":"attacker.example.net","type":"domain","port":443}]`
	good := map[string]string{"DomainName": "example.com", "Sources": goodSources}

	forged := []struct{ subject, data, want string }{
		{w.subjects.Op("ModifyCdnDomain"), `{"kind":"operation","operation":{"action":"ModifyCdnDomain","params":{"DomainName":"example.com","Sources":` + jsonString(evil) + `}}}`, "names no schedule"},
		{w.subjects.Op("StopCdnDomain"), `{"kind":"operation","operation":{"action":"StopCdnDomain","params":{"DomainName":"other.org"}}}`, "names no schedule"},
		{w.subjects.Op("origin-fix"), opMessage(t, "origin-fix", nine, "ModifyCdnDomain", map[string]string{"DomainName": "example.com", "Sources": evil}), "params differ"},
		{w.subjects.Op("origin-fix"), opMessage(t, "origin-fix", nine, "StopCdnDomain", map[string]string{"DomainName": "example.com"}), "runs ModifyCdnDomain"},
		{w.subjects.Op("origin-fix"), opMessage(t, "origin-fix", nine.Add(30*time.Second), "ModifyCdnDomain", good), "not a fire time"},
		{w.subjects.Op("nope"), opMessage(t, "nope", nine, "ModifyCdnService", map[string]string{"InternetChargeType": "PayByTraffic"}), "not an enabled schedule"},
		{w.subjects.Op("night-bandwidth"), opMessage(t, "night-bandwidth", shanghai(2026, 11, 24, 23, 0, 0), apiclient.CDN().Actions.ModifyService,
			map[string]string{"InternetChargeType": apiclient.PayByTraffic}), "params differ"},
		{w.subjects.Sched("origin-fix"), `{"schedule":"origin-fix","tick":"2026-11-25T01:00:00Z","action":"StopCdnDomain"}`, "unknown field"},
		{w.subjects.Sched("nope"), `{"schedule":"nope","tick":"2026-11-25T01:00:00Z"}`, "not an enabled schedule"},
		{w.subjects.Sched("origin-fix"), `{"schedule":"origin-fix","tick":"2026-11-26T01:00:00Z"}`, "in the future"},
		{w.subjects.Sched("origin-fix"), `{"schedule":"night-bandwidth","tick":"2026-11-24T15:00:00Z"}`, "published on"},
	}
	for i, f := range forged {
		rawPublish(t, js, f.subject, "forged-"+itoa(i), f.data)
	}
	jobstest.Eventually(t, "every forged message to be reported", 10*time.Second, func() bool { return len(reports.list()) >= len(forged) })
	got := reports.list()
	for _, f := range forged {
		found := false
		for _, reason := range got {
			if strings.Contains(reason, f.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no invalid report says %q; reports: %q", f.want, got)
		}
	}
	for _, a := range []string{"ModifyCdnDomain", "StopCdnDomain", apiclient.CDN().Actions.ModifyService} {
		if n := w.emu.Calls(a); n != 0 {
			t.Errorf("%s reached the API %d times from forged messages", a, n)
		}
	}
	states, err := r.state.List(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range states {
		if !st.LastRun.IsZero() || st.LastResult != "" {
			t.Errorf("forged messages wrote the state of %s: %+v", name, st)
		}
	}

	// The configured tick runs, with the configured parameters.
	w.clock.Set(nine)
	r.sched.Fire(w.ctx)
	jobstest.Eventually(t, "the configured tick to run", 10*time.Second, func() bool {
		st, _, _ := r.state.Load(w.ctx, "origin-fix")
		return st.LastResult == ResultOK
	})
	cfgs := w.emu.DomainConfigs("example.com")
	if len(cfgs) != 1 || cfgs[0].Action != "ModifyCdnDomain" || cfgs[0].Params["Sources"] != goodSources {
		t.Fatalf("domain configs = %+v, want the configured ModifyCdnDomain only", cfgs)
	}

	// The same tick again, under another message ID or on the legacy
	// subject: it already ran.
	before := len(reports.list())
	rawPublish(t, js, w.subjects.Sched("origin-fix"), "again", `{"schedule":"origin-fix","tick":"2026-11-25T01:00:00Z"}`)
	rawPublish(t, js, w.subjects.Op("origin-fix"), "again-legacy", opMessage(t, "origin-fix", nine, "ModifyCdnDomain", good))
	jobstest.Eventually(t, "the replays to be reported", 10*time.Second, func() bool { return len(reports.list()) >= before+2 })
	for _, reason := range reports.list()[before:] {
		if !strings.Contains(reason, "already ran") {
			t.Errorf("replayed tick reported as %q, want already ran", reason)
		}
	}
	if n := w.emu.Calls("ModifyCdnDomain"); n != 1 {
		t.Fatalf("ModifyCdnDomain calls = %d, want 1", n)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// A scheduler of an earlier version put ticks on the operations subjects
// of the work stream with their action and parameters; after an upgrade
// such a message still runs when it matches this replica's configuration.
func TestLegacyOperationMessageOfAConfiguredTickRuns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 23, 0, 5))
	r := w.replica("r1", billingSchedules(), true)
	_, js := w.connect()
	tick := shanghai(2026, 11, 25, 23, 0, 0)
	// As the earlier scheduler wrote it: the job ID derived from the
	// message ID, which is the tick's.
	j := (Schedule{Name: "night-bandwidth", Action: apiclient.CDN().Actions.ModifyService,
		Params: map[string]string{"InternetChargeType": apiclient.PayByBandwidth}}).job(tick)
	data, err := jobs.Encode(j)
	if err != nil {
		t.Fatal(err)
	}
	rawPublish(t, js, w.subjects.Op("night-bandwidth"), DedupeKey("night-bandwidth", tick), string(data))
	jobstest.Eventually(t, "the legacy tick to run", 10*time.Second, func() bool {
		st, _, _ := r.state.Load(w.ctx, "night-bandwidth")
		return st.LastResult == ResultOK
	})
	if _, pending := w.emu.ChargeType(); pending != apiclient.PayByBandwidth {
		t.Fatalf("pending charge type = %q, want PayByBandwidth", pending)
	}
}

// A producer that takes a tick's message ID (a generic-hook job with id
// sched-<name>-<tick>, or a raw publish with that Nats-Msg-Id) on the
// purge subjects no longer cancels the tick: ticks have their own stream.
func TestProducerCannotCancelATickByItsMessageID(t *testing.T) {
	t.Parallel()
	w := newWorld(t, shanghai(2026, 11, 25, 22, 59, 0))
	r := w.replica("r1", billingSchedules(), true)
	r.sched.Start(w.ctx)
	nc, js := w.connect()
	reports := watchInvalid(t, nc, w.subjects)
	tick := shanghai(2026, 11, 25, 23, 0, 0)
	key := DedupeKey("night-bandwidth", tick)
	rawPublish(t, js, w.subjects.Refresh(), key, `{"refresh":{"paths":["https://example.com/a.js"]}}`)
	rawPublish(t, js, w.subjects.Refresh(), "", `{"id":"`+key+`","refresh":{"paths":["https://example.com/b.js"]}}`)
	jobstest.Eventually(t, "the squatting jobs to be refused", 10*time.Second, func() bool { return len(reports.list()) >= 2 })
	for _, reason := range reports.list() {
		if !strings.Contains(reason, "scheduler's") {
			t.Errorf("squatting job refused as %q, want the reserved-ID reason", reason)
		}
	}

	w.clock.Set(tick)
	r.sched.Fire(w.ctx)
	jobstest.Eventually(t, "the tick to run", 10*time.Second, func() bool {
		st, _, _ := r.state.Load(w.ctx, "night-bandwidth")
		return st.LastResult == ResultOK
	})
	if n := w.emu.Calls(apiclient.CDN().Actions.ModifyService); n != 1 {
		t.Fatalf("ModifyCdnService calls = %d, want 1", n)
	}
}
