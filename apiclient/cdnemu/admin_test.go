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
	want := "1740823200000000000 InternalError\n1740823200000000000 -\n"
	if code != http.StatusOK || body != want {
		t.Errorf("calls: %d %q, want %q", code, body, want)
	}
	for _, bad := range []string{`{"action":"DescribeRefreshQuota","code":"InternalError"}`, `{"code":"InternalError","n":1}`, `{"n":"x"}`} {
		if code, body := adminCall(t, http.MethodPost, srv.URL+"/_emulator/force", bad); code != http.StatusBadRequest {
			t.Errorf("force %s: %d %s", bad, code, body)
		}
	}
}
