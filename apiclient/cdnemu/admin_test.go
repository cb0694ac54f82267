package cdnemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func adminCall(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func adminStats(t *testing.T, base string) AdminStats {
	t.Helper()
	code, body := adminCall(t, http.MethodGet, base+"/_emulator/stats", "")
	if code != http.StatusOK {
		t.Fatalf("stats: %d %s", code, body)
	}
	var st AdminStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The admin API reports what signed calls did, changes faults, outage and
// quota, and starts a new quota day; without Options.Admin it is not served.
func TestAdminAPI(t *testing.T) {
	clock := NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	srv, err := NewServer(Options{Admin: true, URLQuota: 3, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, clock)

	if r := c.call("RefreshObjectCaches", "ObjectPath", "example.com/a\nexample.com/b"); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.code)
	}
	if r := c.call("RefreshObjectCaches", "ObjectPath", "example.com/a\nexample.com/c"); r.code != "QuotaExceeded.Refresh" {
		t.Fatalf("over quota: %d %s", r.status, r.code)
	}
	st := adminStats(t, srv.URL)
	a := st.Actions["RefreshObjectCaches"]
	if a.Calls != 2 || a.Accepted != 1 || a.Codes["QuotaExceeded.Refresh"] != 1 || a.MaxPerSecond != 2 {
		t.Errorf("action stats %+v", a)
	}
	if p := st.Paths["RefreshObjectCaches"]; p != (AdminPathStats{Accepted: 2, Unique: 2}) {
		t.Errorf("path stats %+v", p)
	}
	if st.Quota.Used.URL != 2 || st.Quota.Remaining.URL != 1 || st.Quota.Total.URL != 3 {
		t.Errorf("quota %+v", st.Quota)
	}
	if len(st.PerSecond) != 1 || st.PerSecond[0].Calls != 2 || st.PerSecond[0].Refused != 1 {
		t.Errorf("per second %+v", st.PerSecond)
	}
	code, body := adminCall(t, http.MethodGet, srv.URL+"/_emulator/paths", "")
	want := "1740823200000000000 example.com/a\n1740823200000000000 example.com/b\n"
	if code != http.StatusOK || body != want {
		t.Errorf("paths: %d %q", code, body)
	}

	// A new day gives the quota back; the totals can be changed.
	if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/day", ""); code != http.StatusOK {
		t.Fatalf("day: %d %s", code, body)
	}
	if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/quota", `{"url":5}`); code != http.StatusOK {
		t.Fatalf("quota: %d %s", code, body)
	}
	if q := srv.QuotaRemaining(); q.URL != 5 || q.Dir != 100 {
		t.Errorf("after day and quota: %+v", q)
	}

	// An outage answers 503 to signed calls until it ends.
	if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/outage", `{"for":"60s"}`); code != http.StatusOK {
		t.Fatalf("outage: %d %s", code, body)
	}
	if r := c.call("DescribeRefreshQuota"); r.status != http.StatusServiceUnavailable {
		t.Errorf("during outage: %d %s", r.status, r.code)
	}
	clock.Advance(61 * time.Second)
	if r := c.call("DescribeRefreshQuota"); r.status != http.StatusOK {
		t.Errorf("after outage: %d %s", r.status, r.code)
	}

	if code, _ := adminCall(t, http.MethodPost, srv.URL+"/_emulator/faults", `{"error_rate_503":1}`); code != http.StatusOK {
		t.Fatalf("faults: %d", code)
	}
	if r := c.call("DescribeRefreshQuota"); r.code != "ServiceUnAvailable" {
		t.Errorf("with 503 faults: %d %s", r.status, r.code)
	}
	for _, bad := range []struct{ path, body string }{
		{"/_emulator/faults", `{"error_rate_503":2}`},
		{"/_emulator/outage", `{"for":"soon"}`},
		{"/_emulator/quota", `{"url":-1}`},
		{"/_emulator/quota", `{"urls":1}`},
		{"/_emulator/nothing", ``},
	} {
		if code, body := adminCall(t, http.MethodPost, srv.URL+bad.path, bad.body); code < 400 || code >= 500 {
			t.Errorf("%s %s: %d %s", bad.path, bad.body, code, body)
		}
	}

	off, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(off.Close)
	if code, body := adminCall(t, http.MethodGet, off.URL+"/_emulator/stats", ""); strings.Contains(body, "actions") || code == http.StatusOK {
		t.Errorf("admin API served without Options.Admin: %d %s", code, body)
	}
}

// POST /_emulator/force answers the next calls of one action with a code,
// other actions untouched, until cleared; GET /_emulator/calls lists the
// calls of one action with their codes.
func TestAdminForceAndCalls(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	srv, err := NewServer(Options{Admin: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, clock)
	if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/force", `{"action":"DescribeRefreshQuota","code":"InternalError","n":5}`); code != http.StatusOK {
		t.Fatalf("force: %d %s", code, body)
	}
	if r := c.call("DescribeRefreshQuota"); r.code != "InternalError" {
		t.Errorf("forced call: %d %s", r.status, r.code)
	}
	if r := c.call("RefreshObjectCaches", "ObjectPath", "example.com/a"); r.status != http.StatusOK {
		t.Errorf("another action: %d %s", r.status, r.code)
	}
	if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/force", `{"clear":true}`); code != http.StatusOK {
		t.Fatalf("clear: %d %s", code, body)
	}
	if r := c.call("DescribeRefreshQuota"); r.status != http.StatusOK {
		t.Errorf("after clear: %d %s", r.status, r.code)
	}
	code, body := adminCall(t, http.MethodGet, srv.URL+"/_emulator/calls?action=DescribeRefreshQuota", "")
	want := "1740823200000000000 InternalError DescribeRefreshQuota\n1740823200000000000 - DescribeRefreshQuota\n"
	if code != http.StatusOK || body != want {
		t.Errorf("calls: %d %q, want %q", code, body, want)
	}
	for _, bad := range []string{`{"action":"DescribeRefreshQuota","code":"InternalError"}`, `{"code":"InternalError","n":1}`, `{"n":"x"}`} {
		if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/force", bad); code != http.StatusBadRequest {
			t.Errorf("force %s: %d %s", bad, code, body)
		}
	}
}

