package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

func TestScheduleTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 31, 0, 0, time.UTC)
	schedules := []operations.Schedule{
		{Name: "warm", Cron: "@every 30m", Action: operations.ActionPush, Paths: []string{"https://example.com/"}},
		{Name: "nightly", Cron: "0 3 * * *", TimeZone: "UTC", Action: operations.ActionRefresh, Paths: []string{"https://example.com/"}, CatchUp: true},
		{Name: "off", Cron: "0 4 * * *", Action: operations.ActionRefresh, Paths: []string{"https://example.com/"}, Disabled: true},
	}
	long := "push job\n  queued " + strings.Repeat("x", 200)
	states := map[string]operations.State{"warm": {Schedule: "warm", LastRun: time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC),
		LastResult: operations.ResultQueued, LastMessage: long}}
	rows, err := operations.Rows(schedules, states, now, 2)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := scheduleTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("table = %q, want a header and three rows", out.String())
	}
	for i, want := range [][]string{
		// The last run in the schedule's zone, its message on one line and cut.
		{"warm", "push", "Asia/Shanghai", "no", "2026-11-25 19:00:00, 2026-11-25 19:30:00", "2026-11-25 18:30:00", "queued: push job queued xxx", "x..."},
		{"nightly", "refresh", "UTC", "yes", "2026-11-26 03:00:00, 2026-11-27 03:00:00", "never", " -"},
		{"off", "disabled", "never"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d lacks %q: %q", i+1, w, lines[i+1])
			}
		}
	}
	if strings.Contains(out.String(), strings.Repeat("x", 101)) || strings.Contains(lines[1], "\n") {
		t.Errorf("the last message is not cut to one short line: %q", lines[1])
	}
	// An invalid schedule is refused by Rows, before anything is written.
	if _, err := operations.Rows([]operations.Schedule{{Name: "bad", Cron: "not cron", Action: operations.ActionPush}}, nil, now, 1); err == nil {
		t.Error("Rows of an invalid schedule = nil error")
	}
}

// serviceStatus decodes a DescribeCdnService answer as the API sends it.
func serviceStatus(t *testing.T, body string) apiclient.ServiceStatus {
	t.Helper()
	var st apiclient.ServiceStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestWriteService(t *testing.T) {
	t.Parallel()
	locked := operations.ServiceState{
		ServiceStatus: serviceStatus(t, `{"RequestId":"r-1","InstanceId":"cdn-1","InternetChargeType":"PayByTraffic","OpeningTime":"2026-01-01T00:00:00Z",
			"ChangingChargeType":"PayByBandwidth","ChangingAffectTime":"2026-11-25T16:00:00Z","OperationLocks":{"LockReason":[{"LockReason":"financial"}]}}`),
		ChangeAt: time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)}
	closed := operations.ServiceState{ServiceStatus: serviceStatus(t, `{"RequestId":"r-2"}`)}

	var out bytes.Buffer
	if err := writeService(&out, operations.ServiceReport{CDN: locked, IPA: &closed}, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CDN service", "opened          2026-01-01T00:00:00Z", "billing         PayByTraffic",
		"pending change  PayByBandwidth at 2026-11-25T16:00:00Z (2026-11-26 00:00 CST)", "locks           financial (overdue payment",
		"instance        cdn-1", "DCDN IPA service", "opened          not opened", "billing         -", "pending change  none", "locks           none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := writeService(&out, operations.ServiceReport{CDN: locked}, true); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out.String())
	}
	cdn := got["cdn"]
	if _, ipa := got["dcdn_ipa"]; ipa || cdn["changing_charge_type"] != "PayByBandwidth" || cdn["opened"] != true ||
		cdn["financially_locked"] != true || cdn["instance_id"] != "cdn-1" || cdn["changing_affect_time"] != "2026-11-25T16:00:00Z" {
		t.Errorf("status JSON = %s", out.String())
	}
}

func TestWriteOpenedAndBilling(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	check := func(err error, want string) {
		t.Helper()
		if err != nil || out.String() != want {
			t.Errorf("wrote %q (%v), want %q", out.String(), err, want)
		}
		out.Reset()
	}
	check(writeOpened(&out, operations.OpenResult{ChargeType: apiclient.PayByTraffic}), "CDN service is already opened; nothing changed\n")
	check(writeOpened(&out, operations.OpenResult{ChargeType: apiclient.PayByTraffic, Opened: true, RequestID: "r-9"}),
		"CDN service opened, billed by PayByTraffic (RequestId r-9)\n")

	at := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	changing := apiclient.ServiceStatus{InternetChargeType: apiclient.PayByTraffic, ChangingChargeType: apiclient.PayByBandwidth}
	check(writeBilling(&out, operations.BillingResult{Requested: apiclient.PayByBandwidth, After: changing, RequestID: "r-3", EffectiveAt: at}),
		"billing changes from PayByTraffic to PayByBandwidth at 2026-11-25T16:00:00Z (2026-11-26 00:00 CST) (RequestId r-3)\n")
	check(writeBilling(&out, operations.BillingResult{Requested: apiclient.PayByBandwidth, Skipped: true, After: changing, EffectiveAt: at}),
		"nothing to do: already changing to PayByBandwidth at 2026-11-25T16:00:00Z (2026-11-26 00:00 CST)\n")
	check(writeBilling(&out, operations.BillingResult{Requested: apiclient.PayByTraffic, Skipped: true,
		After: apiclient.ServiceStatus{InternetChargeType: apiclient.PayByTraffic}}), "nothing to do: already billed by PayByTraffic\n")
}

// The service subcommands end to end against the emulator: the data comes
// from worker/operations, the words from this package.
func TestServiceCommandsAgainstEmulator(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{})
	for _, tc := range []struct {
		args []string
		want string // on stdout
		fail string // on stderr, with a non-zero exit
	}{
		{args: []string{"service", "open"}, want: "CDN service is already opened; nothing changed\n"},
		{args: []string{"service", "billing", "PayByBandwidth"}, want: "billing changes from PayByTraffic to PayByBandwidth at "},
		{args: []string{"service", "billing", "PayByBandwidth"}, want: "nothing to do: already changing to PayByBandwidth at "},
		{args: []string{"service", "status"}, want: "pending change  PayByBandwidth at "},
		{args: []string{"--output", "json", "service", "status"}, want: `"changing_charge_type": "PayByBandwidth"`},
		// The emulator's account has no DCDN IPA service by default.
		{args: []string{"service", "status", "--ipa"}, fail: "DcdnIpaServiceNotFound"},
	} {
		code, out, stderr := runCLIWith(t, env, "", append([]string{"--log-level", "error"}, tc.args...)...)
		if tc.fail != "" {
			if code == 0 || !strings.Contains(stderr, tc.fail) {
				t.Errorf("%q: code %d, stderr %q; want a failure naming %s", tc.args, code, stderr, tc.fail)
			}
			continue
		}
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: code %d, out %q, stderr %q; want %q", tc.args, code, out, stderr, tc.want)
		}
	}
	if got := srv.Calls(apiclient.CDN().Actions.ModifyService); got != 1 {
		t.Errorf("ModifyCdnService calls = %d, want 1 (the second billing is skipped)", got)
	}
}