// The admin API targets one product: /force and /outage with "product"
// fail DCDN's calls while CDN answers, /quota sets DCDN's totals, /calls
// lists one product's calls with their actions, /stats shows both quotas.
func TestAdminProductFaults(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	srv, err := NewServer(Options{Admin: true, Now: clock.Now, Domains: []string{"example.com"}, DCDNDomains: []string{"d.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cdn := newTestClient(t, srv.URL, clock)
	dcdn := newTestClient(t, srv.URL, clock)
	dcdn.version = "2018-01-15"
	post := func(path, body string, want int) {
		t.Helper()
		if code, got := adminCall(t, http.MethodPost, srv.URL+path, body); code != want {
			t.Fatalf("%s %s: %d %s, want %d", path, body, code, got, want)
		}
	}

	post("/_emulator/force", `{"product":"dcdn","code":"ServiceUnAvailable","n":2}`, http.StatusOK)
	dcdn.call("RefreshDcdnObjectCaches", "ObjectPath", "d.example.com/a").wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	cdn.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)
	dcdn.call("DescribeDcdnRefreshQuota").wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	dcdn.call("DescribeDcdnRefreshQuota").wantOK(t)

	post("/_emulator/outage", `{"for":"60s","product":"dcdn"}`, http.StatusOK)
	dcdn.call("DescribeDcdnRefreshTasks").wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	cdn.call("DescribeRefreshTasks").wantOK(t)
	if st := adminStats(t, srv.URL); !st.ProductOutageUntil["dcdn"].Equal(clock.Now().Add(time.Minute)) || !st.OutageUntil.IsZero() {
		t.Errorf("stats outage %v / %v", st.ProductOutageUntil, st.OutageUntil)
	}
	post("/_emulator/outage", `{"for":"0s","product":"dcdn"}`, http.StatusOK)
	dcdn.call("DescribeDcdnRefreshTasks").wantOK(t)

	post("/_emulator/quota", `{"product":"dcdn","url":3,"ignore_params":7}`, http.StatusOK)
	dcdn.call("RefreshDcdnObjectCaches", "ObjectPath", "d.example.com/b").wantOK(t)
	st := adminStats(t, srv.URL)
	if st.DCDNQuota.Total.URL != 3 || st.DCDNQuota.Remaining.URL != 2 || st.DCDNQuota.Total.IgnoreParams != 7 {
		t.Errorf("DCDN quota %+v", st.DCDNQuota)
	}
	if st.Quota.Total.URL != 10000 || st.Quota.Used.URL != 1 {
		t.Errorf("CDN quota %+v", st.Quota)
	}
	post("/_emulator/day", ``, http.StatusOK)
	if st := adminStats(t, srv.URL); st.DCDNQuota.Used.URL != 0 || st.Quota.Used.URL != 0 {
		t.Errorf("after a new day: CDN %+v DCDN %+v", st.Quota.Used, st.DCDNQuota.Used)
	}

	code, body := adminCall(t, http.MethodGet, srv.URL+"/_emulator/calls?product=dcdn", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != http.StatusOK || len(lines) != 6 {
		t.Fatalf("calls of dcdn: %d %q", code, body)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 3 || !strings.Contains(f[2], "Dcdn") {
			t.Errorf("calls line %q: want <ns> <code> <DCDN action>", l)
		}
	}
	if !strings.HasSuffix(lines[0], " ServiceUnAvailable RefreshDcdnObjectCaches") {
		t.Errorf("first DCDN call %q", lines[0])
	}
	_, all := adminCall(t, http.MethodGet, srv.URL+"/_emulator/calls", "")
	if n := strings.Count(all, "\n"); n != 8 {
		t.Errorf("all calls: %d lines:\n%s", n, all)
	}

	for _, bad := range []struct{ path, body string }{
		{"/_emulator/force", `{"product":"ecdn","code":"InternalError","n":1}`},
		{"/_emulator/force", `{"product":"dcdn","action":"RefreshObjectCaches","code":"InternalError","n":1}`},
		{"/_emulator/outage", `{"for":"1s","product":"x"}`},
		{"/_emulator/quota", `{"product":"sts","url":1}`},
	} {
		post(bad.path, bad.body, http.StatusBadRequest)
	}
	if code, _ := adminCall(t, http.MethodGet, srv.URL+"/_emulator/calls?product=nope", ""); code != http.StatusBadRequest {
		t.Errorf("calls of an unknown product: %d", code)
	}
}

// Answered is closed by the next call the emulator answers, refused ones
// included, and not before.
func TestAnsweredSignalsEachCall(t *testing.T) {
	t.Parallel()
	srv, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ch := srv.Answered()
	select {
	case <-ch:
		t.Fatal("Answered closed before any call")
	default:
	}
	resp, err := http.Get(srv.URL + "/?Action=DescribeRefreshQuota") // unsigned: refused, still answered
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Answered not closed after a call")
	}
	if next := srv.Answered(); next == ch {
		t.Error("Answered returned the closed channel again")
	}
}
